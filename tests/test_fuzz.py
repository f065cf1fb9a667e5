"""Property-based tests (hypothesis): any string or file either gives a row with a reason or
a clean one-line refusal, never an exception; compositions round-trip; every grid row sums
to 100 exactly. Example counts are small so the suite stays fast."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gfascreen.data.parse import composition_key, normalise, parse_formula
from gfascreen.errors import GfaError
from gfascreen.screening.grid import CompositionGrid
from tests.helpers import run_cli

FAST = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])
FORMULA_CHARS = "AlCoLaZrCuNiFeBHeXxq0123456789.()[]{} -+eE/%"
ELEMENTS = ["Al", "Co", "La", "Zr", "Cu", "Ni", "Fe", "B", "Mg", "Y"]


@FAST
@given(st.one_of(st.text(alphabet=FORMULA_CHARS, max_size=30), st.text(max_size=20)))
def test_any_formula_parses_or_says_why(text):
    try:
        at = parse_formula(text)
    except GfaError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    assert abs(sum(at.values()) - 100) < 1e-6 and all(v > 0 for v in at.values())


@FAST
@given(st.dictionaries(st.sampled_from(ELEMENTS), st.integers(1, 10_000), min_size=1,
                       max_size=6))
def test_composition_keys_round_trip(amounts):
    """A composition written as its key and read back is the same alloy at the key's
    precision (0.01 at.% per element, plus the renormalisation of a key whose rounded
    amounts do not sum to exactly 100: keys are not idempotent to the last digit)."""
    at = normalise({el: 100.0 * v / sum(amounts.values()) for el, v in amounts.items()})
    key = composition_key(at)
    back = parse_formula(key)
    assert set(back) == set(at)
    assert max(abs(back[e] - at[e]) for e in at) <= 0.011 + 1e-9


def test_an_element_that_rounds_to_zero_leaves_the_key():
    assert composition_key(parse_formula("Zr55Cu45Hf0.0001")) == "Cu45Zr55"


STEPS = [0.5, 1, 2, 2.5, 5, 10, 12.5, 20, 25, 50]


@FAST
@given(st.lists(st.sampled_from(ELEMENTS), min_size=2, max_size=4, unique=True),
       st.sampled_from(STEPS), st.booleans())
def test_every_grid_row_sums_to_100_exactly(elements, step, edges):
    try:
        grid = CompositionGrid(elements, step, None, edges)
    except GfaError as exc:  # e.g. no interior point at a coarse step: said in one line
        assert "no composition" in str(exc)
        return
    if len(grid) > 30_000:
        return
    total = 0
    for units in grid.units_chunks(4096):
        assert (units.sum(1) == grid.units).all()
        assert (units >= (0 if edges else 1)).all()
        total += len(units)
    assert total == len(grid)


@FAST
@given(st.text(alphabet="AlCoLa:-,.0123456789 x", max_size=25))
def test_any_bounds_text_gives_a_grid_or_a_one_line_refusal(bounds):
    try:
        grid = CompositionGrid("La-Co-Al", 5, bounds, True)
    except GfaError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    for units in grid.units_chunks(4096):
        assert (units.sum(1) == grid.units).all()


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=200), st.sampled_from([".csv", ".txt", ".json", ".parquet"]))
def test_any_input_file_gives_formulas_or_a_one_line_refusal(tmp_path_factory, data, suffix):
    from gfascreen.data.formula_table import read_formula_input

    path = tmp_path_factory.mktemp("in") / f"input{suffix}"
    path.write_bytes(data)
    try:
        rows = read_formula_input(str(path), None)[0]
    except GfaError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    assert isinstance(rows, list)


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".json", ".txt"])
def test_predict_reads_every_input_format(tiny_ensemble, tmp_path, suffix, capsys):
    import json

    import pandas as pd

    from gfascreen import cli

    formulas = ["Al25Co20La55", "Zr55Co29Al16", "Xx3"]
    path = tmp_path / f"in{suffix}"
    if suffix == ".parquet":
        pd.DataFrame({"formula": formulas}).to_parquet(path)
    elif suffix == ".json":
        path.write_text(json.dumps(formulas))
    else:
        path.write_text("formula\n" + "\n".join(formulas) + "\n")
    out = tmp_path / "pred.csv"
    code = cli.main(["predict", "--input", str(path), "--model", str(tiny_ensemble),
                     "--device", "cpu", "--output", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert code == 0, err
    res = pd.read_csv(out)
    assert res["input"].tolist() == formulas
    assert res["in_vocabulary"].tolist() == [True, True, False]
    assert "1 of 3 inputs could not be scored" in err
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_predict_progress_is_quiet_when_not_a_terminal(tiny_ensemble, tmp_path, capsys,
                                                       monkeypatch):
    from gfascreen.cli import predict

    monkeypatch.setattr(predict, "PREDICT_BATCH", 2)  # 7 inputs: four batches
    path = tmp_path / "in.txt"
    path.write_text("formula\n" + "\n".join(["Al25Co20La55"] * 7) + "\n")
    out = tmp_path / "out.csv"
    code, _, err = run_cli(["predict", "--input", str(path), "--model", str(tiny_ensemble),
                            "--device", "cpu", "--output", str(out)], capsys)
    assert code == 0, err
    res = pd.read_csv(out)
    assert len(res) == 7 and np.isfinite(res["dmax_mm"]).all()
    assert "alloy/s" not in err and "predict:" not in err  # stderr is not a terminal here

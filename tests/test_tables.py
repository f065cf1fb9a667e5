"""Any table trains: one class or three, with or without a Dmax, a few rows or many —
`train` finishes, or refuses at the start with one line naming the problem and the fix;
every row left out is counted with its reason and the option that keeps it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gfascreen import cli
from gfascreen.tableio import write_parquet_atomic
from tests.conftest import make_table
from tests.helpers import one_line_error

TINY = ["--folds", "2", "--steps", "2", "--batch-size", "16", "--quiet"]


def _train(tmp_path, table: pd.DataFrame, capsys, *extra: str):
    data, out = tmp_path / "t.parquet", tmp_path / "run"
    write_parquet_atomic(table.reset_index(drop=True), data)
    code = cli.main(["train", "--data", str(data), "--out", str(out), *TINY, *extra])
    return code, capsys.readouterr(), out


@pytest.mark.slow
def test_a_table_of_bulk_glasses_alone_trains_and_says_what_it_left_out(tmp_path, capsys):
    """Every row class "bmg" with a Dmax (a lab's table): members without a class head, no
    stack (a note says why), the model loads and predicts; a row holding an element seen
    once is left out, counted, and the option that keeps it named."""
    pytest.importorskip("lightgbm")
    t = make_table(300)
    t = t[t["gfa_class"] == "bmg"].copy()
    rare = t.iloc[[0]].assign(composition="Al20Ni10Zr70", Al=20.0, Zr=70.0, Cu=0.0, La=0.0,
                              Co=0.0, Ni=10.0, system="Al-Ni-Zr")
    t = pd.concat([t.assign(Ni=0.0), rare], ignore_index=True)
    code, std, out = _train(tmp_path, t, capsys, "--min-count", "2")
    assert code == 0, std.err
    assert f"note: 1 of {len(t)} alloys left out" in std.err and "Ni 1" in std.err
    assert "--min-count 1 keeps them all" in std.err
    assert "no class head" in std.err and "note: no stack" in std.err
    left = pd.read_csv(out / "left_out.csv")
    assert left["composition"].tolist() == ["Al20Ni10Zr70"] and left["keep"][0] == "--min-count 1"
    from gfascreen.model.ensemble import Ensemble

    pred = Ensemble.load(out, device="cpu").predict(["Cu50Zr50", "La60Al40"])
    assert np.isfinite(pred["dmax_mm"]).all()


@pytest.mark.slow
def test_a_table_of_glasses_and_crystals_without_bulk_glasses_trains(tmp_path, capsys):
    """Two classes, no bulk glass: the partner's bulk-glass booster would have no rows; the
    stack is skipped with a note naming what it needs, the members predict."""
    pytest.importorskip("lightgbm")
    t = make_table(200)
    code, std, out = _train(tmp_path, t[t["gfa_class"] != "bmg"], capsys, "--min-count", "1")
    assert code == 0, std.err
    assert "note: no stack: it needs ribbons and bulk glasses with a Dmax" in std.err
    assert "0 bulk glasses with a Dmax" in std.err
    from gfascreen.model.ensemble import Ensemble

    assert np.isfinite(Ensemble.load(out, device="cpu").predict(["Cu50Zr50"])["dmax_mm"]).all()


def test_a_table_too_small_or_without_a_dmax_is_refused_at_the_start(tmp_path, capsys):
    t = make_table(40)
    code, std, out = _train(tmp_path, t.head(1), capsys, "--min-count", "1")
    line = one_line_error(code, std.err)
    assert "the table has 1 alloy(s) to train on (of 1 rows); --folds 2 needs at least 6" \
        in line
    assert not out.exists() and "small table" not in std.err
    code, std, out = _train(tmp_path, t.head(8), capsys, "--min-count", "1", "--folds", "10")
    assert "or lower --folds (2 folds need 6)" in one_line_error(code, std.err)
    bmg = t.assign(gfa_class="bmg", dmax_mm=np.nan)
    code, std, out = _train(tmp_path, bmg, capsys, "--min-count", "1")
    assert "no alloy of the table has a Dmax" in one_line_error(code, std.err)
    assert not out.exists()

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from gfascreen.data.build import build_table, table_elements
from gfascreen.data.parse import composition_key, normalise, parse_formula
from gfascreen.data.sources import fetch
from gfascreen.errors import GfaError
from tests.helpers import one_line_error


@pytest.mark.parametrize("formula, expected", [
    ("Al25Co20La55", {"Al": 25, "Co": 20, "La": 55}),
    ("La55Al25Co20", {"Al": 25, "Co": 20, "La": 55}),
    ("Cu0.46Zr0.54", {"Cu": 46, "Zr": 54}),
    ("Al0B18Co82", {"B": 18, "Co": 82}),
    ("(Zr0.62Cu0.23Fe0.05Al0.10)93Ag7", {"Zr": 57.66, "Cu": 21.39, "Fe": 4.65, "Al": 9.3,
                                         "Ag": 7}),
    ("(Ce10La90)68Al10Cu20Co2", {"Ce": 6.8, "La": 61.2, "Al": 10, "Cu": 20, "Co": 2}),
    ("[(Fe0.8Co0.2)0.75B0.2Si0.05]96Nb4", {"Fe": 57.6, "Co": 14.4, "B": 19.2, "Si": 4.8,
                                           "Nb": 4}),
    ("La57.6Al17.5(CuNi)24.9", {"La": 57.6, "Al": 17.5, "Cu": 12.45, "Ni": 12.45}),
])
def test_parse_formula(formula, expected):
    got = parse_formula(formula)
    assert set(got) == set(expected)
    for el, v in expected.items():
        assert got[el] == pytest.approx(v, abs=1e-9)
    assert sum(got.values()) == pytest.approx(100)


@pytest.mark.parametrize("bad", ["Al40Cu60T", "Fe56Co7Nu7", "Mo52Cr14Fel4P12B8",
                                 "Fe72Mo4B24)96Dy4", "", "2.556", "Cu50Zr50%"])
def test_bad_formulas_rejected(bad):
    with pytest.raises(GfaError):
        parse_formula(bad)


def test_composition_key_merges_spellings():
    a = composition_key(normalise(parse_formula("La55Al25Co20")))
    b = composition_key(normalise(parse_formula("Al0.25Co0.2La0.55")))
    assert a == b == "Al25Co20La55"


def test_checksum_mismatch_is_clear(tmp_path):
    (tmp_path / "forrest2022_gfa.csv").write_text("composition,Dmax,GFA\nCu50Zr50,0.1,Ribbon\n")
    with pytest.raises(GfaError, match="checksum mismatch"):
        fetch("forrest2022", tmp_path)


def test_missing_file_offline_is_clear(tmp_path, monkeypatch):
    monkeypatch.delenv("GFASCREEN_DATA_DIR", raising=False)
    monkeypatch.setattr("gfascreen.data.sources.cache_dir", lambda: tmp_path / "cache")
    with pytest.raises(GfaError, match="not found"):
        fetch("ward2018", tmp_path, download=False)


@pytest.fixture(scope="module")
def built(raw_dir):
    return build_table(raw_dir)


def test_build_table_from_raw(built):
    table, rejects = built
    assert 6000 < len(table) < 7500
    assert table["composition"].is_unique
    els = table_elements(table)
    assert len(els) > 50
    assert (table[els].sum(axis=1) - 100).abs().max() < 1e-6
    assert set(table["gfa_class"].astype(str)) == {"crystal", "ribbon", "bmg"}
    assert (table.loc[table["gfa_class"] == "crystal", "dmax_mm"] == 0).all()
    ribbon = table.loc[table["gfa_class"] == "ribbon", "dmax_mm"]
    # A ribbon is 0.1 mm by convention, or a source's "bulk glass" measured below 1 mm.
    assert ((ribbon == 0.1) | (ribbon < 1)).all() and (ribbon != 0.1).sum() < 100
    bmg = table[table["gfa_class"] == "bmg"]
    assert 700 < bmg["dmax_mm"].notna().sum() < 1300
    assert (bmg["dmax_mm"].dropna() >= 1).all()
    assert "Al13.33Zr86.67" not in set(table["composition"])
    assert (table["sources"].str.len() > 0).all() and (table["provenance"].str.len() > 2).all()
    assert table["dmax_mm"].max() == pytest.approx(72, abs=1)
    assert set(rejects.columns) == {"source", "row", "raw_formula", "reason"}
    assert "Al40Cu60T" in set(rejects["raw_formula"])


def test_known_alloy_merged_with_provenance(built):
    table, _ = built
    row = table.set_index("composition").loc["Al25Co20La55"]
    assert row["gfa_class"] == "bmg" and row["dmax_mm"] >= 1
    assert len(row["sources"].split(";")) >= 2


@pytest.mark.slow
def test_cli_build_is_deterministic(raw_dir, tmp_path):
    outs = []
    for name in ("a.parquet", "b.parquet"):
        r = subprocess.run([sys.executable, "-m", "gfascreen", "data", "build", "--data-dir",
                            str(raw_dir), "--out", str(tmp_path / name)],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        assert "unique compositions" in r.stdout and "rejected" in r.stdout
        outs.append((tmp_path / name).read_bytes())
    assert outs[0] == outs[1]
    assert len(pd.read_parquet(tmp_path / "a.rejects.parquet")) > 0


def test_cli_missing_data_dir_one_line(tmp_path):
    r = subprocess.run([sys.executable, "-m", "gfascreen", "data", "build", "--data-dir",
                        str(tmp_path / "nope"), "--out", str(tmp_path / "t.parquet")],
                       capture_output=True, text=True)
    one_line_error(r.returncode, r.stderr, "is not a directory")


def test_pure_metals_are_crystals_whatever_a_source_says(built):
    """Two sources label La100 and Zr100 BMG; a pure metal does not form a glass."""
    table = built[0] if isinstance(built, tuple) else built
    pure = table[table["n_elements"] == 1]
    assert {"La100", "Zr100"} <= set(pure["composition"])
    assert (pure["gfa_class"].astype(str) == "crystal").all()
    assert (pure["dmax_mm"] == 0).all()


def test_one_class_rule_and_one_merge_rule_for_sources_and_a_labs_csv(tmp_path):
    """The Dmax -> class rule (labels.class_of_dmax) and the merge rule
    (build.merge_composition) are the data build's and a lab's CSV's alike: duplicates
    merged as one source's rows, a pure metal a crystal, provenance row by row."""
    import json

    from gfascreen.data.build import SourceRow, assemble_table, merge_composition
    from gfascreen.data.labels import RIBBON_DMAX_MM, class_of_dmax
    from gfascreen.data.user_table import table_from_csv

    assert [class_of_dmax(d) for d in (0.0, 0.05, RIBBON_DMAX_MM, 0.11, 3.0)] == \
        ["crystal", "ribbon", "ribbon", "bmg", "bmg"]
    csv = tmp_path / "mine.csv"
    csv.write_text("formula,dmax\nCu50Zr50,2\nCu50Zr50,8\nCu50Zr50,0.1\nZr100,5\n"
                   "Cu64Zr36,0.1\nCu64Zr36,0\n")
    table, rejects = table_from_csv(csv)
    assert rejects.empty
    t = table.set_index("composition")
    cu50 = t.loc["Cu50Zr50"]
    assert cu50["gfa_class"] == "bmg" and cu50["dmax_mm"] == 5.0  # median of 2 and 8 mm
    assert cu50["class_conflict"] and cu50["dmax_conflict"]  # 8 > 2 x 2 mm
    assert [p["row"] for p in json.loads(cu50["provenance"])] == [2, 3, 4]
    assert t.loc["Zr100", "gfa_class"] == "crystal" and t.loc["Zr100", "dmax_mm"] == 0.0
    assert t.loc["Cu64Zr36", "gfa_class"] == "ribbon" and \
        t.loc["Cu64Zr36", "dmax_mm"] == RIBBON_DMAX_MM
    # The same rows as one source of the data build give the same table.
    rows = [SourceRow("user", 2, "Cu50Zr50", "", 2.0, "bmg", 2.0),
            SourceRow("user", 3, "Cu50Zr50", "", 8.0, "bmg", 8.0),
            SourceRow("user", 4, "Cu50Zr50", "", 0.1, "ribbon", None)]
    built = assemble_table([merge_composition("Cu50Zr50", {"Cu": 50.0, "Zr": 50.0}, rows)])
    pd.testing.assert_series_equal(built.iloc[0], table.iloc[table.index[
        table["composition"] == "Cu50Zr50"][0]].reindex(built.columns), check_names=False)


def test_a_parquet_of_formulas_and_dmax_reads_like_the_csv(tmp_path):
    """One reader, one rule: composition,dmax_mm as Parquet gives the CSV's rows."""
    from gfascreen.data.user_table import read_training_rows

    df = pd.DataFrame({"composition": ["Cu50Zr50", "La55Al25Ni20", "Cu64Zr36", "Zr"],
                       "dmax_mm": [2.0, 3.0, 0.1, 0.0]})
    df.to_parquet(tmp_path / "few.parquet")
    df.to_csv(tmp_path / "few.csv", index=False)
    a, _ = read_training_rows(tmp_path / "few.parquet")
    b, _ = read_training_rows(tmp_path / "few.csv")
    cols = ["composition", "gfa_class", "dmax_mm"]
    pd.testing.assert_frame_equal(a[cols].astype(str), b[cols].astype(str))
    assert a.set_index("composition").loc["Cu64Zr36", "gfa_class"] == "ribbon"


def test_label_rules_read_bmg_as_castable_and_leave_out_contradicted_labels():
    """The declared rules of `data build`: a source's bulk glass below 1 mm is the glass it
    is (ribbon), and a thickness-less single-source bulk glass whose agreed neighbours are
    all crystals leaves the table with its reason (Zr86.67Al13.33 beside Zr80Al20)."""
    import pandas as pd

    from gfascreen.data.audit import REASON
    from gfascreen.data.build import apply_label_rules

    t = pd.DataFrame({
        "composition": ["Al13.33Zr86.67", "Al20Zr80", "Al25Zr75", "Cu50Zr50", "Cu40Zr60"],
        "system": ["Al-Zr", "Al-Zr", "Al-Zr", "Cu-Zr", "Cu-Zr"],
        "gfa_class": ["bmg", "crystal", "crystal", "bmg", "bmg"],
        "dmax_mm": [np.nan, 0.0, 0.0, 0.5, 2.0],
        "sources": ["ward2018", "a;b;c;d", "a;b", "a", "a;b"],
        "Al": [13.33, 20, 25, 0, 0], "Cu": [0, 0, 0, 50, 40],
        "Zr": [86.67, 80, 75, 50, 60]})
    table, rejects = apply_label_rules(t)
    assert list(table["composition"]) == ["Al20Zr80", "Al25Zr75", "Cu50Zr50", "Cu40Zr60"]
    assert list(table["gfa_class"].astype(str)) == ["crystal", "crystal", "ribbon", "bmg"]
    assert table.loc[2, "dmax_mm"] == 0.5  # the measured thickness stays
    assert [r["raw_formula"] for r in rejects] == ["Al13.33Zr86.67"]
    assert rejects[0]["reason"] == REASON

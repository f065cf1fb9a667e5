"""Known alloys show what is known (issue 28, item 2): an input, a screen's grid point or a
report entry that is one of the model's known alloys carries its measured class, Dmax and
source beside the model's own prediction."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from gfascreen import cli

#: An alloy put on the 10 at.% grid of La-Co-Al in the test model's known alloys.
ON_GRID = {"La": 50.0, "Co": 30.0, "Al": 20.0}


@pytest.fixture(scope="module")
def known_model(tiny_ensemble, tmp_path_factory):
    """The tiny ensemble whose known alloys also hold Al20Co30La50 (bmg, 2.5 mm)."""
    from gfascreen.model.known import KNOWN_ALLOYS, write_known_alloys
    from gfascreen.model.saved import ModelDir

    d = tmp_path_factory.mktemp("known") / "model"
    shutil.copytree(tiny_ensemble, d)
    md = ModelDir(d)
    known = md.known_alloys()
    row = {c: 0.0 for c in known.columns if c not in ("composition", "system", "gfa_class",
                                                       "sources")}
    row |= {"composition": "Al20Co30La50", "system": "Al-Co-La", "gfa_class": "bmg",
            "dmax_mm": 2.5, "sources": "test2024", "n_source_rows": 1, **ON_GRID}
    known = pd.concat([known, pd.DataFrame([row])], ignore_index=True)
    els = [c for c in known.columns if c not in ("composition", "system", "gfa_class",
                                                  "dmax_mm", "sources", "n_source_rows")]
    md.manifest.known_alloys = write_known_alloys(d, known, els)
    assert md.manifest.known_alloys.file == KNOWN_ALLOYS
    md.write_manifest()
    return d


def test_predict_shows_what_is_measured_beside_the_prediction(known_model, capsys):
    from gfascreen.model.ensemble import Ensemble
    from gfascreen.model.saved import ModelDir

    ens = Ensemble.load(str(known_model), device="cpu")
    some = ModelDir(known_model).known_alloys().iloc[3]
    res = ens.predict(["La50Co30Al20", "Co30La50Al20", some["composition"], "La40Co40Al20"])
    assert res["measured_class"].tolist() == ["bmg", "bmg", some["gfa_class"], ""]
    np.testing.assert_allclose(res["measured_dmax_mm"].to_numpy()[:3],
                               [2.5, 2.5, some["dmax_mm"]])
    assert np.isnan(res["measured_dmax_mm"].iloc[3])
    assert res["measured_source"].tolist() == ["test2024", "test2024", "synthetic", ""]
    # The prediction stays the model's own.
    alone = ens.predict_fractions(ens.featurizer.fractions(["La50Co30Al20"]))
    assert res["dmax_mm"].iloc[0] == pytest.approx(alone["dmax_mm"].iloc[0])
    assert res["dmax_mm"].iloc[0] != pytest.approx(2.5)
    # The CLI prints them and says so.
    code = cli.main(["predict", "La50Co30Al20", "--model", str(known_model), "--device",
                     "cpu", "--quiet"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "measured_dmax_mm" in out and "test2024" in out
    assert "1 of 1 inputs are known alloys" in err
    cli.main(["predict", "La40Co40Al20", "--model", str(known_model), "--device", "cpu",
              "--quiet"])
    assert "measured_class" not in capsys.readouterr().out  # nothing known: left off


def test_screen_parquet_and_report_carry_the_measurements(known_model, tmp_path):
    from gfascreen.screening.report import write_report
    from gfascreen.screening.run import ScreenConfig, screen

    out = screen(ScreenConfig(system="La-Co-Al", step=10, out=str(tmp_path / "r"),
                              model=str(known_model), device="cpu", progress=False,
                              chunk_size=7))
    df = pd.read_parquet(out)
    on = (df["La"] == 50) & (df["Co"] == 30) & (df["Al"] == 20)
    assert on.sum() == 1
    r = df[on].iloc[0]
    assert (r["measured_class"], r["measured_dmax_mm"], r["measured_source"]) == \
        ("bmg", 2.5, "test2024")
    rest = df[~on]
    assert (rest["measured_class"] == "").all() and rest["measured_dmax_mm"].isna().all()
    html = write_report(out).read_text()
    # The known alloy's hover: measured beside predicted, at its own grid point.
    assert "measured: bulk glass, measured Dmax, Dmax 2.5 mm (test2024)" in html
    assert f"predicted: Dmax {r['dmax_mm']:.2f} mm" in html


def test_grid_lookup_matches_on_the_composition_key():
    from gfascreen.model.known import measured_at

    known = pd.DataFrame({"composition": ["Al8Cu46Zr46", "Cu50Zr50"], "gfa_class": ["bmg",
                          "ribbon"], "dmax_mm": [2.0, 0.1], "sources": ["a", "b"],
                          "Zr": [46.0, 50.0], "Cu": [46.0, 50.0], "Al": [8.0, 0.0]})
    grid = pd.DataFrame({"Zr": [46.0, 50.0, 46.0, 8.0], "Cu": [46.0, 50.0, 8.0, 46.0],
                         "Al": [8.0, 0.0, 46.0, 46.0]})
    m = measured_at(grid, ["Zr", "Cu", "Al"], known)
    assert m["measured_class"].tolist() == ["bmg", "ribbon", "", ""]
    assert m["measured_source"].tolist() == ["a", "b", "", ""]
    assert measured_at(grid, ["Zr", "Cu", "Al"], None)["measured_class"].eq("").all()

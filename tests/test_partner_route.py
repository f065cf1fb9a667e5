"""Alloys with an element outside the network's vocabulary: the descriptor partner alone,
through its own calibrated distribution, flagged (``route``), never in domain; the
network's rows unchanged to the byte."""

from __future__ import annotations

import shutil
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from gfascreen.errors import GfaError
from gfascreen.model import columns as pc
from tests.helpers import one_line_error

OUTSIDE = ["Sc", "Ho", "Lu", "Tm", "Li", "In", "Sb", "Ir", "Rh", "Ru"]


def narrowed(model, dest):
    """A copy of ``model`` whose partner's element table holds its vocabulary alone (the
    table as it was before it covered every element), checksums updated."""
    from gfascreen.featurize.descriptors import ElementTable
    from gfascreen.model.saved import ModelDir

    shutil.copytree(model, dest)
    md = ModelDir(dest)
    part = md.manifest.partner
    wide = ElementTable.load(md.verified(part.table))
    vocab = list(md.manifest.vocabulary["elements"])
    idx = [wide.elements.index(e) for e in vocab]
    ElementTable(vocab, wide.properties[idx], wide.radius[idx],
                 wide.hmix[np.ix_(idx, idx)]).save(md.path / part.table.file)
    md.manifest.partner = replace(part, table=md.entry(part.table.file))
    md.write_manifest()
    return dest


def assert_one_story(res: pd.DataFrame) -> None:
    """The columns of each row agree: read off one distribution."""
    assert np.isfinite(res[pc.prediction_columns()].drop(
        columns=[pc.DMAX_STD, pc.LOG_DMAX_STD]).to_numpy(float)).all()
    assert (res[pc.P_BMG] <= res[pc.P_GLASS] + 1e-12).all()
    assert np.allclose(res[pc.P_GLASS], res[pc.P_RIBBON] + res[pc.P_BMG])
    assert np.allclose(res["p_dmax_ge_1"], res[pc.P_BMG])
    assert (res["p_dmax_ge_10"] <= res["p_dmax_ge_5"] + 1e-12).all()
    assert (res["p_dmax_ge_5"] <= res["p_dmax_ge_1"] + 1e-12).all()
    assert (res[pc.DMAX_LO] <= res[pc.DMAX_AT_LEAST]).all()
    assert (res[pc.DMAX_AT_LEAST] <= res[pc.DMAX_HI]).all()
    assert (res[pc.DMAX_BMG_LO] <= res[pc.DMAX_BMG_MM]).all()
    assert (res[pc.DMAX_BMG_MM] <= res[pc.DMAX_BMG_HI]).all()
    assert (res[pc.DMAX_BMG_LO] >= 1.0 - 1e-9).all()
    assert np.allclose(res[pc.LOG_DMAX], np.log10(1 + res[pc.DMAX_MM]))


# -- the element table ------------------------------------------------------------------
def test_the_partners_table_covers_the_elements_people_use_and_keeps_the_vocabulary():
    pytest.importorskip("matminer")
    from gfascreen.featurize.descriptors import ElementTable

    vocab = ["Al", "Cu", "Zr"]
    old = ElementTable.from_matminer(vocab)
    wide = ElementTable.for_partner(vocab)
    assert wide.elements[:3] == vocab and set(OUTSIDE) <= set(wide.elements)
    assert not {"He", "Kr", "Og"} & set(wide.elements)
    assert wide.extends(old) and not old.extends(wide)
    changed = ElementTable(vocab, old.properties.copy(), old.radius, old.hmix)
    changed.properties[1, 0] += 1e-12
    assert not wide.extends(changed)


# -- the calibration's partner-only part --------------------------------------------------
def _distribution(seed: int):
    from gfascreen.model.calibration import Calibration
    from gfascreen.model.distribution import ThicknessModel
    from gfascreen.model.probabilities import ProbabilityCalibration

    rng = np.random.default_rng(seed)
    cls = rng.choice(["crystal", "ribbon", "bmg"], 300)
    p_bmg = np.clip(0.6 * (cls == "bmg") + rng.uniform(0, 0.4, 300), 0.01, 0.99)
    p_crystal = np.clip((1 - p_bmg) * np.where(cls == "crystal", 0.8, 0.2), 0, 1)
    mu = rng.uniform(0.3, 1.2, 300)
    return Calibration(info_={"calibrated_on": f"synthetic {seed}"},
                       probabilities_=ProbabilityCalibration().fit(p_crystal, p_bmg, cls),
                       thickness=ThicknessModel(0.0 if seed else 0.5).fit(
                           mu, np.full(300, 0.05), mu + 0.2 * rng.standard_normal(300)))


def test_the_partner_only_calibration_round_trips_beside_the_main_one(tmp_path):
    from safetensors.numpy import load_file

    from gfascreen.model.calibration import Calibration

    main = _distribution(0)
    main.save(tmp_path / "alone.safetensors")
    both = _distribution(0)
    both.partner_only = _distribution(1)
    entry = both.save(tmp_path / "both.safetensors")
    assert entry["partner_only"]["thickness"]["spread_weight"] == 0.0
    assert entry["partner_only"]["calibrated_on"] == "synthetic 1"
    alone, t = load_file(tmp_path / "alone.safetensors"), load_file(tmp_path / "both.safetensors")
    assert all(t[k].tobytes() == v.tobytes() for k, v in alone.items())
    back = Calibration.load(tmp_path / "both.safetensors", entry)
    assert back.partner_only is not None and back.partner_only.partner_only is None
    assert np.array_equal(back.thickness.z_, main.thickness.z_)
    assert np.array_equal(back.partner_only.thickness.z_, both.partner_only.thickness.z_)
    p = np.array([0.1, 0.5, 0.9])
    for a, b in ((back, main), (back.partner_only, both.partner_only)):
        got, want = a.probabilities_.predict(p, p), b.probabilities_.predict(p, p)
        assert all(np.array_equal(got[k], want[k]) for k in want)
    assert "partner_only" not in back.info_ and "partner_only" not in back.partner_only.info_
    assert Calibration.load(tmp_path / "alone.safetensors",
                            main.save(tmp_path / "alone.safetensors")).partner_only is None


# -- a tiny model --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def partner_model(stacked_model, tmp_path_factory):
    """The tiny stacked model (vocabulary La Co Al Zr Cu), calibrated: the partner-only
    part fitted on its partner's out-of-fold columns."""
    from gfascreen.model.evaluation.calibrate import calibrate_model

    d = tmp_path_factory.mktemp("route") / "model"
    shutil.copytree(stacked_model[0], d)
    result = calibrate_model(str(d))
    return d, result


def test_an_element_outside_the_vocabulary_gets_the_partners_calibrated_reading(
        partner_model):
    from gfascreen.model.ensemble import Ensemble
    from gfascreen.model.saved import ModelDir

    d, result = partner_model
    entry = ModelDir(d).manifest.calibration
    assert entry.partner_only["thickness"]["spread_weight"] == 0.0
    assert "partner_only" in result and "partner alone" in (d / "CALIBRATION.md").read_text()
    ens = Ensemble.load(d, device="cpu")
    res = ens.predict(["Sc20Cu40Al40", "Cu46Zr46Al8", "Zr55Cu30Al10In5", "Cu90Kr10", "Xx5",
                       "Og5Cu95"])
    assert res[pc.ROUTE].tolist() == ["partner only", "network+partner", "partner only",
                                      "", "", ""]
    assert res["in_vocabulary"].tolist() == [True if i == 1 else False for i in range(6)]
    assert res["composition"][0] == "Al40Cu40Sc20" and res["composition"][3] == ""
    alone = res.iloc[[0, 2]]
    assert not alone[pc.IN_DOMAIN].any() and alone[pc.DMAX_STD].isna().all()
    assert_one_story(res.iloc[[0, 1, 2]])
    assert (res["reason"][:3] == "").all()
    assert "descriptor partner knows" in res["reason"][3] and "'Kr'" in res["reason"][3]
    assert "'Xx'" in res["reason"][4] and "'Og'" in res["reason"][5]
    assert all("\n" not in r for r in res["reason"])
    assert res.iloc[3:][pc.DMAX_MM].isna().all()
    # Alone in a batch, read the same (to rounding: the batch's widest alloy sets how many
    # elements the descriptors sum over).
    one = ens.predict(["Sc20Cu40Al40"])
    assert one[[pc.DMAX_MM, pc.P_BMG]].to_numpy() == pytest.approx(
        res[[pc.DMAX_MM, pc.P_BMG]].to_numpy()[:1], rel=1e-12)
    assert ens.predict(["Sc20Cu40Al40"], strict=True)[pc.ROUTE][0] == "partner only"
    with pytest.raises(GfaError, match="'Kr'"):
        ens.predict(["Sc20Cu40Al40", "Cu90Kr10"], strict=True)


def test_the_networks_rows_are_unchanged_to_the_byte(partner_model, tmp_path):
    """The same model with the partner's table cut back to the vocabulary (as before it
    covered every element): the in-vocabulary rows are the same bytes; the others refused."""
    from gfascreen.model.ensemble import Ensemble

    d, _ = partner_model
    inputs = ["Cu46Zr46Al8", "Sc20Cu40Al40", "La55Al25Co20", "Zr60Cu30Al10"]
    wide = Ensemble.load(d, device="cpu").predict(inputs)
    narrow = Ensemble.load(narrowed(d, tmp_path / "narrow"), device="cpu").predict(inputs)
    rows = [0, 2, 3]
    for c in pc.prediction_columns():  # (a refused row makes a flag column object: as float)
        a, b = (np.asarray(f[c].iloc[rows], dtype=float) for f in (wide, narrow))
        assert a.tobytes() == b.tobytes(), c
    assert narrow[pc.ROUTE][1] == "" and "'Sc' outside" in narrow["reason"][1]
    assert np.isnan(narrow[pc.DMAX_MM][1]) and np.isfinite(wide[pc.DMAX_MM][1])


def test_without_a_partner_only_calibration_the_readings_are_raw(stacked_model):
    """The stacked model uncalibrated: the partner's raw readings, the interval NaN."""
    from gfascreen.model.ensemble import Ensemble

    res = Ensemble.load(stacked_model[0], device="cpu").predict(["Sc20Cu40Al40"])
    assert res[pc.ROUTE][0] == "partner only" and np.isfinite(res[pc.DMAX_MM][0])
    assert np.isnan(res[pc.DMAX_HI][0]) and res[pc.P_BMG][0] <= res[pc.P_GLASS][0]


def test_predict_cli_flags_the_partner_only_rows(partner_model, tmp_path, capsys):
    from gfascreen import cli

    d, _ = partner_model
    out = tmp_path / "p.csv"
    code = cli.main(["predict", "Sc20Cu40Al40", "Cu46Zr46Al8", "Xx5", "--model", str(d),
                     "--device", "cpu", "--output", str(out)])
    err = capsys.readouterr().err
    assert code == 0, err
    res = pd.read_csv(out, keep_default_na=False)
    assert res[pc.ROUTE].tolist() == ["partner only", "network+partner", ""]
    assert "1 of 3 inputs could not be scored" in err
    assert "1 of 3 inputs hold an element outside the network's vocabulary" in err
    assert cli.main(["predict", "Sc20Cu40Al40", "--model", str(d), "--device", "cpu"]) == 0
    shown = capsys.readouterr().out
    assert "partner only" in shown and "route" in shown
    code = cli.main(["predict", "Og5", "--model", str(d), "--device", "cpu"])
    assert "'Og'" in one_line_error(code, capsys.readouterr().err, "no input could be scored")

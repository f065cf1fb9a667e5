"""The descriptor partner and the stack: descriptors equal to matminer's, the partner's
files checksummed, stacking nested out of fold, probabilities without plateaus."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import torch

from gfascreen.errors import GfaError
from gfascreen.featurize.descriptors import DescriptorFeaturizer, ElementTable
from gfascreen.model.saved import ModelDir, default_model_dir


def test_descriptors_equal_matminer_on_training_alloys():
    pytest.importorskip("matminer")
    from gfascreen.model.evaluation.baselines import magpie_features

    known = ModelDir("default").known_alloys().sample(150, random_state=0)
    els = list(ModelDir("default").manifest.vocabulary["elements"])
    feat = DescriptorFeaturizer(ElementTable.from_matminer(els), els)
    ours = feat(torch.as_tensor(known[els].to_numpy() / 100.0)).numpy()
    theirs = magpie_features(known, els)
    assert ours.shape == (150, len(DescriptorFeaturizer.feature_labels()))
    np.testing.assert_allclose(ours[:, :132], theirs, rtol=1e-6, atol=1e-6)
    # ΔH_mix of Cu50Zr50: 4 * 0.25 * ΔH(Cu-Zr) = ΔH(Cu-Zr) = -23 kJ/mol (Takeuchi & Inoue)
    x = torch.zeros(1, len(els), dtype=torch.float64)
    x[0, els.index("Cu")] = x[0, els.index("Zr")] = 0.5
    d = feat(x)[0]
    assert d[132].item() == pytest.approx(-23.0)
    assert d[134].item() == pytest.approx(np.log(2))  # S_mix / R of an equiatomic binary
    assert d[135].item() == 2


def test_descriptors_read_fractions_in_any_scale_and_mode_ties_take_the_smaller():
    els = ["Al", "Cu", "Zr"]
    tab = ElementTable(els, np.array([[1.0] * 22, [2.0] * 22, [3.0] * 22]),
                       np.array([1.4, 1.3, 1.6]), np.zeros((3, 3)))
    f = DescriptorFeaturizer(tab, els)
    a = f(torch.tensor([[0.0, 50.0, 50.0]], dtype=torch.float64))
    b = f(torch.tensor([[0.0, 0.5, 0.5]], dtype=torch.float64))
    torch.testing.assert_close(a, b)
    labels = DescriptorFeaturizer.feature_labels()
    assert a[0, labels.index("MagpieData mode Number")].item() == 2.0
    assert a[0, labels.index("MagpieData minimum Number")].item() == 2.0  # Al absent


def _synthetic_frame(n=400, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    cls = rng.choice(["crystal", "ribbon", "bmg"], n, p=[0.3, 0.5, 0.2])
    dmax = np.where(cls == "bmg", rng.uniform(0.5, 20, n), np.where(cls == "ribbon", 0.1, 0))
    y = np.log10(1 + dmax)
    noise = lambda s: rng.normal(0, s, n)  # noqa: E731
    sig = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    pb = sig(3 * (cls == "bmg") - 1.5 + noise(1))
    pc = sig(3 * (cls == "crystal") - 1.5 + noise(1)) * (1 - pb)
    gb_pb = sig(3 * (cls == "bmg") - 1.5 + noise(1))
    gb_pc = sig(3 * (cls == "crystal") - 1.5 + noise(1)) * (1 - gb_pb)
    return pd.DataFrame({
        "composition": [f"A{i}" for i in range(n)], "system": [f"S{i % 40}" for i in range(n)],
        "fold": np.arange(n) % 5, "gfa_class": cls, "dmax_mm": dmax, "scored": True,
        "pred_log": y + noise(0.2), "pred_mm": 0.0, "p_crystal": pc, "p_ribbon": 1 - pc - pb,
        "p_bmg": pb, "gb_log": y + noise(0.2), "gb_p_crystal": gb_pc,
        "gb_p_ribbon": 1 - gb_pc - gb_pb, "gb_p_bmg": gb_pb, "gb_log_bmg": y + noise(0.1)})


def test_stacking_is_nested_out_of_fold():
    from gfascreen.model.training.nested_stack import nested_stack_oof

    frame = _synthetic_frame()
    before, weights = nested_stack_oof(frame)
    assert set(weights) == {0, 1, 2, 3, 4}
    # Change every label of fold 0: fold 0's own predictions must not move (its stack
    # never saw them), the other folds' must (their stacks trained on fold 0).
    changed = frame.copy()
    f0 = changed["fold"] == 0
    changed.loc[f0, "gfa_class"] = "bmg"
    changed.loc[f0, "dmax_mm"] = 30.0
    after, _ = nested_stack_oof(changed)
    pd.testing.assert_frame_equal(before[f0], after[f0])
    assert not np.allclose(before.loc[~f0, "p_bmg"], after.loc[~f0, "p_bmg"])


def test_stack_round_trips_and_refuses_other_inputs():
    from gfascreen.model.stack import Stack
    from gfascreen.model.training.nested_stack import features_of, fit_stack

    frame = _synthetic_frame()
    s = fit_stack(frame)
    again = Stack.from_dict(s.to_dict())
    f = features_of(frame)
    np.testing.assert_allclose(s.predict(f).dmax_mm, again.predict(f).dmax_mm)
    out = s.predict(f)
    np.testing.assert_allclose(out.proba.sum(1), 1.0)
    bad = {**s.to_dict(), "features": ["x"]}
    with pytest.raises(GfaError, match="other inputs"):
        Stack.from_dict(bad)


def test_probability_maps_keep_the_ranking_and_have_no_plateau():
    from sklearn.metrics import roc_auc_score

    from gfascreen.model.probabilities import ProbabilityCalibration

    rng = np.random.default_rng(1)
    n = 3000
    cls = rng.choice(["crystal", "ribbon", "bmg"], n)
    # A saturated head: most scores crowd near 1, where isotonic maps made plateaus.
    raw_bmg = 1 / (1 + np.exp(-(6 * (cls == "bmg") + rng.normal(0, 3, n))))
    raw_cr = (1 - raw_bmg) / (1 + np.exp(-(4 * (cls == "crystal") - 2 + rng.normal(0, 2, n))))
    pc = ProbabilityCalibration().fit(raw_cr, raw_bmg, cls)
    out = pc.predict(raw_cr, raw_bmg)
    distinct_raw = len(np.unique(np.round(raw_bmg, 12)))
    assert len(np.unique(np.round(out["p_bmg"], 12))) >= 0.99 * distinct_raw
    bmg = cls == "bmg"
    assert roc_auc_score(bmg, out["p_bmg"]) >= roc_auc_score(bmg, raw_bmg) - 1e-12
    iso = ProbabilityCalibration(method="isotonic").fit(raw_cr, raw_bmg, cls)
    assert len(np.unique(iso.predict(raw_cr, raw_bmg)["p_bmg"])) < 0.2 * distinct_raw


def test_stack_model_attaches_partner_and_stack_and_predicts(stacked_model):
    from gfascreen.model.ensemble import Ensemble

    d, rep = stacked_model
    assert set(rep["system"]["parts"]) == {"network", "partner", "stack"}
    lso = ModelDir(d).lso_oof()
    assert {"net_pred_log", "gb_log", "pred_bmg_mm"} <= set(lso.columns)
    ens = Ensemble.load(d, device="cpu")
    assert ens.stack is not None and ens.partner is not None
    df = ens.predict(["La55Co20Al25", "Cu50Zr50"])
    assert df["dmax_bmg_mm"].notna().all()
    np.testing.assert_allclose(df[["p_crystal", "p_ribbon"]].sum(1) + df["p_bmg"], 1.0,
                               atol=1e-9)
    net = Ensemble.load(d, device="cpu", parts="network").predict(["La55Co20Al25"])
    assert net["dmax_mm"].iloc[0] != pytest.approx(df["dmax_mm"].iloc[0])


def test_partner_file_changed_is_refused(stacked_model, tmp_path):
    from gfascreen.model.ensemble import Ensemble

    d = tmp_path / "m"
    shutil.copytree(stacked_model[0], d)
    f = d / "partner_classes.txt"
    f.write_text(f.read_text().replace("learning_rate", "learning_rate ", 1))
    with pytest.raises(GfaError, match="checksum"):
        Ensemble.load(d, device="cpu")
    assert default_model_dir().is_dir()


def test_probability_map_of_a_useless_score_is_the_base_rate():
    from gfascreen.model.probabilities import ProbabilityCalibration

    rng = np.random.default_rng(2)
    cls = rng.choice(["crystal", "ribbon", "bmg"], 400)
    raw_bmg = np.where(cls == "bmg", 0.2, 0.8) + rng.uniform(0, 0.05, 400)  # anti-correlated
    out = ProbabilityCalibration().fit(np.full(400, 0.3), raw_bmg, cls).predict(
        np.full(400, 0.3), raw_bmg)
    np.testing.assert_allclose(out["p_bmg"], np.mean(cls == "bmg"), atol=0.02)


def test_a_pure_metal_is_a_crystal_and_the_taper_stops_at_93_at_pct(stacked_model):
    from gfascreen.model.ensemble import Ensemble
    from gfascreen.model.stack import CORNER_START

    ens = Ensemble.load(stacked_model[0], device="cpu")
    edge = f"La{100 * CORNER_START:g}Co{100 - 100 * CORNER_START:g}"
    df = ens.predict(["La", "Zr", "La50Co50", edge])
    assert df["p_glass"].iloc[:2].max() <= 1e-9
    assert df["p_glass"].iloc[2] > 0 and df["p_glass"].iloc[3] > 0


@pytest.mark.slow
def test_train_stacks_on_its_folds_and_calibrate_restacks_on_unseen_systems(tiny_table,
                                                                              tmp_path):
    """The README's own-model sequence: train (random folds: the stack on them, nothing
    calibrated), an unseen-system run evaluated with the model's spread, then calibrate
    --lso: the stack is rebuilt on the unseen-system predictions and calibrated."""
    pytest.importorskip("lightgbm")
    pytest.importorskip("matminer")
    from gfascreen import cli
    from gfascreen.model.ensemble import Ensemble

    common = ["--data", str(tiny_table), "--folds", "2", "--epochs", "1", "--max-steps", "1",
              "--batch-size", "8", "--min-count", "1", "--no-fds", "--quiet"]
    model, lso = tmp_path / "m", tmp_path / "lso"
    assert cli.main(["train", "--out", str(model), *common]) == 0
    m = ModelDir(model).manifest
    assert m.extra["stack_evaluation"]["fitted_on"] == "random" and m.lso_oof is None
    assert cli.main(["train", "--out", str(lso), "--grouping", "system", *common]) == 0
    assert "stack" not in ModelDir(lso).manifest.extra  # the evaluation run is not stacked
    assert cli.main(["evaluate", str(lso), "--no-baselines", "--spread-model", str(model)]) == 0
    assert cli.main(["calibrate", str(model), "--lso", str(lso)]) == 0
    m = ModelDir(model).manifest
    assert m.extra["stack_evaluation"]["fitted_on"] == "system" and m.calibration is not None
    assert "net_pred_log" in ModelDir(model).lso_oof().columns
    pred = Ensemble.load(model, device="cpu").predict(["Al25Co20La55"])
    assert np.isfinite(pred[["dmax_lo", "dmax_bmg_mm", "p_glass"]].to_numpy()).all()
    from gfascreen.model.evaluation.calibrate import calibrate_model

    with pytest.raises(GfaError, match="re-stack"):
        calibrate_model(str(model), str(lso))  # network-only predictions for a stack


def test_a_run_records_the_stack_it_was_scored_with(stacked_model, tmp_path):
    """Members alone do not identify the predictions once a stack joins them: a resumed
    screen with a re-fitted stack is refused."""
    from gfascreen.model.saved import stack_hash
    from gfascreen.screening.run import ScreenConfig, screen

    d = tmp_path / "m"
    shutil.copytree(stacked_model[0], d)
    out = tmp_path / "run"
    cfg = dict(system="La-Co-Al", step=25, out=str(out), model=str(d), device="cpu",
               progress=False)
    screen(ScreenConfig(**cfg))
    run = json.loads((out / "_run.json").read_text())
    assert run["model"]["stack_hash"] == stack_hash(ModelDir(d).manifest) is not None
    md = ModelDir(d)
    md.manifest.extra["stack"]["rank_weight"] = 0.123
    md.write_manifest()
    with pytest.raises(GfaError, match="different model"):
        screen(ScreenConfig(**cfg, resume=True))

"""Calibrated probabilities, predictive distributions and lower bounds, pinned on synthetic
data whose true probabilities are known."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

from gfascreen.errors import GfaError
from gfascreen.model.calibration import Calibration
from gfascreen.model.columns import threshold_column
from gfascreen.model.probabilities import ProbabilityCalibration
from gfascreen.model.reliability import expected_calibration_error, reliability_table
from gfascreen.model.statement_options import parse_thresholds
from gfascreen.model.targets import to_target


def _classes(p_glass: np.ndarray, p_bmg_given_glass: np.ndarray, rng) -> np.ndarray:
    u = rng.random(len(p_glass))
    v = rng.random(len(p_glass))
    return np.where(u >= p_glass, "crystal", np.where(v < p_bmg_given_glass, "bmg", "ribbon"))


def _head(p_glass: np.ndarray, p_bmg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Raw 'head outputs' (p_crystal, p_bmg) that report given probabilities."""
    return 1.0 - p_glass, p_bmg


def test_perfectly_calibrated_head_stays_calibrated():
    rng = np.random.default_rng(0)
    n = 20000
    pg = rng.uniform(0, 1, n)
    pb = pg * rng.uniform(0, 1, n)
    cls = _classes(pg, pb / pg, rng)
    fit, test = slice(0, n // 2), slice(n // 2, n)
    pc = ProbabilityCalibration().fit(*_head(pg[fit], pb[fit]), cls[fit])
    out = pc.predict(*_head(pg[test], pb[test]))
    for name, true in (("p_glass", pg[test]), ("p_bmg", pb[test])):
        y = (cls[test] != "crystal") if name == "p_glass" else (cls[test] == "bmg")
        assert expected_calibration_error(out[name], y) < 0.02
        assert np.abs(out[name] - true).mean() < 0.03  # the map stays near the identity


def test_overconfident_head_is_fixed():
    """A head that says p where the truth is p**4 (the shipped head's kind of error):
    ECE large before, small after; probabilities coherent."""
    rng = np.random.default_rng(1)
    n = 20000
    said = rng.uniform(0, 1, n)
    true_glass = said ** 4
    cls = _classes(true_glass, np.full(n, 0.5), rng)
    fit, test = slice(0, n // 2), slice(n // 2, n)
    pc = ProbabilityCalibration().fit(1 - said[fit], said[fit] * 0.5, cls[fit])
    out = pc.predict(1 - said[test], said[test] * 0.5)
    y = cls[test] != "crystal"
    assert expected_calibration_error(said[test], y) > 0.15
    assert expected_calibration_error(out["p_glass"], y) < 0.02
    for r in reliability_table(out["p_glass"], y):
        assert abs(r["predicted"] - r["observed"]) < 0.05
    assert (out["p_bmg"] <= out["p_glass"] + 1e-12).all()
    total = out["p_crystal"] + out["p_ribbon"] + out["p_bmg"]
    assert np.allclose(total, 1.0)


def test_domain_binned_maps_and_storage_roundtrip():
    rng = np.random.default_rng(2)
    n = 4000
    said = rng.uniform(0, 1, n)
    dom = rng.random(n) < 0.5
    true = np.where(dom, said, said ** 3)  # calibrated in domain, overconfident outside
    cls = _classes(true, np.full(n, 0.5), rng)
    pc = ProbabilityCalibration(binning="domain").fit(1 - said, said * 0.5, cls, dom)
    back = ProbabilityCalibration.from_tensors(pc.tensors(), pc.entry())
    a = pc.predict(1 - said, said * 0.5, dom)
    b = back.predict(1 - said, said * 0.5, dom)
    assert np.array_equal(a["p_glass"], b["p_glass"])
    x = np.array([0.8])
    inside = pc.predict(1 - x, x * 0.5, np.array([True]))["p_glass"][0]
    outside = pc.predict(1 - x, x * 0.5, np.array([False]))["p_glass"][0]
    assert inside == pytest.approx(0.8, abs=0.1) and outside == pytest.approx(0.8 ** 3, abs=0.1)
    with pytest.raises(GfaError):
        pc.predict(1 - x, x)  # a domain map needs the domain


def _gaussian_case(n: int, seed: int, low: float = 0.0):
    """y = ŷ + σ ε with ε standard normal and σ known: P(y >= t) = 1 - Φ((t - ŷ)/σ)."""
    rng = np.random.default_rng(seed)
    pred = rng.uniform(low, 1.2, n)
    sigma = rng.uniform(0.05, 0.3 if low == 0 else 0.15, n)
    y = pred + sigma * rng.standard_normal(n)
    return pred, sigma, y


def test_exceedance_matches_the_true_probability_and_crepes():
    pred, sigma, y = _gaussian_case(4000, 3)
    cal = Calibration(beta=0.0, method="cps").fit(y - pred, sigma)
    tp, ts, ty = _gaussian_case(3000, 4)
    thresholds = (1.0, 5.0, 10.0)
    p = cal.exceedance(tp, ts, None, thresholds)
    for j, t in enumerate(thresholds):
        true = 1 - norm.cdf((to_target(np.array([t]))[0] - tp) / ts)
        assert np.abs(p[:, j] - true).max() < 0.04
        hit = ty >= to_target(np.array([t]))[0]
        assert expected_calibration_error(p[:, j], hit) < 0.03
    # The vectorised form equals crepes' own non-smoothed p-value.
    from crepes import ConformalPredictiveSystem

    cps = ConformalPredictiveSystem().fit(cal.alphas_, np.ones(len(cal.alphas_)))
    t5 = to_target(np.array([5.0]))[0]
    theirs = cps.predict_p(tp[:200], np.full(200, t5), sigmas=ts[:200], smoothing=False)
    assert np.allclose(p[:200, 1], 1 - np.asarray(theirs).ravel())


def test_lower_bound_and_interval_cover_as_stated():
    # Predictions well above 0 mm, so that no bound is clipped at 0.
    pred, sigma, y = _gaussian_case(4000, 5, low=0.7)
    tp, ts, ty = _gaussian_case(4000, 6, low=0.7)
    for method in ("symmetric", "cps"):
        cal = Calibration(beta=0.0, method=method).fit(y - pred, sigma)
        lo, hi = cal.interval_log(tp, ts, confidence=0.9)
        inside = (ty >= lo) & (ty <= hi)
        assert inside.mean() == pytest.approx(0.9, abs=0.02)
    least = to_target(cal.at_least_mm(tp, ts, confidence=0.9))
    assert (ty >= least - 1e-12).mean() == pytest.approx(0.9, abs=0.02)


def test_storage_keeps_the_predictive_distribution(tmp_path):
    pred, sigma, y = _gaussian_case(500, 7)
    cal = Calibration(beta=0.01, binning="domain", method="cps", difficulty="members+knn")
    dom = (np.arange(500) % 2).astype(int)
    cal.fit(y - pred, cal.sigma(sigma, sigma), dom)
    entry = cal.save(tmp_path / "c.safetensors")
    back = Calibration.load(tmp_path / "c.safetensors", entry)
    assert back.method == "cps" and back.difficulty == "members+knn"
    assert np.array_equal(back.exceedance(pred[:5], sigma[:5], dom[:5]),
                          cal.exceedance(pred[:5], sigma[:5], dom[:5]))


def test_threshold_option():
    assert parse_thresholds("1,5,10") == (1.0, 5.0, 10.0)
    assert parse_thresholds(None) == (1.0, 5.0, 10.0)
    assert threshold_column(2.5) == "p_dmax_ge_2.5"
    for bad in ("a,b", "0", "-1", "1e9", "nan"):
        with pytest.raises(GfaError):
            parse_thresholds(bad)


def test_vectorised_symmetric_intervals_equal_crepes():
    """The vectorised Mondrian normalised interval is crepes' ConformalRegressor's."""
    from crepes import ConformalRegressor

    rng = np.random.default_rng(9)
    r, sig, bins = rng.normal(0, 0.2, 3000), rng.uniform(0.02, 0.3, 3000), rng.integers(0, 4, 3000)
    bins[:2] = 7  # a bin with too few scores: infinite
    cal = Calibration(beta=0.0, binning="domain+bmg4").fit(r, sig, bins)
    pred, ps, pb = rng.uniform(0, 1.5, 500), rng.uniform(0.02, 0.3, 500), rng.integers(0, 4, 500)
    pb[:3] = 7
    pb[3] = 5  # never seen in calibration: infinite
    for c in (0.68, 0.9, 0.95):
        lo, hi = cal.interval_log(pred, ps, pb, c)
        cr = ConformalRegressor().fit(np.abs(r) / sig, np.ones(3000), bins=bins)
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = cr.predict_int(pred[4:], sigmas=ps[4:], bins=pb[4:], confidence=c, y_min=0.0,
                                 y_max=float(to_target(np.array([100.0]))[0]))
        assert np.allclose(lo[4:], ref[:, 0]) and np.allclose(hi[4:], ref[:, 1])
        assert (lo[:4] == 0).all() and (hi[:4] == to_target(np.array([100.0]))[0]).all()


def test_vectorised_lower_bound_equals_crepes():
    import warnings

    from crepes import ConformalPredictiveSystem

    rng = np.random.default_rng(10)
    r, sig = rng.normal(0.1, 0.2, 2000), rng.uniform(0.02, 0.3, 2000)
    bins = rng.integers(0, 3, 2000)
    cal = Calibration(beta=0.0, binning="domain+bmg4", method="cps").fit(r, sig, bins)
    pred, ps, pb = rng.uniform(0.5, 1.5, 300), rng.uniform(0.02, 0.3, 300), rng.integers(0, 3, 300)
    cps = ConformalPredictiveSystem().fit(r / sig, np.ones(2000), bins=bins)
    for c in (0.68, 0.9):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = cps.predict_percentiles(pred, sigmas=ps, bins=pb,
                                          lower_percentiles=100 * (1 - c), y_min=0.0)
        ours = to_target(cal.at_least_mm(pred, ps, pb, c))
        assert np.allclose(ours, np.clip(np.asarray(ref).ravel(), 0, None))


def test_neighbourhood_compares_only_the_alloys_that_matter_and_stays_exact(monkeypatch):
    """Pruned by each alloy's mass outside a block's elements, the domain flags and the
    k-nearest spreads equal the brute-force ones over every alloy (ties, which a grid
    meets often, broken the same way whatever was compared)."""
    import torch

    from gfascreen.model.difficulty import k_nearest_spread, neighbourhood

    rng = np.random.default_rng(0)
    n_el, n_ref = 8, 400
    ref = np.zeros((n_ref, n_el))
    for r in ref:  # 2-4 elements at 1 at.% resolution, some on the screened system
        els = rng.choice(n_el, rng.integers(2, 5), replace=False)
        r[els] = rng.dirichlet(np.ones(len(els)))
    ref = np.round(ref * 100) / 100
    ref[:, 0] += 1 - ref.sum(1)
    ref = np.abs(ref) / np.abs(ref).sum(1, keepdims=True)
    y = rng.normal(size=n_ref)
    y[rng.random(n_ref) < 0.3] = np.nan
    grid = [(a, b, 100 - a - b) for a in range(0, 101, 5) for b in range(0, 101 - a, 5)]
    x = np.zeros((len(grid), n_el))
    x[:, [0, 1, 2]] = np.array(grid) / 100
    xt, rt = torch.tensor(x, dtype=torch.float32), torch.tensor(ref, dtype=torch.float32)
    got = neighbourhood(xt, rt, y, 20.0, 2, k=5)
    known = np.isfinite(y)
    full = torch.cdist(xt, rt, p=1)
    assert (got.in_domain == ((full <= 0.2 + 1e-6).sum(1) >= 2).numpy()).all()
    want = k_nearest_spread(full[:, known], torch.tensor(y[known], dtype=torch.float32), 5)
    np.testing.assert_allclose(got.knn_spread, want, atol=1e-6)
    # A GPU's row groups (many rows against one candidate set) give the same answer.
    from gfascreen.model import difficulty

    for group in (7, 2048):
        monkeypatch.setitem(difficulty.ROW_GROUP, "cpu", group)
        again = neighbourhood(xt, rt, y, 20.0, 2, k=5)
        np.testing.assert_array_equal(again.in_domain, got.in_domain)
        np.testing.assert_allclose(again.knn_spread, want, atol=1e-6)


# -- the calibrated statements ----------------------------------------------------------------
def _calibration_frame(n: int = 1500, seed: int = 11):
    """A leave-system-out frame as `lso_frame` gives it (five folds, a class head)."""
    import pandas as pd

    pred, sigma, y = _gaussian_case(n, seed, low=0.2)
    rng = np.random.default_rng(seed)
    p_bmg = rng.uniform(0.01, 0.99, n)
    cls = np.where(rng.uniform(size=n) < p_bmg, "bmg",
                   np.where(rng.uniform(size=n) < 0.5, "ribbon", "crystal"))
    return pd.DataFrame({"fold": np.arange(n) % 5, "y": y, "dmax_mm": 10 ** y - 1,
                         "pred_log": pred, "sigma_log": sigma, "knn_spread": 0.0,
                         "in_domain": np.arange(n) % 3 > 0, "gfa_class": cls,
                         "p_crystal": (1 - p_bmg) / 2, "p_bmg": p_bmg})


def test_each_statement_writes_the_registry_columns_it_declares():
    """Every statement's columns are prediction columns, no two statements write the same
    one, and `predict` writes exactly the declared ones."""
    from gfascreen.model.columns import prediction_columns
    from gfascreen.model.statements import (
        KINDS,
        LEGACY_KINDS,
        Batch,
        ClassProbabilities,
        statements,
    )

    thresholds = (2.5, 7.0)
    for kinds in (KINDS, LEGACY_KINDS):
        declared = [c for kind in kinds for c in kind.columns(thresholds)]
        assert len(declared) == len(set(declared))
        assert set(declared) <= set(prediction_columns(thresholds))
    frame = _calibration_frame()
    cal = Calibration(binning="domain+bmg", method="cps")
    cal.probabilities_ = ClassProbabilities(binning="domain").fit(frame).maps
    frame["p_bmg_cal"] = cal.probabilities_.predict(frame["p_crystal"], frame["p_bmg"],
                                                   frame["in_domain"])["p_bmg"]
    made = statements(cal)
    made[1].fit(frame)  # the Dmax statements share one distribution
    assert [type(s) for s in made] == list(LEGACY_KINDS)
    batch = Batch.from_frame(frame.head(40), 0.68, thresholds)
    for st in made:
        assert sorted(st.predict(batch)) == sorted(st.columns(thresholds)), type(st)


def test_cross_fitted_statements_equal_a_fit_per_fold():
    """`cross_fit` drives the statements: its out-of-fold interval and exceedance are the
    calibration's own, fitted on the other folds."""
    from gfascreen.model.evaluation.calibrate import Candidate, cross_fit_intervals
    from gfascreen.model.statements import Interval

    frame = _calibration_frame()
    frame["p_bmg_cal"] = frame["p_bmg"]
    cand = Candidate("cps", "members", "domain", 0.01)
    res = cross_fit_intervals(frame, cand, confidences=(0.9,))
    te = frame["fold"].to_numpy() == 2
    cal = cand.calibration()
    Interval(cal).fit(frame[~te])
    bins = frame["in_domain"].to_numpy(dtype=int)[te]
    pred, sig = frame["pred_log"].to_numpy()[te], frame["sigma_log"].to_numpy()[te] + 0.01
    lo, hi = cal.interval_log(pred, sig, bins, 0.9)
    assert np.array_equal(res["lo"][0.9][te], lo) and np.array_equal(res["hi"][0.9][te], hi)
    assert np.array_equal(res["exceedance"][te], cal.exceedance(pred, sig, bins))
    assert not np.isnan(res["at_least"][0.9]).any()


def test_statement_measurements_keep_the_manifest_shape():
    """The report dicts the manifest stores (and the card renders): per group and
    confidence, the interval's keys then the lower bound's; per threshold, a reliability."""
    from gfascreen.model.evaluation.calibrate import (
        Candidate,
        cross_fit_intervals,
        exceedance_report,
        interval_report,
    )

    frame = _calibration_frame()
    frame["p_bmg_cal"] = frame["p_bmg"]
    res = cross_fit_intervals(frame, Candidate("symmetric", "members", "none", 0.01))
    rep = interval_report(frame, res)
    assert list(rep) == ["all", "bmg", "in_domain", "out_of_domain"]
    assert list(rep["all"]) == ["68", "90", "95"]
    assert list(rep["all"]["90"]) == ["n", "coverage", "median_width_mm", "q95_width_log",
                                      "at_least_coverage", "median_at_least_mm"]
    assert rep["all"]["90"]["coverage"] == pytest.approx(0.9, abs=0.03)
    assert list(exceedance_report(frame, res)) == ["1", "5", "10"]

"""The maths of the screening metrics and of the calibrated intervals, on fixtures small
enough to check by hand."""

import numpy as np
import pandas as pd
import pytest

from gfascreen.errors import GfaError
from gfascreen.model.calibration import Calibration
from gfascreen.model.evaluation.screening_metrics import glass_auc, within_system
from gfascreen.model.reliability import coverage


def _sys(name, measured, predicted):
    return pd.DataFrame({"system": name, "dmax_mm": measured, "pred_mm": predicted,
                         "gfa_class": "bmg"})


def test_within_system_by_hand():
    a = _sys("A-B", [1, 2, 3, 4, 5], [1, 2, 3, 5, 4])        # rho = 1 - 6*2/(5*24) = 0.9
    b = _sys("C-D", [1, 2, 3, 4, 5, 6], [6, 5, 4, 3, 2, 1])  # rho = -1
    c = _sys("E-F", [1, 2, 3, 4], [1, 2, 3, 4])              # < 5 alloys: left out
    d = _sys("G-H", [2, 2, 2, 2, 2], [1, 2, 3, 4, 5])        # one distinct value: left out
    r = within_system(pd.concat([a, b, c, d]))
    assert r["systems"] == 2 and r["alloys"] == 11
    assert r["spearman_weighted_mean"] == pytest.approx((5 * 0.9 + 6 * -1) / 11)
    assert r["spearman_median"] == pytest.approx((0.9 - 1) / 2)
    # A-B: best measured (5) is predicted 4, rank 2 of 5 > ceil(0.2*5) = 1 -> miss;
    # C-D: best measured (6) is predicted lowest -> miss.
    assert r["best_in_top20_share"] == 0.0
    e = _sys("I-J", [1, 2, 3, 4, 9], [1, 2, 3, 4, 5])
    assert within_system(pd.concat([a, e]))["best_in_top20_share"] == 0.5


def test_glass_auc_perfect_and_inverted():
    df = pd.DataFrame({"gfa_class": ["crystal", "crystal", "ribbon", "bmg"],
                       "p_crystal": [0.9, 0.8, 0.1, 0.0], "p_bmg": [0.0, 0.1, 0.2, 0.9]})
    r = glass_auc(df)
    assert r["auc_glass_vs_crystal"] == 1.0 and r["auc_bmg_vs_rest"] == 1.0
    df["p_crystal"] = 1 - df["p_crystal"]
    assert glass_auc(df)["auc_glass_vs_crystal"] == 0.0


def test_perfectly_calibrated_case_is_nominal():
    """Residuals drawn as sigma * N(0, 1): normalised conformal intervals must cover at
    their nominal rates on held-out folds, and be wider where sigma is larger."""
    rng = np.random.default_rng(0)
    n = 20000
    sigma = rng.uniform(0.02, 0.15, n)
    pred = rng.uniform(0.8, 1.2, n)  # far from the clips at 0 and 100 mm (log 2.004)
    y = pred + sigma * rng.standard_normal(n)
    folds = rng.integers(0, 5, n)
    # Measured as `gfascreen calibrate` measures: out of fold, one fold at a time.
    from gfascreen.model.evaluation.calibrate import (
        Candidate,
        cross_fit_intervals,
        interval_report,
    )

    frame = pd.DataFrame({"fold": folds, "y": y, "pred_log": pred, "sigma_log": sigma,
                          "knn_spread": 0.0, "in_domain": True, "p_bmg_cal": 1.0,
                          "gfa_class": "bmg"})
    res = interval_report(frame, cross_fit_intervals(frame, Candidate("symmetric", "members",
                                                                      "none", 0.0)))
    for c in ("68", "90", "95"):
        assert res["all"][c]["coverage"] == pytest.approx(int(c) / 100, abs=0.015)
    cal = Calibration(beta=0.0).fit(y - pred, sigma)
    lo, hi = cal.interval_log(np.array([1.0, 1.0]), np.array([0.05, 0.15]), confidence=0.9)
    assert (hi - lo)[1] == pytest.approx(3 * (hi - lo)[0])
    # ±1.645 sigma for a Gaussian at 90 %.
    assert (hi - lo)[0] / 2 == pytest.approx(1.645 * 0.05, rel=0.05)
    capped = cal.interval_mm(np.array([1.9]), np.array([0.5]))[1]
    assert capped[0] == pytest.approx(100.0)  # the upper bound stops at CAP_MM


def test_intervals_clip_at_zero_mm_and_mondrian_bins():
    rng = np.random.default_rng(1)
    n = 4000
    sigma = np.full(n, 0.1)
    dom = rng.random(n) < 0.5
    y = np.where(dom, 0.1, 0.5) * rng.standard_normal(n)  # out of domain: 5x the error
    cal = Calibration(beta=0.0, binning="domain").fit(y, sigma, dom.astype(int))
    lo, hi = cal.interval_log(np.zeros(2), np.full(2, 0.1), np.array([1, 0]))
    assert (lo >= 0).all()
    assert hi[1] == pytest.approx(5 * hi[0], rel=0.15)
    lo_mm, hi_mm = cal.interval_mm(np.zeros(1), np.full(1, 0.1), np.array([1]))
    assert lo_mm[0] == 0.0 and hi_mm[0] > 0
    assert coverage(np.array([0.0, 1.0, np.nan]), np.zeros(3), np.full(3, 0.5)) == 0.5
    from gfascreen.model.mondrian import mondrian_bins

    assert mondrian_bins("none", dom) is None
    assert mondrian_bins("domain+bmg", [True, False, True], [0.9, 0.9, 0.1]).tolist() == [3, 2, 1]
    with pytest.raises(GfaError, match="needs each prediction's bin"):
        cal.interval_log(np.zeros(1), np.ones(1))


def test_calibration_roundtrip_and_refusals(tmp_path):
    cal = Calibration(beta=0.02, info_={"calibrated_on": "test"}).fit(np.linspace(-1, 1, 50),
                                                                np.ones(50))
    entry = cal.save(tmp_path / "c.safetensors")
    back = Calibration.load(tmp_path / "c.safetensors", entry)
    a = cal.interval_log(np.ones(3), np.ones(3))
    b = back.interval_log(np.ones(3), np.ones(3))
    assert np.array_equal(a[0], b[0]) and back.info_["calibrated_on"] == "test"
    assert back.method == "symmetric"
    with pytest.raises(GfaError, match="at least 20"):
        Calibration().fit(np.ones(5), np.ones(5))
    with pytest.raises(GfaError, match="confidence"):
        cal.interval_log(np.ones(1), np.ones(1), confidence=90)


def test_system_ranking_by_hand():
    """Each system scored by its largest prediction over its measured alloys: the AUC
    for holding a bulk glass of 1 mm (every system with a measured alloy), the Spearman
    with its best measured Dmax (those with 3 or more), and the better one chosen."""
    from gfascreen.model.evaluation.evaluation_report import SystemRanking
    from gfascreen.model.evaluation.system_ranking import system_evidence

    rows = [("A-B", 0.1, 1, 0.1), ("A-B", 2, 2, 0.5), ("A-B", 5, 4, 0.2),
            ("C-D", 0.1, 0.1, 0.9), ("C-D", 0.1, 0.2, 0.1), ("C-D", 0.5, 0.3, 0.1),
            ("E-F-G", 0, 0, 0.6), ("E-F-G", 1.5, 1, 0.1), ("E-F-G", 3, 2, 0.1),
            ("H-I", 0.1, 0.2, 0.1), ("H-I", np.nan, 9, 0.9)]  # unmeasured: left out
    oof = pd.DataFrame(rows, columns=["system", "dmax_mm", "pred_mm", "p_bmg"])
    e = system_evidence(oof)
    assert e["systems"] == 4 and e["holding_bulk_glass"] == 2
    best, pbmg = e["statistics"]["best_dmax"], e["statistics"]["best_p_bmg"]
    assert best["auc_holds_bulk_glass"] == 1.0 and best["spearman"] == 1.0
    assert best["systems"] == 3 and best["by_order"]["3"] == {"systems": 1}  # too few
    assert pbmg["auc_holds_bulk_glass"] == 0.5 and pbmg["spearman"] == -1.0
    assert e["chosen"] == "best_dmax" and "higher Spearman" in e["why"]
    assert SystemRanking.from_dict(e, "e").to_dict() == e

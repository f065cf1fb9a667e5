"""Next experiments (issue 28, item 8): each pick names its nearest measured alloy, its Dmax
and the L1 distance; --away-from-known keeps picks away from them; the default target
thickness separates candidates and is said; a short batch says why."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gfascreen import cli


@pytest.fixture(scope="module")
def cal_run(calibrated_ensemble, tmp_path_factory):
    from gfascreen.screening.run import ScreenConfig, screen

    out = tmp_path_factory.mktemp("sg") / "run"
    return screen(ScreenConfig(system="La-Co-Al", step=5, out=str(out),
                               model=str(calibrated_ensemble), device="cpu", progress=False))


def _space(model):
    from gfascreen.model.saved import ModelDir

    k = ModelDir(model).known_alloys()
    return k[k[["La", "Co", "Al"]].sum(1) > 99.99]


def test_each_pick_names_its_nearest_measured_alloy(cal_run, calibrated_ensemble):
    from gfascreen.screening.suggest import suggest_run

    picks, _ = suggest_run(cal_run, n=5, min_distance=5)
    assert len(picks) == 5
    space = _space(calibrated_ensemble)
    kc = space[["La", "Co", "Al"]].to_numpy()
    for _, p in picks.iterrows():
        d = np.abs(kc - p[["La", "Co", "Al"]].to_numpy(dtype=float)).sum(1)
        j = int(d.argmin())
        assert p["nearest_known"] == space["composition"].iloc[j]
        assert p["nearest_known_l1_at_pct"] == pytest.approx(d[j])
        assert p["nearest_known_dmax_mm"] == pytest.approx(space["dmax_mm"].iloc[j])
        assert f"nearest measured alloy {p['nearest_known']}" in p["reason"]
    far, _ = suggest_run(cal_run, n=5, min_distance=5, away_from_known=12)
    assert len(far) and (far["nearest_known_l1_at_pct"] >= 12 - 1e-9).all()
    assert far["nearest_known_l1_at_pct"].min() > picks["nearest_known_l1_at_pct"].min()


def test_away_from_known_on_the_command_line(cal_run, capsys):
    code = cli.main(["suggest", str(cal_run), "--away-from-known", "12", "--output", "-"])
    out, err = capsys.readouterr()
    assert code == 0, err
    from io import StringIO

    t = pd.read_csv(StringIO(out))
    assert {"nearest_known", "nearest_known_dmax_mm", "nearest_known_l1_at_pct"} <= set(t)
    assert (t["nearest_known_l1_at_pct"] >= 12 - 1e-9).all()
    code = cli.main(["suggest", str(cal_run), "--away-from-known", "-1"])
    _, err = capsys.readouterr()
    assert code == 2 and "--away-from-known" in err and "Traceback" not in err
    code = cli.main(["suggest", str(cal_run), "--away-from-known", "300"])
    _, err = capsys.readouterr()
    assert code == 2 and "lower --away-from-known" in err


def test_default_target_separates_candidates_and_is_said(cal_run):
    from gfascreen.screening.runs import load_run
    from gfascreen.screening.suggest import (
        default_target_mm,
        exceedance_score,
        run_calibration,
        suggest_run,
    )

    r = load_run(cal_run)
    cal = run_calibration(r.request)
    df = r.table
    pool = df["in_domain"].to_numpy(bool)
    # A system whose best glass is very thick: P(Dmax >= 72 mm) is flat over the grid.
    known = pd.DataFrame({"gfa_class": ["bmg", "bmg", "crystal"], "dmax_mm": [72.0, 0.5, 0.0],
                          "composition": ["a", "b", "c"]})
    t, why = default_target_mm(known, df, cal, pool)
    sel = df[pool]
    k = max(min(len(sel), 20), int(np.ceil(0.1 * len(sel))))
    top = sel.iloc[np.argsort(-sel["dmax_mm"].to_numpy(), kind="stable")[:k]]
    sd = {v: np.std(exceedance_score(top, cal, v)[0]) for v in (72.0, 0.5, 1, 2, 5, 10, 20,
                                                                  50)}
    assert t != 72.0 and sd[t] == pytest.approx(max(sd.values()))
    assert sd[t] > sd[72.0]
    assert f"{t:g} mm" in why and "varies most" in why and "72 mm" in why
    _, said = suggest_run(cal_run, n=3)
    assert said.startswith("target thickness: ") and "varies most" in said


def test_fewer_picks_than_asked_says_why(cal_run, capsys):
    from gfascreen.screening.suggest import suggest_run

    picks, why = suggest_run(cal_run, n=500, min_distance=5)
    assert 0 < len(picks) < 500
    assert f"only {len(picks)} of the" in why and "lie 5 at.% apart" in why
    code = cli.main(["suggest", str(cal_run), "--n", "500", "--output", "-"])
    _, err = capsys.readouterr()
    assert code == 0 and f"only {len(picks)} of the" in err
    full, why = suggest_run(cal_run, n=3, min_distance=5)
    assert len(full) == 3 and "only" not in why

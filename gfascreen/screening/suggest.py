"""Next alloys to cast: a spaced batch of high-upside compositions from a finished screen.

Each grid point gets an upper-confidence score: the upper bound of its calibrated interval
(mm) at ``ucb`` confidence (default 0.68, so the score weighs the prediction and its
uncertainty about equally; at 0.9 the widest intervals dominate), recomputed from the run's
predictions with the model's calibration; for a model without a calibration,
``dmax_mm + dmax_std`` (said so in the reason). Points are taken greedily by that score
(ties broken by composition, so the batch is deterministic), skipping any closer than
``min_distance`` to a point already taken and, unless asked, any out of domain. Distance
is the at.% that must move to turn one composition into the other (half the L1 distance:
La60Co20Al20 and La55Co25Al20 are 5 apart).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from gfascreen.errors import GfaError

#: Confidence of the interval whose upper bound is the score.
UCB = 0.68


def upper_score(df: pd.DataFrame, calibration=None, ucb: float = UCB
                ) -> tuple[np.ndarray, str]:
    """Upper-confidence score (mm) per row and what it is."""
    if calibration is not None:
        from gfascreen.model.calibration import mondrian_bins

        bins = mondrian_bins(calibration.binning, df["in_domain"], df.get("p_bmg"))
        _, hi = calibration.interval_mm(df["log_dmax"], df["log_dmax_std"], bins, ucb)
        return hi, f"upper bound of the {round(100 * ucb)} % calibrated interval"
    return (df["dmax_mm"] + df["dmax_std"]).to_numpy(dtype=float), \
        "mean + 1 spread (this model has no calibrated interval)"


def suggest(df: pd.DataFrame, elements: list[str], n: int = 5, min_distance: float = 5.0,
            out_of_domain: bool = False, calibration=None, ucb: float = UCB) -> pd.DataFrame:
    """``n`` compositions to cast next, at least ``min_distance`` at.% apart, with reasons."""
    if not 0 < ucb < 1:
        raise GfaError(f"--ucb must lie between 0 and 1 (e.g. 0.68), got {ucb}")
    if n < 1:
        raise GfaError(f"--n must be at least 1, got {n}")
    if min_distance < 0:
        raise GfaError(f"--min-distance must be non-negative, got {min_distance}")
    score, what = upper_score(df, calibration, ucb)
    pool = np.ones(len(df), dtype=bool) if out_of_domain else df["in_domain"].to_numpy(bool)
    if not pool.any():
        raise GfaError("no grid point is in domain; pass --out-of-domain to pick from all "
                       "(the model has no nearby training alloys there)")
    comp = df[elements].to_numpy(dtype=float)
    order = np.lexsort(tuple(comp[:, j] for j in reversed(range(len(elements)))) + (-score,))
    picks: list[int] = []
    for i in order:
        if not pool[i]:
            continue
        if picks and (np.abs(comp[picks] - comp[i]).sum(1) / 2).min() < min_distance - 1e-9:
            continue
        picks.append(int(i))
        if len(picks) == n:
            break
    rank = np.empty(len(df), dtype=int)
    rank[np.argsort(-score, kind="stable")] = np.arange(1, len(df) + 1)
    rows = []
    for k, i in enumerate(picks, start=1):
        r = df.iloc[i]
        near = "" if k == 1 else (
            f"; {(np.abs(comp[picks[:k - 1]] - comp[i]).sum(1) / 2).min():.1f} at.% from the "
            "nearest earlier pick")
        iv = ("" if not np.isfinite(r.get("dmax_lo", np.nan))
              else f", interval {r['dmax_lo']:.2f}-{r['dmax_hi']:.2f} mm")
        rows.append({
            "pick": k, "composition": "".join(f"{e}{r[e]:g}" for e in elements if r[e] > 0),
            **{e: float(r[e]) for e in elements},
            "score_mm": float(score[i]), "dmax_mm": float(r["dmax_mm"]),
            "dmax_lo": float(r.get("dmax_lo", np.nan)), "dmax_hi": float(r.get("dmax_hi", np.nan)),
            "dmax_std": float(r["dmax_std"]), "in_domain": bool(r["in_domain"]),
            "reason": (f"score {score[i]:.2f} mm = {what} (rank {rank[i]} of {len(df)}); "
                       f"mean {r['dmax_mm']:.2f} mm{iv}"
                       + ("" if r["in_domain"] else "; OUT OF DOMAIN") + near)})
    return pd.DataFrame(rows)


def run_calibration(run: dict):
    """The calibration of the model a run was screened with (None when it has none or the
    model cannot be found; the score then falls back to mean + spread)."""
    from gfascreen.model.calibration import Calibration
    from gfascreen.model.saved import ModelDir

    try:
        md = ModelDir(run["model"]["path"])
    except GfaError:
        return None
    entry = md.manifest.calibration
    return None if entry is None else Calibration.load(md.verified(entry), entry)


def suggest_run(run_dir, n: int = 5, min_distance: float = 5.0, out_of_domain: bool = False,
                ucb: float = UCB) -> pd.DataFrame:
    """:func:`suggest` on a finished screening run directory."""
    from gfascreen.screening.report import load_run

    df, run, _ = load_run(Path(run_dir))
    return suggest(df, run["grid"]["elements"], n, min_distance, out_of_domain,
                   run_calibration(run), ucb)

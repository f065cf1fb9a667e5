"""Next alloys to cast: a spaced batch of high-upside compositions from a finished screen.

By default each grid point is scored by its calibrated probability of casting at least a
target thickness, P(Dmax >= T) (``--target-mm``; default the best measured Dmax of the
system's known bulk glasses, else 5 mm): "how likely is this to beat what we have".
With ``--ucb`` (or for a model whose calibration has no predictive distribution) each
grid point gets an upper-confidence score: the upper bound of its calibrated interval
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
from gfascreen.model.calibration import CAP_MM

#: Confidence of the interval whose upper bound is the score.
UCB = 0.68
#: Target thickness (mm) of the P(Dmax >= T) ranking when the system has no measured glass.
DEFAULT_TARGET_MM = 5.0


def _difficulty(df: pd.DataFrame, calibration) -> np.ndarray:
    """σ of the run's calibrated statements: written by the screen (``difficulty_log``),
    or rebuilt from the members' spread for runs written before that column existed."""
    if "difficulty_log" in df.columns:
        return df["difficulty_log"].to_numpy(dtype=float)
    return calibration.sigma(df["log_dmax_std"].to_numpy(dtype=float),
                             np.zeros(len(df)) if calibration.needs_knn else None)


def _bins(df: pd.DataFrame, calibration):
    from gfascreen.model.calibration import mondrian_bins

    return mondrian_bins(calibration.binning, df["in_domain"], df.get("p_bmg"))


def upper_score(df: pd.DataFrame, calibration=None, ucb: float = UCB
                ) -> tuple[np.ndarray, str]:
    """Upper-confidence score (mm) per row and what it is."""
    if calibration is not None:
        _, hi = calibration.interval_mm(df["log_dmax"], _difficulty(df, calibration),
                                        _bins(df, calibration), ucb)
        return hi, f"upper bound of the {round(100 * ucb)} % calibrated interval"
    return (df["dmax_mm"] + df["dmax_std"]).to_numpy(dtype=float), \
        "mean + 1 spread (this model has no calibrated interval)"


def exceedance_score(df: pd.DataFrame, calibration, target_mm: float
                     ) -> tuple[np.ndarray, str]:
    """P(Dmax >= target_mm) per row (calibrated predictive distribution) and what it is."""
    p = calibration.exceedance(df["log_dmax"], _difficulty(df, calibration),
                               _bins(df, calibration), (target_mm,))[:, 0]
    return p, f"P(Dmax >= {target_mm:g} mm)"


def default_target_mm(known: pd.DataFrame | None) -> tuple[float, str]:
    """The best measured Dmax among the system's known bulk glasses, else
    :data:`DEFAULT_TARGET_MM`, and why."""
    bmg = (known.loc[known["gfa_class"] == "bmg", "dmax_mm"].dropna()
           if known is not None and len(known) else pd.Series(dtype=float))
    if len(bmg) and bmg.max() > 0:
        best = float(bmg.max())
        return best, f"the best measured Dmax of this system's known alloys ({best:g} mm)"
    return DEFAULT_TARGET_MM, (f"{DEFAULT_TARGET_MM:g} mm (no bulk glass of this system with "
                               "a measured Dmax is known)")


def suggest(df: pd.DataFrame, elements: list[str], n: int = 5, min_distance: float = 5.0,
            out_of_domain: bool = False, calibration=None, ucb: float | None = None,
            target_mm: float | None = None) -> pd.DataFrame:
    """``n`` compositions to cast next, at least ``min_distance`` at.% apart, with reasons.

    Ranked by P(Dmax >= ``target_mm``) (the default when the model's calibration has a
    predictive distribution and ``ucb`` is not given), else by the upper-confidence
    score at ``ucb``."""
    if ucb is not None:
        from gfascreen.model.calibration import check_confidence

        check_confidence(ucb, "--ucb")
    if target_mm is not None and not 0 < target_mm <= CAP_MM:
        raise GfaError(f"--target-mm must lie in (0, {CAP_MM:g}] mm, got {target_mm}")
    if n < 1:
        raise GfaError(f"--n must be at least 1, got {n}")
    if min_distance < 0:
        raise GfaError(f"--min-distance must be non-negative, got {min_distance}")
    use_pe = ucb is None and calibration is not None and calibration.alphas_ is not None
    if use_pe:
        score, what = exceedance_score(df, calibration, target_mm or DEFAULT_TARGET_MM)
    else:
        score, what = upper_score(df, calibration, UCB if ucb is None else ucb)
    unit = "" if use_pe else " mm"
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
            "score": float(score[i]), "dmax_mm": float(r["dmax_mm"]),
            "dmax_at_least": float(r.get("dmax_at_least", np.nan)),
            "p_bmg": float(r.get("p_bmg", np.nan)),
            "dmax_lo": float(r.get("dmax_lo", np.nan)), "dmax_hi": float(r.get("dmax_hi", np.nan)),
            "dmax_std": float(r["dmax_std"]), "in_domain": bool(r["in_domain"]),
            "reason": (f"score {score[i]:.2f}{unit} = {what} (rank {rank[i]} of {len(df)}); "
                       f"mean {r['dmax_mm']:.2f} mm{iv}"
                       + ("" if r["in_domain"] else "; OUT OF DOMAIN") + near)})
    return pd.DataFrame(rows)


def run_calibration(run: dict):
    """The calibration of the model a run was screened with (None when it has none or the
    model cannot be found; the score then falls back to mean + spread)."""
    from gfascreen.model.calibration import load_model_calibration
    from gfascreen.model.saved import ModelDir

    try:
        return load_model_calibration(ModelDir(run["model"]["path"]))
    except GfaError:
        return None


def suggest_run(run_dir, n: int = 5, min_distance: float = 5.0, out_of_domain: bool = False,
                ucb: float | None = None, target_mm: float | None = None,
                partial: bool = False) -> tuple[pd.DataFrame, str]:
    """:func:`suggest` on a finished screening run directory; also says how the target
    thickness was chosen (empty when ranking by ``ucb``)."""
    from gfascreen.screening.known import known_alloys
    from gfascreen.screening.runs import load_run

    r = load_run(Path(run_dir), partial)
    df, run = r.table, r.request
    elements = run["grid"]["elements"]
    why = ""
    if ucb is None and target_mm is None:
        known, _ = known_alloys(run, elements)
        target_mm, why = default_target_mm(known)
    elif target_mm is not None:
        why = f"--target-mm {target_mm:g}"
    if r.note:
        why = (why + "; " if why else "") + "PARTIAL: " + r.note
    return suggest(df, elements, n, min_distance, out_of_domain, run_calibration(run), ucb,
                   target_mm), why

"""Next alloys to cast: a spaced batch of high-upside compositions from a finished screen.

By default each grid point is scored by its calibrated probability of casting at least a
target thickness, P(Dmax >= T) (``--target-mm``; default: among the system's measured
bulk-glass Dmax values and 1-2-5 mm steps, the T whose P(Dmax >= T) varies most across
the best-predicted grid points, so the ranking separates candidates;
:func:`default_target_mm`).
Each pick names its nearest measured alloy (the model's known alloys of the composition
space), that alloy's Dmax and the L1 distance; ``--away-from-known D`` keeps picks at
least D at.% (L1) from every measured alloy.
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

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from gfascreen.data.labels import DMAX_COLUMN
from gfascreen.errors import GfaError
from gfascreen.model import columns as pc
from gfascreen.model.distribution import BULK_MIN_MM
from gfascreen.model.statement_options import CAP_MM

#: Confidence of the interval whose upper bound is the score.
UCB = 0.68
#: Target thickness (mm) of the P(Dmax >= T) ranking when the system has no measured glass.
DEFAULT_TARGET_MM = 5.0


def _difficulty(df: pd.DataFrame, calibration) -> np.ndarray:
    """σ of the run's calibrated statements: written by the screen (``difficulty_log``),
    or rebuilt from the members' spread for runs written before that column existed."""
    if pc.DIFFICULTY_LOG in df.columns:
        return df[pc.DIFFICULTY_LOG].to_numpy(dtype=float)
    return calibration.sigma(df[pc.LOG_DMAX_STD].to_numpy(dtype=float),
                             np.zeros(len(df)) if calibration.needs_knn else None)


def _bins(df: pd.DataFrame, calibration):
    from gfascreen.model.mondrian import mondrian_bins

    return mondrian_bins(calibration.binning, df[pc.IN_DOMAIN], df.get(pc.P_BMG))


def upper_score(df: pd.DataFrame, calibration=None, ucb: float = UCB
                ) -> tuple[np.ndarray, str]:
    """Upper-confidence score (mm) per row and what it is."""
    if calibration is not None:
        _, hi = calibration.interval_mm(df[pc.LOG_DMAX], _difficulty(df, calibration),
                                        _bins(df, calibration), ucb)
        return hi, f"upper bound of the {round(100 * ucb)} % calibrated interval"
    return (df[pc.DMAX_MM] + df[pc.DMAX_STD]).to_numpy(dtype=float), \
        "mean + 1 spread (this model has no calibrated interval)"


def exceedance_score(df: pd.DataFrame, calibration, target_mm: float
                     ) -> tuple[np.ndarray, str]:
    """P(Dmax >= target_mm) per row (calibrated predictive distribution) and what it is."""
    p = calibration.exceedance(df[pc.LOG_DMAX], _difficulty(df, calibration),
                               _bins(df, calibration), (target_mm,))[:, 0]
    return p, f"P(Dmax >= {target_mm:g} mm)"


def _measured_bmg(known: pd.DataFrame | None) -> pd.Series:
    if known is None or not len(known):
        return pd.Series(dtype=float)
    return known.loc[known["gfa_class"].astype(str) == "bmg", DMAX_COLUMN].dropna()


#: Target thicknesses tried besides the system's measured values (mm): a 1-2-5 ladder.
TARGET_LADDER_MM = (1.0, 2.0, 5.0, 10.0, 20.0, 50.0)
#: The candidates a target must separate: this top share of the pickable grid points by
#: predicted Dmax (at least :data:`MIN_CANDIDATES` points).
CANDIDATE_SHARE, MIN_CANDIDATES = 0.1, 20


def default_target_mm(known: pd.DataFrame | None, df: pd.DataFrame | None = None,
                      calibration=None, pool: np.ndarray | None = None
                      ) -> tuple[float, str]:
    """The target thickness T of the P(Dmax >= T) ranking, and why.

    With the run's grid and a calibration that has a predictive distribution: among the
    system's measured bulk-glass Dmax values and :data:`TARGET_LADDER_MM`, the T whose
    calibrated P(Dmax >= T) varies most (standard deviation) across the candidates (the
    top :data:`CANDIDATE_SHARE` of the grid points that can be picked, ``pool``, by
    predicted Dmax), so the ranking separates them instead of ordering noise or ties (a
    T far above every prediction gives P ~ 0 everywhere, one far below P ~ 1). Without
    them: the best measured Dmax, else :data:`DEFAULT_TARGET_MM`."""
    bmg = _measured_bmg(known)
    bmg = bmg[bmg > 0]
    if df is not None and len(df) and calibration is not None \
            and calibration.alphas_ is not None:
        sel = df if pool is None or not pool.any() else df[pool]
        k = max(min(len(sel), MIN_CANDIDATES), int(np.ceil(CANDIDATE_SHARE * len(sel))))
        top = sel.iloc[np.argsort(-sel[pc.DMAX_MM].to_numpy(dtype=float), kind="stable")[:k]]
        cands = sorted({round(float(v), 3) for v in bmg if 0 < v <= CAP_MM}
                       | set(TARGET_LADDER_MM))
        spread = {t: float(np.nanstd(exceedance_score(top, calibration, t)[0]))
                  for t in cands}
        best = max(cands, key=lambda t: (round(spread[t], 6), -t))
        why = (f"{best:g} mm, the target whose calibrated P(Dmax >= T) varies most (sd "
               f"{spread[best]:.3f}) across the {len(top):,} best-predicted grid points, "
               f"among {len(cands)} candidates: "
               + ("this system's measured bulk-glass Dmax values and " if len(bmg) else "")
               + "1-2-5 mm steps from 1 to 50 mm")
        if len(bmg) and round(float(bmg.max()), 3) != best:
            top_mm = round(float(bmg.max()), 3)
            why += (f"; at the best measured Dmax ({top_mm:g} mm) the sd is "
                    f"{spread[top_mm]:.3f}")
        return best, why
    if len(bmg):
        best = float(bmg.max())
        return best, f"the best measured Dmax of this system's known alloys ({best:g} mm)"
    return DEFAULT_TARGET_MM, (f"{DEFAULT_TARGET_MM:g} mm (no bulk glass of this system with "
                               "a measured Dmax is known)")


#: Grid points per block when measuring distances to the known alloys.
_BLOCK = 4096


def nearest_known(comp: np.ndarray, known: pd.DataFrame | None, elements: list[str]
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Per row of ``comp`` (at.% over ``elements``): the L1 distance (at.%) to the nearest
    known alloy of the composition space and that alloy's row in ``known`` (-1, inf
    without any)."""
    n = len(comp)
    if known is None or not len(known) or not all(e in known.columns for e in elements):
        return np.full(n, np.inf), np.full(n, -1)
    kc = known[elements].fillna(0.0).to_numpy(dtype=float)
    dist, idx = np.empty(n), np.empty(n, dtype=int)
    for i in range(0, n, _BLOCK):
        d = np.abs(comp[i:i + _BLOCK, None, :] - kc[None, :, :]).sum(2)
        idx[i:i + _BLOCK] = d.argmin(1)
        dist[i:i + _BLOCK] = d[np.arange(len(d)), idx[i:i + _BLOCK]]
    return dist, idx


def _check_suggest_args(n: int, min_distance: float, ucb: float | None,
                        target_mm: float | None, away_from_known: float) -> None:
    """One :class:`GfaError` naming the first option out of its range."""
    if ucb is not None:
        from gfascreen.model.statement_options import check_confidence

        check_confidence(ucb, "--ucb")
    if target_mm is not None and not 0 < target_mm <= CAP_MM:
        raise GfaError(f"--target-mm must lie in (0, {CAP_MM:g}] mm, got {target_mm}")
    if n < 1:
        raise GfaError(f"--n must be at least 1, got {n}")
    if min_distance < 0:
        raise GfaError(f"--min-distance must be non-negative, got {min_distance}")
    if not np.isfinite(away_from_known) or away_from_known < 0:
        raise GfaError(f"--away-from-known must be a non-negative distance in at.%, got "
                       f"{away_from_known}")


@dataclass(frozen=True)
class Ranking:
    """A score per grid point (higher is better), what it is (for the reason) and its unit
    ("" for a probability, " mm" for an upper bound)."""

    score: np.ndarray
    what: str
    unit: str


def _distribution(df: pd.DataFrame, calibration):
    """The run's predictive distributions (None: a model whose calibration predates them,
    or a run written before the columns that hold them)."""
    from gfascreen.model.distribution import Predictive

    if calibration is None or getattr(calibration, "thickness", None) is None \
            or pc.BMG_LOC_LOG not in df.columns:
        return None
    return Predictive.from_columns(df, calibration.thickness)


def _ranking(df: pd.DataFrame, calibration, ucb: float | None,
             target_mm: float | None, best: tuple[str, float] | None = None) -> Ranking:
    """What the picks are ranked by. With the one distribution: the ``ucb`` quantile of
    Dmax (mm), or P(Dmax >= ``target_mm``), or by default the expected gain (mm) over
    ``best`` (the best measured alloy of the system and its Dmax; 1 mm, castable, when
    none is known). Older calibrations: P(Dmax >= target) or the interval's upper end."""
    dist = _distribution(df, calibration)
    if dist is not None:
        if ucb is not None:
            return Ranking(dist.quantile_mm(ucb), f"the {ucb:g} quantile of Dmax", " mm")
        if target_mm is not None:
            return Ranking(dist.sf(target_mm), f"P(Dmax >= {target_mm:g} mm)", "")
        name, mm = best if best is not None else ("", BULK_MIN_MM)
        what = (f"expected gain over the best measured alloy, {name} ({mm:g} mm)" if name
                else f"expected gain over {mm:g} mm (no bulk glass of this system is "
                     "measured)")
        return Ranking(dist.expected_gain_mm(mm), what, " mm")
    if ucb is None and calibration is not None and calibration.alphas_ is not None:
        score, what = exceedance_score(df, calibration, target_mm or DEFAULT_TARGET_MM)
        return Ranking(score, what, "")
    score, what = upper_score(df, calibration, UCB if ucb is None else ucb)
    return Ranking(score, what, " mm")


def best_measured(known: pd.DataFrame | None) -> tuple[str, float] | None:
    """The thickest measured bulk glass among ``known`` (composition, Dmax in mm), None
    when none is known."""
    bmg = _measured_bmg(known)
    bmg = bmg[bmg >= BULK_MIN_MM]
    if not len(bmg):
        return None
    i = bmg.idxmax()
    return str(known.loc[i, "composition"]), float(bmg[i])


def spaced_picks(comp: np.ndarray, score: np.ndarray, pool: np.ndarray, n: int,
                  min_distance: float) -> list[int]:
    """Rows taken greedily by score (ties by composition), each at least ``min_distance``
    at.% (half the L1 distance) from those taken before, from ``pool`` only."""
    order = np.lexsort(tuple(comp[:, j] for j in reversed(range(comp.shape[1]))) + (-score,))
    picks: list[int] = []
    for i in order[pool[order]]:
        if picks and (np.abs(comp[picks] - comp[i]).sum(1) / 2).min() < min_distance - 1e-9:
            continue
        picks.append(int(i))
        if len(picks) == n:
            break
    return picks


def _nearest_known_text(kn, kdist: float) -> tuple[str, float, str]:
    """The nearest measured alloy's composition, Dmax (mm, NaN if none measured) and the
    reason's clause naming it ("" without known alloys)."""
    if kn is None:
        return "", np.nan, ""
    kd = float(kn[DMAX_COLUMN])
    kname = str(kn["composition"])
    text = (f"; nearest measured alloy {kname} ({kn['gfa_class']}"
            + ("" if np.isnan(kd) else f", Dmax {kd:g} mm") + f") at {kdist:.1f} at.% (L1)")
    return kname, kd, text


def _pick_row(k: int, i: int, df: pd.DataFrame, elements: list[str], comp: np.ndarray,
              picks: list[int], ranking: Ranking, rank: np.ndarray, kn, kdist: float) -> dict:
    """The ``k``-th pick (grid row ``i``): composition, score, predictions, nearest known
    alloy and the reason in words."""
    r = df.iloc[i]
    near = "" if k == 1 else (
        f"; {(np.abs(comp[picks[:k - 1]] - comp[i]).sum(1) / 2).min():.1f} at.% from the "
        "nearest earlier pick")
    iv = ("" if not np.isfinite(r.get(pc.DMAX_LO, np.nan))
          else f", interval {r[pc.DMAX_LO]:.2f}-{r[pc.DMAX_HI]:.2f} mm")
    kname, kd, near_known = _nearest_known_text(kn, kdist)
    return {
        "pick": k, "composition": "".join(f"{e}{r[e]:g}" for e in elements if r[e] > 0),
        **{e: float(r[e]) for e in elements},
        "score": float(ranking.score[i]), pc.DMAX_MM: float(r[pc.DMAX_MM]),
        pc.DMAX_AT_LEAST: float(r.get(pc.DMAX_AT_LEAST, np.nan)),
        pc.P_BMG: float(r.get(pc.P_BMG, np.nan)),
        pc.DMAX_LO: float(r.get(pc.DMAX_LO, np.nan)),
        pc.DMAX_HI: float(r.get(pc.DMAX_HI, np.nan)),
        pc.DMAX_STD: float(r[pc.DMAX_STD]), pc.IN_DOMAIN: bool(r[pc.IN_DOMAIN]),
        "nearest_known": kname, "nearest_known_dmax_mm": kd,
        "nearest_known_l1_at_pct": float(kdist) if kn is not None else np.nan,
        "reason": (f"score {ranking.score[i]:.2f}{ranking.unit} = {ranking.what} "
                   f"(rank {rank[i]} of {len(df)}); mean {r[pc.DMAX_MM]:.2f} mm{iv}"
                   + ("" if r[pc.IN_DOMAIN] else "; OUT OF DOMAIN") + near + near_known)}


#: Picks stay at least this far (at.%, L1) from every measured or cast alloy by default.
AWAY_FROM_KNOWN_AT_PCT = 1.0


def suggest(df: pd.DataFrame, elements: list[str], n: int = 5, min_distance: float = 5.0,
            out_of_domain: bool = False, calibration=None, ucb: float | None = None,
            target_mm: float | None = None, known: pd.DataFrame | None = None,
            away_from_known: float = AWAY_FROM_KNOWN_AT_PCT) -> pd.DataFrame:
    """``n`` compositions to cast next, at least ``min_distance`` at.% apart, with reasons.

    Ranked as :func:`_ranking` says (by default the expected gain over the best measured
    alloy among ``known``). Each pick names its nearest measured alloy among ``known`` (the
    known alloys of the composition space, at.% columns), its Dmax and the L1 distance
    (at.%); ``away_from_known`` keeps picks at least that far (L1, at.%) from every one.
    When fewer than ``n`` can be picked, ``attrs["shortfall"]`` says why."""
    _check_suggest_args(n, min_distance, ucb, target_mm, away_from_known)
    ranking = _ranking(df, calibration, ucb, target_mm, best_measured(known))
    pool = np.ones(len(df), dtype=bool) if out_of_domain else df[pc.IN_DOMAIN].to_numpy(bool)
    if not pool.any():
        raise GfaError("no grid point is in domain; pass --out-of-domain to pick from all "
                       "(the model has no nearby training alloys there)")
    comp = df[elements].to_numpy(dtype=float)
    kdist, kidx = nearest_known(comp, known, elements)
    in_pool = int(pool.sum())
    if away_from_known > 0:
        pool = pool & (kdist >= away_from_known - 1e-9)
        if not pool.any():
            raise GfaError(f"no grid point {'' if out_of_domain else 'in domain '}lies "
                           f"{away_from_known:g} at.% (L1) or more from every measured "
                           "alloy; lower --away-from-known")
    picks = spaced_picks(comp, ranking.score, pool, n, min_distance)
    rank = np.empty(len(df), dtype=int)
    rank[np.argsort(-ranking.score, kind="stable")] = np.arange(1, len(df) + 1)
    out = pd.DataFrame([
        _pick_row(k, i, df, elements, comp, picks, ranking, rank,
                  known.iloc[kidx[i]] if kidx[i] >= 0 else None, kdist[i])
        for k, i in enumerate(picks, start=1)])
    out.attrs["shortfall"] = "" if len(picks) == n else _shortfall(
        len(picks), n, in_pool, int(pool.sum()), min_distance, away_from_known, out_of_domain)
    return out


def _shortfall(got: int, n: int, in_pool: int, pool: int, min_distance: float,
               away: float, out_of_domain: bool) -> str:
    """Why fewer than ``n`` picks came back."""
    where = "" if out_of_domain else " in domain"
    text = f"{got} of the {n} asked for: only {got} of the {in_pool:,} grid points{where}"
    if away > 0:
        text += f" ({pool:,} of them at least {away:g} at.% (L1) from every measured alloy)"
    fix = ["a smaller --min-distance"] + (["a smaller --away-from-known"] if away else []) \
        + ([] if out_of_domain else ["--out-of-domain"])
    return f"{text} lie {min_distance:g} at.% apart; for more, pass {' or '.join(fix)}"


def run_calibration(run: dict):
    """The calibration of the model a run was screened with (None when it has none or the
    model cannot be found; the score then falls back to mean + spread)."""
    from gfascreen.model.calibration import load_model_calibration
    from gfascreen.model.saved import ModelDir

    try:
        return load_model_calibration(ModelDir(run["model"]["path"]))
    except GfaError:
        return None


def default_ranking(df: pd.DataFrame, calibration, space: pd.DataFrame, elements: list[str],
                    out_of_domain: bool = False, ucb: float | None = None,
                    target_mm: float | None = None) -> tuple[float | None, str]:
    """The target thickness (mm) suggest ranks by (None: the expected gain, or ``ucb``) and
    the sentence that says how the picks are ranked, given the known alloys ``space`` of
    the composition space: what ``gfascreen suggest`` and the report both read."""
    from gfascreen.data.parse import alloy_system

    if ucb is None and target_mm is None and _distribution(df, calibration) is not None:
        best = best_measured(space if len(space) else None)
        return None, ("ranked by the expected gain in Dmax (mm) over the best measured alloy "
                      f"of this composition space, {best[0]} ({best[1]:g} mm)" if best else
                      "ranked by the expected gain in Dmax (mm) over 1 mm (no measured bulk "
                      "glass in this composition space)")
    if ucb is None and target_mm is None:
        known = space[space["system"] == alloy_system(elements)] if len(space) else space
        pool = (np.ones(len(df), dtype=bool) if out_of_domain
                else df[pc.IN_DOMAIN].to_numpy(bool))
        target_mm, why = default_target_mm(known, df, calibration, pool)
        return target_mm, f"target thickness: {why}"
    if target_mm is not None:
        return target_mm, f"target thickness: --target-mm {target_mm:g}"
    return None, ""


def suggest_run(run_dir, n: int = 5, min_distance: float = 5.0, out_of_domain: bool = False,
                ucb: float | None = None, target_mm: float | None = None,
                partial: bool = False, away_from_known: float = AWAY_FROM_KNOWN_AT_PCT,
                system: str | None = None) -> tuple[pd.DataFrame, str]:
    """:func:`suggest` on a finished screening run directory (``system``: one system of an
    atlas, from its rows), with the model's known alloys of the composition space; also
    says how the ranking was chosen and, on further lines, why fewer than ``n`` picks came
    back."""
    from gfascreen.screening.known import known_alloys
    from gfascreen.screening.runs import load_run
    from gfascreen.screening.system_rows import load_system_run, require_system

    require_system(run_dir, system)
    r = (load_system_run(run_dir, system, partial) if system
         else load_run(Path(run_dir), partial))
    df, run = r.table, r.request
    elements = run["grid"]["elements"]
    calibration = run_calibration(run)
    space, _ = known_alloys(run, elements, subsystems=True)
    target_mm, why = default_ranking(df, calibration, space, elements, out_of_domain, ucb,
                                     target_mm)
    if r.note:
        why = (why + "; " if why else "") + "PARTIAL: " + r.note
    picks = suggest(df, elements, n, min_distance, out_of_domain, calibration, ucb,
                    target_mm, space if len(space) else None, away_from_known)
    if picks.attrs.get("shortfall"):
        why = (why + "\n" if why else "") + picks.attrs["shortfall"]
    return picks, why

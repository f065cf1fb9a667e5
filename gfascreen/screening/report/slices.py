"""Where a quaternary report slices: the at.% of its fourth element that each
ternary slice is at (through the best region by default, or chosen with ``--slices``, a
level off the grid refused), why there, in words, and which slice each known alloy is
drawn on (the nearest within half a grid step, at.%)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from gfascreen.errors import GfaError
from gfascreen.model import columns as pc

#: How many slices a quaternary report shows by default.
N_SLICES = 4


def _levels(df: pd.DataFrame, d: str) -> pd.Series:
    """Grid points per at.% of the slicing element ``d`` (index: the at.%, sorted)."""
    return df[d].round(6).value_counts().sort_index()


def slice_levels(df: pd.DataFrame, elements: list[str], step: float,
                 slices: list[float] | None = None) -> tuple[list[float], str]:
    """The at.% of the fourth element that a quaternary report slices at, and why.

    ``slices`` when given (each must be an at.% of the grid). Otherwise
    :data:`N_SLICES` levels through the best region: the level of the top predicted Dmax
    (in domain) and levels spread over the range where a level's best P(bulk glass) (its
    best Dmax for a model without probabilities) is at least half way from the lowest
    level's best to the highest's, padded with the levels nearest that range when it
    holds fewer than that."""
    d = elements[3]
    counts = _levels(df, d)
    levels = counts.index.to_numpy(dtype=float)
    if slices is not None:
        return _chosen_levels(levels, slices, d, step), f"at the {d} at.% chosen with --slices"
    usable = levels[counts.to_numpy() >= 3]  # a slice with fewer points shows nothing
    usable = usable if len(usable) else levels
    region = _best_region(df, d, usable)
    return _pick_levels(usable, region), _region_why(d, region)


def _chosen_levels(levels: np.ndarray, slices: list[float], d: str, step: float
                   ) -> list[float]:
    """The grid's at.% of ``d`` matching each of ``slices`` (at.%), sorted and unique; a
    level off the grid (run's ``step``, at.%) is refused naming the two nearest."""
    out = []
    for v in slices:
        hit = levels[np.isclose(levels, float(v), atol=1e-6)]
        if not len(hit):
            near = " and ".join(f"{x:g}" for x in
                                np.sort(levels[np.argsort(np.abs(levels - v))[:2]]))
            raise GfaError(f"--slices {v:g}: no grid point has {d} = {v:g} at.% (the "
                           f"run's step is {step:g} at.%; nearest {near})")
        out.append(float(hit[0]))
    return sorted(set(out))


@dataclass(frozen=True)
class _BestRegion:
    """Where a quaternary's glasses are along its fourth element (at.%): the level of the
    top predicted Dmax (``centre``) and the range ``lo``-``hi`` of the levels whose best
    P(bulk glass) (``has_p``; else best Dmax) is in the upper half, the centre included;
    ``in_domain``: whether that was judged on in-domain points only."""

    centre: float
    lo: float
    hi: float
    has_p: bool
    in_domain: bool


def _best_region(df: pd.DataFrame, d: str, usable: np.ndarray) -> _BestRegion:
    """The best region along ``d`` among the ``usable`` levels (at.%), from the in-domain
    points when there are any."""
    dv = df[d].round(6)
    dom = df[pc.IN_DOMAIN].to_numpy(dtype=bool) & dv.isin(usable).to_numpy()
    pool = df[dom] if dom.any() else df[dv.isin(usable).to_numpy()]
    centre = float(round(pool[d].to_numpy(dtype=float)[int(pool[pc.DMAX_MM].to_numpy().argmax())],
                         6))
    has_p = pc.P_BMG in pool.columns and bool(np.isfinite(pool[pc.P_BMG]).all())
    by = (pool[pc.P_BMG] if has_p else pool[pc.DMAX_MM]).groupby(pool[d].round(6)).max()
    thr = by.min() + 0.5 * (by.max() - by.min())
    high = by.index.to_numpy(dtype=float)[by.to_numpy() >= thr]
    lo, hi = min(high.min(), centre), max(high.max(), centre)
    return _BestRegion(centre, lo, hi, has_p, bool(dom.any()))


def _region_why(d: str, region: _BestRegion) -> str:
    """Why the default slices are where they are, in words (at.% of ``d``)."""
    lo, hi = region.lo, region.hi
    span = f"at {d} = {lo:g} at.%" if lo == hi else f"from {d} = {lo:g} to {hi:g} at.%"
    return (f"through the best region: the top predicted Dmax"
            f"{' in domain' if region.in_domain else ''}"
            f" is at {d} = {region.centre:g} at.%, and the slices whose best "
            f"{'P(bulk glass)' if region.has_p else 'predicted Dmax'} is in the upper half of "
            f"the slices' range lie {span}; --slices chooses others")


def _pick_levels(usable: np.ndarray, region: _BestRegion) -> list[float]:
    """:data:`N_SLICES` of the ``usable`` levels (at.%): spread over the best region with
    its centre among them, or, when it holds no more than that, the nearest to it."""
    lo, hi, centre = region.lo, region.hi, region.centre
    inside = usable[(usable >= lo - 1e-9) & (usable <= hi + 1e-9)]
    # Nearest the best range first, then nearest the top Dmax.
    order = sorted(usable, key=lambda v: (max(lo - v, v - hi, 0.0), abs(v - centre), v))
    if len(inside) <= N_SLICES:
        return sorted(float(v) for v in order[:N_SLICES])
    picks = [float(inside[np.abs(inside - t).argmin()]) for t in np.linspace(lo, hi, N_SLICES)]
    picks[int(np.abs(np.array(picks) - centre).argmin())] = centre
    out = set(picks)
    for v in order:  # spread picks that fell on one level: fill from the range
        if len(out) >= N_SLICES:
            break
        out.add(float(v))
    return sorted(out)


def on_slice(known: pd.DataFrame, d: str, levels: list[float], step: float) -> np.ndarray:
    """The slice (at.% of ``d``) each known alloy is drawn on: the nearest one when within
    half a grid step of it, else NaN (on no slice)."""
    if not len(known) or not levels:
        return np.full(len(known), np.nan)
    kd = known[d].fillna(0.0).to_numpy(dtype=float) if d in known.columns \
        else np.zeros(len(known))
    lv = np.asarray(levels, dtype=float)
    gap = np.abs(kd[:, None] - lv[None, :])
    j = gap.argmin(1)
    return np.where(gap[np.arange(len(kd)), j] <= step / 2 + 1e-9, lv[j], np.nan)

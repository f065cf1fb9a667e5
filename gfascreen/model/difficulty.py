"""How hard a composition is to predict, from what is known at prediction time.

Two readings come from the training alloys around a composition (one L1-distance pass,
in blocks, on the device of the fractions):

- the applicability domain: at least ``min_neighbours`` training alloys within
  ``radius_at_pct`` at.% (L1);
- the spread of the measured target, log10(1 + Dmax/mm), among the ``k`` nearest training
  alloys with a Dmax (crepes' ``DifficultyEstimator`` reads the same quantity with
  ``scaler=False, y=...``; it is computed here in the same pass as the domain so that a
  screen pays for one distance matrix, not two).

:func:`combine` turns them, with the ensemble members' spread, into the σ of the
normalised conformal scores: ``members`` (the members' standard deviation), ``knn`` (the
neighbours' spread) or ``members+knn`` (their sum), each plus ``beta``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from gfascreen.errors import GfaError

if TYPE_CHECKING:
    import torch

#: Difficulty estimates the calibration can use (chosen by the declared rule in
#: :mod:`gfascreen.model.evaluation.calibrate`).
DIFFICULTIES = ("members", "knn", "members+knn")
BLOCK = 4096
#: Rows compared together against one candidate set of training alloys, by device kind:
#: few on a CPU (less to compare), many on a GPU (fewer launches and host round trips).
ROW_GROUP = {"cpu": 64, "cuda": 2048}
#: Nearest training alloys whose measured spread is the ``knn`` difficulty.
NEIGHBOURS = 10


@dataclass(frozen=True)
class Neighbourhood:
    """What the training alloys say about each composition."""

    in_domain: np.ndarray
    knn_spread: np.ndarray


def neighbourhood(x: torch.Tensor, reference: torch.Tensor, ref_y: np.ndarray | None,
                  radius_at_pct: float, min_neighbours: int, k: int = NEIGHBOURS
                  ) -> Neighbourhood:
    """Domain flag and k-nearest target spread for each row of ``x`` (fractions) against
    ``reference`` (fractions of the training alloys; ``ref_y`` their log10(1 + Dmax/mm),
    NaN where unknown; None: no spread, zeros)."""
    import torch

    radius = radius_at_pct / 100.0 + 1e-6
    dev = x.device if x.device.type != "meta" else torch.device("cpu")
    ref = reference.to(dev, torch.float32)
    n_known = 0
    if ref_y is not None:
        # Alloys with a measured target first, so that their distances are a slice (a
        # view) of each block's distance matrix rather than a masked copy.
        y = torch.as_tensor(np.asarray(ref_y, dtype=np.float64), dtype=torch.float32)
        order = torch.argsort((~torch.isfinite(y)).to(torch.int8), stable=True)
        n_known = int(torch.isfinite(y).sum())
        ref, y_known = ref[order.to(dev)], y[order][:n_known].to(dev)
    kk = min(k, n_known)
    dom, spread = [], []
    for i in range(0, len(x), BLOCK):
        d, s = _block(x[i:i + BLOCK].to(dev, torch.float32), ref, n_known,
                      y_known if kk > 1 else None, radius, min_neighbours, kk)
        dom.append(d)
        spread.append(s)
    if not dom:
        return Neighbourhood(np.zeros(0, dtype=bool), np.zeros(0))
    # One copy to the host for the whole batch.
    return Neighbourhood(torch.cat(dom).cpu().numpy(),
                         torch.cat(spread).double().cpu().numpy())


def _block(xb: torch.Tensor, ref: torch.Tensor, n_known: int, y_known: torch.Tensor | None,
           radius: float, min_neighbours: int, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Domain flags and k-nearest spreads of one block, exactly, from the distances to the
    training alloys that can matter.

    Where a row of the block is zero, ``|x - r| = r``: a training alloy's mass outside the
    block's columns is a lower bound of its distance to every row (for a ternary screen,
    everything but the three elements). Only alloys whose bound is within the radius can
    count for the domain; for the k nearest, the alloys with the smallest bounds give each
    row an upper bound of its k-th distance, and only alloys whose lower bound is below the
    largest of those can be among any row's k nearest. The rest are never compared."""
    import torch

    used = (xb != 0).any(0)
    outside = ref[:, ~used].sum(1)
    cols = xb[:, used].contiguous()

    def dist(idx: torch.Tensor, rows: slice | torch.Tensor = slice(None)) -> torch.Tensor:
        return torch.cdist(cols[rows], ref[idx][:, used].contiguous(), p=1) + outside[idx]

    near = torch.nonzero(outside <= radius).squeeze(1)
    dom = ((dist(near) <= radius).sum(1) >= min_neighbours if len(near)
           else torch.zeros(len(xb), dtype=torch.bool, device=xb.device))
    spread = torch.zeros(len(xb), device=xb.device)
    if y_known is None:
        return dom, spread
    bound = outside[:n_known]
    first = torch.topk(bound, min(n_known, max(32 * k, 256)), largest=False).indices
    kth = torch.topk(dist(first), k, dim=1, largest=False).values[:, -1]
    # Rows in groups of similar k-th bound, so that a row far from every alloy does not make
    # the rows near one compare everything.
    order = torch.argsort(kth)
    group = ROW_GROUP.get(xb.device.type, ROW_GROUP["cpu"])
    for g in range(0, len(xb), group):
        rows = order[g:g + group]
        cand = torch.nonzero(bound <= kth[rows].max()).squeeze(1)  # ascending: table order
        spread[rows] = k_nearest_spread(dist(cand, rows), y_known[cand], k)
    return dom, spread


def k_nearest_spread(dist: torch.Tensor, y: torch.Tensor, k: int) -> torch.Tensor:
    """Standard deviation of ``y`` over each row's ``k`` nearest columns of ``dist`` (a
    tensor on their device).

    Distances are compared on a grid of 1e-6 (fractions; 1e-4 at.%), far finer than any
    composition is written, so that two alloys equally far in exact arithmetic tie whatever
    order float32 summed them in; ties at the k-th distance go to the earlier columns (the
    training table's order). The answer then does not depend on how many alloys were
    compared or on which columns."""
    import torch

    dist = torch.round(dist * 1e6)
    kth = torch.topk(dist, k, dim=1, largest=False).values[:, -1:]
    closer, tied = dist < kth, dist == kth
    room = k - closer.sum(1, keepdim=True)
    w = (closer | (tied & (torch.cumsum(tied, 1) <= room))).to(torch.float32)
    mean = (w * y).sum(1, keepdim=True) / k
    return ((w * (y - mean) ** 2).sum(1) / k).sqrt()


def combine(kind: str, members: np.ndarray, knn: np.ndarray, beta: float) -> np.ndarray:
    """σ of the normalised conformal scores for difficulty ``kind`` (log10(1+Dmax))."""
    m = np.asarray(members, dtype=float)
    if kind == "members":
        return m + beta
    if kind == "knn":
        return np.asarray(knn, dtype=float) + beta
    if kind == "members+knn":
        return m + np.asarray(knn, dtype=float) + beta
    raise GfaError(f"unknown difficulty {kind!r}; choose {DIFFICULTIES}")

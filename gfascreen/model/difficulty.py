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
        dist = _l1(x[i:i + BLOCK].to(dev, torch.float32), ref)
        dom.append(((dist <= radius).sum(1) >= min_neighbours).cpu().numpy())
        if kk > 1:
            idx = torch.topk(dist[:, :n_known], kk, dim=1, largest=False).indices
            spread.append(y_known[idx].std(1, unbiased=False).double().cpu().numpy())
        else:
            spread.append(np.zeros(len(dist)))
    if not dom:
        return Neighbourhood(np.zeros(0, dtype=bool), np.zeros(0))
    return Neighbourhood(np.concatenate(dom), np.concatenate(spread))


def _l1(xb: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """L1 distances ``(b, n)`` between fraction rows, exactly, in the columns the block
    uses: where a row of ``xb`` is zero, ``|x - r| = r``, so the reference's mass outside
    those columns is one added constant per reference row. A screen of a ternary compares
    3 columns instead of the whole vocabulary."""
    import torch

    used = (xb != 0).any(0)
    if bool(used.all()):
        return torch.cdist(xb, ref, p=1)
    outside = ref[:, ~used].sum(1)
    return torch.cdist(xb[:, used].contiguous(), ref[:, used].contiguous(), p=1) + outside


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

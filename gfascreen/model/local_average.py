"""The descriptor partner read as a local average, so it is smooth in composition.

Gradient-boosted trees are step functions of the descriptors, and fitted on a table of
alloys they put steps right around each training alloy: read at one composition, the
partner stands above its 0.5 at.% neighbours exactly at the alloys already cast. Averaged
over the composition and its neighbours a step away (``step`` at.% moved from each element
present to each other element present: k(k - 1) neighbours for k elements, none leaving
the alloy system), each step of a tree becomes a ramp as wide as the neighbourhood.

:func:`neighbours` makes the compositions; :func:`average` folds the values back.
"""

from __future__ import annotations

import numpy as np
import torch

#: The step (at.%) of the neighbourhood the partner is averaged over.
DEFAULT_STEP_AT_PCT = 1.0


def neighbours(x: torch.Tensor, step_at_pct: float = DEFAULT_STEP_AT_PCT
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(B, N)`` fractions -> ``(B * (1 + P), N)`` compositions (each row, then its P
    neighbour slots) and ``(B, 1 + P)`` weights (1 for the row and each real neighbour, 0
    for an empty slot: a row with fewer elements than the batch's richest). A neighbour
    moves ``min(step, the donor's share)`` from one element present to another."""
    x = x / x.sum(1, keepdim=True)
    b = len(x)
    k = int((x > 0).sum(1).max()) if b else 0
    top = torch.argsort(x, 1, descending=True)[:, :max(k, 1)]
    pairs = [(i, j) for i in range(k) for j in range(k) if i != j]
    rows = [x]
    weights = [torch.ones(b, dtype=x.dtype)]
    for i, j in pairs:
        gi, gj = top[:, i], top[:, j]
        xi, xj = x.gather(1, gi[:, None])[:, 0], x.gather(1, gj[:, None])[:, 0]
        ok = (xi > 0) & (xj > 0)
        d = torch.minimum(torch.full_like(xj, step_at_pct / 100.0), xj) * ok
        moved = x.clone()
        moved.scatter_add_(1, gi[:, None], d[:, None])
        moved.scatter_add_(1, gj[:, None], -d[:, None])
        rows.append(moved.clamp_min(0.0))
        weights.append(ok.to(x.dtype))
    return torch.stack(rows, 1).reshape(b * (1 + len(pairs)), -1), torch.stack(weights, 1)


def average(values: np.ndarray, weights: torch.Tensor) -> np.ndarray:
    """Values of :func:`neighbours`' rows ``(B * (1 + P), ...)`` -> their weighted mean per
    composition ``(B, ...)``."""
    w = weights.double().cpu().numpy()
    v = np.asarray(values, dtype=float).reshape(*w.shape, *np.shape(values)[1:])
    w = w.reshape(*w.shape, *([1] * (v.ndim - 2)))
    return (v * w).sum(1) / w.sum(1)

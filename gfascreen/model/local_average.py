"""The descriptor partner read as a local average, so it is smooth in composition.

Gradient-boosted trees are step functions of the descriptors, and fitted on a table of
alloys they put steps right around each training alloy: read at one composition, the
partner stands above its 0.5 at.% neighbours exactly at the alloys already cast. Averaged
over the composition and its neighbours a step away (``step`` at.% moved from each element
present to each other element present: k(k - 1) neighbours for k elements, none leaving
the alloy system), each step of a tree becomes a ramp as wide as the neighbourhood.

:func:`neighbours` makes the compositions; :func:`average` folds the values back;
:meth:`gfascreen.model.partner.Partner.predict` reads the partner so (``around_at_pct``).
"""

from __future__ import annotations

import numpy as np
import torch

#: The step (at.%) of the neighbourhood the partner is averaged over.
DEFAULT_STEP_AT_PCT = 1.0


def neighbours(x: torch.Tensor, step_at_pct: float = DEFAULT_STEP_AT_PCT
               ) -> tuple[torch.Tensor, np.ndarray]:
    """``(B, N)`` fractions -> the compositions to read, ``(M, N)`` (each row, then its
    neighbours), and ``(M,)`` the row each belongs to. A neighbour moves
    ``min(step, the donor's share)`` from one element present to another; a row with fewer
    elements than the batch's richest simply has fewer neighbours."""
    x = x / x.sum(1, keepdim=True)
    b = len(x)
    k = int((x > 0).sum(1).max()) if b else 0
    top = torch.argsort(x, 1, descending=True)[:, :max(k, 1)]
    rows, real = [x], [torch.ones(b, dtype=torch.bool)]
    for i, j in ((i, j) for i in range(k) for j in range(k) if i != j):
        gi, gj = top[:, i:i + 1], top[:, j:j + 1]
        xi, xj = x.gather(1, gi)[:, 0], x.gather(1, gj)[:, 0]
        ok = (xi > 0) & (xj > 0)
        d = (torch.clamp(xj, max=step_at_pct / 100.0) * ok)[:, None]
        rows.append(x.scatter_add(1, gi, d).scatter_add(1, gj, -d).clamp_min(0.0))
        real.append(ok.cpu())
    keep = torch.stack(real, 1).reshape(-1)
    owner = np.repeat(np.arange(b), len(rows))[keep.numpy()]
    return torch.stack(rows, 1).reshape(b * len(rows), -1)[keep.to(x.device)], owner


def average(values, owner: np.ndarray, n: int) -> np.ndarray:
    """Values of :func:`neighbours`' compositions ``(M, ...)`` -> their mean per row of the
    batch ``(n, ...)`` (NaN for a row none of them belongs to)."""
    v = np.asarray(values, dtype=float)
    total = np.zeros((n, *v.shape[1:]))
    np.add.at(total, owner, v)
    count = np.bincount(owner, minlength=n).reshape(n, *([1] * (v.ndim - 1)))
    with np.errstate(invalid="ignore", divide="ignore"):
        return total / count

"""Target transform: the network regresses ``log10(1 + Dmax/mm)``.

Dmax spans 0-72 mm and is long-tailed; the transform maps crystals to 0, ribbons
(0.1 mm) to 0.041, a 1 mm rod to 0.30 and 72 mm to 1.86, and is exactly invertible.
"log-Dmax" in all reported metrics means this quantity.
"""

from __future__ import annotations

import numpy as np
import torch

NAME = "log10(1+dmax_mm)"


def to_target(dmax_mm):
    """Dmax (mm) -> training target."""
    if isinstance(dmax_mm, torch.Tensor):
        return torch.log10(1.0 + dmax_mm)
    return np.log10(1.0 + np.asarray(dmax_mm, dtype=np.float64))


def from_target(y):
    """Training target -> Dmax (mm), clipped at 0."""
    if isinstance(y, torch.Tensor):
        return torch.clamp(10.0 ** y - 1.0, min=0.0)
    return np.clip(10.0 ** np.asarray(y, dtype=np.float64) - 1.0, 0.0, None)

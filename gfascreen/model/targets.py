"""Target transforms: what the network regresses, and back to Dmax in mm.

``floor`` (``train``'s default and the shipped model's): ``log10(Dmax/mm + 0.01)``, which
pulls crystals (-2) apart from ribbon glasses (-0.96), so the loss sees "can it form a
glass here at all".

``log1p``: ``log10(1 + Dmax/mm)``. Dmax spans 0-72 mm and is long-tailed; the transform
maps crystals to 0, ribbons (0.1 mm) to 0.041, a 1 mm rod to 0.30 and 72 mm to 1.86, and
is exactly invertible. "log-Dmax" in all reported metrics and output columns means this
quantity, whatever the training target.

This module is the one converter between Dmax in mm and either scale: code that needs
log10(1 + Dmax/mm) or its inverse calls :func:`to_target` / :func:`from_target` with the
default ``kind`` (the inverse is clipped at 0 mm).
"""

from __future__ import annotations

import numpy as np


def _is_tensor(x) -> bool:
    """A torch tensor, recognised without importing torch (the CLI's --help stays light)."""
    return type(x).__module__.split(".")[0] == "torch"

NAME = "log10(1+dmax_mm)"
#: ``--target`` choices and the name each model records in its manifest.
TARGETS = {"log1p": NAME, "floor": "log10(dmax_mm+0.01)"}
FLOOR_MM = 0.01


def kind_of(name: str) -> str:
    """The ``--target`` kind of a manifest's target name."""
    for k, v in TARGETS.items():
        if v == name:
            return k
    raise ValueError(f"unknown target {name!r}")


def _offset(kind: str) -> float:
    """The mm added before the log10 of target ``kind``; ValueError for an unknown kind."""
    offsets = {"log1p": 1.0, "floor": FLOOR_MM}
    if kind not in offsets:
        raise ValueError(f"unknown target kind {kind!r}: choose {' or '.join(TARGETS)}")
    return offsets[kind]


def to_target(dmax_mm, kind: str = "log1p"):
    """Dmax (mm) -> training target."""
    off = _offset(kind)
    if _is_tensor(dmax_mm):
        import torch

        return torch.log10(off + dmax_mm)
    return np.log10(off + np.asarray(dmax_mm, dtype=np.float64))


def from_target(y, kind: str = "log1p"):
    """Training target -> Dmax (mm), clipped at 0."""
    off = _offset(kind)
    if _is_tensor(y):
        import torch

        return torch.clamp(10.0 ** y - off, min=0.0)
    return np.clip(10.0 ** np.asarray(y, dtype=np.float64) - off, 0.0, None)

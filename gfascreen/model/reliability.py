"""How well stated probabilities and intervals hold: coverage, ECE, Brier (numpy only).

Measured at calibration time (:mod:`gfascreen.model.statements`) and in evaluations
(:mod:`gfascreen.model.evaluation`); inference never needs them.
"""

from __future__ import annotations

import numpy as np


def coverage(y_log: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> float:
    """Share of ``y`` inside ``[lo, hi]`` (log space; NaN ``y`` ignored)."""
    y = np.asarray(y_log, dtype=float)
    ok = np.isfinite(y)
    if not ok.any():
        return float("nan")
    return float(np.mean((y[ok] >= lo[ok] - 1e-12) & (y[ok] <= hi[ok] + 1e-12)))

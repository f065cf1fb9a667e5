"""Score one chunk of lattice points with an ensemble (runs inside a Dask task)."""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd

from gfascreen.model.calibration import DEFAULT_CONFIDENCE, DEFAULT_THRESHOLDS_MM
from gfascreen.model.ensemble import Ensemble

_CACHE: dict[tuple[str, str, str], Ensemble] = {}
_LOCK = threading.Lock()


def load_cached(model: str, device: str, precision: str = "fp32") -> Ensemble:
    """Each process (a local run, or each Dask worker) loads an ensemble once."""
    key = (str(model), str(device), precision)
    with _LOCK:
        if key not in _CACHE:
            _CACHE[key] = Ensemble.load(model, device=device, precision=precision)
        return _CACHE[key]


def score_chunk(units: np.ndarray, elements: list[str], step: float, model: str, device: str,
                precision: str = "fp32", confidence: float = DEFAULT_CONFIDENCE,
                thresholds_mm: tuple[float, ...] = DEFAULT_THRESHOLDS_MM) -> pd.DataFrame:
    """Lattice units ``(n, k)`` -> table with at.% columns, ``system`` and predictions
    (columns: :data:`gfascreen.model.ensemble.COLUMNS`)."""
    ens = load_cached(model, device, precision)
    x = ens.featurizer.from_amounts(units, elements)
    pred = ens.predict_fractions(x, confidence, thresholds_mm=thresholds_mm)
    df = pd.DataFrame({el: units[:, j] * step for j, el in enumerate(elements)})
    df["system"] = "-".join(elements)
    return pd.concat([df, pred], axis=1)

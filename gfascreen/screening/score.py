"""Score one chunk of lattice points with a predictor: locally with the screen's own
(``ScreenPlan.ensemble``, passed in), or inside a Dask task with the one its worker loads
once (:func:`load_cached`)."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import pandas as pd

from gfascreen.data.parse import alloy_system
from gfascreen.model.ensemble import Ensemble
from gfascreen.model.known import measured_at
from gfascreen.model.statement_options import DEFAULT_CONFIDENCE, DEFAULT_THRESHOLDS_MM
from gfascreen.screening.palette import row_systems

_CACHE: dict[tuple[str, str, str], Ensemble] = {}
_LOCK = threading.Lock()


def load_cached(model: str, device: str, precision: str = "fp32") -> Ensemble:
    """Each process (a local run, or each Dask worker) loads an ensemble once per
    (model, device, precision): a local screen asks with its resolved device (``cpu``,
    ``cuda:0``, never ``auto``) and resolved precision, so every chunk finds the model
    the screen loaded."""
    key = (str(model), str(device), precision)
    with _LOCK:
        if key not in _CACHE:
            _CACHE[key] = Ensemble.load(model, device=device, precision=precision)
        return _CACHE[key]


def held(model: str) -> Ensemble | None:
    """An ensemble of ``model`` this process already holds (:func:`load_cached`, on any
    device and in any precision), None when it holds none."""
    with _LOCK:
        return next((e for (m, _, _), e in _CACHE.items() if m == str(model)), None)


def is_loaded(model: str, device: str, precision: str = "fp32") -> bool:
    """Whether :func:`load_cached` already holds this ensemble in this process."""
    return (str(model), str(device), precision) in _CACHE


def hold(model: str, device: str, precision: str, ens: Ensemble) -> None:
    """Hold ``ens`` as the ensemble :func:`load_cached` gives for these keys (a benchmark's
    stub members)."""
    with _LOCK:
        _CACHE[(str(model), str(device), precision)] = ens


def forget(model: str | None = None) -> None:
    """Drop the ensembles this process holds (of ``model``, or all): the next
    :func:`load_cached` reads the model again."""
    with _LOCK:
        for key in [k for k in _CACHE if model is None or k[0] == str(model)]:
            del _CACHE[key]


@dataclass(frozen=True)
class ChunkScorer:
    """What a chunk is scored with, as plain values (travels to Dask workers): the model,
    the device and precision it runs on, the interval's confidence, the thresholds of the
    P(Dmax >= T) columns and the images per forward pass (None: the device's default)."""

    model: str
    device: str
    precision: str = "fp32"
    confidence: float = DEFAULT_CONFIDENCE
    thresholds_mm: tuple[float, ...] = DEFAULT_THRESHOLDS_MM
    batch_size: int | None = None

    def ensemble(self) -> Ensemble:
        return load_cached(self.model, self.device, self.precision)


def score_chunk(units: np.ndarray, elements: list[str], step: float,
                scorer: ChunkScorer, own_systems: bool = False,
                ensemble: Ensemble | None = None) -> pd.DataFrame:
    """Lattice units ``(n, k)`` -> table with at.% columns, ``system`` and predictions
    (columns: :data:`gfascreen.model.columns.COLUMNS`, then
    :data:`gfascreen.model.known.MEASURED_COLUMNS`). ``system`` is the screened
    system's, or with ``own_systems`` (an atlas) each row's own elements present.
    ``ensemble``: the predictor to score with (a local screen's, loaded once with its
    plan); None: the one this process holds for ``scorer`` (a Dask worker's)."""
    ens = ensemble if ensemble is not None else scorer.ensemble()
    x = ens.featurizer.from_amounts(units, elements)
    pred = ens.predict_fractions(x, scorer.confidence, scorer.batch_size,
                                 thresholds_mm=scorer.thresholds_mm)
    df = pd.DataFrame({el: units[:, j] * step for j, el in enumerate(elements)})
    df["system"] = row_systems(units, elements) if own_systems else alloy_system(elements)
    # A grid point that is one of the model's known alloys carries what was measured.
    return pd.concat([df, pred, measured_at(df, elements, ens.known_alloys)], axis=1)

"""Score one chunk of lattice points with an ensemble (runs inside a Dask task)."""

from __future__ import annotations

import os
import threading
import time

import numpy as np
import pandas as pd
import torch

from gfascreen.errors import GfaError
from gfascreen.model.ensemble import Ensemble

_CACHE: dict[tuple[str, str, str], Ensemble] = {}
#: ``--precision`` -> ``Ensemble.load(runtime=...)``
RUNTIMES = {"fp32": "float", "bf16": "bf16"}
_LOCK = threading.Lock()


def load_cached(model: str, device: str, precision: str = "fp32") -> Ensemble:
    """Each process (a local run, or each Dask worker) loads an ensemble once."""
    if precision not in RUNTIMES:
        raise GfaError(f"--precision {precision!r}: choose {' or '.join(RUNTIMES)}")
    key = (str(model), str(device), precision)
    with _LOCK:
        if key not in _CACHE:
            _CACHE[key] = Ensemble.load(model, device=device, runtime=RUNTIMES[precision])
        return _CACHE[key]


def score_chunk(units: np.ndarray, elements: list[str], step: float, model: str, device: str,
                precision: str = "fp32") -> pd.DataFrame:
    """Lattice units ``(n, k)`` -> table with at.% columns, ``system`` and predictions."""
    ens = load_cached(model, device, precision)
    delay = float(os.environ.get("GFASCREEN_SLOW_CHUNKS", "0"))
    if delay > 0:  # debugging knob: make chunks slow, e.g. to test crash-and-resume
        time.sleep(delay)
    vocab = ens.vocabulary
    x = torch.zeros(len(units), len(vocab), dtype=torch.float32)
    total = units.sum(1, keepdims=True).astype(np.float64)
    frac = torch.as_tensor(units / total, dtype=torch.float32)
    for j, el in enumerate(elements):
        x[:, vocab.index(el)] = frac[:, j]
    pred = ens.predict_fractions(x)
    cols = {el: units[:, j] * step for j, el in enumerate(elements)}
    df = pd.DataFrame(cols)
    df["system"] = "-".join(elements)
    return pd.concat([df, pred], axis=1)

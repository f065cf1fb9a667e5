"""The calibrated columns of a prediction: the model's calibration
(:class:`~gfascreen.model.calibration.Calibration`, fitted on the outputs of the stack
that makes ``dmax_mm``, or of the members for a model without one) and the lab's casts'
correction of the distribution (:class:`~gfascreen.model.casts.CastCorrection`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from gfascreen.model import columns as pc
from gfascreen.model.statements import Batch, calibrated_columns


@dataclass(frozen=True)
class CalibratedColumns:
    """What turns raw readings into calibrated columns: the calibration (None: the raw
    readings stand, the interval columns NaN) and the casts' correction (None: none)."""

    calibration: object | None  # gfascreen.model.calibration.Calibration
    casts: object | None  # gfascreen.model.casts.CastCorrection

    def adjust_at(self, x: torch.Tensor):
        """The casts' correction bound to the ``(B, N)`` fractions ``x`` (None: no
        casts)."""
        if self.casts is None:
            return None
        at_pct = 100.0 * (x / x.sum(1, keepdim=True)).double().cpu().numpy()
        return lambda d: self.casts.correct(at_pct, d)

    def columns(self, batch: Batch, raw: dict[str, np.ndarray] | None,
                point: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The calibrated columns of ``batch`` (:func:`~gfascreen.model.statements.
        calibrated_columns`); ``raw``: the class scores by column, ``point``: the point
        readings (mm and log10(1 + Dmax/mm))."""
        return calibrated_columns(self.calibration, batch, raw, point)


def raw_probabilities(prob: torch.Tensor | None, classes) -> dict[str, np.ndarray] | None:
    """The class head's (or stack's) probabilities ``(B, C)`` by column name (None: no
    head)."""
    if prob is None or not classes:
        return None
    return {pc.CLASS_PROBABILITY[c]: prob[:, i].numpy().astype(float)
            for i, c in enumerate(classes)}

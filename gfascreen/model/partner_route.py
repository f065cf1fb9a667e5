"""Alloys with an element outside the network's vocabulary: the descriptor partner alone.

The members read an OP image over the network's vocabulary (the shipped model's 43
elements); the descriptor partner reads element-property descriptors, and its element table
covers every element it can describe
(:meth:`~gfascreen.featurize.descriptors.ElementTable.for_partner`: 87). An alloy with an
element outside the vocabulary but inside the table is read by the partner alone (its
local average, as the stack reads it), through the partner-only distribution the
calibration carries (:attr:`~gfascreen.model.calibration.Calibration.partner_only`: class
maps and a thickness fitted on the partner's own leave-system-out predictions, with no
members' spread), so every column is read off one distribution, as on the network's rows.

Such rows say ``route`` "partner only" (:data:`~gfascreen.model.columns.ROUTE`) and are
never in domain: the applicability domain is the network's (training alloys near the
composition), and every training alloy lies in the vocabulary. The calibration's figures
are those of unseen systems of seen elements; an element no training alloy holds is a
further step the figures cannot measure.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from gfascreen.featurize.op_image import OPImageFeaturizer
from gfascreen.featurize.vocabulary import Vocabulary
from gfascreen.model import columns as pc
from gfascreen.model.calibration import Calibration
from gfascreen.model.partner import Partner
from gfascreen.model.statements import Batch, calibrated_columns
from gfascreen.model.targets import from_target


class PartnerRoute:
    """The partner over every element of its table, read through ``calibration`` (the
    partner-only part of the model's calibration; None: its raw readings, the interval
    columns NaN). ``step_at_pct``: the local average's step (at.%; the stack's)."""

    def __init__(self, partner: Partner, calibration: Calibration | None,
                 step_at_pct: float = 0.0):
        self.vocabulary = Vocabulary.from_elements(partner.table.elements)
        self.featurizer = OPImageFeaturizer(self.vocabulary)
        self.featurizer.known_as = "the elements the model's descriptor partner knows"
        self.partner = partner.over(list(self.vocabulary.elements))
        self.calibration = calibration
        self.step_at_pct = float(step_at_pct)

    def parse(self, compositions: list) -> tuple[np.ndarray, list[str | None]]:
        """Amounts over the table's elements and, per input, None or why it is refused."""
        return self.featurizer.parse(compositions)

    def predict_fractions(self, x: torch.Tensor, confidence: float,
                          thresholds_mm=pc.DEFAULT_THRESHOLDS_MM) -> pd.DataFrame:
        """The prediction columns (:func:`~gfascreen.model.columns.prediction_columns`) of
        ``(B, E)`` fractions over the table's elements: the partner's class scores and
        log10(1 + Dmax/mm) readings, calibrated; no members, so no spread (NaN) and a
        thickness scale without one; ``in_domain`` false."""
        gb = self.partner.predict(x, self.step_at_pct)
        n = len(x)
        raw = {pc.P_CRYSTAL: gb.proba[:, 0], pc.P_RIBBON: gb.proba[:, 1],
               pc.P_BMG: gb.proba[:, 2]}
        outside = np.zeros(n, dtype=bool)
        batch = Batch(log_dmax=gb.log_dmax, spread_log=np.zeros(n), knn_spread=None,
                      in_domain=outside, p_crystal=raw[pc.P_CRYSTAL], p_bmg=raw[pc.P_BMG],
                      log_dmax_bmg=gb.log_dmax_bmg, confidence=confidence,
                      thresholds_mm=tuple(thresholds_mm))
        nan = np.full(n, np.nan)
        point = {pc.DMAX_MM: from_target(gb.log_dmax),
                 pc.DMAX_BMG_MM: from_target(gb.log_dmax_bmg), pc.DMAX_STD: nan,
                 pc.LOG_DMAX: gb.log_dmax, pc.LOG_DMAX_STD: nan, pc.IN_DOMAIN: outside}
        out = calibrated_columns(self.calibration, batch, raw, point)
        return pd.DataFrame({c: out[c] for c in pc.prediction_columns(thresholds_mm)})

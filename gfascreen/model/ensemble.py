"""OP image -> Dmax: the predictor of a saved model, assembled from its parts.

:class:`Ensemble` is pure inference, built once by :func:`gfascreen.model.builder.build`
(:meth:`Ensemble.load`) from a saved model directory
(:class:`~gfascreen.model.saved.ModelDir`, which owns the files, checksums and storage
codec); it never imports training code and is not changed after it is built. Per
composition: the fold members' forward pass (:class:`~gfascreen.model.members.Members`,
their mean and spread of log10(1 + Dmax/mm) and class probabilities), read by the stack
that makes ``dmax_mm``, ``dmax_bmg_mm`` and the class scores together with the
descriptor partner (:class:`~gfascreen.model.stack_reading.StackReading`; a model without
a stack, or ``parts="network"``: the members' mean), the applicability domain
(:class:`~gfascreen.model.domain.Domain`) and the calibrated columns
(:class:`~gfascreen.model.calibrated.CalibratedColumns`, with the lab's casts). The
formula API is :mod:`gfascreen.model.formulas`. Output columns:
:mod:`gfascreen.model.columns`.
"""

from __future__ import annotations

import os
from dataclasses import replace

import numpy as np
import pandas as pd
import torch

from gfascreen.model import columns as pc
from gfascreen.model.builder import Parts, build
from gfascreen.model.calibrated import CalibratedColumns, raw_probabilities
from gfascreen.model.columns import COLUMNS, DEFAULT_THRESHOLDS_MM, prediction_columns
from gfascreen.model.difficulty import Neighbourhood
from gfascreen.model.known import measured
from gfascreen.model.saved import default_model_dir, model_hash
from gfascreen.model.statement_options import DEFAULT_CONFIDENCE
from gfascreen.model.statements import Batch
from gfascreen.model.targets import from_target, to_target

__all__ = ["COLUMNS", "Ensemble", "default_model_dir", "prediction_columns"]


def _read(path: str, doc: str | None = None) -> property:
    """A read-only attribute of an :class:`Ensemble`: its parts' attribute at the dotted
    ``path`` (None past a part the predictor lacks, e.g. ``stacked`` without a stack)."""

    def get(self):
        obj = self.parts
        for name in path.split("."):
            obj = None if obj is None else getattr(obj, name)
        return obj

    return property(get, doc=doc)


class Ensemble:
    """A saved model's predictor: ``predict`` gives per formula Dmax in mm (the stack's,
    over the members and the descriptor partner, where the model has one), its spread,
    calibrated interval and class probabilities; ``predict_fractions`` the same for a
    fraction tensor. Built by :meth:`load`; holds its :class:`~gfascreen.model.builder.
    Parts`, never changed afterwards (:meth:`with_casts` gives a new one)."""

    def __init__(self, parts: Parts):
        #: What it predicts with (:class:`~gfascreen.model.builder.Parts`).
        self.parts = parts

    @classmethod
    def load(cls, path: str | os.PathLike | None = "default", device: str = "auto",
             precision: str = "fp32", parts: str = "stack") -> Ensemble:
        """Load and verify a model directory (``"default"``: the shipped model).

        ``parts="stack"`` predicts with the model's stack (:mod:`gfascreen.model.stack`),
        which makes ``dmax_mm`` from the members and the descriptor partner, where the
        model has them; ``"network"`` with the members alone.

        ``precision="fp32"`` runs the members in float32 on every device; ``"bf16"`` under
        bfloat16 autocast (CUDA, or a CPU with native bf16; measured on the shipped model
        over its 6,874 training compositions: 1.95-2.13x on AVX512-BF16, answers within
        0.012 in log10(1+Dmax) of float32); ``"auto"`` is bf16 where the device has it
        natively and the model records a bf16 check within
        :data:`~gfascreen.model.precision.BF16_MAX_DIFF_LOG`, else fp32
        (:func:`~gfascreen.model.precision.resolve_precision`). ``precision`` then holds
        the one chosen."""
        return cls(build(path, device, precision, parts))

    # -- what callers read (read-only, from the parts) ----------------------------
    model_dir = _read("model_dir")
    manifest = _read("model_dir.manifest")
    id = _read("model_dir.manifest.id")
    vocabulary = _read("model_dir.manifest.image_spec.vocabulary")
    known_alloys = _read("known_alloys", "The training alloys the model carries (None).")
    members = _read("members.nets", "The fold members' networks.")
    featurizer = _read("members.featurizer", "The members' OP-image featurizer.")
    device = _read("members.device")
    precision = _read("members.precision", "``fp32`` or ``bf16``: the one chosen.")
    batch_size = _read("members.batch_size", "Images per forward pass (precision.py).")
    classes = _read("members.classes")
    partner = _read("stacked.partner", "The descriptor partner the stack reads (None).")
    stack = _read("stacked.stack", "The stack that makes ``dmax_mm`` (None: the mean).")
    calibration = _read("calibrated.calibration")
    casts = _read("calibrated.casts", "The lab's casts' correction (None: no casts).")

    @property
    def hash(self) -> str:
        return model_hash(self.manifest)

    def with_casts(self, casts) -> Ensemble:
        """This predictor with the casts' correction ``casts`` instead (a new one)."""
        return Ensemble(replace(self.parts,
                                calibrated=CalibratedColumns(self.calibration, casts)))

    # -- prediction ---------------------------------------------------------------
    def member_outputs(self, x: torch.Tensor, batch_size: int | None = None,
                       members: list[int] | None = None):
        """:meth:`Members.outputs <gfascreen.model.members.Members.outputs>`."""
        return self.parts.members.outputs(x, batch_size, members)

    def member_log_dmax(self, x: torch.Tensor, batch_size: int | None = None,
                        members: list[int] | None = None):
        """:meth:`Members.log_dmax <gfascreen.model.members.Members.log_dmax>`."""
        return self.parts.members.log_dmax(x, batch_size, members)

    def neighbourhood(self, x: torch.Tensor) -> Neighbourhood:
        """Domain flag and measured spread near ``x`` (:meth:`Domain.neighbourhood
        <gfascreen.model.domain.Domain.neighbourhood>`)."""
        return self.parts.domain.neighbourhood(x, self.calibration)

    def predict_fractions(self, x: torch.Tensor, confidence: float = DEFAULT_CONFIDENCE,
                          batch_size: int | None = None,
                          thresholds_mm=DEFAULT_THRESHOLDS_MM) -> pd.DataFrame:
        """Score a ``(B, N)`` fraction tensor (vocabulary order, rows sum to 1); columns
        :func:`prediction_columns` (see :data:`COLUMNS`); no rows, no work. ``dmax_mm``
        (mm) is the stack's where the predictor has one, else the members' mean."""
        if not len(x):
            return pd.DataFrame({c: pd.Series(dtype=bool if c == pc.IN_DOMAIN else float)
                                 for c in prediction_columns(thresholds_mm)})
        reg, prob = self.member_log_dmax(x, batch_size)
        mm = from_target(reg)
        many = len(self.members) > 1
        zeros = np.zeros(len(x))
        std_log = reg.std(0, unbiased=False).numpy() if many else zeros
        dmax = dmax_bmg = mm.mean(0).numpy()
        mean_log = reg.mean(0).numpy()
        if self.parts.stacked is not None:
            dmax, dmax_bmg, prob = self.parts.stacked.read(x, reg, prob)
            mean_log = to_target(dmax)
        nb = self.neighbourhood(x)
        raw = raw_probabilities(prob, self.classes)
        batch = Batch(log_dmax=mean_log, spread_log=std_log, knn_spread=nb.knn_spread,
                      in_domain=nb.in_domain,
                      p_crystal=None if raw is None else raw[pc.P_CRYSTAL],
                      p_bmg=None if raw is None else raw[pc.P_BMG],
                      log_dmax_bmg=to_target(dmax_bmg),
                      confidence=confidence, thresholds_mm=tuple(thresholds_mm),
                      adjust=self.parts.calibrated.adjust_at(x))
        out = {pc.DMAX_MM: dmax, pc.DMAX_BMG_MM: dmax_bmg,
               pc.DMAX_STD: mm.std(0, unbiased=False).numpy() if many else zeros,
               pc.LOG_DMAX: mean_log, pc.LOG_DMAX_STD: std_log, pc.IN_DOMAIN: nb.in_domain}
        out.update(self.parts.calibrated.columns(batch, raw, out))
        return pd.DataFrame({c: out[c] for c in prediction_columns(thresholds_mm)})

    def measured(self, keys) -> pd.DataFrame:
        """What is known of the compositions with these keys: ``measured_class``,
        ``measured_dmax_mm``, ``measured_source`` of the model's known alloys (empty / NaN
        for the others; :func:`gfascreen.model.known.measured`)."""
        return measured(keys, self.known_alloys)

    def predict(self, compositions, strict: bool = False,
                confidence: float = DEFAULT_CONFIDENCE,
                thresholds_mm=DEFAULT_THRESHOLDS_MM) -> pd.DataFrame:
        """Score formulas, ``{element: amount}`` dicts or pymatgen ``Composition`` objects
        (fractions too): one row per input, in input order, with ``input`` (the formula as
        written), ``composition`` (normalised, at.%), the predictions (``dmax_mm`` the
        stack's where the model has one), what is measured when the input is one of the
        model's known alloys (``measured_class``, ``measured_dmax_mm``,
        ``measured_source``: the prediction stays the model's own), ``in_vocabulary``
        (every element in the network's vocabulary), ``route`` (which parts predicted it,
        :data:`~gfascreen.model.columns.ROUTE`: an alloy with an element outside the
        vocabulary that the descriptor partner knows is read by the partner alone,
        :mod:`gfascreen.model.partner_route`) and ``reason`` (why a row could not be
        scored; its predictions are then NaN). ``strict=True`` raises on the first row
        that cannot be scored instead (:mod:`gfascreen.model.formulas`)."""
        from gfascreen.model.formulas import predict_formulas

        return predict_formulas(self, compositions, strict, confidence, thresholds_mm)

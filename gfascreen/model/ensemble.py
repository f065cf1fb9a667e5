"""OP image -> Dmax: the one place where an image becomes a prediction.

:class:`Ensemble` is pure inference. It is built from a saved model directory
(:class:`~gfascreen.model.saved.ModelDir`, which owns the files, checksums and storage
codec), never imports training code, and gives per composition the ensemble mean and
spread of Dmax, the calibrated interval (when the model carries a calibration), class
probabilities and the applicability-domain flag. Output columns: :mod:`gfascreen.model.columns`.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import torch

from gfascreen.data.labels import DMAX_COLUMN
from gfascreen.errors import GfaError
from gfascreen.featurize import OPImageFeaturizer
from gfascreen.model import columns as pc
from gfascreen.model.calibration import (
    DEFAULT_CONFIDENCE,
    DEFAULT_THRESHOLDS_MM,
    Calibration,
    load_model_calibration,
)
from gfascreen.model.casts import CastCorrection
from gfascreen.model.columns import COLUMNS, prediction_columns
from gfascreen.model.difficulty import NEIGHBOURS, Neighbourhood, neighbourhood
from gfascreen.model.known import measured
from gfascreen.model.network import OPResNet, for_inference, forward_members
from gfascreen.model.parts import sha256_file
from gfascreen.model.precision import (
    check_precision,
    inference_batch_for,
    resolve_device,
    resolve_precision,
)
from gfascreen.model.saved import (
    ModelDir,
    bf16_record,
    default_model_dir,
    model_hash,
)
from gfascreen.model.statements import Batch, calibrated_columns
from gfascreen.model.targets import from_target, kind_of, to_target

#: Prediction columns, with units, and their order: :mod:`gfascreen.model.columns`
#: (``COLUMNS`` and ``prediction_columns`` are read from there).
#: What ``Ensemble.load(parts=...)`` predicts with.
PARTS = ("stack", "network")


__all__ = ["COLUMNS", "Ensemble", "default_model_dir", "prediction_columns", "sha256_file"]


class Ensemble:
    """The fold members of a saved model; ``predict`` gives Dmax in mm with spread and
    calibrated interval."""

    def __init__(self, members: list[OPResNet], model_dir: ModelDir, device: torch.device,
                 precision: str = "fp32", calibration: Calibration | None = None):
        self.members = members
        self.model_dir = model_dir
        self.manifest = model_dir.manifest
        self.image_spec = self.manifest.image_spec
        self.vocabulary = self.image_spec.vocabulary
        self.device = device
        self.precision = precision
        self.calibration = calibration
        #: The descriptor partner and the stack (``use_parts``); None: the members alone.
        self.partner = None
        self.stack = None
        #: Images per forward pass: small on a CPU, large on a GPU (``precision.py``).
        self.batch_size = inference_batch_for(device)
        self.featurizer = self.image_spec.featurizer(device)
        self.classes = self.manifest.classes
        known = model_dir.known_alloys()
        self.known_alloys = known
        self.domain = (OPImageFeaturizer(self.vocabulary).from_table(known).float().to(device)
                       if known is not None and len(known) else None)
        #: log10(1 + Dmax/mm) of the known alloys (NaN where unmeasured): their spread
        #: near a composition is part of the calibrated difficulty.
        self.domain_y = (to_target(known[DMAX_COLUMN].to_numpy(dtype=float))
                         if self.domain is not None else None)
        #: The lab's casts' correction of the distribution (None: the model has no casts;
        #: :mod:`gfascreen.model.casts`).
        self.casts = CastCorrection.load(model_dir, OPImageFeaturizer(self.vocabulary))

    @property
    def id(self) -> str:
        return self.manifest.id

    @property
    def hash(self) -> str:
        return model_hash(self.manifest)

    @classmethod
    def load(cls, path: str | os.PathLike | None = "default", device: str = "auto",
             precision: str = "fp32", parts: str = "stack") -> Ensemble:
        """Load and verify a model directory (``"default"``: the shipped model).

        ``parts="stack"`` uses the model's descriptor partner and stack where it has them
        (:mod:`gfascreen.model.stack`); ``"network"`` the members alone.

        ``precision="fp32"`` runs the members in float32 on every device; ``"bf16"`` under
        bfloat16 autocast (CUDA, or a CPU with native bf16; measured on the shipped model
        over its 6,874 training compositions: 1.95-2.13x on AVX512-BF16, answers within
        0.012 in log10(1+Dmax) of float32); ``"auto"`` is bf16 where the device has it
        natively and the model records a bf16 check within
        :data:`~gfascreen.model.precision.BF16_MAX_DIFF_LOG`, else fp32
        (:func:`~gfascreen.model.precision.resolve_precision`). ``precision`` then holds
        the one chosen."""
        dev = resolve_device(device)
        check_precision(precision, dev)
        md = ModelDir(path)
        precision = resolve_precision(precision, dev, bf16_record(md.manifest))
        spec = md.manifest.network_spec
        members = []
        for entry in md.manifest.members:
            # Built on the meta device and given the decoded tensors themselves
            # (assign=True): no random initialisation, no second copy of the weights.
            with torch.device("meta"):
                net = spec.build()
            try:
                net.load_state_dict(md.member_state(entry), assign=True)
            except RuntimeError as exc:
                raise GfaError(f"model member {entry.file} does not fit the architecture "
                               f"in the manifest ({str(exc).splitlines()[0]})") from None
            members.append(for_inference(net, bf16=precision == "bf16").to(dev))
        ens = cls(members, md, dev, precision, cls._calibration(md))
        ens.use_parts(parts)
        return ens

    def use_parts(self, parts: str) -> None:
        """``"stack"`` (the partner and stack, where the model has them) or ``"network"``."""
        from gfascreen.model.partner import Partner

        if parts not in PARTS:
            raise GfaError(f"--parts {parts!r}: choose {' or '.join(PARTS)}")
        stack = self.manifest.stack
        self.partner = self.stack = None
        if parts == "stack" and stack is not None:
            self.partner = Partner.load(self.model_dir, self.device)
            self.stack = stack
        if parts == "network" and stack is not None and self.calibration is not None:
            # The calibration was fitted on the stack's outputs, not the members'.
            self.calibration = None

    @staticmethod
    def _calibration(md: ModelDir) -> Calibration | None:
        return load_model_calibration(md)

    # -- prediction ---------------------------------------------------------------
    @torch.inference_mode()
    def member_outputs(self, x: torch.Tensor, batch_size: int | None = None,
                       members: list[int] | None = None
                       ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Per-member regression outputs ``(M, B)``, in the model's training target
        (``manifest.target``), and mean class probabilities ``(B, C)`` (of every member, or
        of the members at the indices ``members``)."""
        batch_size = batch_size or self.batch_size
        chosen = [m for j, m in enumerate(self.members) if members is None or j in members]
        reg, prob = forward_members(chosen, self.featurizer, x, batch_size,
                                    bf16=self.precision == "bf16")
        return reg, (prob.mean(0) if prob is not None and self.classes else None)

    def member_log_dmax(self, x: torch.Tensor, batch_size: int | None = None,
                        members: list[int] | None = None
                        ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """:meth:`member_outputs` with the regression as log10(1 + Dmax/mm) whatever the
        training target: the scale of every log column, spread and metric."""
        reg, prob = self.member_outputs(x, batch_size, members)
        kind = kind_of(self.manifest.target)
        return (reg if kind == "log1p" else to_target(from_target(reg, kind))), prob

    def predict_fractions(self, x: torch.Tensor, confidence: float = DEFAULT_CONFIDENCE,
                          batch_size: int | None = None,
                          thresholds_mm=DEFAULT_THRESHOLDS_MM) -> pd.DataFrame:
        """Score a ``(B, N)`` fraction tensor (vocabulary order, rows sum to 1); columns
        :func:`prediction_columns` (see :data:`COLUMNS`); no rows, no work."""
        if not len(x):
            return pd.DataFrame({c: pd.Series(dtype=bool if c == pc.IN_DOMAIN else float)
                                 for c in prediction_columns(thresholds_mm)})
        reg, prob = self.member_log_dmax(x, batch_size)
        mm = from_target(reg)
        many = len(self.members) > 1
        zeros = np.zeros(len(x))
        std_log = reg.std(0, unbiased=False).numpy() if many else zeros
        dmax = dmax_bmg = mm.mean(0).numpy()
        if self.stack is not None:
            dmax, dmax_bmg, prob = self._stacked(x, reg, prob)
        mean_log = np.log10(1.0 + dmax) if self.stack is not None else reg.mean(0).numpy()
        nb = self.neighbourhood(x)
        raw = self._raw_probabilities(prob)
        batch = Batch(log_dmax=mean_log, spread_log=std_log, knn_spread=nb.knn_spread,
                      in_domain=nb.in_domain,
                      p_crystal=None if raw is None else raw[pc.P_CRYSTAL],
                      p_bmg=None if raw is None else raw[pc.P_BMG],
                      log_dmax_bmg=to_target(dmax_bmg),
                      confidence=confidence, thresholds_mm=tuple(thresholds_mm),
                      adjust=self._casts_at(x))
        out = {pc.DMAX_MM: dmax, pc.DMAX_BMG_MM: dmax_bmg,
               pc.DMAX_STD: mm.std(0, unbiased=False).numpy() if many else zeros,
               pc.LOG_DMAX: mean_log, pc.LOG_DMAX_STD: std_log, pc.IN_DOMAIN: nb.in_domain}
        out.update(self._statements(batch, raw, out))
        return pd.DataFrame({c: out[c] for c in prediction_columns(thresholds_mm)})

    def _casts_at(self, x: torch.Tensor):
        """The casts' correction bound to the compositions ``x`` (None: no casts)."""
        if self.casts is None:
            return None
        at_pct = 100.0 * (x / x.sum(1, keepdim=True)).double().cpu().numpy()
        return lambda d: self.casts.correct(at_pct, d)

    def _stacked(self, x: torch.Tensor, reg: torch.Tensor, prob: torch.Tensor
                 ) -> tuple[np.ndarray, np.ndarray, torch.Tensor]:
        """The stack's Dmax (mm), bulk-glass thickness (mm) and class probabilities, the
        partner read as its average over the composition's neighbourhood
        (:mod:`gfascreen.model.local_average`; the stack's ``partner_step_at_pct``, 0: at
        the point)."""
        from gfascreen.model.stack import stack_features

        gb = self.partner.predict(x, self.stack.partner_step_at_pct)
        top = (x / x.sum(1, keepdim=True)).amax(1).double().cpu().numpy()
        out = self.stack.predict(stack_features(
            reg.mean(0).numpy().astype(float), prob.numpy().astype(float), gb.log_dmax,
            gb.proba, gb.log_dmax_bmg), max_fraction=top)
        return out.dmax_mm, out.dmax_bmg_mm, torch.as_tensor(out.proba)

    def _raw_probabilities(self, prob: torch.Tensor | None) -> dict[str, np.ndarray] | None:
        """The class head's (or stack's) probabilities by column name (None: no head)."""
        if prob is None or not self.classes:
            return None
        return {pc.CLASS_PROBABILITY[c]: prob[:, i].numpy().astype(float)
                for i, c in enumerate(self.classes)}

    def _statements(self, batch: Batch, raw: dict[str, np.ndarray] | None,
                    point: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The calibrated columns of the model's calibration
        (:func:`gfascreen.model.statements.calibrated_columns`)."""
        return calibrated_columns(self.calibration, batch, raw, point)

    def neighbourhood(self, x: torch.Tensor) -> Neighbourhood:
        """Domain flag and the measured spread among the nearest training alloys (one
        distance pass; zeros when the calibration does not use the spread)."""
        if self.domain is None:
            return Neighbourhood(np.ones(len(x), dtype=bool), np.zeros(len(x)))
        cal = self.calibration
        ref_y = self.domain_y if cal is not None and cal.needs_knn else None
        return neighbourhood(x.to(self.device), self.domain, ref_y,
                             float(self.manifest.domain.radius_at_pct),
                             int(self.manifest.domain.min_neighbours),
                             cal.k if cal is not None else NEIGHBOURS)

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
        written), ``composition`` (normalised, at.%), the predictions, what is measured
        when the input is one of the model's known alloys (``measured_class``,
        ``measured_dmax_mm``, ``measured_source``: the prediction stays the model's own),
        ``in_vocabulary`` (every element in the network's vocabulary), ``route`` (which
        parts predicted it, :data:`~gfascreen.model.columns.ROUTE`: an alloy with an
        element outside the vocabulary that the descriptor partner knows is read by the
        partner alone, :mod:`gfascreen.model.partner_route`) and ``reason`` (why a row
        could not be scored; its predictions are then NaN).
        ``strict=True`` raises on the first row that cannot be scored instead."""
        from collections.abc import Mapping

        from gfascreen.featurize.op_image import as_written

        if isinstance(compositions, str | Mapping):
            compositions = [compositions]
        compositions = list(compositions)
        amounts, reasons = self.featurizer.parse(compositions)
        ok = np.array([r is None for r in reasons], dtype=bool)
        wide, reasons = self._outside_vocabulary(compositions, reasons, confidence,
                                                 thresholds_mm)
        if strict and any(reasons):
            raise GfaError(next(r for r in reasons if r))
        x = self.featurizer.from_amounts(amounts[ok]) if ok.any() else None
        parts = [self.predict_fractions(x, confidence, thresholds_mm=thresholds_mm)
                 .set_axis(np.flatnonzero(ok))] if x is not None else []
        keys = _keys(amounts, ok, self.vocabulary.elements)
        route = np.where(ok, pc.ROUTE_STACK if self.stack is not None else pc.ROUTE_NETWORK,
                         "")
        if wide is not None:
            frame, wide_keys = wide
            parts.append(frame.astype(parts[0].dtypes.to_dict()) if parts else frame)
            keys = [wide_keys.get(i, k) for i, k in enumerate(keys)]
            route[frame.index] = pc.ROUTE_PARTNER_ONLY
        df = (pd.concat(parts) if parts else pd.DataFrame(
            columns=prediction_columns(thresholds_mm))).reindex(range(len(compositions)))
        df[pc.IN_DOMAIN] = df[pc.IN_DOMAIN].astype("boolean").fillna(False).astype(bool)
        df.insert(0, "input", [as_written(c) for c in compositions])
        df.insert(1, "composition", keys)
        df = df.join(self.measured(keys))
        df["in_vocabulary"] = ok
        df[pc.ROUTE] = route
        df["reason"] = [r or "" for r in reasons]
        return df

    def _outside_vocabulary(self, compositions: list, reasons: list, confidence: float,
                            thresholds_mm) -> tuple[tuple | None, list]:
        """The inputs the network refused, read by its descriptor partner alone where the
        partner's element table covers them (:mod:`gfascreen.model.partner_route`): their
        predictions (indexed by input) and composition keys (by input), or None; and every
        input's reason, the route's for those it refuses too."""
        from gfascreen.model.partner_route import PartnerRoute

        refused = [i for i, r in enumerate(reasons) if r is not None]
        if self.partner is None or not refused:
            return None, reasons
        cal = self.calibration.partner_only if self.calibration is not None else None
        route = PartnerRoute(self.partner, cal, self.stack.partner_step_at_pct)
        amounts, why = route.parse([compositions[i] for i in refused])
        reasons = list(reasons)
        for i, w in zip(refused, why, strict=True):
            reasons[i] = w
        good = np.array([w is None for w in why], dtype=bool)
        if not good.any():
            return None, reasons
        rows = np.asarray(refused)[good]
        frame = route.predict_fractions(route.featurizer.from_amounts(amounts[good]),
                                        confidence, thresholds_mm).set_axis(rows)
        keys = _keys(amounts[good], good[good], route.vocabulary.elements)
        return (frame, dict(zip(rows.tolist(), keys, strict=True))), reasons


def _keys(amounts: np.ndarray, ok: np.ndarray, elements) -> list[str]:
    """Each row's composition key (at.%, :func:`~gfascreen.data.parse.composition_key`) of
    its amounts over ``elements``; "" where ``ok`` is false."""
    from gfascreen.data.parse import composition_key

    return [composition_key({elements[j]: 100 * v / row.sum() for j, v in enumerate(row)
                             if v > 0}) if good else ""
            for row, good in zip(amounts, ok, strict=True)]

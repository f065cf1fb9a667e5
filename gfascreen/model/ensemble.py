"""OP image -> Dmax: the one place where an image becomes a prediction.

:class:`Ensemble` is pure inference. It is built from a saved model directory
(:class:`~gfascreen.model.saved.ModelDir`, which owns the files, checksums and storage
codec), never imports training code, and gives per composition the ensemble mean and
spread of Dmax, the calibrated interval (when the model carries a calibration), class
probabilities and the applicability-domain flag. Output columns: :data:`COLUMNS`.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import torch

from gfascreen.errors import GfaError
from gfascreen.featurize import OPImageFeaturizer, Vocabulary
from gfascreen.model.calibration import DEFAULT_CONFIDENCE, Calibration, mondrian_bins
from gfascreen.model.network import OPResNet, resnet50_op
from gfascreen.model.precision import autocast, check_precision, resolve_device
from gfascreen.model.saved import ModelDir, default_model_dir, model_hash, sha256_file
from gfascreen.model.targets import from_target, kind_of, to_target

#: Prediction columns, with units (screen and predict write these; p_* per class).
COLUMNS = {
    "dmax_mm": "ensemble mean of Dmax, the critical casting diameter (mm)",
    "dmax_std": "standard deviation of Dmax across members (mm): the raw spread",
    "dmax_lo": "lower bound of the calibrated interval (mm; NaN without a calibration)",
    "dmax_hi": "upper bound of the calibrated interval (mm; NaN without a calibration)",
    "log_dmax": "ensemble mean of log10(1 + Dmax/mm)",
    "log_dmax_std": "spread of log10(1 + Dmax/mm) across members",
    "p_crystal": "probability of crystal (class head, mean over members)",
    "p_ribbon": "probability of a ribbon-only glass",
    "p_bmg": "probability of a bulk metallic glass",
    "in_domain": "at least 2 training alloys within 20 at.% (L1) of the composition",
}

__all__ = ["COLUMNS", "Ensemble", "default_model_dir", "domain_mask", "sha256_file"]


def domain_mask(x: torch.Tensor, reference: torch.Tensor, radius_at_pct: float,
                min_neighbours: int) -> np.ndarray:
    """True where at least ``min_neighbours`` rows of ``reference`` lie within
    ``radius_at_pct`` at.% (L1) of a row of ``x`` (both fraction tensors), in blocks."""
    radius = radius_at_pct / 100.0 + 1e-6
    out = [np.zeros(0, dtype=bool)]
    for i in range(0, len(x), 4096):
        dist = torch.cdist(x[i:i + 4096].float().cpu(), reference.float().cpu(), p=1)
        out.append(((dist <= radius).sum(1) >= min_neighbours).numpy())
    return np.concatenate(out)


class Ensemble:
    """The fold members of a saved model; ``predict`` gives Dmax in mm with spread and
    calibrated interval."""

    def __init__(self, members: list[OPResNet], model_dir: ModelDir, device: torch.device,
                 precision: str = "fp32", calibration: Calibration | None = None):
        self.members = members
        self.model_dir = model_dir
        self.manifest = model_dir.manifest
        self.vocabulary = Vocabulary.from_dict(self.manifest.vocabulary)
        self.device = device
        self.precision = precision
        self.calibration = calibration
        self.featurizer = OPImageFeaturizer(
            self.vocabulary, channels=int(self.manifest.image.get("channels", 1)),
            device=device, coords=bool(self.manifest.image.get("coords", False)),
            pairs=self.manifest.image.get("pairs"))
        self.classes = self.manifest.classes
        known = model_dir.known_alloys()
        self.known_alloys = known
        self.domain = (OPImageFeaturizer(self.vocabulary).from_table(known).float()
                       if known is not None and len(known) else None)

    @property
    def id(self) -> str:
        return self.manifest.id

    @property
    def hash(self) -> str:
        return model_hash(self.manifest)

    @classmethod
    def load(cls, path: str | os.PathLike | None = "default", device: str = "auto",
             precision: str = "fp32") -> Ensemble:
        """Load and verify a model directory (``"default"``: the shipped model).

        ``precision="fp32"`` keeps float32 on CPU (CUDA always runs bfloat16 autocast);
        ``"bf16"`` runs the members under bfloat16 autocast on a CPU with native bf16 too
        (measured on the shipped model over its 6,874 training compositions: 1.95-2.13x
        on AVX512-BF16, answers within 0.012 in log10(1+Dmax) of float32)."""
        dev = resolve_device(device)
        check_precision(precision, dev)
        md = ModelDir(path)
        arch = md.manifest.architecture
        members = []
        for entry in md.manifest.members:
            # Built on the meta device and given the decoded tensors themselves
            # (assign=True): no random initialisation, no second copy of the weights.
            with torch.device("meta"):
                net = resnet50_op(md.manifest.in_channels, arch["class_head"], arch["fds"],
                                  stem=arch.get("stem", "resnet"))
            try:
                net.load_state_dict(md.member_state(entry), assign=True)
            except RuntimeError as exc:
                raise GfaError(f"model member {entry['file']} does not fit the architecture "
                               f"in the manifest ({str(exc).splitlines()[0]})") from None
            members.append(net.to(dev).eval().to(memory_format=torch.channels_last))
        return cls(members, md, dev, precision, cls._calibration(md))

    @staticmethod
    def _calibration(md: ModelDir) -> Calibration | None:
        entry = md.manifest.calibration
        if entry is None:
            return None
        return Calibration.load(md.verified(entry), entry)

    # -- prediction ---------------------------------------------------------------
    @torch.inference_mode()
    def member_outputs(self, x: torch.Tensor, batch_size: int = 128,
                       members: list[int] | None = None
                       ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Per-member regression outputs ``(M, B)``, in the model's training target
        (``manifest.target``), and mean class probabilities ``(B, C)`` (of every member, or
        of the members at the indices ``members``)."""
        regs, probs = [], []
        for j, m in enumerate(self.members):
            if members is not None and j not in members:
                continue
            r, p = [], []
            for i in range(0, len(x), batch_size):
                img = self.featurizer.images(x[i:i + batch_size].to(self.device))
                img = img.contiguous(memory_format=torch.channels_last)
                with autocast(self.device, cpu_bf16=self.precision == "bf16"):
                    out = m(img)
                r.append(out["reg"].float().cpu())
                if "logits" in out:
                    p.append(torch.softmax(out["logits"].float(), 1).cpu())
            regs.append(torch.cat(r) if r else torch.zeros(0))
            if p:
                probs.append(torch.cat(p))
        prob = torch.stack(probs).mean(0) if probs and self.classes else None
        return torch.stack(regs), prob

    def member_log_dmax(self, x: torch.Tensor, batch_size: int = 128,
                        members: list[int] | None = None
                        ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """:meth:`member_outputs` with the regression as log10(1 + Dmax/mm) whatever the
        training target: the scale of every log column, spread and metric."""
        reg, prob = self.member_outputs(x, batch_size, members)
        kind = kind_of(self.manifest.target)
        return (reg if kind == "log1p" else to_target(from_target(reg, kind))), prob

    def predict_fractions(self, x: torch.Tensor, confidence: float = DEFAULT_CONFIDENCE,
                          batch_size: int = 128) -> pd.DataFrame:
        """Score a ``(B, N)`` fraction tensor (vocabulary order, rows sum to 1); columns
        as in :data:`COLUMNS`, in that order."""
        reg, prob = self.member_log_dmax(x, batch_size)
        mm = from_target(reg)
        many = len(self.members) > 1
        zeros = np.zeros(len(x))
        mean_log = reg.mean(0).numpy()
        std_log = reg.std(0, unbiased=False).numpy() if many else zeros
        probs = {f"p_{c}": prob[:, i].numpy() for i, c in enumerate(self.classes or [])} \
            if prob is not None else {}
        dom = self.in_domain(x)
        lo = hi = np.full(len(x), np.nan)
        if self.calibration is not None:
            bins = mondrian_bins(self.calibration.binning, dom, probs.get("p_bmg"))
            lo, hi = self.calibration.interval_mm(mean_log, std_log, bins, confidence)
        return pd.DataFrame({
            "dmax_mm": mm.mean(0).numpy(),
            "dmax_std": mm.std(0, unbiased=False).numpy() if many else zeros,
            "dmax_lo": lo, "dmax_hi": hi, "log_dmax": mean_log, "log_dmax_std": std_log,
            **probs, "in_domain": dom})

    def in_domain(self, x: torch.Tensor) -> np.ndarray:
        """True where at least ``min_neighbours`` training alloys lie within ``radius`` at.%
        (L1) of a composition."""
        if self.domain is None:
            return np.ones(len(x), dtype=bool)
        return domain_mask(x, self.domain, float(self.manifest.domain["radius_at_pct"]),
                           int(self.manifest.domain["min_neighbours"]))

    def predict(self, compositions, strict: bool = False,
                confidence: float = DEFAULT_CONFIDENCE) -> pd.DataFrame:
        """Score formulas or ``{element: amount}`` dicts: one row per input, in input
        order, with ``input``, ``composition`` (normalised, at.%), ``in_vocabulary`` and
        ``reason`` (why a row could not be scored; its predictions are then NaN).
        ``strict=True`` raises on the first row that cannot be scored instead."""
        from gfascreen.data.parse import composition_key

        if isinstance(compositions, str | dict):
            compositions = [compositions]
        compositions = list(compositions)
        amounts, reasons = self.featurizer.parse(compositions)
        if strict and any(reasons):
            raise GfaError(next(r for r in reasons if r))
        ok = np.array([r is None for r in reasons], dtype=bool)
        x = self.featurizer.from_amounts(amounts[ok]) if ok.any() else None
        cols = [c for c in COLUMNS if not c.startswith("p_")][:-1] \
            + [f"p_{c}" for c in (self.classes or [])] + ["in_domain"]
        scored = (self.predict_fractions(x, confidence).set_axis(np.flatnonzero(ok))
                  if x is not None else pd.DataFrame(columns=cols))
        df = scored.reindex(range(len(compositions)))
        df["in_domain"] = df["in_domain"].astype("boolean").fillna(False).astype(bool)
        els = self.vocabulary.elements
        keys = [composition_key({els[j]: 100 * v / row.sum() for j, v in enumerate(row)
                                 if v > 0}) if good else ""
                for row, good in zip(amounts, ok, strict=True)]
        df.insert(0, "input", [str(c) for c in compositions])
        df.insert(1, "composition", keys)
        df["in_vocabulary"] = ok
        df["reason"] = [r or "" for r in reasons]
        return df

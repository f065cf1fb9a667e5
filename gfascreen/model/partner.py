"""The descriptor partner: gradient-boosted trees on element-property descriptors.

Three LightGBM boosters read the descriptors of
:mod:`gfascreen.featurize.descriptors` (computed from the same fraction tensors as the OP
images): a regressor of log10(1 + Dmax/mm) on every alloy with a Dmax, a classifier of
crystal / ribbon / bulk glass on every alloy, and a regressor of log10(1 + Dmax/mm) on
bulk glasses alone (the thickness an alloy would have if it forms a bulk glass). Each
booster is stored in LightGBM's own text format (loading it parses text and executes no
code; no pickle) and, like every model file, checksummed in the manifest. The element
table travels with them (``descriptors.safetensors``).

Pure inference: :func:`gfascreen.model.training.partner.fit_partner` trains one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from gfascreen.errors import GfaError
from gfascreen.featurize.descriptors import DescriptorFeaturizer, ElementTable

#: The boosters, each a text file in the model directory.
BOOSTERS = ("log_dmax", "classes", "log_dmax_bmg")
TABLE_FILE = "descriptors.safetensors"


@dataclass
class PartnerOutput:
    """Per composition: ``log_dmax`` log10(1 + Dmax/mm), ``proba`` ``(B, 3)`` crystal /
    ribbon / bmg, ``log_dmax_bmg`` log10(1 + Dmax/mm) if a bulk glass."""

    log_dmax: np.ndarray
    proba: np.ndarray
    log_dmax_bmg: np.ndarray


def predict_boosters(boosters: dict, d: np.ndarray) -> PartnerOutput:
    """The boosters' outputs on descriptors ``d`` ``(B, F)``."""
    proba = np.asarray(boosters["classes"].predict(d), dtype=float).reshape(len(d), -1)
    return PartnerOutput(np.asarray(boosters["log_dmax"].predict(d), dtype=float), proba,
                         np.asarray(boosters["log_dmax_bmg"].predict(d), dtype=float))


class Partner:
    """Descriptor featurizer + boosters; ``predict(x)`` on a ``(B, N)`` fraction tensor."""

    def __init__(self, table: ElementTable, vocabulary: list[str], boosters: dict,
                 device: str | torch.device = "cpu"):
        missing = [b for b in BOOSTERS if b not in boosters]
        if missing:
            raise GfaError(f"the partner lacks booster(s) {missing}")
        self.table = table
        self.vocabulary = list(vocabulary)
        self.boosters = boosters
        self.featurizer = DescriptorFeaturizer(table, self.vocabulary, device)

    def descriptors(self, x: torch.Tensor) -> np.ndarray:
        return self.featurizer(x).cpu().numpy()

    def predict(self, x: torch.Tensor) -> PartnerOutput:
        return self.predict_descriptors(self.descriptors(x))

    def predict_descriptors(self, d: np.ndarray) -> PartnerOutput:
        return predict_boosters(self.boosters, d)

    # -- storage -------------------------------------------------------------------------
    def save(self, path: Path) -> dict:
        """Write the table and the boosters' text files into ``path``; returns the
        manifest entry (files named, hashes added by the caller's ``ModelDir.entry``)."""
        self.table.save(path / TABLE_FILE)
        files = {}
        for name in BOOSTERS:
            f = f"partner_{name}.txt"
            tmp = path / f".{f}.tmp"
            tmp.write_text(self.boosters[name].model_to_string())
            tmp.replace(path / f)
            files[name] = f
        return {"table": TABLE_FILE, "boosters": files,
                "features": DescriptorFeaturizer.feature_labels()}

    @classmethod
    def load(cls, md, device: str | torch.device = "cpu") -> Partner | None:
        """The partner of a :class:`~gfascreen.model.saved.ModelDir` (None without one);
        every file is verified against its checksum before it is read."""
        entry = md.manifest.extra.get("partner")
        if entry is None:
            return None
        try:
            import lightgbm as lgb
        except ImportError:
            raise GfaError("this model's descriptor partner needs LightGBM: "
                           "pip install lightgbm") from None
        table = ElementTable.load(md.verified(entry["table"]))
        boosters = {}
        for name in BOOSTERS:
            f = md.verified(entry["boosters"][name])
            try:
                boosters[name] = lgb.Booster(model_str=f.read_text())
            except (lgb.basic.LightGBMError, UnicodeDecodeError) as exc:
                raise GfaError(f"partner file {f} is not a LightGBM text model ({exc})"
                               ) from None
        if boosters["log_dmax"].num_feature() != len(DescriptorFeaturizer.feature_labels()):
            raise GfaError("the partner's boosters read a different descriptor set than this "
                           "gfascreen computes; retrain the partner")
        return cls(table, md.manifest.vocabulary["elements"], boosters, device)

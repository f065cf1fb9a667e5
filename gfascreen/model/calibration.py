"""The model's calibration: what ``gfascreen calibrate`` fits and the model directory keeps.

One :class:`Calibration` holds the conformal residuals (:mod:`gfascreen.model.conformal`),
the class-probability maps (:mod:`gfascreen.model.probabilities`), the thickness of a bulk
glass (:mod:`gfascreen.model.distribution`) and the partner-only part, and saves and loads
them: the tensors in :data:`CALIBRATION_FILE`, the rest in the manifest's calibration entry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gfascreen.errors import GfaError
from gfascreen.model.conformal import METHODS, ConformalScores
from gfascreen.model.difficulty import DIFFICULTIES, NEIGHBOURS
from gfascreen.model.distribution import ThicknessModel
from gfascreen.model.probabilities import ProbabilityCalibration
from gfascreen.model.statement_options import CAP_MM

CALIBRATION_FILE = "calibration.safetensors"
#: The key (manifest entry) and tensor prefix (calibration file) of the partner-only part.
PARTNER_ONLY = "partner_only"


@dataclass
class Calibration(ConformalScores):
    """The conformal residuals with what was fitted beside them on the same predictions.

    ``probabilities_``: the class-probability maps fitted on the same predictions (None:
    raw head outputs); ``info_``: how it was made, free text kept in the manifest entry
    (both set by ``gfascreen calibrate`` or read from a model directory)."""

    info_: dict = field(default_factory=dict)
    probabilities_: ProbabilityCalibration | None = None
    #: The thickness of a bulk glass given that it is one (this version's calibrations:
    #: every Dmax statement is read off :class:`~gfascreen.model.distribution.Predictive`);
    #: None in older models, whose statements read the residuals.
    thickness: ThicknessModel | None = None
    #: The distribution of the alloys the descriptor partner reads alone (an element
    #: outside the network's vocabulary): its own class maps and thickness, fitted on the
    #: partner's leave-system-out predictions; None: such alloys are not calibrated.
    partner_only: Calibration | None = None

    def tensors(self) -> dict[str, np.ndarray]:
        """The fitted scores as stored: ``scores``, and ``alphas`` and ``bins`` where kept."""
        t = {} if self.scores_ is None else {"scores": np.asarray(self.scores_, np.float64)}
        if self.thickness is not None:
            t.update(self.thickness.tensors())
        if self.alphas_ is not None:
            t["alphas"] = np.asarray(self.alphas_, dtype=np.float64)
        if self.bins_ is not None:
            t["bins"] = np.asarray(self.bins_, dtype=np.int64)
        return t

    def entry(self) -> dict:
        """The configuration as the manifest's calibration entry stores it."""
        if self.thickness is not None:
            return {"distribution": "one per alloy: class masses and the thickness given a "
                                    "bulk glass (gfascreen.model.distribution)",
                    "thickness": self.thickness.entry()}
        return {"beta": self.beta, "binning": self.binning, "cap_mm": self.cap_mm,
                "n": int(len(self.scores_)), "method": self.method,
                "difficulty": self.difficulty, "k": self.k}

    def stored(self) -> tuple[dict[str, np.ndarray], dict]:
        """What :meth:`save` writes: the tensors (residuals, thickness, probability maps;
        the partner-only part's under ``partner_only/``) and the manifest entry."""
        t = self.tensors()
        entry = self.entry()
        if self.probabilities_ is not None:
            t.update(self.probabilities_.tensors())
            entry["probabilities"] = self.probabilities_.entry()
        if self.partner_only is not None:
            pt, pe = self.partner_only.stored()
            t.update({f"{PARTNER_ONLY}/{k}": v for k, v in pt.items()})
            entry[PARTNER_ONLY] = {**self.partner_only.info_, **pe}
        return t, {**self.info_, **entry}  # the typed fields win over free-text info

    def save(self, path: Path) -> dict:
        """Write the residuals and probability maps (safetensors) and return the
        manifest's calibration entry (without the checksum, which the model directory
        adds)."""
        import torch
        from safetensors.torch import save_file

        t, entry = self.stored()
        save_file({k: torch.as_tensor(v, dtype=torch.int64 if k.endswith("bins")
                                      else torch.float64)
                   for k, v in t.items()}, str(path))
        return {"file": path.name, **entry}

    @classmethod
    def load(cls, path: Path, entry: dict) -> Calibration:
        from safetensors.numpy import load_file

        try:
            t = load_file(str(path))
        except Exception as exc:
            raise GfaError(f"calibration file {path} is not readable ({exc})") from None
        return cls.from_stored(t, entry)

    @classmethod
    def from_stored(cls, t: dict[str, np.ndarray], entry: dict) -> Calibration:
        """A calibration from its tensors and manifest entry (:meth:`stored`'s form)."""
        mine = {k: v for k, v in t.items() if not k.startswith(PARTNER_ONLY + "/")}
        cal = cls._from_own(mine, entry)
        if isinstance(entry.get(PARTNER_ONLY), dict):
            n = len(PARTNER_ONLY) + 1
            cal.partner_only = cls._from_own(
                {k[n:]: v for k, v in t.items() if k.startswith(PARTNER_ONLY + "/")},
                entry[PARTNER_ONLY])
        return cal

    @classmethod
    def _from_own(cls, t: dict[str, np.ndarray], entry: dict) -> Calibration:
        own = ("file", "sha256", "beta", "binning", "cap_mm", "n", "method", "difficulty",
               "k", "probabilities", "distribution", "thickness", PARTNER_ONLY)
        info = {k: v for k, v in entry.items() if k not in own}
        # Older models stored the difficulty as a sentence in the entry: members' spread.
        difficulty = entry.get("difficulty", "members")
        probs = (ProbabilityCalibration.from_tensors(t, entry["probabilities"])
                 if isinstance(entry.get("probabilities"), dict) else None)
        if isinstance(entry.get("thickness"), dict):
            return cls(info_=info, probabilities_=probs,
                       thickness=ThicknessModel.from_tensors(t, entry["thickness"]))
        return cls(beta=float(entry["beta"]), binning=str(entry["binning"]),
                   cap_mm=float(entry.get("cap_mm", CAP_MM)), info_=info,
                   # Older models wrote a sentence here: their intervals are symmetric.
                   method=entry["method"] if entry.get("method") in METHODS else "symmetric",
                   difficulty=difficulty if difficulty in DIFFICULTIES else "members",
                   k=int(entry.get("k", NEIGHBOURS)), probabilities_=probs,
                   alphas_=t.get("alphas"), scores_=t["scores"],
                   bins_=t.get("bins"))


def load_model_calibration(md) -> Calibration | None:
    """The calibration a saved model carries (None when it has none): the one loader used
    by inference, suggestions and reports."""
    entry = md.manifest.calibration
    return None if entry is None else entry.read(md.path)

"""Calibrated Dmax intervals: normalised split-conformal regression (crepes).

The ensemble's spread is a *difficulty*, not an error bar. The calibration turns it into
intervals with a stated coverage: nonconformity scores ``|y - ŷ| / (σ + β)`` in log space
(``y = log10(1 + Dmax/mm)``, σ the members' standard deviation of ``ŷ``) are collected on
out-of-fold predictions of a leave-system-out run (the situation a screen is in), and the
interval at confidence ``c`` is ``ŷ ± q_c (σ + β)``, clipped at 0 mm. With Mondrian bins
each bin keeps its own scores; the bins use only what is known at prediction time
(:data:`BINNINGS`: in / out of domain, and whether the class head calls it a bulk glass).
The maths is crepes' ``ConformalRegressor`` (Boström, crepes, 2022); this module stores
the scores and rebuilds it.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gfascreen.errors import GfaError
from gfascreen.model.targets import from_target

DEFAULT_CONFIDENCE = 0.9
CALIBRATION_FILE = "calibration.safetensors"
#: Upper bounds are capped here (mm): no glass thicker is known (the table's largest is
#: 72 mm), and a wider interval says only "somewhere up to the record".
CAP_MM = 100.0
#: beta candidates measured by ``gfascreen evaluate --spread-model``.
BETAS = (0.01, 0.03, 0.1)
#: Mondrian binnings: ``none`` (one pool of scores), ``domain`` (in / out of domain),
#: ``domain+bmg`` (that, crossed with P(bmg) > 0.5 from the class head: 4 bins).
BINNINGS = ("none", "domain", "domain+bmg")


def mondrian_bins(binning: str, in_domain=None, p_bmg=None) -> np.ndarray | None:
    """Bin index per composition for ``binning`` (None for ``none``)."""
    if binning == "none":
        return None
    if binning not in BINNINGS:
        raise GfaError(f"unknown calibration binning {binning!r}; choose {BINNINGS}")
    dom = np.asarray(in_domain, dtype=int)
    if binning == "domain":
        return dom
    return dom + 2 * (np.asarray(p_bmg, dtype=float) > 0.5).astype(int)


def _regressor():
    try:
        from crepes import ConformalRegressor
    except ImportError:
        raise GfaError("calibrated intervals need the crepes package: pip install crepes"
                       ) from None
    return ConformalRegressor()


@dataclass
class Calibration:
    """Conformal scores and how they were made (``fit`` returns the fitted object)."""

    beta: float = 0.01
    binning: str = "none"
    cap_mm: float = CAP_MM
    info: dict = field(default_factory=dict)
    scores_: np.ndarray | None = None
    bins_: np.ndarray | None = None

    def fit(self, residuals: np.ndarray, sigma: np.ndarray,
            bins: np.ndarray | None = None) -> Calibration:
        """Scores from log-space residuals ``y - ŷ`` and spreads ``σ`` (same length), with
        the Mondrian bin of each (from :func:`mondrian_bins`) unless ``binning`` is none."""
        r = np.asarray(residuals, dtype=float)
        s = np.asarray(sigma, dtype=float) + self.beta
        ok = np.isfinite(r) & np.isfinite(s)
        if ok.sum() < 20:
            raise GfaError(f"calibration needs at least 20 residuals, got {int(ok.sum())}")
        self.scores_ = np.abs(r[ok]) / s[ok]
        if self.binning != "none" and bins is None:
            raise GfaError(f"a {self.binning!r} calibration needs each residual's bin")
        self.bins_ = np.asarray(bins, dtype=int)[ok] if self.binning != "none" else None
        return self

    def _fitted(self):
        if self.scores_ is None:
            raise GfaError("the calibration is not fitted")
        cr = _regressor()
        ones = np.ones(len(self.scores_))
        return cr.fit(residuals=self.scores_, sigmas=ones, bins=self.bins_)

    def interval_log(self, pred_log: np.ndarray, sigma_log: np.ndarray,
                     bins: np.ndarray | None = None,
                     confidence: float = DEFAULT_CONFIDENCE) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper interval bounds in log10(1 + Dmax/mm), clipped at 0; ``bins``
        as in :meth:`fit` (a bin never seen in calibration gives an unbounded interval)."""
        if not 0 < confidence < 1:
            raise GfaError(f"--confidence must lie between 0 and 1 (e.g. 0.9), got {confidence}")
        pred = np.asarray(pred_log, dtype=float)
        if len(pred) == 0:
            return np.zeros(0), np.zeros(0)
        sig = np.asarray(sigma_log, dtype=float) + self.beta
        if self.binning == "none":
            bins = None
        elif bins is None:
            raise GfaError(f"a {self.binning!r} calibration needs each prediction's bin")
        else:
            bins = np.asarray(bins, dtype=int)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # too few scores -> infinite interval, kept
            iv = self._fitted().predict_int(y_hat=pred, sigmas=sig, bins=bins,
                                            confidence=confidence, y_min=0.0,
                                            y_max=float(np.log10(1.0 + self.cap_mm)))
        return iv[:, 0], iv[:, 1]

    def interval_mm(self, pred_log, sigma_log, bins=None,
                    confidence: float = DEFAULT_CONFIDENCE) -> tuple[np.ndarray, np.ndarray]:
        """Interval bounds in mm (Dmax >= 0)."""
        lo, hi = self.interval_log(pred_log, sigma_log, bins, confidence)
        return from_target(lo), from_target(hi)

    # -- storage ------------------------------------------------------------------------
    def save(self, path: Path) -> dict:
        """Write the scores (safetensors) and return the manifest's calibration entry
        (without the checksum, which the model directory adds)."""
        import torch
        from safetensors.torch import save_file

        t = {"scores": torch.as_tensor(self.scores_, dtype=torch.float64)}
        if self.bins_ is not None:
            t["bins"] = torch.as_tensor(self.bins_, dtype=torch.int64)
        save_file(t, str(path))
        return {"file": path.name, "beta": self.beta, "binning": self.binning,
                "cap_mm": self.cap_mm, "n": int(len(self.scores_)), **self.info}

    @classmethod
    def load(cls, path: Path, entry: dict) -> Calibration:
        from safetensors.torch import load_file

        try:
            t = load_file(str(path))
        except Exception as exc:
            raise GfaError(f"calibration file {path} is not readable ({exc})") from None
        info = {k: v for k, v in entry.items()
                if k not in ("file", "sha256", "beta", "binning", "cap_mm", "n")}
        return cls(beta=float(entry["beta"]), binning=str(entry["binning"]),
                   cap_mm=float(entry.get("cap_mm", CAP_MM)), info=info,
                   scores_=t["scores"].numpy(),
                   bins_=t["bins"].numpy() if "bins" in t else None)


def coverage(y_log: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> float:
    """Share of ``y`` inside ``[lo, hi]`` (log space; NaN ``y`` ignored)."""
    y = np.asarray(y_log, dtype=float)
    ok = np.isfinite(y)
    if not ok.any():
        return float("nan")
    return float(np.mean((y[ok] >= lo[ok] - 1e-12) & (y[ok] <= hi[ok] + 1e-12)))


def cross_conformal(y_log: np.ndarray, pred_log: np.ndarray, sigma_log: np.ndarray,
                    folds: np.ndarray, bins: np.ndarray | None = None,
                    confidences=(0.68, 0.9, 0.95), beta: float = 0.01,
                    binning: str = "none", groups: dict[str, np.ndarray] | None = None
                    ) -> dict:
    """Calibrate on all folds but one, measure on that one, for every fold; pooled
    coverage and mean width (log and mm) per confidence, overall and per ``groups``
    (boolean masks, e.g. bulk glasses only). ``bins``: Mondrian bin per row."""
    y = np.asarray(y_log, dtype=float)
    lo = {c: np.full(len(y), np.nan) for c in confidences}
    hi = {c: np.full(len(y), np.nan) for c in confidences}
    b = np.zeros(len(y), dtype=int) if bins is None else np.asarray(bins, dtype=int)
    for k in np.unique(folds):
        te = folds == k
        cal = Calibration(beta=beta, binning=binning).fit((y - pred_log)[~te], sigma_log[~te],
                                                          b[~te])
        for c in confidences:
            lo[c][te], hi[c][te] = cal.interval_log(pred_log[te], sigma_log[te], b[te], c)
    masks = {"all": np.isfinite(y), **(groups or {})}
    out = {}
    for name, m in masks.items():
        m = m & np.isfinite(y)
        out[name] = {}
        for c in confidences:
            w_mm = from_target(hi[c][m]) - from_target(lo[c][m])
            out[name][f"{round(100 * c)}"] = {
                "coverage": coverage(y[m], lo[c][m], hi[c][m]),
                "mean_width_log": float(np.mean(hi[c][m] - lo[c][m])),
                "q95_width_log": float(np.quantile(hi[c][m] - lo[c][m], 0.95))
                if m.any() else float("nan"),
                "median_width_mm": float(np.median(w_mm)) if m.any() else float("nan"),
                "n": int(m.sum())}
    return out

"""Conformal Dmax statements: intervals, a one-sided lower bound and P(Dmax >= t) (crepes).

The ensemble's spread is a *difficulty*, not an error bar. The calibration turns it into
statements with a stated coverage. Signed normalised residuals ``α = (y - ŷ) / σ`` in
log space (``y = log10(1 + Dmax/mm)``; σ from :func:`gfascreen.model.difficulty.combine`:
the members' spread, the spread of the measured target among the nearest training alloys,
or their sum, plus β) are collected on out-of-fold predictions of a leave-system-out run
(the situation a screen is in). From them:

- the interval at confidence ``c``: ``method="symmetric"``, ``ŷ ± q_c(|α|) σ`` (crepes'
  ``ConformalRegressor``), or ``method="cps"``, the ``(1-c)/2`` and ``(1+c)/2``
  percentiles of the conformal predictive distribution ``ŷ + α σ`` (crepes'
  ``ConformalPredictiveSystem``: asymmetric, as the residuals are); both clipped at 0 mm
  and :data:`CAP_MM`;
- the lower bound ``dmax_at_least``: the ``1 - c`` percentile of the predictive
  distribution ("casts at least this thick with confidence c");
- ``P(Dmax >= t)``: one minus the predictive distribution at ``log10(1 + t)``, computed as
  crepes' non-smoothed p-value ``(#{ŷ + α σ <= y_t} + 1) / (n + 1)``, vectorised
  (:meth:`ConformalScores.exceedance`; equal to crepes' own, tested).

With Mondrian bins each bin keeps its own residuals; the bins use only what is known at
prediction time (:mod:`gfascreen.model.mondrian`). References: Vovk et al., Machine
Learning 2019 (conformal predictive systems); Boström, crepes, COPA 2022.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from gfascreen.errors import GfaError
from gfascreen.model.columns import DEFAULT_THRESHOLDS_MM
from gfascreen.model.difficulty import NEIGHBOURS, combine
from gfascreen.model.statement_options import CAP_MM, DEFAULT_CONFIDENCE, check_confidence
from gfascreen.model.targets import from_target, to_target

#: Interval constructions (see the module text).
METHODS = ("symmetric", "cps")


def _predictive_system():
    try:
        from crepes import ConformalPredictiveSystem
    except ImportError:
        raise GfaError("calibrated intervals need the crepes package: pip install crepes"
                       ) from None
    return ConformalPredictiveSystem()


@dataclass
class ConformalScores:
    """Conformal residuals and how they were made (``fit`` returns the fitted object).

    ``difficulty``: ``members``, ``knn`` or ``members+knn`` (:mod:`~gfascreen.model.difficulty`);
    ``k``: neighbours of the ``knn`` spread. The model's calibration
    (:class:`~gfascreen.model.calibration.Calibration`) is one, with the class maps and
    the thickness beside it."""

    beta: float = 0.01
    binning: str = "none"
    cap_mm: float = CAP_MM
    method: str = "symmetric"
    difficulty: str = "members"
    k: int = NEIGHBOURS
    alphas_: np.ndarray | None = None
    scores_: np.ndarray | None = None
    bins_: np.ndarray | None = None
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def needs_knn(self) -> bool:
        return "knn" in self.difficulty

    def sigma(self, members, knn=None) -> np.ndarray:
        """σ of the normalised scores (the difficulty, log10(1 + Dmax/mm), β included)
        from the members' spread and the neighbours' target spread: what every method
        below takes as ``sigma``."""
        if self.needs_knn and knn is None:
            raise GfaError(f"a {self.difficulty!r} calibration needs the neighbours' spread")
        members = np.asarray(members, dtype=float)
        return combine(self.difficulty, members, np.zeros(len(members)) if knn is None
                       else knn, self.beta)

    def _bins(self, bins) -> np.ndarray | None:
        if self.binning == "none":
            return None
        if bins is None:
            raise GfaError(f"a {self.binning!r} calibration needs each prediction's bin")
        return np.asarray(bins, dtype=int)

    def fit(self, residuals: np.ndarray, sigma: np.ndarray,
            bins: np.ndarray | None = None) -> ConformalScores:
        """Residuals ``y - ŷ`` (log10(1 + Dmax/mm)) and their σ (:meth:`sigma`), with each
        residual's Mondrian bin (from :func:`mondrian_bins`) unless ``binning`` is none."""
        if self.method not in METHODS:
            raise GfaError(f"unknown calibration method {self.method!r}; choose {METHODS}")
        r = np.asarray(residuals, dtype=float)
        s = np.asarray(sigma, dtype=float)
        ok = np.isfinite(r) & np.isfinite(s) & (s > 0)
        if ok.sum() < 20:
            raise GfaError(f"calibration needs at least 20 residuals, got {int(ok.sum())}")
        self.alphas_ = r[ok] / s[ok]
        self.scores_ = np.abs(self.alphas_)
        b = self._bins(bins)
        self.bins_ = b[ok] if b is not None else None
        self._cache = {}
        return self

    def _fitted_cps(self):
        """crepes' predictive system on the signed scores (the ``cps`` interval method)."""
        if self.alphas_ is None:
            raise GfaError("this calibration keeps only absolute scores (an older model); "
                           "recalibrate it with `gfascreen calibrate MODEL` for predictive "
                           "distributions")
        return _predictive_system().fit(residuals=self.alphas_, sigmas=np.ones(len(self.alphas_)),
                                        bins=self.bins_)

    def interval_log(self, pred_log: np.ndarray, sigma_log: np.ndarray,
                     bins: np.ndarray | None = None,
                     confidence: float = DEFAULT_CONFIDENCE) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper interval bounds in log10(1 + Dmax/mm), clipped at 0 and the cap;
        ``bins`` as in :meth:`fit` (a bin never seen in calibration gives the whole range)."""
        check_confidence(confidence)
        pred = np.asarray(pred_log, dtype=float)
        if len(pred) == 0:
            return np.zeros(0), np.zeros(0)
        sig = np.asarray(sigma_log, dtype=float)
        b = self._bins(bins)
        y_max = float(to_target(np.array([self.cap_mm]))[0])
        if self.method == "symmetric":
            q = self._bin_quantiles(b, confidence, len(pred))
            return np.clip(pred - q * sig, 0.0, y_max), np.clip(pred + q * sig, 0.0, y_max)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # too few scores -> infinite interval, kept
            iv = self._fitted_cps().predict_int(y_hat=pred, sigmas=sig, bins=b,
                                                 confidence=confidence, y_min=0.0, y_max=y_max)
        return np.clip(iv[:, 0], 0.0, y_max), np.clip(iv[:, 1], 0.0, y_max)

    def _per_bin(self) -> dict[int, tuple[np.ndarray, np.ndarray | None]]:
        """Per Mondrian bin of the calibration: its absolute scores sorted descending and
        its signed scores sorted ascending (None for an older model that kept only the
        absolute ones). Sorted once per fitted calibration, not per chunk."""
        if self.scores_ is None:
            raise GfaError("the calibration is not fitted")
        if "per_bin" not in self._cache:
            cal_b = np.zeros(len(self.scores_), dtype=int) if self.bins_ is None else self.bins_
            self._cache["per_bin"] = {
                int(v): (np.sort(self.scores_[cal_b == v])[::-1],
                         None if self.alphas_ is None else np.sort(self.alphas_[cal_b == v]))
                for v in np.unique(cal_b)}
        return self._cache["per_bin"]

    def _groups(self, bins, n: int) -> list[tuple[np.ndarray, int]]:
        """The predictions' Mondrian bins: (mask, bin) for each bin present among ``n``."""
        b = self._bins(bins)
        b = np.zeros(n, dtype=int) if b is None else b
        return [(b == v, int(v)) for v in np.unique(b)]

    def _bin_quantiles(self, bins: np.ndarray | None, confidence: float, n: int
                       ) -> np.ndarray:
        """Per prediction, the conformal quantile of the absolute scores of its bin: crepes'
        ``ConformalRegressor`` rule (the ``int((1 - c)(n + 1))``-th largest score; infinite
        when a bin has too few or was never seen), vectorised (tested equal to crepes)."""
        q = np.full(n, np.inf)
        per_bin = self._per_bin()
        for m, v in self._groups(bins, n):
            if v in per_bin:
                desc = per_bin[v][0]
                k = int((1 - confidence) * (len(desc) + 1)) - 1
                q[m] = desc[k] if k >= 0 else np.inf
        return q

    def interval_mm(self, pred_log, sigma_log, bins=None,
                    confidence: float = DEFAULT_CONFIDENCE) -> tuple[np.ndarray, np.ndarray]:
        """Interval bounds in mm (Dmax >= 0)."""
        lo, hi = self.interval_log(pred_log, sigma_log, bins, confidence)
        return from_target(lo), from_target(hi)

    def at_least_mm(self, pred_log, sigma_log, bins=None,
                    confidence: float = DEFAULT_CONFIDENCE) -> np.ndarray:
        """One-sided lower bound (mm): Dmax is at least this with probability
        ``confidence``: the ``1 - confidence`` percentile of the predictive distribution
        ``ŷ + α σ`` of each bin, crepes' ``ConformalPredictiveSystem`` rule (the
        ``int((1 - c)(n + 1))``-th smallest α; 0 mm when a bin has too few), vectorised
        (tested equal to crepes)."""
        check_confidence(confidence)
        pred = np.asarray(pred_log, dtype=float)
        sig = np.asarray(sigma_log, dtype=float)
        out = np.zeros(len(pred))
        for m, asc in self._binned_alphas(bins, len(pred)):
            k = int((1 - confidence) * (len(asc) + 1)) - 1
            out[m] = pred[m] + sig[m] * asc[k] if k >= 0 and len(asc) else 0.0
        return from_target(np.clip(out, 0.0, None))

    def _binned_alphas(self, bins, n: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per Mondrian bin present among ``n`` predictions: their mask and the bin's
        signed scores, sorted ascending (empty for a bin never seen in calibration)."""
        if self.alphas_ is None:
            raise GfaError("this calibration keeps only absolute scores (an older model); "
                           "recalibrate it with `gfascreen calibrate MODEL`")
        per_bin = self._per_bin()
        empty = np.zeros(0)
        return [(m, per_bin[v][1] if v in per_bin else empty) for m, v in self._groups(bins, n)]

    def exceedance(self, pred_log, sigma_log, bins=None,
                   thresholds_mm=DEFAULT_THRESHOLDS_MM) -> np.ndarray:
        """``P(Dmax >= t)`` per composition (rows) and threshold (columns), from the
        conformal predictive distribution (crepes' non-smoothed p-value, vectorised)."""
        pred = np.asarray(pred_log, dtype=float)
        sig = np.asarray(sigma_log, dtype=float)
        out = np.full((len(pred), len(thresholds_mm)), np.nan)
        y_t = to_target(np.asarray(thresholds_mm, dtype=float))
        for m, a in self._binned_alphas(bins, len(pred)):
            if len(a) == 0:
                continue  # a bin never seen in calibration: no statement (NaN)
            for j in range(len(y_t)):
                z = (y_t[j] - pred[m]) / sig[m]
                below = np.searchsorted(a, z, side="right")
                out[m, j] = 1.0 - (below + 1) / (len(a) + 1)
        return np.clip(out, 0.0, 1.0)

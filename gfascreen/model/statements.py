"""Calibrated statements: each one fits, predicts, measures and stores itself.

A statement turns what the model predicts for a composition (a :class:`Batch`) into columns
of :mod:`gfascreen.model.columns` with a stated reliability, in scikit-learn's shape:
parameters in ``__init__``, ``fit(frame)`` returns the statement, ``predict(batch)`` gives
its columns, ``measure(frame, oof)`` reports its reliability on out-of-fold values
(``oof(batch)``, cross-fitted by :mod:`gfascreen.model.evaluation.calibrate`), and
``tensors()`` / ``entry()`` are what it stores in the model's calibration file and manifest
entry (:meth:`gfascreen.model.calibration.Calibration.save`).

This version's calibrations make two (:data:`KINDS`):

- :class:`ClassProbabilities`: ``p_glass``, ``p_bmg``, ``p_crystal``, ``p_ribbon`` (the
  monotone maps of :class:`~gfascreen.model.probabilities.ProbabilityCalibration`): the
  class masses of the one distribution;
- :class:`Distribution`: every Dmax column, read off one predictive distribution per alloy
  (:class:`~gfascreen.model.distribution.Predictive`: those masses and the thickness given
  a bulk glass, :class:`~gfascreen.model.distribution.ThicknessModel`, fitted here).

Older calibrations (conformal residuals of the hurdle Dmax) are read through
:data:`LEGACY_KINDS`: :class:`Interval` (``dmax_lo``, ``dmax_hi``, ``difficulty_log``),
:class:`AtLeast` (``dmax_at_least``) and :class:`Exceedance` (``p_dmax_ge_T``), which share
one :class:`~gfascreen.model.calibration.Calibration`.

A *calibration frame* (what ``fit`` and ``measure`` read) is a leave-system-out frame from
:func:`gfascreen.model.evaluation.calibrate.lso_frame`: ``y`` (log10(1 + Dmax/mm), NaN where
unmeasured), ``pred_log``, ``bmg_log`` (μ), ``sigma_log`` (the members' spread),
``knn_spread``, ``in_domain``, ``gfa_class`` (under the castable rule), the raw
``p_crystal`` and ``p_bmg``, and ``p_glass_cal``/``p_bmg_cal`` (the calibrated masses) once
the probability maps are chosen.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from gfascreen.data.labels import DMAX_COLUMN
from gfascreen.model import columns as pc
from gfascreen.model.calibration import Calibration
from gfascreen.model.distribution import Predictive, ThicknessModel
from gfascreen.model.mondrian import mondrian_bins
from gfascreen.model.probabilities import (
    EVENTS,
    ProbabilityCalibration,
    observed_event,
    raw_event,
)
from gfascreen.model.reliability import coverage, probability_report
from gfascreen.model.statement_options import DEFAULT_CONFIDENCE
from gfascreen.model.targets import from_target, to_target

#: The registry's column of each calibrated event's probability.
EVENT_COLUMN = {"glass": pc.P_GLASS, "bmg": pc.P_BMG}
#: The alloy groups a Dmax statement is measured on (:func:`group_masks`).
GROUPS = ("all", "bmg", pc.IN_DOMAIN, "out_of_domain")
#: The column of the calibrated P(bmg) in a calibration frame (the Mondrian bins read it).
P_BMG_CAL = pc.P_BMG + "_cal"
#: The column of the calibrated P(glass) in a calibration frame.
P_GLASS_CAL = pc.P_GLASS + "_cal"
#: The column of μ, the predicted thickness if a bulk glass (log10(1 + Dmax/mm)), in a
#: calibration frame.
BMG_LOG = "bmg_log"


@dataclass
class Batch:
    """What a model's statements read for n compositions: at prediction time, or the
    held-out fold of a calibration frame while measuring (:meth:`from_frame`)."""

    #: ŷ, log10(1 + Dmax/mm).
    log_dmax: np.ndarray
    #: The members' spread of ŷ (log10(1 + Dmax/mm)).
    spread_log: np.ndarray
    #: The measured spread among the nearest training alloys (log; None: not computed).
    knn_spread: np.ndarray | None
    in_domain: np.ndarray
    #: The raw class scores (None: a model without a class head).
    p_crystal: np.ndarray | None
    p_bmg: np.ndarray | None
    #: The calibrated P(bmg) (the raw one for a model without maps): the Mondrian bins.
    p_bmg_cal: np.ndarray | None = None
    #: The calibrated P(glass): with ``p_bmg_cal``, the class masses of the distribution.
    p_glass_cal: np.ndarray | None = None
    #: μ, the thickness if a bulk glass (log10(1 + Dmax/mm); None: ``log_dmax``).
    log_dmax_bmg: np.ndarray | None = None
    confidence: float = DEFAULT_CONFIDENCE
    thresholds_mm: tuple[float, ...] = pc.DEFAULT_THRESHOLDS_MM
    #: What the lab's casts say at these compositions: the distributions corrected
    #: (:meth:`gfascreen.model.casts.CastCorrection.correct`, bound to them; None: no casts).
    adjust: Callable[[Predictive], Predictive] | None = None

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, confidence: float = DEFAULT_CONFIDENCE,
                   thresholds_mm=pc.DEFAULT_THRESHOLDS_MM) -> Batch:
        """The rows of a calibration frame as a batch."""
        def col(name):
            return frame[name].to_numpy() if name in frame.columns else None

        return cls(log_dmax=col("pred_log"), spread_log=col("sigma_log"),
                   knn_spread=col("knn_spread"), in_domain=col(pc.IN_DOMAIN),
                   p_crystal=col(pc.P_CRYSTAL), p_bmg=col(pc.P_BMG),
                   p_bmg_cal=col(P_BMG_CAL), p_glass_cal=col(P_GLASS_CAL),
                   log_dmax_bmg=col(BMG_LOG), confidence=confidence,
                   thresholds_mm=tuple(thresholds_mm))

    def __len__(self) -> int:
        return len(self.log_dmax)


def group_masks(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """Row masks of :data:`GROUPS` in a calibration frame."""
    dom = frame[pc.IN_DOMAIN].to_numpy(dtype=bool)
    return {"all": np.ones(len(frame), dtype=bool),
            "bmg": (frame["gfa_class"] == "bmg").to_numpy(), pc.IN_DOMAIN: dom,
            "out_of_domain": ~dom}


# -- the class probabilities ----------------------------------------------------------------
class ClassProbabilities:
    """Calibrated P(glass) and P(bulk glass), and P(crystal), P(ribbon) that follow
    (:class:`~gfascreen.model.probabilities.ProbabilityCalibration`: ``binning`` none or
    domain, ``method`` beta, platt or isotonic)."""

    by_confidence = False

    def __init__(self, binning: str = "none", method: str = "beta", info: dict | None = None,
                 maps: ProbabilityCalibration | None = None):
        self.maps = maps if maps is not None else ProbabilityCalibration(
            binning=binning, info=dict(info or {}), method=method)

    @classmethod
    def columns(cls, thresholds_mm=()) -> list[str]:
        return list(pc.PROBABILITIES)

    def applies(self, batch: Batch) -> bool:
        """Whether the batch has raw class scores to map (a model with a class head)."""
        return batch.p_crystal is not None

    def fit(self, frame: pd.DataFrame) -> ClassProbabilities:
        """Fit the maps on a calibration frame's raw scores and observed classes."""
        self.maps.fit(frame[pc.P_CRYSTAL].to_numpy(), frame[pc.P_BMG].to_numpy(),
                      frame["gfa_class"].to_numpy(), frame[pc.IN_DOMAIN].to_numpy())
        return self

    def predict(self, batch: Batch) -> dict[str, np.ndarray]:
        return self.maps.predict(batch.p_crystal, batch.p_bmg, batch.in_domain)

    def oof(self, batch: Batch) -> dict[str, np.ndarray]:
        """The values :meth:`measure` judges: calibrated P(glass) and P(bmg)."""
        pr = self.predict(batch)
        return {c: pr[c] for c in EVENT_COLUMN.values()}

    def measure(self, frame: pd.DataFrame, oof: dict) -> dict:
        """ECE, Brier and reliability of each event's out-of-fold probability beside the raw
        score's: ``{"glass": {...}, "bmg": {...}}``."""
        return {e: probability_report(oof[EVENT_COLUMN[e]],
                                      observed_event(e, frame["gfa_class"]),
                                      raw_event(e, frame[pc.P_CRYSTAL], frame[pc.P_BMG]))
                for e in EVENTS}

    def tensors(self) -> dict[str, np.ndarray]:
        return self.maps.tensors()

    def entry(self) -> dict:
        return {"probabilities": self.maps.entry()}


# -- the statements of the conformal predictive distribution ---------------------------------
class _Conformal:
    """A statement read off a conformal predictive distribution (a
    :class:`~gfascreen.model.calibration.Calibration`, shared with the others)."""

    by_confidence = True

    def __init__(self, distribution: Calibration):
        self.distribution = distribution

    def applies(self, batch: Batch) -> bool:
        """Whether there is anything to bound (an empty batch is left as it stands)."""
        return len(batch) > 0

    def fit(self, frame: pd.DataFrame):
        """Fit the distribution on a calibration frame's rows with a measured Dmax."""
        d = self.distribution
        d.fit((frame["y"] - frame["pred_log"]).to_numpy(),
              d.sigma(frame["sigma_log"].to_numpy(), frame["knn_spread"].to_numpy()),
              mondrian_bins(d.binning, frame[pc.IN_DOMAIN], frame[P_BMG_CAL]))
        return self

    def _inputs(self, batch: Batch) -> tuple[np.ndarray, np.ndarray | None]:
        """σ (log10(1 + Dmax/mm)) and Mondrian bins of a batch."""
        d = self.distribution
        return (d.sigma(batch.spread_log, batch.knn_spread),
                mondrian_bins(d.binning, batch.in_domain, batch.p_bmg_cal))

    def tensors(self) -> dict[str, np.ndarray]:
        return self.distribution.tensors()

    def entry(self) -> dict:
        return self.distribution.entry()


class Interval(_Conformal):
    """The interval that holds Dmax with the batch's confidence (mm), and its σ."""

    @classmethod
    def columns(cls, thresholds_mm=()) -> list[str]:
        return [pc.DMAX_LO, pc.DMAX_HI, pc.DIFFICULTY_LOG]

    def predict(self, batch: Batch) -> dict[str, np.ndarray]:
        sigma, bins = self._inputs(batch)
        lo, hi = self.distribution.interval_mm(batch.log_dmax, sigma, bins, batch.confidence)
        return {pc.DMAX_LO: lo, pc.DMAX_HI: hi, pc.DIFFICULTY_LOG: sigma}

    def oof(self, batch: Batch) -> dict[str, np.ndarray]:
        """The bounds in log10(1 + Dmax/mm): ``lo``, ``hi``."""
        sigma, bins = self._inputs(batch)
        lo, hi = self.distribution.interval_log(batch.log_dmax, sigma, bins, batch.confidence)
        return {"lo": lo, "hi": hi}

    def measure(self, frame: pd.DataFrame, oof: dict) -> dict:
        """Per group and confidence (``"90"``): n, coverage, median width (mm) and the 95th
        percentile width (log), on rows with a measured Dmax."""
        return _per_group(frame, oof, ("lo", "hi"), self._block)

    @staticmethod
    def _block(y: np.ndarray, res: dict, m: np.ndarray) -> dict:
        lo, hi = res["lo"][m], res["hi"][m]
        w_mm = from_target(hi) - from_target(lo)
        return {"n": int(m.sum()), "coverage": coverage(y[m], lo, hi),
                "median_width_mm": float(np.median(w_mm)) if m.any() else float("nan"),
                "q95_width_log": float(np.quantile(hi - lo, 0.95)) if m.any()
                else float("nan")}


class AtLeast(_Conformal):
    """The one-sided lower bound (mm): Dmax is at least this with the batch's confidence."""

    @classmethod
    def columns(cls, thresholds_mm=()) -> list[str]:
        return [pc.DMAX_AT_LEAST]

    def predict(self, batch: Batch) -> dict[str, np.ndarray]:
        sigma, bins = self._inputs(batch)
        return {pc.DMAX_AT_LEAST: self.distribution.at_least_mm(
            batch.log_dmax, sigma, bins, batch.confidence)}

    def oof(self, batch: Batch) -> dict[str, np.ndarray]:
        """The bound in log10(1 + Dmax/mm): ``at_least``."""
        return {"at_least": to_target(self.predict(batch)[pc.DMAX_AT_LEAST])}

    def measure(self, frame: pd.DataFrame, oof: dict) -> dict:
        """Per group and confidence: the share of alloys at or above their bound and the
        median bound (mm), on rows with a measured Dmax."""
        return _per_group(frame, oof, ("at_least",), self._block)

    @staticmethod
    def _block(y: np.ndarray, res: dict, m: np.ndarray) -> dict:
        least = res["at_least"][m]
        return {"at_least_coverage": float(np.mean(y[m] >= least - 1e-12))
                if m.any() else float("nan"),
                "median_at_least_mm": float(np.median(from_target(least)))
                if m.any() else float("nan")}


class Exceedance(_Conformal):
    """P(Dmax >= T) for each of the batch's thresholds T (mm)."""

    by_confidence = False

    @classmethod
    def columns(cls, thresholds_mm=pc.DEFAULT_THRESHOLDS_MM) -> list[str]:
        return [pc.threshold_column(t) for t in thresholds_mm]

    def predict(self, batch: Batch) -> dict[str, np.ndarray]:
        p = self.oof(batch)["exceedance"]
        return {pc.threshold_column(t): p[:, j] for j, t in enumerate(batch.thresholds_mm)}

    def oof(self, batch: Batch) -> dict[str, np.ndarray]:
        """The probabilities, one column per threshold: ``exceedance``."""
        sigma, bins = self._inputs(batch)
        return {"exceedance": self.distribution.exceedance(batch.log_dmax, sigma, bins,
                                                           batch.thresholds_mm)}

    def measure(self, frame: pd.DataFrame, oof: dict, thresholds_mm=pc.DEFAULT_THRESHOLDS_MM
                ) -> dict:
        """Reliability of each P(Dmax >= T) on rows with a measured Dmax, by ``"T"``."""
        y = frame[DMAX_COLUMN].to_numpy(dtype=float)
        ok = np.isfinite(y)
        return {f"{t:g}": probability_report(oof["exceedance"][ok, j],
                                             (y[ok] >= t).astype(float))
                for j, t in enumerate(thresholds_mm)}


# -- the one distribution --------------------------------------------------------------------
class Distribution:
    """Every Dmax column read off one predictive distribution per alloy
    (:class:`~gfascreen.model.distribution.Predictive`): the calibrated class masses the
    batch carries and the thickness given a bulk glass (``thickness``, fitted here)."""

    by_confidence = True

    def __init__(self, thickness: ThicknessModel):
        self.thickness = thickness

    @classmethod
    def columns(cls, thresholds_mm=pc.DEFAULT_THRESHOLDS_MM) -> list[str]:
        return [pc.DMAX_MM, pc.LOG_DMAX, pc.DMAX_LO, pc.DMAX_HI, pc.DMAX_AT_LEAST,
                pc.DMAX_BMG_MM, pc.DMAX_BMG_LO, pc.DMAX_BMG_HI, pc.BMG_LOC_LOG, pc.DIFFICULTY_LOG,
                *[pc.threshold_column(t) for t in thresholds_mm], pc.BEYOND_RECORD]

    def applies(self, batch: Batch) -> bool:
        """Whether the batch has calibrated class masses (and anything to read)."""
        return len(batch) > 0 and batch.p_glass_cal is not None \
            and batch.p_bmg_cal is not None

    def fit(self, frame: pd.DataFrame) -> Distribution:
        """Fit the thickness on a calibration frame's bulk glasses with a measured Dmax
        (``gfa_class`` as the castable rule left it:
        :func:`gfascreen.data.labels.castable_class`)."""
        f = frame[(frame["gfa_class"].astype(str) == "bmg").to_numpy()]
        self.thickness.fit(f[BMG_LOG].to_numpy(), f["sigma_log"].to_numpy(),
                           f["y"].to_numpy())
        return self

    def distribution(self, batch: Batch) -> Predictive:
        glass, bmg = batch.p_glass_cal, batch.p_bmg_cal
        mu = batch.log_dmax if batch.log_dmax_bmg is None else batch.log_dmax_bmg
        d = Predictive(1.0 - glass, glass - bmg, bmg, mu,
                       self.thickness.scale(batch.spread_log), self.thickness)
        return d if batch.adjust is None else batch.adjust(d)

    def predict(self, batch: Batch) -> dict[str, np.ndarray]:
        """Its columns (the class masses it reads are :class:`ClassProbabilities`'; where
        casts correct the distribution, its own corrected masses too)."""
        c = self.distribution(batch).columns(batch.confidence, batch.thresholds_mm)
        own = self.columns(batch.thresholds_mm)
        if batch.adjust is not None:
            own += [pc.P_GLASS, pc.P_BMG, pc.P_CRYSTAL, pc.P_RIBBON]
        return {k: c[k] for k in own}

    def oof(self, batch: Batch) -> dict[str, np.ndarray]:
        """What :meth:`measure` judges, in log10(1 + Dmax/mm): the interval ``lo``/``hi``,
        the lower bound ``at_least``, the conditional interval ``bmg_lo``/``bmg_hi``; the
        probabilities ``exceedance`` (one column per threshold), the ``mean`` and the
        conditional median ``bmg_median`` (mm)."""
        c = self.predict(batch)
        out = {k: to_target(c[col]) for k, col in (
            ("lo", pc.DMAX_LO), ("hi", pc.DMAX_HI), ("at_least", pc.DMAX_AT_LEAST),
            ("bmg_lo", pc.DMAX_BMG_LO), ("bmg_hi", pc.DMAX_BMG_HI))}
        out["exceedance"] = np.column_stack([c[pc.threshold_column(t)]
                                             for t in batch.thresholds_mm])
        out["mean"], out["bmg_median"] = c[pc.DMAX_MM], c[pc.DMAX_BMG_MM]
        return out

    def measure(self, frame: pd.DataFrame, oof: dict) -> dict:
        """Per group and confidence (``"90"``), on rows with a measured Dmax: the interval's
        coverage and widths, the lower bound's, and (bulk glasses) the conditional
        interval's coverage and median width (mm)."""
        return _per_group(frame, oof, ("lo", "hi", "at_least", "bmg_lo", "bmg_hi"),
                          self._block)

    @staticmethod
    def _block(y: np.ndarray, res: dict, m: np.ndarray) -> dict:
        out = {**Interval._block(y, res, m), **AtLeast._block(y, res, m)}
        lo, hi = res["bmg_lo"][m], res["bmg_hi"][m]
        out["bmg_coverage"] = coverage(y[m], lo, hi)
        out["bmg_median_width_mm"] = (float(np.median(from_target(hi) - from_target(lo)))
                                      if m.any() else float("nan"))
        return out


def _per_group(frame: pd.DataFrame, oof: dict, keys: tuple[str, ...], block) -> dict:
    """``block(y, res, mask)`` per group and confidence (``"90"``) on rows with a measured
    Dmax; ``res``: the out-of-fold values ``oof[key][confidence]`` of ``keys`` at one
    confidence."""
    y = frame["y"].to_numpy()
    out = {}
    for name, m in group_masks(frame).items():
        m = m & np.isfinite(y)
        out[name] = {f"{round(100 * c)}": block(y, {k: oof[k][c] for k in keys}, m)
                     for c in oof[keys[0]]}
    return out


#: Every kind of statement, in the order a model makes them (their columns: ``columns``).
KINDS = (ClassProbabilities, Distribution)
#: The statements of calibrations older than the one distribution (read, never fitted
#: by ``gfascreen calibrate``).
LEGACY_KINDS = (ClassProbabilities, Interval, AtLeast, Exceedance)


def dmax_statements(distribution: Calibration) -> list[_Conformal]:
    """The statements a fitted distribution makes: the interval, and the lower bound and
    exceedance where it keeps signed scores (an older model keeps only absolute ones)."""
    if distribution.scores_ is not None and distribution.alphas_ is None:
        return [Interval(distribution)]
    return [Interval(distribution), AtLeast(distribution), Exceedance(distribution)]


def statements(cal: Calibration) -> list:
    """A model calibration's statements, in the order they are made: the class
    probabilities (whose P(bmg) the Mondrian bins read), then the Dmax statements."""
    probs = [ClassProbabilities(maps=cal.probabilities_)] if cal.probabilities_ is not None else []
    if cal.thickness is not None:
        return probs + [Distribution(cal.thickness)]
    return probs + dmax_statements(cal)


def calibrated_columns(cal: Calibration | None, batch: Batch,
                       raw: dict[str, np.ndarray] | None,
                       point: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The calibrated columns of a batch: what stands without a calibration (the raw class
    scores ``raw``, NaN for a model without a class head; the spread as the difficulty; the
    point readings ``point`` holds; NaN for the other Dmax statements), overwritten by each
    statement of ``cal`` in turn (:func:`statements`: the class probabilities, then the one
    distribution that reads their masses)."""
    nan = np.full(len(batch), np.nan)
    out = {c: nan for kind in KINDS + LEGACY_KINDS for c in kind.columns(batch.thresholds_mm)}
    out.update(point)
    out[pc.BMG_LOC_LOG] = batch.log_dmax_bmg
    out[pc.BEYOND_RECORD] = np.zeros(len(batch), dtype=bool)
    if raw is not None:
        out.update({pc.P_GLASS: 1.0 - raw[pc.P_CRYSTAL], **raw})
    out[pc.DIFFICULTY_LOG] = batch.spread_log.astype(float)
    for st in statements(cal) if cal is not None else []:
        batch = replace(batch, p_bmg_cal=out[pc.P_BMG], p_glass_cal=out[pc.P_GLASS])
        if st.applies(batch):
            out.update(st.predict(batch))
    return out

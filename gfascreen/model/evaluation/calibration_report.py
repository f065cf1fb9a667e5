"""The calibration's measurement, typed: what ``gfascreen calibrate`` (and ``gfascreen
evaluate --spread-model``) measured cross-conformally on leave-system-out predictions.

Read from the dict :func:`gfascreen.model.evaluation.calibrate.measure` returns and the
manifest stores (``calibration_report``, without the candidates; an evaluation's
``calibration``, with them); ``to_dict`` writes that dict back unchanged. Coverages and
probabilities are shares (0-1); widths and bounds in mm unless named ``_log``
(log10(1 + Dmax/mm)); confidences are keyed by their percent as text (``"90"``),
thresholds by their value in mm as text (``"5"``).
"""

from __future__ import annotations

from dataclasses import dataclass

from gfascreen.errors import GfaError
from gfascreen.model.evaluation.sections import (
    Flat,
    each,
    mapping,
    need,
    only,
    optional,
    put,
    scalar,
    section,
    value,
)


@dataclass(frozen=True)
class IntervalFigures(Flat):
    """One group of alloys at one confidence, on rows with a measured Dmax: ``coverage``
    (share inside ``dmax_lo``..``dmax_hi``), ``median_width_mm``, ``q95_width_log`` (95th
    percentile of the width in log10(1 + Dmax/mm)), ``at_least_coverage`` (share at or
    above ``dmax_at_least``) and ``median_at_least_mm``. ``mean_width_log`` (and no lower
    bound) only in measurements of older versions."""

    n: int
    coverage: float
    median_width_mm: float
    q95_width_log: float
    at_least_coverage: float | None = None
    median_at_least_mm: float | None = None
    mean_width_log: float | None = None


#: The groups of alloys each interval is measured on, in the tables' order.
GROUPS = ("all", "bmg", "in_domain", "out_of_domain")


@dataclass(frozen=True)
class IntervalReport:
    """Figures per group (:data:`GROUPS`) and confidence (percent as text)."""

    groups: dict[str, dict[str, IntervalFigures]]

    @classmethod
    def from_dict(cls, d, where: str) -> IntervalReport:
        return cls(each(d, where, lambda g, w: each(g, w, IntervalFigures.from_dict)))

    def at(self, group: str, confidence: str = "90") -> IntervalFigures:
        """The figures of one group at one confidence (percent as text)."""
        try:
            return self.groups[group][confidence]
        except KeyError:
            raise GfaError(f"interval report: no {group!r} at {confidence} %") from None

    def admissible(self) -> bool:
        """The declared rule's admission: 90 % intervals cover 0.88-0.92 of all alloys and
        0.85-0.95 of bulk glasses, in and out of domain (cross-conformal)."""
        r = {g: self.at(g).coverage for g in GROUPS}
        return 0.88 <= r["all"] <= 0.92 and all(0.85 <= r[g] <= 0.95 for g in GROUPS[1:])

    def to_dict(self) -> dict:
        return {g: {c: f.to_dict() for c, f in by.items()} for g, by in self.groups.items()}


@dataclass(frozen=True)
class ReliabilityBin(Flat):
    """One decile of the predicted probability: its range ``lo``..``hi``, ``n`` alloys,
    their mean ``predicted`` probability and the ``observed`` frequency."""

    lo: float
    hi: float
    n: int
    predicted: float
    observed: float


@dataclass(frozen=True)
class ProbabilityReport:
    """How well one probability is calibrated (out of fold): ``ece`` (expected calibration
    error, 10 equal-width bins), ``brier`` (mean squared error against the 0/1 outcome),
    ``brier_prior`` (of the constant class frequency), the decile ``reliability`` table and
    ``worst_decile_gap`` (largest |predicted - observed| over deciles of >= 50 alloys);
    ``ece_raw``/``brier_raw``: the uncalibrated class head's, where there is one."""

    n: int
    ece: float
    brier: float
    brier_prior: float
    reliability: tuple[ReliabilityBin, ...]
    worst_decile_gap: float
    ece_raw: float | None = None
    brier_raw: float | None = None

    @classmethod
    def from_dict(cls, d, where: str) -> ProbabilityReport:
        d = mapping(d, where)
        only(d, where, ("n", "ece", "brier", "brier_prior", "reliability",
                        "worst_decile_gap", "ece_raw", "brier_raw"))
        rows = need(d, "reliability", where)
        if not isinstance(rows, list):
            raise GfaError(f"{where}.reliability: expected a list, got {type(rows).__name__}")
        return cls(n=value(d, "n", where, "int"), ece=value(d, "ece", where),
                   brier=value(d, "brier", where), brier_prior=value(d, "brier_prior", where),
                   reliability=tuple(ReliabilityBin.from_dict(r, f"{where}.reliability[{i}]")
                                     for i, r in enumerate(rows)),
                   worst_decile_gap=value(d, "worst_decile_gap", where),
                   ece_raw=optional(d, "ece_raw", where, _number),
                   brier_raw=optional(d, "brier_raw", where, _number))

    def to_dict(self) -> dict:
        return put({"n": self.n, "ece": self.ece, "brier": self.brier,
                    "brier_prior": self.brier_prior,
                    "reliability": [r.to_dict() for r in self.reliability],
                    "worst_decile_gap": self.worst_decile_gap},
                   ece_raw=self.ece_raw, brier_raw=self.brier_raw)


def _number(v, where: str) -> float:
    return scalar(v, "float", where)


def _by_threshold(d, where: str) -> dict[str, ProbabilityReport]:
    return each(d, where, ProbabilityReport.from_dict)


def _candidates(d, where: str) -> dict[str, IntervalReport]:
    return each(d, where, IntervalReport.from_dict)


def _probabilities(d, where: str) -> dict[str, dict[str, ProbabilityReport]]:
    return each(d, where, lambda b, w: each(b, w, ProbabilityReport.from_dict))


@dataclass(frozen=True)
class CalibrationReport:
    """The measurement of every calibration candidate and of the chosen configuration:
    ``chosen`` (the interval candidate's key, picked by
    :func:`~gfascreen.model.evaluation.calibrate.choose`), its ``intervals`` and
    ``exceedance`` (P(Dmax >= T) per threshold T in mm), the probability maps'
    ``probability_binning`` and ``probabilities`` (per binning, per event ``glass``/``bmg``),
    on ``n_rows`` alloys (``n_with_dmax`` with a measured Dmax) over ``folds`` folds;
    ``candidates``: every interval candidate's report (absent where the manifest keeps the
    chosen one only)."""

    chosen: str
    intervals: IntervalReport
    exceedance: dict[str, ProbabilityReport]
    probability_binning: str
    probabilities: dict[str, dict[str, ProbabilityReport]]
    n_rows: int
    n_with_dmax: int
    folds: int
    candidates: dict[str, IntervalReport] | None = None

    @classmethod
    def from_dict(cls, d, where: str = "calibration measurement") -> CalibrationReport:
        d = mapping(d, where)
        only(d, where, ("candidates", "chosen", "intervals", "exceedance",
                        "probability_binning", "probabilities", "n_rows", "n_with_dmax",
                        "folds"))

        rep = cls(chosen=value(d, "chosen", where, "str"),
                  intervals=section(d, "intervals", where, IntervalReport.from_dict),
                  exceedance=section(d, "exceedance", where, _by_threshold),
                  probability_binning=value(d, "probability_binning", where, "str"),
                  probabilities=section(d, "probabilities", where, _probabilities),
                  n_rows=value(d, "n_rows", where, "int"),
                  n_with_dmax=value(d, "n_with_dmax", where, "int"),
                  folds=value(d, "folds", where, "int"),
                  candidates=optional(d, "candidates", where, _candidates))
        if rep.probability_binning not in rep.probabilities:
            raise GfaError(f"{where}.probabilities: no {rep.probability_binning!r} "
                           "(the chosen probability binning)")
        return rep

    @property
    def chosen_probabilities(self) -> dict[str, ProbabilityReport]:
        """Per event (``glass``, ``bmg``): the chosen probability maps' report."""
        return self.probabilities[self.probability_binning]

    def without_candidates(self) -> CalibrationReport:
        """What the manifest keeps (``calibration_report``)."""
        from dataclasses import replace

        return replace(self, candidates=None)

    def to_dict(self) -> dict:
        out = ({} if self.candidates is None else
               {"candidates": {k: r.to_dict() for k, r in self.candidates.items()}})
        return {**out, "chosen": self.chosen, "intervals": self.intervals.to_dict(),
                "exceedance": {t: r.to_dict() for t, r in self.exceedance.items()},
                "probability_binning": self.probability_binning,
                "probabilities": {b: {e: r.to_dict() for e, r in by.items()}
                                  for b, by in self.probabilities.items()},
                "n_rows": self.n_rows, "n_with_dmax": self.n_with_dmax, "folds": self.folds}


@dataclass(frozen=True)
class CandidateReports:
    """An evaluation's calibration as older versions recorded it: every interval
    candidate's report (keyed by candidate), nothing chosen. Kept as read; not rendered."""

    candidates: dict[str, IntervalReport]

    @classmethod
    def from_dict(cls, d, where: str) -> CandidateReports:
        return cls(_candidates(d, where))

    def to_dict(self) -> dict:
        return {k: r.to_dict() for k, r in self.candidates.items()}


def read_calibration(d, where: str) -> CalibrationReport | CandidateReports:
    """An evaluation's ``calibration``: this version's measurement (it has ``chosen``) or
    an older version's candidates."""
    if isinstance(d, dict) and "chosen" not in d and "intervals" not in d:
        return CandidateReports.from_dict(d, where)
    return CalibrationReport.from_dict(d, where)


__all__ = ["GROUPS", "CalibrationReport", "CandidateReports", "IntervalFigures", "IntervalReport",
           "ProbabilityReport", "ReliabilityBin", "read_calibration"]

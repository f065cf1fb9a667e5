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
from gfascreen.model.evaluation.headline import Headline
from gfascreen.model.evaluation.sections import Record, each, each_of
from gfascreen.model.statements import GROUPS  # the groups each interval is measured on


@dataclass(frozen=True)
class IntervalFigures(Record):
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
    #: The conditional interval (the thickness given a bulk glass): its coverage and median
    #: width (mm), in measurements of the one distribution.
    bmg_coverage: float | None = None
    bmg_median_width_mm: float | None = None



@dataclass(frozen=True)
class IntervalReport:
    """Figures per group (:data:`GROUPS`) and confidence (percent as text)."""

    groups: dict[str, dict[str, IntervalFigures]]

    @classmethod
    def from_dict(cls, d, where: str) -> IntervalReport:
        return cls(each(d, where, each_of(IntervalFigures.from_dict)))

    def at(self, group: str, confidence: str = "90") -> IntervalFigures:
        """The figures of one group at one confidence (percent as text)."""
        try:
            return self.groups[group][confidence]
        except KeyError:
            raise GfaError(f"interval report: no {group!r} at {confidence} %") from None

    def admissible(self) -> bool:
        """The declared rule's admission: the 90 % conditional interval covers 0.88-0.92 of
        the bulk glasses (the one distribution; older calibrations: 90 % intervals cover
        0.88-0.92 of all alloys and 0.85-0.95 of bulk glasses, in and out of domain)."""
        if self.at("bmg").bmg_coverage is not None:  # the one distribution's rule
            return 0.88 <= self.at("bmg").bmg_coverage <= 0.92
        r = {g: self.at(g).coverage for g in GROUPS}
        return 0.88 <= r["all"] <= 0.92 and all(0.85 <= r[g] <= 0.95 for g in GROUPS[1:])

    def to_dict(self) -> dict:
        return {g: {c: f.to_dict() for c, f in by.items()} for g, by in self.groups.items()}


@dataclass(frozen=True)
class ReliabilityBin(Record):
    """One decile of the predicted probability: its range ``lo``..``hi``, ``n`` alloys,
    their mean ``predicted`` probability and the ``observed`` frequency."""

    lo: float
    hi: float
    n: int
    predicted: float
    observed: float


@dataclass(frozen=True)
class ProbabilityReport(Record):
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


_CANDIDATES = each_of(IntervalReport.from_dict)


@dataclass(frozen=True, kw_only=True)
class CalibrationReport(Record):
    """The measurement of every calibration candidate and of the chosen configuration:
    ``candidates``: every interval candidate's report (absent where the manifest keeps the
    chosen one only); ``chosen`` (the interval candidate's key, picked by
    :func:`~gfascreen.model.evaluation.calibrate.choose_weight`), its ``intervals`` and
    ``exceedance`` (P(Dmax >= T) per threshold T in mm), the probability maps'
    ``probability_binning`` and ``probabilities`` (per binning, per event ``glass``/``bmg``),
    on ``n_rows`` alloys (``n_with_dmax`` with a measured Dmax) over ``folds`` folds;
    ``partner_only``: the same of the partner-only distribution, where there is one."""

    candidates: dict[str, IntervalReport] | None = None
    chosen: str
    #: The candidate chosen inside each outer fold (nested measurements only).
    chosen_per_fold: tuple[str, ...] | None = None
    #: Headline figures of the stack's point reading and of the one distribution (nested).
    headline: dict[str, Headline] | None = None
    intervals: IntervalReport
    exceedance: dict[str, ProbabilityReport]
    probability_binning: str
    probabilities: dict[str, dict[str, ProbabilityReport]]
    n_rows: int
    n_with_dmax: int
    folds: int
    #: The partner-only distribution's measurement (the alloys the descriptor partner
    #: reads alone), measured the same way on the partner's own columns.
    partner_only: CalibrationReport | None = None

    @classmethod
    def from_dict(cls, d, where: str = "calibration measurement") -> CalibrationReport:
        rep = super().from_dict(d, where)
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

        return replace(self, candidates=None, partner_only=self.partner_only
                       and self.partner_only.without_candidates())


@dataclass(frozen=True)
class CandidateReports:
    """An evaluation's calibration as older versions recorded it: every interval
    candidate's report (keyed by candidate), nothing chosen. Kept as read; not rendered."""

    candidates: dict[str, IntervalReport]

    @classmethod
    def from_dict(cls, d, where: str) -> CandidateReports:
        return cls(_CANDIDATES(d, where))

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

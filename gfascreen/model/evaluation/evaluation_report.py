"""A run's evaluation, typed: what :func:`gfascreen.model.evaluation.evaluate.evaluate_run`
returns and writes (``evaluation.json``), and what ``gfascreen evaluate RUN --into MODEL``
records in the manifest (``evaluation``, per grouping, with the ``run``).

Every figure is out of fold. R² and MAE/RMSE ``_mm`` are on Dmax in mm, ``_log`` on
log10(1 + Dmax/mm); Spearman and AUCs are unitless; ``to_dict`` writes back the dict that
``from_dict`` read.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gfascreen.model.evaluation.calibration_report import (
    CalibrationReport,
    CandidateReports,
    read_calibration,
)
from gfascreen.model.evaluation.sections import Record


@dataclass(frozen=True)
class RegressionFigures(Record):
    """Pooled over ``n`` alloys with a Dmax (figures absent below two alloys)."""

    n: int
    r2_mm: float | None = None  # R² of Dmax (mm)
    r2_log: float | None = None  # R² of log10(1 + Dmax/mm)
    mae_mm: float | None = None  # mean absolute error (mm)
    rmse_mm: float | None = None  # root-mean-square error (mm)
    spearman: float | None = None  # Spearman's rank correlation, pooled over all n


@dataclass(frozen=True)
class FoldMean(Record):
    """The per-fold figures averaged over folds."""

    r2_mm: float
    r2_log: float
    mae_mm: float
    spearman: float


@dataclass(frozen=True)
class FoldStd(Record):
    """The per-fold R² figures' standard deviation over folds."""

    r2_mm: float
    r2_log: float


@dataclass(frozen=True)
class ClassFigures(Record):
    """The class head's accuracy and macro F1 (crystal / ribbon / bmg) over ``n`` alloys."""

    accuracy: float
    f1_macro: float
    n: int


@dataclass(frozen=True)
class WithinSystem(Record):
    """Ranking inside each of ``systems`` alloy systems (``alloys`` in all): Spearman's
    alloy-weighted mean and median, the share of systems whose best alloy is in the top
    20 % by prediction (figures absent when no system qualifies)."""

    systems: int
    alloys: int | None = None
    spearman_weighted_mean: float | None = None
    spearman_median: float | None = None
    best_in_top20_share: float | None = None


@dataclass(frozen=True)
class OrderSpearman(Record):
    """A Spearman correlation over the ``systems`` of one order (absent below three)."""

    systems: int
    spearman: float | None = None


@dataclass(frozen=True)
class SystemStatistic(Record):
    """How well one statistic of a system's predictions ranks systems: the ROC-AUC for
    "holds a bulk glass" and the Spearman with the best measured Dmax over ``systems``,
    pooled and per order (elements per system)."""

    systems: int
    auc_holds_bulk_glass: float | None = None
    spearman: float | None = None
    by_order: dict[str, OrderSpearman] | None = None


@dataclass(frozen=True)
class SystemRanking(Record):
    """Ranking systems the model never saw
    (:func:`gfascreen.model.evaluation.system_ranking.system_evidence`): over ``systems``
    with a measured alloy, ``holding_bulk_glass`` of them with one of ``bulk_mm`` mm or
    more; Spearman over those with ``min_alloys`` measured alloys; each statistic's
    figures, the one ``chosen`` for an atlas's ranking and why."""

    systems: int
    holding_bulk_glass: int
    bulk_mm: float
    min_alloys: int
    statistics: dict[str, SystemStatistic]
    chosen: str | None = None
    why: str | None = None


@dataclass(frozen=True)
class ScreeningFigures(Record):
    """Within-system ranking, the ROC-AUCs of P(glass) (glass vs crystal) and P(bmg)
    (bulk glass vs the rest; both absent without class scores) and, for folds grouped by
    system, the ranking of whole systems (``systems``)."""

    within_system: WithinSystem
    auc_glass_vs_crystal: float | None = None
    auc_bmg_vs_rest: float | None = None
    systems: SystemRanking | None = None


@dataclass(frozen=True)
class Scores(Record):
    """One model's out-of-fold scores: pooled over ``all`` alloys and over bulk glasses
    (``bmg``), per fold, the class head's (``classes``, key ``class``) and screening's."""

    all: RegressionFigures
    bmg: RegressionFigures
    fold_mean: FoldMean | None = None
    fold_std: FoldStd | None = None
    classes: ClassFigures | None = field(default=None, metadata={"key": "class"})
    screening: ScreeningFigures | None = None


@dataclass(frozen=True)
class Evaluation(Record):
    """A run's evaluation: the ensemble's ``model`` scores on ``folds_scored`` of
    ``folds_total`` folds, the ``baselines`` on the identical folds (by name), the
    calibration measurement when a spread model was given (``calibration``, measured with
    ``calibration_spread_model``), the ``backbone`` and, once recorded in a model, the
    ``run`` directory."""

    model: Scores
    folds_scored: tuple[int, ...]
    folds_total: int
    backbone: str | None = None
    calibration: CalibrationReport | CandidateReports | None = field(
        default=None, metadata={"read": read_calibration})
    calibration_spread_model: str | None = None
    baselines: dict[str, Scores] | None = None
    run: str | None = None

    @classmethod
    def from_dict(cls, d, where: str = "evaluation") -> Evaluation:
        return super().from_dict(d, where)

    @property
    def measured_calibration(self) -> CalibrationReport | None:
        """The calibration measurement of this version (None for none or an older one)."""
        return self.calibration if isinstance(self.calibration, CalibrationReport) else None


__all__ = ["ClassFigures", "Evaluation", "FoldMean", "FoldStd", "OrderSpearman",
           "RegressionFigures", "Scores", "ScreeningFigures", "SystemRanking",
           "SystemStatistic", "WithinSystem"]

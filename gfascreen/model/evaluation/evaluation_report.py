"""A run's evaluation, typed: what :func:`gfascreen.model.evaluation.evaluate.evaluate_run`
returns and writes (``evaluation.json``), and what ``gfascreen evaluate RUN --into MODEL``
records in the manifest (``evaluation``, per grouping, with the ``run``).

Every figure is out of fold. R² and MAE/RMSE ``_mm`` are on Dmax in mm, ``_log`` on
log10(1 + Dmax/mm); Spearman and AUCs are unitless; ``to_dict`` writes back the dict that
``from_dict`` read.
"""

from __future__ import annotations

from dataclasses import dataclass

from gfascreen.errors import GfaError
from gfascreen.model.evaluation.calibration_report import (
    CalibrationReport,
    CandidateReports,
    read_calibration,
)
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
class RegressionFigures(Flat):
    """Pooled over ``n`` alloys with a Dmax (figures absent below two alloys)."""

    n: int
    r2_mm: float | None = None
    r2_log: float | None = None
    mae_mm: float | None = None
    rmse_mm: float | None = None
    spearman: float | None = None


@dataclass(frozen=True)
class FoldMean(Flat):
    """The per-fold figures averaged over folds."""

    r2_mm: float
    r2_log: float
    mae_mm: float
    spearman: float


@dataclass(frozen=True)
class FoldStd(Flat):
    """The per-fold R² figures' standard deviation over folds."""

    r2_mm: float
    r2_log: float


@dataclass(frozen=True)
class ClassFigures(Flat):
    """The class head's accuracy and macro F1 (crystal / ribbon / bmg) over ``n`` alloys."""

    accuracy: float
    f1_macro: float
    n: int


@dataclass(frozen=True)
class WithinSystem(Flat):
    """Ranking inside each of ``systems`` alloy systems (``alloys`` in all): Spearman's
    alloy-weighted mean and median, the share of systems whose best alloy is in the top
    20 % by prediction (figures absent when no system qualifies)."""

    systems: int
    alloys: int | None = None
    spearman_weighted_mean: float | None = None
    spearman_median: float | None = None
    best_in_top20_share: float | None = None


@dataclass(frozen=True)
class ScreeningFigures:
    """Within-system ranking and the ROC-AUCs of P(glass) (glass vs crystal) and P(bmg)
    (bulk glass vs the rest; both absent without class scores)."""

    within_system: WithinSystem
    auc_glass_vs_crystal: float | None = None
    auc_bmg_vs_rest: float | None = None

    @classmethod
    def from_dict(cls, d, where: str) -> ScreeningFigures:
        d = mapping(d, where)
        only(d, where, ("within_system", "auc_glass_vs_crystal", "auc_bmg_vs_rest"))
        return cls(section(d, "within_system", where, WithinSystem.from_dict),
                   optional(d, "auc_glass_vs_crystal", where, _number),
                   optional(d, "auc_bmg_vs_rest", where, _number))

    def to_dict(self) -> dict:
        return put({"within_system": self.within_system.to_dict()},
                   auc_glass_vs_crystal=self.auc_glass_vs_crystal,
                   auc_bmg_vs_rest=self.auc_bmg_vs_rest)


def _number(v, where: str) -> float:
    return scalar(v, "float", where)


@dataclass(frozen=True)
class Scores:
    """One model's out-of-fold scores: pooled over ``all`` alloys and over bulk glasses
    (``bmg``), per fold, the class head's (``classes``, key ``class``) and screening's."""

    all: RegressionFigures
    bmg: RegressionFigures
    fold_mean: FoldMean | None = None
    fold_std: FoldStd | None = None
    classes: ClassFigures | None = None
    screening: ScreeningFigures | None = None

    @classmethod
    def from_dict(cls, d, where: str) -> Scores:
        d = mapping(d, where)
        only(d, where, ("all", "bmg", "fold_mean", "fold_std", "class", "screening"))
        return cls(all=section(d, "all", where, RegressionFigures.from_dict),
                   bmg=section(d, "bmg", where, RegressionFigures.from_dict),
                   fold_mean=optional(d, "fold_mean", where, FoldMean.from_dict),
                   fold_std=optional(d, "fold_std", where, FoldStd.from_dict),
                   classes=optional(d, "class", where, ClassFigures.from_dict),
                   screening=optional(d, "screening", where, ScreeningFigures.from_dict))

    def to_dict(self) -> dict:
        return put({"all": self.all.to_dict(), "bmg": self.bmg.to_dict()},
                   **{k: None if v is None else v.to_dict()
                      for k, v in (("fold_mean", self.fold_mean), ("fold_std", self.fold_std),
                                   ("class", self.classes), ("screening", self.screening))})


@dataclass(frozen=True)
class Evaluation:
    """A run's evaluation: the ensemble's ``model`` scores on ``folds_scored`` of
    ``folds_total`` folds, the ``baselines`` on the identical folds (by name), the
    calibration measurement when a spread model was given (``calibration``, measured with
    ``calibration_spread_model``), the ``backbone`` and, once recorded in a model, the
    ``run`` directory."""

    model: Scores
    folds_scored: tuple[int, ...]
    folds_total: int
    backbone: str | None = None
    calibration: CalibrationReport | CandidateReports | None = None
    calibration_spread_model: str | None = None
    baselines: dict[str, Scores] | None = None
    run: str | None = None

    @classmethod
    def from_dict(cls, d, where: str = "evaluation") -> Evaluation:
        d = mapping(d, where)
        only(d, where, ("model", "folds_scored", "folds_total", "backbone", "calibration",
                        "calibration_spread_model", "baselines", "run"))
        folds = need(d, "folds_scored", where)
        if not isinstance(folds, list):
            raise GfaError(f"{where}.folds_scored: expected a list, got {type(folds).__name__}")
        return cls(model=section(d, "model", where, Scores.from_dict),
                   folds_scored=tuple(scalar(f, "int", f"{where}.folds_scored") for f in folds),
                   folds_total=value(d, "folds_total", where, "int"),
                   backbone=optional(d, "backbone", where, _text),
                   calibration=optional(d, "calibration", where, read_calibration),
                   calibration_spread_model=optional(d, "calibration_spread_model", where,
                                                     _text),
                   baselines=optional(d, "baselines", where,
                                      lambda v, w: each(v, w, Scores.from_dict)),
                   run=optional(d, "run", where, _text))

    @property
    def measured_calibration(self) -> CalibrationReport | None:
        """The calibration measurement of this version (None for none or an older one)."""
        return self.calibration if isinstance(self.calibration, CalibrationReport) else None

    def to_dict(self) -> dict:
        return put({"model": self.model.to_dict(), "folds_scored": list(self.folds_scored),
                    "folds_total": self.folds_total},
                   backbone=self.backbone,
                   calibration=None if self.calibration is None else self.calibration.to_dict(),
                   calibration_spread_model=self.calibration_spread_model,
                   baselines=None if self.baselines is None else
                   {k: s.to_dict() for k, s in self.baselines.items()},
                   run=self.run)


def _text(v, where: str) -> str:
    return scalar(v, "str", where)


__all__ = ["ClassFigures", "Evaluation", "FoldMean", "FoldStd", "RegressionFigures",
           "Scores", "ScreeningFigures", "WithinSystem"]

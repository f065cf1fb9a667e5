"""The headline figures of one predictor on out-of-fold predictions, typed (unitless):
what :func:`gfascreen.model.evaluation.side_by_side.headline` returns, read by the stack's
evaluation and the calibration's measurement alike."""

from __future__ import annotations

from dataclasses import dataclass

from gfascreen.model.evaluation.sections import Record


@dataclass(frozen=True)
class Headline(Record):
    """The figures of :mod:`gfascreen.model.evaluation.side_by_side` (unitless; NaN where
    a part cannot give one): pooled and within-system Spearman of Dmax, ROC-AUC of P(glass)
    and P(bmg), R² of log10(1 + Dmax/mm) over bulk glasses, R² in mm over every alloy."""

    pooled_spearman: float
    within_system: float
    auc_glass: float
    auc_bmg: float
    bmg_r2_log: float
    r2_mm: float

    @classmethod
    def of_baseline(cls, s) -> Headline:
        """A baseline's figures from its recorded scores (``s``: an
        :class:`~gfascreen.model.evaluation.evaluation_report.Scores`; its thickness for
        bulk glasses is its all-alloy regression)."""
        scr = s.screening
        within = scr.within_system.spearman_weighted_mean if scr else None
        return cls(pooled_spearman=_or_nan(s.all.spearman), within_system=_or_nan(within),
                   auc_glass=_or_nan(scr.auc_glass_vs_crystal if scr else None),
                   auc_bmg=_or_nan(scr.auc_bmg_vs_rest if scr else None),
                   bmg_r2_log=_or_nan(s.bmg.r2_log), r2_mm=_or_nan(s.all.r2_mm))


def _or_nan(v: float | None) -> float:
    return float("nan") if v is None else v

"""What the evaluation tools recorded in a model's manifest, typed.

The manifest's ``extra`` keeps, under the keys named here: the evaluations of ``gfascreen
evaluate RUN --into MODEL`` per grouping, the stack's evaluation of ``gfascreen stack``,
the calibration measurement of ``gfascreen calibrate`` and the packing's quantization
check. :meth:`Recorded.from_extra` reads them all; a malformed one is a one-line
:class:`~gfascreen.errors.GfaError` naming it.
"""

from __future__ import annotations

from dataclasses import dataclass

from gfascreen.model.evaluation.calibration_report import CalibrationReport
from gfascreen.model.evaluation.evaluation_report import Evaluation
from gfascreen.model.evaluation.sections import Record, each_of
from gfascreen.model.evaluation.stack_report import StackEvaluation

EVALUATION = "evaluation"
STACK_EVALUATION = "stack_evaluation"
CALIBRATION_REPORT = "calibration_report"
QUANTIZATION_CHECK = "quantization_check"
_WHERE = "manifest.json"


@dataclass(frozen=True)
class QuantizationCheck(Record):
    """Packed members against full precision over ``compositions`` training alloys: the
    largest and mean absolute difference of log10(1 + Dmax/mm), the largest in mm, each
    ensemble's scoring time (s: full precision, packed) and each packed member's size
    (MB)."""

    compositions: int
    max_abs_diff_log10_1p_dmax: float
    mean_abs_diff_log10_1p_dmax: float
    max_abs_diff_mm: float
    seconds: tuple[float, ...]
    member_mb: tuple[float, ...]

    @classmethod
    def from_dict(cls, d, where: str = QUANTIZATION_CHECK) -> QuantizationCheck:
        return super().from_dict(d, where)


@dataclass(frozen=True)
class Recorded:
    """The evaluations (grouping → :class:`Evaluation`), the stack's evaluation, the
    calibration measurement and the quantization check a manifest records (None: not
    recorded)."""

    evaluations: dict[str, Evaluation]
    stack: StackEvaluation | None
    calibration: CalibrationReport | None
    quantization: QuantizationCheck | None

    @classmethod
    def from_extra(cls, extra: dict) -> Recorded:
        """Read from a manifest's ``extra``."""
        def read(key: str, reader):
            return reader(extra[key], f"{_WHERE} {key}") if key in extra else None

        return cls(evaluations=read(EVALUATION, each_of(Evaluation.from_dict)) or {},
                   stack=read(STACK_EVALUATION, StackEvaluation.from_dict),
                   calibration=read(CALIBRATION_REPORT, CalibrationReport.from_dict),
                   quantization=read(QUANTIZATION_CHECK, QuantizationCheck.from_dict))

    def to_extra(self) -> dict:
        """The recorded sections as the manifest's ``extra`` keeps them (absent ones
        absent)."""
        out = {}
        if self.evaluations:
            out[EVALUATION] = {g: e.to_dict() for g, e in self.evaluations.items()}
        for key, rec in ((STACK_EVALUATION, self.stack), (CALIBRATION_REPORT, self.calibration),
                         (QUANTIZATION_CHECK, self.quantization)):
            if rec is not None:
                out[key] = rec.to_dict()
        return out


__all__ = ["CALIBRATION_REPORT", "EVALUATION", "QUANTIZATION_CHECK", "STACK_EVALUATION",
           "QuantizationCheck", "Recorded"]

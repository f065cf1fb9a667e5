"""The stack's evaluation, typed: what :func:`gfascreen.model.training.attach_stack.stack_model`
returns and the manifest keeps (``stack_evaluation``): per grouping, the headline figures
of the network, the partner and the stack on identical folds. ``to_dict`` writes back the
dict that ``from_dict`` read.
"""

from __future__ import annotations

from dataclasses import dataclass

from gfascreen.model.evaluation.calibration_report import CalibrationReport
from gfascreen.model.evaluation.headline import Headline
from gfascreen.model.evaluation.sections import Record

#: How a grouping is named in the tables.
GROUPING_NAMES = {"system": "leave-system-out", "random": "random 5-fold"}


@dataclass(frozen=True)
class StackGrouping(Record):
    """One grouping's figures per part (``network``, ``partner``, ``stack``) and the
    network's ranking weight chosen in each outer fold (fold number as text)."""

    parts: dict[str, Headline]
    rank_weight_per_fold: dict[str, float]


@dataclass(frozen=True)
class StackEvaluation(Record):
    """Per grouping (``system``, ``random``: the one the stack was evaluated on) the parts'
    figures; ``fitted_on``: the grouping the shipped stack was fitted on; in
    :func:`stack_model`'s result (not the manifest) also the recalibration's measurement
    and the wall time (s)."""

    system: StackGrouping | None = None
    random: StackGrouping | None = None
    fitted_on: str | None = None
    calibration: CalibrationReport | None = None
    wall_s: float | None = None

    @classmethod
    def from_dict(cls, d, where: str = "stack_evaluation") -> StackEvaluation:
        return super().from_dict(d, where)

    @property
    def groupings(self) -> dict[str, StackGrouping]:
        """The groupings evaluated (leave-system-out first)."""
        return {g: getattr(self, g) for g in GROUPING_NAMES if getattr(self, g) is not None}


def headline_rows(stack: StackEvaluation | None,
                  evaluations: dict[str, object]) -> dict[str, Headline]:
    """Rows of the side-by-side table: per grouping (leave-system-out first) the stack's
    parts, then the baselines of that grouping's recorded evaluation (``evaluations``:
    grouping → :class:`~gfascreen.model.evaluation.evaluation_report.Evaluation`)."""
    rows = {}
    for grouping, name in GROUPING_NAMES.items():
        if stack is not None and grouping in stack.groupings:
            for part, h in stack.groupings[grouping].parts.items():
                rows[f"{name}: {part}"] = h
        ev = evaluations.get(grouping)
        for b, s in ((ev.baselines or {}) if ev is not None else {}).items():
            rows[f"{name}: {b}"] = Headline.of_baseline(s)
    return rows


__all__ = ["GROUPING_NAMES", "Headline", "StackEvaluation", "StackGrouping", "headline_rows"]

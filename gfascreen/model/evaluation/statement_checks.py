"""Checks of a finished model's statements that no fold measures (``gfascreen evaluate
MODEL --statements SYSTEM:STEP``): how much of a system's grid one calibrated probability
holds (a plateau, where a map says nothing), the pure metals' P(glass) (a pure metal is a
crystal), and the model's reading of its own thick bulk glasses (the in-sample tail) and
of the famous bulk glasses an update is checked on. The grid's fractions come from the
caller (the CLI builds the screening grid): the model layer never imports screening.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch

from gfascreen.data.labels import DMAX_COLUMN
from gfascreen.model import columns as pc
from gfascreen.model.evaluation.moved import REFERENCE_ALLOYS

#: Bulk glasses at least this thick (mm) make the in-sample tail.
THICK_MM = 10.0


@dataclass(frozen=True)
class ReferenceReading:
    """One famous bulk glass (:data:`~gfascreen.model.evaluation.moved.REFERENCE_ALLOYS`):
    its Dmax measured (mm; the model's known alloy, NaN if it carries none) and predicted
    (mm), and P(bulk glass)."""

    formula: str
    measured_mm: float
    dmax_mm: float
    dmax_bmg_mm: float
    p_bmg: float


@dataclass(frozen=True)
class StatementChecks:
    """What :func:`check_statements` found. Shares are fractions of the grid's points;
    ratios are medians of predicted / measured Dmax (NaN without thick known alloys)."""

    system: str
    points: int
    p_glass_largest_share: float
    p_bmg_largest_share: float
    pure_max_p_glass: float
    pure_worst: str
    thick_n: int
    median_ratio_dmax_mm: float
    median_ratio_dmax_bmg_mm: float
    references: tuple[ReferenceReading, ...]

    def to_dict(self) -> dict:
        return asdict(self)

    def text(self) -> str:
        lines = [f"{self.system}, {self.points} grid points: the largest share holding one "
                 f"value (to 1e-9): P(glass) {self.p_glass_largest_share:.4f}, P(bulk glass) "
                 f"{self.p_bmg_largest_share:.4f}",
                 f"pure metals: P(glass) at most {self.pure_max_p_glass:.2e} "
                 f"({self.pure_worst})",
                 f"the model's {self.thick_n} bulk glasses >= {THICK_MM:g} mm: median "
                 f"predicted / measured {self.median_ratio_dmax_mm:.2f} (dmax_mm), "
                 f"{self.median_ratio_dmax_bmg_mm:.2f} (dmax_bmg_mm)"]
        lines += [f"{r.formula} (measured {r.measured_mm:g} mm): dmax_mm {r.dmax_mm:.1f}, "
                  f"dmax_bmg_mm {r.dmax_bmg_mm:.1f}, P(bulk glass) {r.p_bmg:.3f}"
                  for r in self.references]
        return "\n".join(lines)


def largest_share(values: np.ndarray) -> float:
    """The largest share of ``values`` holding one value, rounded to 1e-9 (1.0: a
    plateau over all of them)."""
    _, counts = np.unique(np.round(np.asarray(values, dtype=float), 9), return_counts=True)
    return float(counts.max() / len(values))


def largest_shares(ens, fractions: torch.Tensor) -> tuple[float, float]:
    """:func:`largest_share` of calibrated P(glass) and of P(bulk glass) over
    ``fractions``' rows (vocabulary order)."""
    df = ens.predict_fractions(fractions)
    return largest_share(df[pc.P_GLASS]), largest_share(df[pc.P_BMG])


def pure_metals(ens) -> tuple[float, str]:
    """The largest P(glass) over the vocabulary's pure elements, and that element."""
    p = ens.predict_fractions(torch.eye(len(ens.vocabulary.elements)))[pc.P_GLASS]
    worst = int(p.to_numpy().argmax())
    return float(p.iloc[worst]), ens.vocabulary.elements[worst]


def thick_tail(ens, min_mm: float = THICK_MM) -> tuple[int, float, float]:
    """Over the model's known bulk glasses of at least ``min_mm``: how many, and the median
    predicted / measured Dmax for ``dmax_mm`` and ``dmax_bmg_mm``."""
    known = ens.known_alloys
    if known is None:
        return 0, float("nan"), float("nan")
    thick = known[(known["gfa_class"] == "bmg") & (known[DMAX_COLUMN] >= min_mm)]
    if thick.empty:
        return 0, float("nan"), float("nan")
    pred = ens.predict(thick["composition"].tolist())
    measured = thick[DMAX_COLUMN].to_numpy()
    return (len(thick), float(np.median(pred[pc.DMAX_MM].to_numpy() / measured)),
            float(np.median(pred[pc.DMAX_BMG_MM].to_numpy() / measured)))


def reference_readings(ens) -> tuple[ReferenceReading, ...]:
    """The model's reading of the famous bulk glasses (NaN where it cannot score one)."""
    pred = ens.predict(list(REFERENCE_ALLOYS))
    return tuple(ReferenceReading(r["input"], float(r["measured_dmax_mm"]),
                                  float(r[pc.DMAX_MM]), float(r[pc.DMAX_BMG_MM]),
                                  float(r[pc.P_BMG])) for _, r in pred.iterrows())


def check_statements(ens, system: str, fractions: torch.Tensor) -> StatementChecks:
    """Every check on the predictor ``ens``; ``fractions`` are ``system``'s grid points
    (rows over the model's vocabulary, summing to 1)."""
    glass, bmg = largest_shares(ens, fractions)
    p_pure, worst = pure_metals(ens)
    n, ratio, ratio_bmg = thick_tail(ens)
    return StatementChecks(system, len(fractions), glass, bmg, p_pure, worst, n, ratio,
                           ratio_bmg, reference_readings(ens))

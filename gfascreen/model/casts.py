"""What a lab's own casts say about the alloys around them: a local correction of the one
distribution (:mod:`gfascreen.model.distribution`).

A model predicts a system it never saw with a bias shared by the system's alloys (its
thickness is off by a similar amount across the system) plus a smaller local part. A few
cast alloys measure both. :class:`CastCorrection` reads them as a Gaussian process on the
residuals over composition (at.%):

- **the thickness given a bulk glass**: the residuals ``r = y - μ`` (log10(1 + Dmax/mm)) of
  the casts that came out bulk glasses with a measured Dmax, with the covariance
  ``k(x, x') = broad_sd² exp(-d²/2 broad_at_pct²) + local_sd² exp(-d²/2 local_at_pct²)``
  (``d`` the Euclidean distance of the compositions in at.%) and noise ``noise_sd``; μ
  moves by the posterior mean. The broad part is the system's shared bias, the local part
  what one cast says about its close neighbours;
- **the class masses**: each cast's outcome (crystal, ribbon, bulk glass) moves the logits
  of P(glass) and P(bulk glass) by one Newton step of a logistic fit with a prior of
  ``class_sd`` on the shift, each cast weighted by ``exp(-d²/2 class_at_pct²)``.

Both are smooth in composition and vanish far from every cast (another system's alloys sit
tens of at.% away), so the correction moves what was cast and its neighbourhood only. The
spread ``σ`` is left as calibrated (the correction is not re-calibrated: its coverage is
measured in the loop simulation, ``scripts/loop_simulation.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from gfascreen.data.labels import DMAX_COLUMN
from gfascreen.errors import GfaError
from gfascreen.model.distribution import Predictive
from gfascreen.model.probabilities import logit
from gfascreen.model.targets import to_target

#: How far from 0 and 1 a class mass is clipped before its logit.
_EPS = 1e-6
#: The model part: the cast alloys with the uncorrected model's readings at them.
CASTS_FILE = "casts.parquet"
#: Its columns: the cast (composition, gfa_class, measured Dmax in mm, NaN where not
#: measured) and the model's distribution there before any correction (μ, P(glass),
#: P(bmg)).
CAST_COLUMNS = ("composition", "gfa_class", DMAX_COLUMN, "before_mu_log", "before_p_glass",
                "before_p_bmg")
#: The logit shift's search interval (±) and bisection steps (to ~1e-11).
_MAX_SHIFT, _BISECTIONS = 30.0, 42


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _shifted(p: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """``p`` with its logit moved by ``shift`` (odds times e^shift; exact at 0 and 1)."""
    odds = p * np.exp(shift)
    return odds / (1.0 - p + odds)


def _sq_dist(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances (at.%²) between the rows of ``a`` and ``b``."""
    return np.maximum((a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T, 0.0)


@dataclass
class _System:
    """The casts of one system (one element set): the Gaussian process of its residuals."""

    elements: np.ndarray
    x: np.ndarray
    alpha: np.ndarray


class CastCorrection:
    """The correction of the one distribution by cast alloys (module docstring). The
    defaults are the loop simulation's choice (``scripts/loop_simulation.py``: the lowest
    mean |error| of the rest at k = 5 random casts among the designs of its grid whose
    within-system Spearman is not below no update's, on every leave-system-out fold; the
    gate is not tuned there, since the simulation predicts one system at a time). Lengths
    in at.%, standard deviations in log10(1 + Dmax/mm) (``class_sd`` in logits);
    ``gate_at_pct``: a composition with m at.% of elements outside a cast's system takes
    exp(-m / gate_at_pct) of what that cast says."""

    #: The parameters (``__init__``'s, what the manifest records).
    PARAMETERS = ("broad_at_pct", "broad_sd", "local_at_pct", "local_sd", "noise_sd",
                  "class_sd", "class_at_pct", "gate_at_pct")

    def __init__(self, broad_at_pct=30.0, broad_sd=0.2, local_at_pct=4.0, local_sd=0.2,
                 noise_sd=0.1, class_sd=4.0, class_at_pct=15.0, gate_at_pct=3.0):
        self.broad_at_pct, self.broad_sd = float(broad_at_pct), float(broad_sd)
        self.local_at_pct, self.local_sd = float(local_at_pct), float(local_sd)
        self.noise_sd, self.class_sd = float(noise_sd), float(class_sd)
        self.class_at_pct, self.gate_at_pct = float(class_at_pct), float(gate_at_pct)
        self.systems_: list[_System] = []
        self.xt_ = self.glass_ = self.bmg_ = self.p_glass_ = self.p_bmg_ = None
        self.table_: pd.DataFrame | None = None

    def settings(self) -> dict[str, float]:
        """The parameters (what the manifest records)."""
        return {name: getattr(self, name) for name in self.PARAMETERS}

    def fit_table(self, casts: pd.DataFrame, featurizer, where: str = "casts"
                  ) -> CastCorrection:
        """:meth:`fit` on a table of :data:`CAST_COLUMNS` (the stored part); ``featurizer``
        reads its compositions (the model's vocabulary); ``where`` names the table in an
        error."""
        amounts, reasons = featurizer.parse(casts["composition"].tolist())
        if any(reasons):
            raise GfaError(f"{where}: {next(r for r in reasons if r)}")
        x = 100.0 * featurizer.from_amounts(amounts).double().cpu().numpy()
        glass = casts["before_p_glass"].to_numpy(float)
        bmg = casts["before_p_bmg"].to_numpy(float)
        before = Predictive(1 - glass, glass - bmg, bmg,
                            casts["before_mu_log"].to_numpy(float), np.ones(len(casts)), None)
        self.table_ = casts.reset_index(drop=True)
        return self.fit(x, casts["gfa_class"].astype(str).to_numpy(),
                        to_target(casts[DMAX_COLUMN].to_numpy(float)), before)

    def write_table(self, path: Path) -> int:
        """Write the casts it was fitted on (:data:`CAST_COLUMNS`) to ``path``; their
        number (the manifest entry: :meth:`gfascreen.model.parts.CastsEntry.write`)."""
        from gfascreen.tableio import write_parquet_atomic

        write_parquet_atomic(self.table_[list(CAST_COLUMNS)], path)
        return int(len(self.table_))

    @classmethod
    def from_file(cls, path: Path, settings: dict, featurizer) -> CastCorrection:
        """The correction of ``settings`` fitted on the casts table at ``path`` (verified by
        the caller: :class:`~gfascreen.model.parts.CastsEntry`)."""
        return cls(**settings).fit_table(pd.read_parquet(path), featurizer, str(path))

    def _kernel(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        d2 = _sq_dist(a, b)
        return (self.broad_sd ** 2 * np.exp(-d2 / (2 * self.broad_at_pct ** 2))
                + self.local_sd ** 2 * np.exp(-d2 / (2 * self.local_at_pct ** 2)))

    def _gate(self, x: np.ndarray, elements: np.ndarray) -> np.ndarray:
        """exp(-(at.% of ``x`` outside the element set ``elements``) / gate_at_pct)."""
        return np.exp(-x[:, ~elements].sum(1) / self.gate_at_pct)

    def fit(self, x_at_pct, gfa_class, y_log, before: Predictive) -> CastCorrection:
        """Fit on cast alloys: compositions ``x_at_pct`` ``(k, N)`` (at.%), outcomes
        ``gfa_class`` ("crystal", "ribbon", "bmg"), ``y_log`` the measured log10(1 +
        Dmax/mm) (NaN where not measured) and ``before`` the model's distributions at the
        casts (uncorrected). One Gaussian process per system the casts hold."""
        x = np.asarray(x_at_pct, float)
        cls = np.asarray(gfa_class).astype(str)
        y = np.asarray(y_log, float)
        thick = (cls == "bmg") & np.isfinite(y)
        r = y - before.mu
        self.systems_ = []
        for key in np.unique(x[thick] > 0, axis=0):
            m = thick & ((x > 0) == key).all(1)
            k = self._kernel(x[m], x[m]) + self.noise_sd ** 2 * np.eye(int(m.sum()))
            self.systems_.append(_System(key, x[m], np.linalg.solve(k, r[m])))
        self.xt_ = x
        self.glass_ = (cls != "crystal").astype(float)
        self.bmg_ = (cls == "bmg").astype(float)
        self.p_glass_, self.p_bmg_ = before.p_glass.copy(), before.p_bmg.copy()
        return self

    def shift_log(self, x_at_pct) -> np.ndarray:
        """The posterior mean of the thickness's bias at ``x_at_pct`` (log10(1 + Dmax/mm)):
        each cast system's, gated by the share of ``x`` outside it."""
        x = np.asarray(x_at_pct, float)
        out = np.zeros(len(x))
        for s in self.systems_:
            out += self._gate(x, s.elements) * (self._kernel(x, s.x) @ s.alpha)
        return out

    def _weights(self, x: np.ndarray) -> np.ndarray:
        """``(n, k)``: what each cast says about each composition's class (a kernel of
        length ``class_at_pct``, gated
        by the composition's share outside the cast's system)."""
        w = np.exp(-_sq_dist(x, self.xt_) / (2 * self.class_at_pct ** 2))
        outside = x @ (self.xt_ <= 0).T
        return w * np.exp(-outside / self.gate_at_pct)

    def _logit_shift(self, w: np.ndarray, t: np.ndarray, p: np.ndarray) -> np.ndarray:
        """The logit shift δ per composition, weights ``w`` ``(n, k)``: the maximum of the
        casts' weighted logistic likelihood with a normal prior of ``class_sd`` on δ, i.e.
        the root of ``Σ w (t - sigmoid(logit p + δ)) = δ / class_sd²`` (decreasing in δ:
        found by bisection; none with ``class_sd`` 0, the class masses then stay)."""
        if self.class_sd <= 0 or not w.shape[1]:
            return np.zeros(len(w))
        lp = logit(p, _EPS)
        lo, hi = np.full(len(w), -_MAX_SHIFT), np.full(len(w), _MAX_SHIFT)
        for _ in range(_BISECTIONS):
            mid = (lo + hi) / 2
            f = (w * (t - _sigmoid(lp[None, :] + mid[:, None]))).sum(1) - mid / self.class_sd ** 2
            lo, hi = np.where(f > 0, mid, lo), np.where(f > 0, hi, mid)
        return (lo + hi) / 2

    def correct(self, x_at_pct, d: Predictive) -> Predictive:
        """``d`` (the model's distributions at ``x_at_pct``) corrected by the casts."""
        x = np.asarray(x_at_pct, float)
        w = self._weights(x)
        glass = _shifted(d.p_glass, self._logit_shift(w, self.glass_, self.p_glass_))
        bmg = np.minimum(_shifted(d.p_bmg, self._logit_shift(w, self.bmg_, self.p_bmg_)), glass)
        return Predictive(1 - glass, glass - bmg, bmg, d.mu + self.shift_log(x), d.sigma,
                          d.thickness)

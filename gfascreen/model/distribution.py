"""One predictive distribution of Dmax per alloy: where every statement comes from.

An alloy's Dmax (critical casting diameter, mm) is a mixture of three parts, one per
class:

- **crystal** (mass ``p_crystal``): no glass, Dmax = 0 mm;
- **ribbon** (mass ``p_ribbon``): a glass only as a melt-spun ribbon, Dmax =
  :data:`RIBBON_MM` (0.1 mm, the scale the training table gives every ribbon);
- **bulk glass** (mass ``p_bmg``): castable at :data:`BULK_MIN_MM` (1 mm) or thicker, with
  the thickness given a bulk glass, in ``y = log10(1 + Dmax/mm)``, ``y = μ + σ z``
  with what falls under 1 mm put at 1 mm: ``μ`` the model's thickness-if-bulk-glass, ``σ`` a
  difficulty (:meth:`ThicknessModel.scale`) and ``z`` the conformal normalised residuals
  of leave-system-out bulk glasses (:class:`ThicknessModel`).

:class:`Predictive` holds the distributions of n alloys and reads every column off them
(:meth:`Predictive.columns`): ``dmax_mm`` its mean, ``dmax_lo``/``dmax_hi`` its
``(1 ∓ c)/2`` quantiles, ``dmax_at_least`` its ``1 - c`` quantile, ``p_dmax_ge_T`` its
survival function, ``p_glass``/``p_bmg`` its class masses, and the conditional interval
``dmax_bmg_lo``/``dmax_bmg_hi`` around ``dmax_bmg_mm``. So no two of them can contradict
each other, and each is as smooth in composition as the masses, ``μ`` and ``σ`` are.
No end is capped: where an interval's upper end passes the thickest glass ever measured
(:data:`RECORD_MM`) the column ``beyond_record`` says the number is an extrapolation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gfascreen.data.labels import BULK_MIN_MM
from gfascreen.data.labels import RIBBON_DMAX_MM as RIBBON_MM
from gfascreen.errors import GfaError
from gfascreen.model import columns as pc
from gfascreen.model.targets import from_target, to_target

# RIBBON_MM: the ribbon part's Dmax (the training table's ribbon Dmax, 0.1 mm); BULK_MIN_MM:
# the least Dmax of a bulk glass (1 mm), so P(bmg) is P(castable at 1 mm or thicker).
#: The thickest metallic glass measured in the training table (mm).
RECORD_MM = 72.0
#: The fewest bulk glasses with a measured Dmax a thickness distribution is fitted on (with
#: fewer than 19 its 90 % interval is no better than its extreme residuals).
MIN_BULK_GLASSES = 5
#: Quadrature levels of the conditional mean.
_MEAN_LEVELS = 64
#: A bulk glass's mass this small is no bulk glass in the quantiles.
_TINY = 1e-12


class ThicknessModel:
    """The thickness of a bulk glass given that it is one: a conformal predictive
    distribution ``y = μ + σ z`` (log10(1 + Dmax/mm)), fitted on leave-system-out bulk
    glasses with a measured Dmax >= 1 mm.

    ``spread_weight`` w sets the difficulty ``σ = s_ · (1 + w · spread / spread_ref_)``
    (log10(1 + Dmax/mm); ``spread`` the members' spread of ŷ, which is smooth in
    composition; w = 0: one scale for every alloy; ``s_`` makes the residuals' standard
    deviation 1). ``fit`` stores the sorted normalised residuals ``z_``; their CDF is
    their empirical CDF at levels i/(n+1), linear between them and extended by one
    standard deviation at each end (continuous and strictly increasing, so every quantile
    and probability moves smoothly with μ and σ)."""

    def __init__(self, spread_weight: float = 0.5):
        self.spread_weight = float(spread_weight)
        self.spread_ref_: float | None = None
        self.s_: float = 1.0
        self.z_: np.ndarray | None = None

    def fit(self, mu_log, spread_log, y_log) -> ThicknessModel:
        mu, y = np.asarray(mu_log, float), np.asarray(y_log, float)
        spread = np.asarray(spread_log, float)
        ok = np.isfinite(mu) & np.isfinite(y) & np.isfinite(spread)
        if ok.sum() < MIN_BULK_GLASSES:
            raise GfaError(f"the thickness distribution needs at least {MIN_BULK_GLASSES} "
                           f"bulk glasses with a measured Dmax, got {int(ok.sum())}")
        self.spread_ref_, self.s_ = float(max(np.median(spread[ok]), 1e-6)), 1.0
        z = (y[ok] - mu[ok]) / self.scale(spread[ok])
        self.s_ = float(np.std(z)) or 1.0
        self.z_ = np.sort(z / self.s_)
        return self

    def scale(self, spread_log) -> np.ndarray:
        """σ per alloy (log10(1 + Dmax/mm))."""
        if self.spread_ref_ is None:
            raise GfaError("the thickness distribution is not fitted")
        return self.s_ * (1.0 + self.spread_weight * np.asarray(spread_log, float)
                          / self.spread_ref_)

    def _knots(self) -> tuple[np.ndarray, np.ndarray]:
        z, n = self.z_, len(self.z_)
        return (np.r_[z[0] - 1.0, z, z[-1] + 1.0],
                np.r_[0.0, np.arange(1, n + 1) / (n + 1), 1.0])

    def cdf_z(self, z) -> np.ndarray:
        xs, us = self._knots()
        return np.interp(z, xs, us)

    def ppf_z(self, u) -> np.ndarray:
        xs, us = self._knots()
        return np.interp(u, us, xs)

    def _check(self) -> None:
        if self.z_ is None:
            raise GfaError("the thickness distribution is not fitted")

    # -- storage: the calibration file's tensors and the manifest's entry ----------------
    def tensors(self) -> dict[str, np.ndarray]:
        self._check()
        return {"thickness/z": self.z_}

    def entry(self) -> dict:
        return {"spread_weight": self.spread_weight, "spread_ref": self.spread_ref_,
                "scale": self.s_,
                "n": int(len(self.z_)), "bulk_min_mm": BULK_MIN_MM, "ribbon_mm": RIBBON_MM}

    @classmethod
    def from_tensors(cls, t: dict, entry: dict) -> ThicknessModel:
        try:
            m = cls(float(entry["spread_weight"]))
            m.spread_ref_, m.s_ = float(entry["spread_ref"]), float(entry["scale"])
            m.z_ = np.sort(np.asarray(t["thickness/z"], dtype=float))
        except (KeyError, TypeError, ValueError) as exc:
            raise GfaError(f"the calibration's thickness distribution is damaged ({exc})"
                           ) from None
        return m


@dataclass
class Predictive:
    """The predictive distributions of Dmax (mm) of n alloys: class masses and the
    thickness given a bulk glass (``mu`` and ``sigma`` in log10(1 + Dmax/mm), read through
    ``thickness``). Every method is vectorised over the alloys."""

    p_crystal: np.ndarray
    p_ribbon: np.ndarray
    p_bmg: np.ndarray
    mu: np.ndarray
    sigma: np.ndarray
    thickness: ThicknessModel

    def __post_init__(self):
        pb = np.clip(np.asarray(self.p_bmg, float), 0.0, 1.0)
        pr = np.clip(np.asarray(self.p_ribbon, float), 0.0, 1.0 - pb)
        self.p_bmg, self.p_ribbon, self.p_crystal = pb, pr, 1.0 - pb - pr
        self.mu, self.sigma = np.asarray(self.mu, float), np.asarray(self.sigma, float)

    def __len__(self) -> int:
        return len(self.p_bmg)

    def take(self, rows) -> Predictive:
        """The distributions of ``rows`` (indices or a mask)."""
        return Predictive(self.p_crystal[rows], self.p_ribbon[rows], self.p_bmg[rows],
                          self.mu[rows], self.sigma[rows], self.thickness)

    @classmethod
    def from_columns(cls, df, thickness: ThicknessModel) -> Predictive:
        """The distributions a table of predictions holds (a screen's rows: the class
        masses, ``bmg_loc_log`` and ``difficulty_log``)."""
        def col(c):
            return df[c].to_numpy(dtype=float)

        return cls(col(pc.P_CRYSTAL), col(pc.P_RIBBON), col(pc.P_BMG), col(pc.BMG_LOC_LOG),
                   col(pc.DIFFICULTY_LOG), thickness)

    @property
    def p_glass(self) -> np.ndarray:
        return self.p_ribbon + self.p_bmg

    # -- the thickness given a bulk glass ------------------------------------------------
    def bmg_quantile_log(self, u) -> np.ndarray:
        """The ``u`` quantile (0-1, scalar or per alloy) of log10(1 + Dmax/mm) given a bulk
        glass: the conformal quantile, or 1 mm where that falls below it (the mass the
        residuals put under 1 mm sits at 1 mm, so P(Dmax >= 1 mm | bulk glass) = 1)."""
        y = self.mu + self.sigma * self.thickness.ppf_z(np.asarray(u, float))
        return np.maximum(y, to_target(BULK_MIN_MM))

    def bmg_sf(self, t_mm: float) -> np.ndarray:
        """P(Dmax >= t_mm | bulk glass)."""
        if t_mm <= BULK_MIN_MM:
            return np.ones(len(self))
        return 1.0 - self.thickness.cdf_z((to_target(t_mm) - self.mu) / self.sigma)

    def _bmg_quadrature_mm(self) -> np.ndarray:
        """Dmax (mm) given a bulk glass at :data:`_MEAN_LEVELS` evenly spread quantile
        levels, ``(levels, n)``: what every expectation below averages."""
        levels = (np.arange(_MEAN_LEVELS) + 0.5) / _MEAN_LEVELS
        return from_target(self.bmg_quantile_log(levels[:, None]))

    def bmg_mean_mm(self) -> np.ndarray:
        """E[Dmax | bulk glass] (mm), by quadrature over the quantile levels."""
        return self._bmg_quadrature_mm().mean(0)

    # -- the whole mixture ---------------------------------------------------------------
    def sf(self, t_mm: float) -> np.ndarray:
        """P(Dmax >= t_mm)."""
        if t_mm <= 0:
            return np.ones(len(self))
        if t_mm <= RIBBON_MM:
            return self.p_glass
        return self.p_bmg * self.bmg_sf(t_mm)

    def cdf(self, t_mm: float) -> np.ndarray:
        """P(Dmax <= t_mm) (the parts' point masses at 0 and 0.1 mm included)."""
        if t_mm < 0:
            return np.zeros(len(self))
        below = self.p_crystal + np.where(t_mm >= RIBBON_MM, self.p_ribbon, 0.0)
        if t_mm < BULK_MIN_MM:
            return below
        # Given a bulk glass, P(Dmax <= t) includes what sits at 1 mm.
        return below + self.p_bmg * self.thickness.cdf_z((to_target(t_mm) - self.mu)
                                                         / self.sigma)

    def quantile_mm(self, u: float) -> np.ndarray:
        """The lower ``u`` quantile of Dmax (mm): the least t with P(Dmax <= t) >= u."""
        pc_, pr, pb = self.p_crystal, self.p_ribbon, self.p_bmg
        in_bmg = np.clip((u - pc_ - pr) / np.maximum(pb, _TINY), 0.0, 1.0)
        bulk = from_target(self.bmg_quantile_log(in_bmg))
        return np.where(u <= pc_, 0.0, np.where(u <= pc_ + pr, RIBBON_MM, bulk))

    def expected_gain_mm(self, best_mm: float) -> np.ndarray:
        """E[max(Dmax - best_mm, 0)] (mm): the expected improvement over an alloy of
        ``best_mm`` already known (``best_mm`` >= 0.1 mm: only a bulk glass can gain)."""
        gain = np.clip(self._bmg_quadrature_mm() - best_mm, 0.0, None).mean(0)
        ribbon = self.p_ribbon * max(RIBBON_MM - best_mm, 0.0)
        return ribbon + self.p_bmg * gain

    def mean_mm(self) -> np.ndarray:
        """E[Dmax] (mm): the column that ranks."""
        return self.p_ribbon * RIBBON_MM + self.p_bmg * self.bmg_mean_mm()

    def columns(self, confidence: float, thresholds_mm) -> dict[str, np.ndarray]:
        """Every column read off the distribution (:mod:`gfascreen.model.columns`)."""
        tail = (1.0 - confidence) / 2
        hi = self.quantile_mm(1.0 - tail)
        bmg_hi = from_target(self.bmg_quantile_log(1.0 - tail))
        mean = self.mean_mm()
        out = {pc.DMAX_MM: mean, pc.LOG_DMAX: to_target(mean), pc.DMAX_LO: self.quantile_mm(tail),
               pc.DMAX_HI: hi, pc.DMAX_AT_LEAST: self.quantile_mm(1.0 - confidence),
               pc.DMAX_BMG_MM: from_target(self.bmg_quantile_log(0.5)),
               pc.DMAX_BMG_LO: from_target(self.bmg_quantile_log(tail)),
               pc.DMAX_BMG_HI: bmg_hi, pc.BMG_LOC_LOG: self.mu, pc.DIFFICULTY_LOG: self.sigma,
               pc.P_GLASS: self.p_glass, pc.P_BMG: self.p_bmg,
               pc.P_CRYSTAL: self.p_crystal, pc.P_RIBBON: self.p_ribbon,
               pc.BEYOND_RECORD: np.maximum(hi, bmg_hi) > RECORD_MM}
        out.update({pc.threshold_column(t): self.sf(t) for t in thresholds_mm})
        return out

"""The stack: one prediction from the network and the descriptor partner.

Inputs per composition (:func:`stack_features`): the network's log10(1 + Dmax/mm) and
its class scores (logits of P(glass) and P(bmg)), the partner's regression, its class
scores and its bulk-glass thickness. Outputs:

- class probabilities crystal / ribbon / bmg from a multinomial logistic regression over
  the four class scores (smooth and monotone in each score: no plateaus);
- ``log_dmax_bmg``: the thickness if the alloy forms a bulk glass, a linear blend of the
  three regressions fitted on bulk glasses;
- the Dmax that ranks, the hurdle reading
  ``Dmax = P(bmg) · D_rank + P(ribbon) · RIBBON_MM`` (mm), where
  ``log10(1 + D_rank) = w · net_log + (1 − w) · gb_log`` blends the two parts'
  regressions over every alloy (``rank_weight`` w; on leave-system-out predictions this
  ranks better than the bulk-glass blend, which is the better thickness).

The stack is fitted on out-of-fold predictions (leave-system-out for the shipped model;
:mod:`gfascreen.model.training.nested_stack` nests it so that its own predictions are out of
fold) and stored as a few numbers in the manifest. ``fit`` uses scikit-learn;
``predict`` is numpy.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gfascreen.data.labels import RIBBON_DMAX_MM
from gfascreen.errors import GfaError
from gfascreen.model.probabilities import logit
from gfascreen.model.targets import from_target, to_target

#: Dmax (mm) the hurdle gives a ribbon-only glass (the melt-spun ribbon's thickness scale).
RIBBON_MM = RIBBON_DMAX_MM
#: Above this fraction of one element (93 at.%: the richest glass among the training
#: alloys, an Al93 ribbon; none lies above it) the glass probabilities taper linearly to 0
#: at the pure metal: a pure metal does not form a glass by casting, which no fold shows.
CORNER_START = 0.93
#: Stack inputs, in order.
FEATURES = ("net_log", "net_logit_glass", "net_logit_bmg",
            "gb_log", "gb_logit_glass", "gb_logit_bmg", "gb_log_bmg")
#: The inputs of the class model: the two parts' class scores.
CLASS_FEATURES = ("net_logit_glass", "net_logit_bmg", "gb_logit_glass", "gb_logit_bmg")
#: The inputs of the bulk-glass thickness blend.
BMG_FEATURES = ("net_log", "gb_log", "gb_log_bmg")
#: How far from 0 and 1 the parts' class probabilities are clipped before their logits.
_EPS = 1e-4


def stack_features(net_log, net_proba, gb_log, gb_proba, gb_log_bmg) -> np.ndarray:
    """``(B, 7)`` inputs in :data:`FEATURES` order; ``*_proba`` are ``(B, 3)`` crystal /
    ribbon / bmg."""
    net_proba, gb_proba = np.asarray(net_proba, float), np.asarray(gb_proba, float)
    return np.column_stack([
        net_log, logit(1 - net_proba[:, 0], _EPS), logit(net_proba[:, 2], _EPS),
        gb_log, logit(1 - gb_proba[:, 0], _EPS), logit(gb_proba[:, 2], _EPS), gb_log_bmg])


@dataclass
class StackOutput:
    """``proba`` ``(B, 3)`` crystal / ribbon / bmg; ``log_dmax_bmg`` and ``log_dmax`` in
    log10(1 + Dmax/mm); ``dmax_mm`` the hurdle Dmax."""

    proba: np.ndarray
    log_dmax_bmg: np.ndarray
    dmax_mm: np.ndarray

    @property
    def log_dmax(self) -> np.ndarray:
        """The hurdle Dmax in log10(1 + Dmax/mm)."""
        return to_target(self.dmax_mm)

    @property
    def dmax_bmg_mm(self) -> np.ndarray:
        """The bulk-glass thickness in mm (clipped at 0)."""
        return from_target(self.log_dmax_bmg)


@dataclass
class Stack:
    """Multinomial logistic class model + linear bulk-glass blend; ``fit`` returns the
    fitted object. ``C``: inverse L2 strength of the logistic regression (on standardised
    inputs); ``rank_weight``: the network's weight in the ranking Dmax (chosen by
    :func:`gfascreen.model.training.nested_stack.choose_rank_weight`, nested)."""

    C: float = 1.0
    rank_weight: float = 0.3
    mean_: np.ndarray | None = None
    scale_: np.ndarray | None = None
    coef_: np.ndarray | None = None          # (3, 4): CLASS_FEATURES
    intercept_: np.ndarray | None = None     # (3,)
    bmg_coef_: np.ndarray | None = None      # (3,)
    bmg_intercept_: float = 0.0
    #: What the fit saw: rows, and bulk glasses with a measured thickness (counts).
    info_: dict = field(default_factory=dict)
    #: The neighbourhood (at.%) the partner is averaged over before the stack reads it
    #: (:mod:`gfascreen.model.local_average`; 0: read at the composition itself).
    partner_step_at_pct: float = 0.0

    def fit(self, features: np.ndarray, gfa_class, y_log: np.ndarray) -> Stack:
        """``gfa_class``: crystal / ribbon / bmg per row; ``y_log``: measured
        log10(1 + Dmax/mm), NaN where unmeasured (only bulk glasses with a Dmax fit the
        thickness blend)."""
        from sklearn.linear_model import LinearRegression, LogisticRegression

        f = np.asarray(features, dtype=float)
        cls = np.asarray(gfa_class).astype(str)
        order = {"crystal": 0, "ribbon": 1, "bmg": 2}
        y = np.array([order.get(c, -1) for c in cls])
        if (y < 0).any() or len(np.unique(y)) < 3:
            raise GfaError("the stack needs crystal, ribbon and bmg rows (and nothing else)")
        cols = [FEATURES.index(c) for c in CLASS_FEATURES]
        self.mean_, self.scale_ = f[:, cols].mean(0), f[:, cols].std(0) + 1e-9
        lr = LogisticRegression(C=self.C, max_iter=2000).fit(self._z(f), y)
        self.coef_, self.intercept_ = lr.coef_.copy(), lr.intercept_.copy()
        bmg = (y == 2) & np.isfinite(y_log)
        cols = [FEATURES.index(c) for c in BMG_FEATURES]
        lin = LinearRegression().fit(f[bmg][:, cols], np.asarray(y_log)[bmg])
        self.bmg_coef_, self.bmg_intercept_ = lin.coef_.copy(), float(lin.intercept_)
        self.info_ = {"n": int(len(f)), "n_bmg_thickness": int(bmg.sum())}
        return self

    def _z(self, f: np.ndarray) -> np.ndarray:
        cols = [FEATURES.index(c) for c in CLASS_FEATURES]
        return (f[:, cols] - self.mean_) / self.scale_

    def predict(self, features: np.ndarray, max_fraction: np.ndarray | None = None
                ) -> StackOutput:
        """``max_fraction``: each composition's largest element fraction (0-1), for the
        corner taper (:data:`CORNER_START`); None: no taper."""
        if self.coef_ is None:
            raise GfaError("the stack is not fitted")
        f = np.asarray(features, dtype=float)
        z = self._z(f) @ self.coef_.T + self.intercept_
        z -= z.max(1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(1, keepdims=True)
        if max_fraction is not None:
            t = np.clip((1.0 - np.asarray(max_fraction, float)) / (1.0 - CORNER_START), 0, 1)
            p[:, 1:] *= t[:, None]
            p[:, 0] = 1.0 - p[:, 1:].sum(1)
        cols = [FEATURES.index(c) for c in BMG_FEATURES]
        log_bmg = f[:, cols] @ self.bmg_coef_ + self.bmg_intercept_
        w = self.rank_weight
        log_rank = w * f[:, FEATURES.index("net_log")] + (1 - w) * f[:, FEATURES.index("gb_log")]
        d_rank = from_target(log_rank)
        return StackOutput(p, log_bmg, p[:, 2] * d_rank + p[:, 1] * RIBBON_MM)

    # -- storage (a few numbers: the manifest) ----------------------------------------------
    def to_dict(self) -> dict:
        return {"kind": "logistic+linear-hurdle", "features": list(FEATURES),
                "class_features": list(CLASS_FEATURES), "bmg_features": list(BMG_FEATURES),
                "ribbon_mm": RIBBON_MM, "C": self.C,
                "rank_weight": self.rank_weight,
                "mean": self.mean_.tolist(), "scale": self.scale_.tolist(),
                "coef": self.coef_.tolist(), "intercept": self.intercept_.tolist(),
                "bmg_coef": self.bmg_coef_.tolist(), "bmg_intercept": self.bmg_intercept_,
                "partner_step_at_pct": self.partner_step_at_pct, "info": self.info_}

    @classmethod
    def from_dict(cls, d: dict) -> Stack:
        if (not isinstance(d, dict) or d.get("features") != list(FEATURES)
                or d.get("class_features") != list(CLASS_FEATURES)
                or d.get("bmg_features") != list(BMG_FEATURES)):
            raise GfaError("the manifest's stack was written for other inputs than this "
                           "gfascreen computes; rebuild it with `gfascreen stack`")
        try:
            s = cls(C=float(d["C"]), rank_weight=float(d["rank_weight"]),
                    mean_=np.asarray(d["mean"], float),
                    scale_=np.asarray(d["scale"], float), coef_=np.asarray(d["coef"], float),
                    intercept_=np.asarray(d["intercept"], float),
                    bmg_coef_=np.asarray(d["bmg_coef"], float),
                    bmg_intercept_=float(d["bmg_intercept"]), info_=dict(d.get("info", {})),
                    partner_step_at_pct=float(d.get("partner_step_at_pct", 0.0)))
        except (KeyError, TypeError, ValueError) as exc:
            raise GfaError(f"the manifest's stack is damaged ({exc})") from None
        if s.coef_.shape != (3, len(CLASS_FEATURES)) or s.bmg_coef_.shape != (len(BMG_FEATURES),):
            raise GfaError("the manifest's stack has the wrong shape; rebuild it")
        return s

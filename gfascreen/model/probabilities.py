"""Calibrated class probabilities: P(glass) and P(bulk glass) from the class head.

The raw scores (the class head's softmax, or the stack's) are not probabilities on unseen
systems. Each of the two events gets a monotone map from the raw score to the observed
frequency on leave-system-out predictions, optionally one map per Mondrian bin (in / out
of domain): beta calibration (a logistic regression on ln s and −ln(1 − s) with
non-negative slopes; smooth and increasing, so distinct scores stay distinct and the
ranking is kept), Platt scaling (on the logit alone), or, for
models calibrated before it, isotonic regression (Zadrozny & Elkan, KDD 2002), whose
step maps merged distinct scores into plateaus. A map is stored as a few numbers, so
inference needs no scikit-learn. The two calibrated probabilities are made coherent
(P(bulk glass) <=
P(glass)); crystal and ribbon follow: P(crystal) = 1 - P(glass), P(ribbon) = P(glass) -
P(bulk glass).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gfascreen.errors import GfaError
from gfascreen.model import columns as pc

#: The calibrated events, each read from the raw class probabilities.
EVENTS = ("glass", "bmg")
#: Mondrian binnings of the probability maps (``domain``: one map in, one out of domain).
PROB_BINNINGS = ("none", "domain")


def raw_event(event: str, p_crystal: np.ndarray, p_bmg: np.ndarray) -> np.ndarray:
    """The head's raw probability of ``event`` (glass = 1 - P(crystal))."""
    if event == "glass":
        return 1.0 - np.asarray(p_crystal, dtype=float)
    if event == "bmg":
        return np.asarray(p_bmg, dtype=float)
    raise GfaError(f"unknown event {event!r}; choose {EVENTS}")


def observed_event(event: str, gfa_class) -> np.ndarray:
    """1 where a labelled alloy is an instance of ``event``, else 0."""
    c = np.asarray(gfa_class).astype(str)
    return (c != "crystal").astype(float) if event == "glass" else (c == "bmg").astype(float)


#: How a raw score s becomes a probability: ``beta`` (Kull, Silva Filho & Flach, AISTATS
#: 2017: logistic in ln s and −ln(1 − s), both slopes kept >= 0, so smooth and
#: non-decreasing; it never merges distinct scores unless a slope is 0 and never changes a
#: ranking), ``platt`` (logistic in the score's logit, Platt 1999) or ``isotonic`` (step
#: maps; read for older models).
METHODS = ("beta", "platt", "isotonic")
#: How far from 0 and 1 a raw score is clipped before its logit or log.
_EPS = 1e-6


def logit(p, eps: float) -> np.ndarray:
    """ln(p / (1 - p)) of probabilities clipped to [``eps``, 1 - ``eps``] (float64): the one
    logit of the model; each caller states its own ``eps``."""
    p = np.clip(np.asarray(p, dtype=float), eps, 1 - eps)
    return np.log(p / (1 - p))


@dataclass
class ProbabilityCalibration:
    """Monotone maps raw -> calibrated for each event (and Mondrian bin); ``fit`` returns
    the fitted object. ``method``: one of :data:`METHODS`."""

    binning: str = "none"
    info: dict = field(default_factory=dict)
    maps_: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    method: str = "beta"

    def fit(self, p_crystal, p_bmg, gfa_class, in_domain=None) -> ProbabilityCalibration:
        """Fit on raw head probabilities and observed classes (``in_domain`` for the
        ``domain`` binning)."""
        if self.method not in METHODS:
            raise GfaError(f"unknown probability calibration {self.method!r}; "
                           f"choose {METHODS}")
        if self.binning not in PROB_BINNINGS:
            raise GfaError(f"unknown probability binning {self.binning!r}; "
                           f"choose {PROB_BINNINGS}")
        bins = self._bins(in_domain, len(np.asarray(p_bmg)))
        self.maps_ = {}
        for event in EVENTS:
            x = raw_event(event, p_crystal, p_bmg)
            y = observed_event(event, gfa_class)
            for b in np.unique(bins):
                m = bins == b
                if m.sum() < 20:
                    raise GfaError(f"probability calibration needs at least 20 alloys per "
                                   f"bin, got {int(m.sum())} in bin {b}")
                self.maps_[f"{event}/{b}"] = _fit_map(self.method, x[m], y[m])
        return self

    def _bins(self, in_domain, n: int) -> np.ndarray:
        if self.binning == "none":
            return np.zeros(n, dtype=int)
        if in_domain is None:
            raise GfaError("a 'domain' probability calibration needs each alloy's in_domain")
        return np.asarray(in_domain, dtype=bool).astype(int)

    def predict(self, p_crystal, p_bmg, in_domain=None) -> dict[str, np.ndarray]:
        """Calibrated ``p_glass``, ``p_bmg``, ``p_crystal`` and ``p_ribbon`` (coherent:
        they are probabilities of nested events and sum to one)."""
        if not self.maps_:
            raise GfaError("the probability calibration is not fitted")
        n = len(np.asarray(p_bmg))
        bins = self._bins(in_domain, n)
        out = {}
        for event in EVENTS:
            x = raw_event(event, p_crystal, p_bmg)
            p = np.full(n, np.nan)
            for b in np.unique(bins):
                m = bins == b
                p[m] = _apply_map(self.method, self.maps_[f"{event}/{b}"], x[m])
            out[event] = p
        glass = out["glass"]
        bmg = np.minimum(out["bmg"], glass)
        return {pc.P_GLASS: glass, pc.P_BMG: bmg, pc.P_CRYSTAL: 1.0 - glass,
                pc.P_RIBBON: glass - bmg}

    # -- storage (tensors go into the calibration file, the rest into the manifest) -------
    def tensors(self) -> dict[str, np.ndarray]:
        out = {}
        for key, (xs, ys) in self.maps_.items():
            out[f"prob/{key}/x"] = xs
            out[f"prob/{key}/y"] = ys
        return out

    def entry(self) -> dict:
        return {"binning": self.binning, "map": self.method, **self.info}

    @classmethod
    def from_tensors(cls, t: dict, entry: dict) -> ProbabilityCalibration:
        maps = {}
        for name in t:
            if name.startswith("prob/") and name.endswith("/x"):
                key = name[len("prob/"):-len("/x")]
                maps[key] = (np.asarray(t[name], dtype=float),
                             np.asarray(t[f"prob/{key}/y"], dtype=float))
        if not maps:
            raise GfaError("the calibration file lacks the probability maps its manifest "
                           "entry names")
        method = str(entry.get("map", "isotonic"))
        if method not in METHODS:
            raise GfaError(f"the calibration's probability map {method!r} is unknown to "
                           f"this gfascreen ({METHODS})")
        return cls(binning=str(entry.get("binning", "none")),
                   info={k: v for k, v in entry.items() if k not in ("binning", "map")},
                   maps_=maps, method=method)


def _beta_features(x: np.ndarray) -> np.ndarray:
    x = np.clip(np.asarray(x, dtype=float), _EPS, 1 - _EPS)
    return np.column_stack([np.log(x), -np.log1p(-x)])


def _fit_map(method: str, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``beta``: slopes (a, b) and intercept of a logistic regression of y on ln x and
    −ln(1 − x) (a slope that comes out negative is dropped and the fit redone, so the map
    stays non-decreasing); ``platt``: (slope, intercept) on logit(x); ``isotonic``: the
    step map's breakpoints."""
    if method in ("beta", "platt"):
        from sklearn.linear_model import LogisticRegression

        if len(np.unique(y)) < 2:
            raise GfaError("a probability map needs both outcomes among its alloys")
        f = _beta_features(x) if method == "beta" else logit(x, _EPS)[:, None]
        keep = np.ones(f.shape[1], dtype=bool)
        while keep.any():
            lr = LogisticRegression(C=1e6, max_iter=2000).fit(f[:, keep], y)
            coef = np.zeros(f.shape[1])
            coef[keep] = lr.coef_[0]
            if (coef >= 0).all():
                return coef, np.array([float(lr.intercept_[0])])
            keep &= coef > 0
        # No score that rises with the outcome: the constant map at its frequency.
        return np.zeros(f.shape[1]), np.array([float(logit(np.mean(y), _EPS))])
    from sklearn.isotonic import IsotonicRegression

    iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(x, y)
    return (np.asarray(iso.X_thresholds_, dtype=float),
            np.asarray(iso.y_thresholds_, dtype=float))


def _apply_map(method: str, params: tuple[np.ndarray, np.ndarray], x: np.ndarray
               ) -> np.ndarray:
    a, b = params
    if method in ("beta", "platt"):
        f = _beta_features(x) if method == "beta" else logit(x, _EPS)[:, None]
        return 1.0 / (1.0 + np.exp(-(f @ np.asarray(a, dtype=float) + float(b[0]))))
    return np.interp(x, a, b)

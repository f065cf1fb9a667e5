"""How well stated probabilities and intervals hold: coverage, ECE, Brier, reliability
tables (numpy only).

Measured at calibration time (:mod:`gfascreen.model.statements`) and in evaluations
(:mod:`gfascreen.model.evaluation`); inference never needs them.
"""

from __future__ import annotations

import numpy as np


def coverage(y_log: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> float:
    """Share of ``y`` inside ``[lo, hi]`` (log space; NaN ``y`` ignored)."""
    y = np.asarray(y_log, dtype=float)
    ok = np.isfinite(y)
    if not ok.any():
        return float("nan")
    return float(np.mean((y[ok] >= lo[ok] - 1e-12) & (y[ok] <= hi[ok] + 1e-12)))


def reliability_table(p: np.ndarray, y: np.ndarray, n_bins: int = 10) -> list[dict]:
    """Predicted vs observed frequency per decile of the predicted probability (equal-count
    bins; ties kept together), with counts."""
    p = np.asarray(p, dtype=float)
    y = np.asarray(y, dtype=float)
    ok = np.isfinite(p) & np.isfinite(y)
    p, y = p[ok], y[ok]
    if len(p) == 0:
        return []
    edges = np.unique(np.quantile(p, np.linspace(0, 1, n_bins + 1)))
    idx = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, max(len(edges) - 2, 0))
    rows = []
    for b in np.unique(idx):
        m = idx == b
        rows.append({"lo": float(p[m].min()), "hi": float(p[m].max()), "n": int(m.sum()),
                     "predicted": float(p[m].mean()), "observed": float(y[m].mean())})
    return rows


def expected_calibration_error(p: np.ndarray, y: np.ndarray, n_bins: int = 10) -> float:
    """ECE with ``n_bins`` equal-width bins over [0, 1]: the count-weighted mean of
    |mean predicted - observed frequency|."""
    p = np.asarray(p, dtype=float)
    y = np.asarray(y, dtype=float)
    ok = np.isfinite(p) & np.isfinite(y)
    p, y = p[ok], y[ok]
    if len(p) == 0:
        return float("nan")
    idx = np.clip((p * n_bins).astype(int), 0, n_bins - 1)
    err = 0.0
    for b in np.unique(idx):
        m = idx == b
        err += m.sum() * abs(p[m].mean() - y[m].mean())
    return float(err / len(p))


def brier(p: np.ndarray, y: np.ndarray) -> float:
    """Mean squared difference between probability and outcome (0/1)."""
    p = np.asarray(p, dtype=float)
    y = np.asarray(y, dtype=float)
    ok = np.isfinite(p) & np.isfinite(y)
    return float(np.mean((p[ok] - y[ok]) ** 2)) if ok.any() else float("nan")


def probability_report(p: np.ndarray, y: np.ndarray, raw: np.ndarray | None = None) -> dict:
    """ECE, Brier (calibrated, raw head, class prior) and the decile reliability table."""
    y = np.asarray(y, dtype=float)
    table = reliability_table(p, y)
    out = {"n": int(np.isfinite(y).sum()), "ece": expected_calibration_error(p, y),
           "brier": brier(p, y), "brier_prior": brier(np.full(len(y), np.nanmean(y)), y),
           "reliability": table, "worst_decile_gap": _worst_gap(table)}
    if raw is not None:
        out["ece_raw"] = expected_calibration_error(raw, y)
        out["brier_raw"] = brier(raw, y)
    return out


def _worst_gap(rows: list[dict], min_n: int = 50) -> float:
    gaps = [abs(r["predicted"] - r["observed"]) for r in rows if r["n"] >= min_n]
    return float(max(gaps)) if gaps else float("nan")

"""Scores reported everywhere (scikit-learn and scipy do the maths)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import spearmanr
from sklearn.metrics import accuracy_score, f1_score, mean_absolute_error, r2_score

from gfascreen.data.labels import DMAX_COLUMN
from gfascreen.model.targets import to_target


def _block(y: np.ndarray, p: np.ndarray) -> dict:
    if len(y) < 2:
        return {"n": int(len(y))}
    return {
        "n": int(len(y)),
        "r2_mm": float(r2_score(y, p)),
        "r2_log": float(r2_score(to_target(y), to_target(p))),
        "mae_mm": float(mean_absolute_error(y, p)),
        "rmse_mm": float(np.sqrt(np.mean((y - p) ** 2))),
        "spearman": float(spearmanr(y, p).statistic),
    }


def regression_report(oof: pd.DataFrame) -> dict:
    """Metrics from out-of-fold predictions (columns ``dmax_mm``, ``pred_mm``, ``gfa_class``,
    ``fold``; optional ``pred_class``). Pooled over all rows and averaged over folds."""
    d = oof[oof[DMAX_COLUMN].notna()]
    out = {"all": _block(d[DMAX_COLUMN].to_numpy(), d["pred_mm"].to_numpy())}
    bmg = d[d["gfa_class"] == "bmg"]
    out["bmg"] = _block(bmg[DMAX_COLUMN].to_numpy(), bmg["pred_mm"].to_numpy())
    per_fold = [_block(g[DMAX_COLUMN].to_numpy(), g["pred_mm"].to_numpy())
                for _, g in d.groupby("fold")]
    per_fold = [f for f in per_fold if "r2_mm" in f]
    if per_fold:
        out["fold_mean"] = {k: float(np.mean([f[k] for f in per_fold]))
                            for k in ("r2_mm", "r2_log", "mae_mm", "spearman")}
        out["fold_std"] = {k: float(np.std([f[k] for f in per_fold]))
                           for k in ("r2_mm", "r2_log")}
    if "pred_class" in oof.columns and oof["pred_class"].notna().any():
        c = oof[oof["pred_class"].notna()]
        out["class"] = {
            "accuracy": float(accuracy_score(c["gfa_class"].astype(str), c["pred_class"])),
            "f1_macro": float(f1_score(c["gfa_class"].astype(str), c["pred_class"],
                                       average="macro")),
            "n": int(len(c)),
        }
    return out

"""What a screen uses: ranking within a system, glass vs crystal, calibrated coverage.

All computed from out-of-fold predictions (columns ``system``, ``dmax_mm``, ``gfa_class``
and a prediction column; ``p_crystal`` / ``p_bmg`` for the class scores). scipy and
scikit-learn do the maths. Within-system metrics use systems with at least
:data:`MIN_ALLOYS` alloys with a Dmax and more than one distinct value; "top 20 %" counts
ranks ``<= ceil(0.2 n)`` by prediction.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score

from gfascreen.data.labels import DMAX_COLUMN
from gfascreen.model import columns as pc

MIN_ALLOYS = 5
TOP_SHARE = 0.2


def within_system(oof: pd.DataFrame, pred: str = "pred_mm") -> dict:
    """Spearman between measured and predicted Dmax inside each system; mean weighted by
    alloys, median, number of systems, and the share of systems whose best measured alloy
    is in the top 20 % of that system's alloys by prediction."""
    d = oof[oof[DMAX_COLUMN].notna() & oof[pred].notna()]
    rhos, sizes, hits = [], [], []
    for _, g in d.groupby("system"):
        if len(g) < MIN_ALLOYS or g[DMAX_COLUMN].nunique() < 2:
            continue
        rho = spearmanr(g[DMAX_COLUMN], g[pred]).statistic
        rhos.append(0.0 if not np.isfinite(rho) else float(rho))  # constant prediction
        sizes.append(len(g))
        best = g[DMAX_COLUMN].to_numpy().argmax()
        # Rank of the best alloy by prediction; ties count against the model.
        rank = int((g[pred].to_numpy() >= g[pred].to_numpy()[best]).sum())
        hits.append(rank <= math.ceil(TOP_SHARE * len(g)))
    if not rhos:
        return {"systems": 0}
    return {"systems": len(rhos), "alloys": int(sum(sizes)),
            "spearman_weighted_mean": float(np.average(rhos, weights=sizes)),
            "spearman_median": float(np.median(rhos)),
            "best_in_top20_share": float(np.mean(hits))}


def glass_auc(oof: pd.DataFrame) -> dict:
    """ROC-AUC of P(glass) = 1 - P(crystal) for glass vs crystal, and of P(bmg) for bulk
    glass vs the rest (all rows with a class)."""
    if pc.P_CRYSTAL not in oof.columns:
        return {}
    d = oof[oof[pc.P_CRYSTAL].notna()]
    cls = d["gfa_class"].astype(str)
    out = {}
    glass = (cls != "crystal").to_numpy()
    if 0 < glass.sum() < len(d):
        out["auc_glass_vs_crystal"] = float(roc_auc_score(glass, 1 - d[pc.P_CRYSTAL]))
    bmg = (cls == "bmg").to_numpy()
    if pc.P_BMG in d.columns and 0 < bmg.sum() < len(d):
        out["auc_bmg_vs_rest"] = float(roc_auc_score(bmg, d[pc.P_BMG]))
    return out


def screening_report(oof: pd.DataFrame, pred: str = "pred_mm") -> dict:
    """Within-system ranking and class AUCs in one block."""
    return {"within_system": within_system(oof, pred), **glass_auc(oof)}

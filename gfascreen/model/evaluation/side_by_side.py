"""The headline figures of one out-of-fold table, for side-by-side comparison of the
network, the partner, the stack and the baselines on identical folds (read as
:class:`~gfascreen.model.evaluation.stack_report.Headline`, tabled by
:func:`~gfascreen.model.evaluation.markdown.headline_table`).

- ``pooled_spearman``: Spearman of measured vs predicted Dmax over every alloy with a Dmax;
- ``within_system``: the alloy-weighted mean within-system Spearman
  (:func:`~gfascreen.model.evaluation.screening_metrics.within_system`);
- ``auc_glass``, ``auc_bmg``: ROC-AUC of P(glass) for glass vs crystal and of P(bmg) for
  bulk glass vs the rest;
- ``bmg_r2_log``: R² of log10(1 + Dmax/mm) over bulk glasses with a Dmax, of the
  thickness-if-bulk-glass column ``pred_bmg_mm`` (``pred_mm`` where a part has none);
- ``r2_mm``: R² in mm over every alloy with a Dmax (``pred_mm``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import spearmanr
from sklearn.metrics import r2_score

from gfascreen.data.labels import DMAX_COLUMN
from gfascreen.model.evaluation.screening_metrics import glass_auc, within_system
from gfascreen.model.targets import to_target


def _with_dmax(oof: pd.DataFrame) -> pd.DataFrame:
    return oof[oof[DMAX_COLUMN].notna() & oof["pred_mm"].notna()]


def _ranking(d: pd.DataFrame) -> tuple[float, float]:
    """Pooled and within-system Spearman of ``pred_mm`` over rows with a Dmax."""
    return (float(spearmanr(d[DMAX_COLUMN], d["pred_mm"]).statistic),
            float(within_system(d).get("spearman_weighted_mean", np.nan)))


def headline(oof: pd.DataFrame) -> dict[str, float]:
    d = _with_dmax(oof)
    y, p = d[DMAX_COLUMN].to_numpy(float), d["pred_mm"].to_numpy(float)
    bmg = d[d["gfa_class"].astype(str) == "bmg"]
    thick = bmg["pred_bmg_mm"] if "pred_bmg_mm" in bmg.columns else bmg["pred_mm"]
    auc = glass_auc(oof)
    pooled, within = _ranking(d)
    return {
        "pooled_spearman": pooled,
        "within_system": within,
        "auc_glass": float(auc.get("auc_glass_vs_crystal", np.nan)),
        "auc_bmg": float(auc.get("auc_bmg_vs_rest", np.nan)),
        "bmg_r2_log": float(r2_score(to_target(bmg[DMAX_COLUMN].to_numpy(float)),
                                     to_target(thick.to_numpy(float)))),
        "r2_mm": float(r2_score(y, p)),
    }


def ranking_score(oof: pd.DataFrame) -> float:
    """Pooled + within-system Spearman of ``pred_mm`` (what a screen's ranking needs)."""
    pooled, within = _ranking(_with_dmax(oof))
    return pooled + (within if np.isfinite(within) else 0.0)

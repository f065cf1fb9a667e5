"""How well a model ranks alloy systems it never saw: the evidence behind an atlas's
ranking of systems.

From leave-system-out out-of-fold predictions (every prediction for a system the
predicting model never saw; columns ``system``, ``dmax_mm``, ``pred_mm``, ``p_bmg``), over
the alloys with a measured Dmax (mm), each system is scored by a *statistic* of its
alloys' predictions (:data:`STATISTICS`: its largest predicted Dmax, its largest
P(bulk glass)) and judged on two questions a lab asks of a new system:

- does it hold a bulk glass of at least :data:`BULK_MIN_MM` mm? ROC-AUC of the statistic over
  every system with a measured alloy;
- how thick is its best glass? Spearman correlation of the statistic with the system's
  best measured Dmax (mm), over systems with at least :data:`MIN_ALLOYS` measured alloys,
  pooled and per order (elements per system).

The statistic with the higher pooled Spearman (ties: the higher AUC) is the one an atlas
ranks its systems by (:func:`chosen_statistic`)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score

from gfascreen.data.labels import BULK_MIN_MM, DMAX_COLUMN
from gfascreen.model import columns as pc

#: Systems with at least this many measured alloys enter the Spearman correlations.
MIN_ALLOYS = 3
#: What a system is scored by: name -> (prediction column, words). ``best_dmax`` is the
#: largest predicted Dmax (mm) over the system's alloys, ``best_p_bmg`` the largest
#: calibrated P(bulk glass).
STATISTICS = {"best_dmax": ("pred_mm", "largest predicted Dmax (mm)"),
              "best_p_bmg": (str(pc.P_BMG), "largest P(bulk glass)")}


def per_system(oof: pd.DataFrame) -> pd.DataFrame:
    """One row per system with a measured alloy: its order, measured alloys, best measured
    Dmax (mm), whether it holds a bulk glass of :data:`BULK_MIN_MM` mm, and each statistic."""
    d = oof[oof[DMAX_COLUMN].notna()]
    g = d.groupby("system")
    out = pd.DataFrame({"order": g["system"].first().str.count("-") + 1,
                        "alloys": g.size(), "best_measured_mm": g[DMAX_COLUMN].max()})
    out["holds_bulk_glass"] = out["best_measured_mm"] >= BULK_MIN_MM
    for name, (col, _) in STATISTICS.items():
        if col in d.columns:
            out[name] = g[col].max()
    return out


def _spearman(s: pd.DataFrame, stat: str) -> dict:
    """Spearman of ``stat`` with the best measured Dmax, pooled and per order."""
    def rho(t: pd.DataFrame) -> dict:
        r = spearmanr(t["best_measured_mm"], t[stat]).statistic if len(t) > 2 else np.nan
        return {"systems": int(len(t)), **({"spearman": round(float(r), 4)}
                                           if np.isfinite(r) else {})}

    t = s[s["alloys"] >= MIN_ALLOYS]
    return {**rho(t), "by_order": {str(k): rho(u) for k, u in t.groupby("order")}}


def system_evidence(oof: pd.DataFrame) -> dict:
    """AUC (holds a bulk glass of :data:`BULK_MIN_MM` mm) and Spearman (best measured vs the
    statistic, pooled and per order) of each statistic, and the one chosen with why (a
    figure that cannot be computed is left out)."""
    s = per_system(oof)
    holds = s["holds_bulk_glass"].to_numpy(bool)
    stats = {}
    for name in (n for n in STATISTICS if n in s.columns):
        auc = ({"auc_holds_bulk_glass": round(float(roc_auc_score(holds, s[name])), 4)}
               if 0 < holds.sum() < len(s) else {})
        stats[name] = {**auc, **_spearman(s, name)}
    out = {"systems": int(len(s)), "holding_bulk_glass": int(holds.sum()),
           "bulk_mm": BULK_MIN_MM, "min_alloys": MIN_ALLOYS, "statistics": stats}
    chosen = chosen_statistic(out)
    return {**out, "chosen": chosen, "why": _why(out, chosen)}


def chosen_statistic(evidence: dict) -> str | None:
    """The statistic with the higher pooled Spearman, ties (or none) by AUC."""
    def key(name: str) -> tuple[float, float]:
        e = evidence["statistics"][name]
        return (e.get("spearman", -2.0), e.get("auc_holds_bulk_glass", 0.0))

    names = list(evidence["statistics"])
    return max(names, key=key) if names else None


def _why(evidence: dict, chosen: str | None) -> str:
    """Why ``chosen`` (a clause that follows its name), with each statistic's figures."""
    if chosen is None:
        return "no prediction column to score systems by"
    stats = evidence["statistics"]
    parts = [f"{STATISTICS[n][1]} {_fmt(e.get('spearman'))} (AUC "
             f"{_fmt(e.get('auc_holds_bulk_glass'))})" for n, e in stats.items()]
    return (f"chosen on the model's leave-system-out predictions as the higher Spearman "
            f"with a system's best measured Dmax: {', '.join(parts)}; Spearman over the "
            f"{stats[chosen]['systems']} systems with >= {evidence['min_alloys']} measured "
            f"alloys, AUC for holding a bulk glass >= {evidence['bulk_mm']:g} mm over "
            f"{evidence['systems']}")


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


__all__ = ["MIN_ALLOYS", "STATISTICS", "chosen_statistic", "per_system",
           "system_evidence"]

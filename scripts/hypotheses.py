"""Issue-14 hypothesis screen: one switch per row, same folds, same budget.

Every row trains fold 0 of the random 5-fold split and fold 0 of the leave-system-out
split (the declared screening folds) with the shipped recipe (10 epochs, fp32, lr 1e-3,
patience 3) plus one switch, and reports the screening metrics on those folds' held-out
alloys: pooled Spearman and R² (mm) on both, within-system Spearman and glass-vs-crystal
AUC on the leave-system-out fold, and the cost per epoch. The first row reuses the first
default's fold-0 member (its out-of-fold predictions kept in ``runs/default_random5``) and
``runs/system5`` fold 0 (leave-system-out), trained with the same settings. The "hurdle"
row re-reads those predictions as P(glass) x Dmax (no training). Resumable: rerun to continue.

Usage: python scripts/hypotheses.py [--rows order target target+order target+pairs stem]
           [--data train.parquet]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from gfascreen.model.metrics import regression_report
from gfascreen.model.screening_metrics import screening_report
from gfascreen.model.train import TrainConfig, train_cv

RUNS = Path("runs/hyp")
SWITCHES = {"order": ("element order: Mendeleev number", {"order": "mendeleev"}),
            "target": ("target log10(Dmax + 0.01 mm)", {"target": "floor"}),
            "stem": ("stem without max-pool", {"stem": "no-maxpool"}),
            "target+order": ("target log10(Dmax + 0.01 mm) + Mendeleev order",
                             {"target": "floor", "order": "mendeleev"}),
            "target+pairs": ("target log10(Dmax + 0.01 mm) + physics channels "
                             "(mixing enthalpy, size mismatch, electronegativity difference)",
                             {"target": "floor", "pairs": "hmix,size,chi"})}
RECIPE = {"folds": 5, "epochs": 10, "patience": 3, "lr": 1e-3, "amp": False, "lds": False,
          "fds": False, "mixup": 0.0, "coords": False, "only_folds": [0]}


def train_row(key: str, data: str) -> dict[str, Path]:
    runs = {}
    for grouping in ("random", "system"):
        out = RUNS / key / grouping
        cfg = TrainConfig(grouping=grouping, **RECIPE, **SWITCHES[key][1])
        train_cv(data, out, cfg, resume=(out / "config.json").exists(), progress=False)
        runs[grouping] = out
    return runs


def row_metrics(random_oof: pd.DataFrame, system_oof: pd.DataFrame, seconds: float | None,
                pred: str = "pred_mm") -> dict:
    r = regression_report(random_oof.assign(pred_mm=random_oof[pred]))["all"]
    s = regression_report(system_oof.assign(pred_mm=system_oof[pred]))["all"]
    scr = screening_report(system_oof, pred)
    w = scr["within_system"]
    return {"random Spearman": r["spearman"], "random R² mm": r["r2_mm"],
            "LSO Spearman": s["spearman"], "LSO R² mm": s["r2_mm"],
            "LSO within-system Spearman": w.get("spearman_weighted_mean", np.nan),
            "LSO systems": w.get("systems", 0),
            "LSO best in top 20 %": w.get("best_in_top20_share", np.nan),
            "LSO AUC glass": scr.get("auc_glass_vs_crystal", np.nan),
            "s per epoch": seconds}


def epoch_seconds(run: Path) -> float | None:
    """Fastest epoch of the member (s): the least disturbed by other jobs on the machine."""
    f = run / "member_0.json"
    if not f.exists():
        return None
    hist = json.loads(f.read_text())["history"]
    return float(min(h["seconds"] for h in hist))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--rows", nargs="*", default=list(SWITCHES), choices=list(SWITCHES))
    p.add_argument("--data", default="train.parquet")
    a = p.parse_args()
    torch.set_num_threads(2)
    base_r = pd.read_parquet("runs/default_random5/oof.parquet").query("fold == 0")
    base_s = pd.read_parquet("runs/system5/oof_0.parquet")
    first = row_metrics(base_r, base_s, epoch_seconds(Path("runs/system5")))
    rows = {"first default's recipe (log1p target)": first}
    for o in (base_r, base_s):
        o["hurdle"] = (1 - o["p_crystal"]) * o["pred_mm"]
    rows["hurdle reading P(glass) x Dmax (no training)"] = row_metrics(base_r, base_s, None,
                                                                       "hurdle")
    for key in a.rows:
        runs = train_row(key, a.data)
        rows[SWITCHES[key][0]] = row_metrics(pd.read_parquet(runs["random"] / "oof_0.parquet"),
                                             pd.read_parquet(runs["system"] / "oof_0.parquet"),
                                             epoch_seconds(runs["random"]))
        _write(rows)
    _write(rows)


def _write(rows: dict) -> None:
    table = pd.DataFrame(rows).T
    RUNS.mkdir(parents=True, exist_ok=True)
    table.to_csv(RUNS / "table.csv")
    print(table.round(3).to_markdown(), flush=True)


if __name__ == "__main__":
    main()

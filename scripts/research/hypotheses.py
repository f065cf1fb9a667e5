"""Bulk-glass thickness hypotheses: one switch per row, the declared screening folds.

Every trained row is ``gfascreen train``'s defaults (800 optimiser steps, one-cycle
schedule, floor target, class head) plus one switch, trained on fold 0 of the random
5-fold split and fold 0 of the leave-system-out split (the declared screening folds, the
same seeded folds as the shipped model's) and scored on those folds' held-out alloys. The
first row is the shipped model's network (v3's members, trained as v2: 10 epochs at
constant budget per epoch) on the same folds, read from what it carries: member 0's
predictions on random fold 0 and its leave-system-out out-of-fold predictions of fold 0 (no
training).

Judged on leave-system-out: bulk-glass R² of log10(1+Dmax) and Spearman, within-system
Spearman, pooled Spearman; random fold 0 beside them. Cost: the member's training seconds
and the device it trained on (``where``), from its log. Resumable: rerun to continue;
the table is rewritten after every row (``runs/hyp2/table.csv`` and ``.md``).

Usage: python scripts/research/hypotheses.py [--rows steps bmg-weight mixture no-maxpool]
           [--groupings system random] [--fold 0] [--data train.parquet] [--runs runs/hyp2]
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

import numpy as np
import pandas as pd

from gfascreen.model.ensemble import Ensemble
from gfascreen.model.evaluation.evaluate import member_oof
from gfascreen.model.evaluation.metrics import regression_report
from gfascreen.model.evaluation.screening_metrics import screening_report
from gfascreen.model.recipe import TrainConfig
from gfascreen.model.training.folds import assign_folds
from gfascreen.model.training.train import oof_table, prepare_table, train_cv

SWITCHES = {
    "steps": ("train's defaults: 800 steps, one-cycle warm-up and cosine decay", {}),
    "bmg-weight": ("+ bulk glasses weighted 4x in the Dmax loss", {"bmg_weight": 4.0}),
    "mixture": ("+ mixture head: bulk-glass log10 Dmax head; Dmax = P(bmg) x head + "
                "P(ribbon) x 0.1 mm", {"head": "mixture"}),
    "no-maxpool": ("+ stem without max-pool (~2.5x cost per image)", {"stem": "no-maxpool"}),
}


def train_row(key: str, data: str, runs: Path, groupings: list[str], fold: int = 0
              ) -> dict[str, Path]:
    out = {}
    for grouping in groupings:
        d = runs / key / grouping
        cfg = TrainConfig(grouping=grouping, only_folds=[fold], **SWITCHES[key][1])
        train_cv(data, d, cfg, resume=(d / "config.json").exists(), progress=False)
        out[grouping] = d
    return out


def shipped_row(data: str, fold: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The shipped model's predictions on a fold: its member on that random fold
    (recomputed) and the carried leave-system-out predictions of that fold."""
    ens = Ensemble.load("default", device="cpu")
    cfg = TrainConfig()
    t, _ = prepare_table(pd.read_parquet(data), cfg)
    folds = assign_folds(t, 5, "random", 0)
    sel = np.flatnonzero(folds == fold)
    x = ens.featurizer.fractions(t.iloc[sel])
    reg, prob = member_oof(ens, x, np.full(len(sel), fold))
    rnd = oof_table(t, sel, fold, reg, prob, "log1p")  # member_oof answers in log1p
    lso = ens.model_dir.lso_oof().query("fold == @fold").reset_index(drop=True)
    sysf = assign_folds(t, 5, "system", 0)
    if set(t["composition"][sysf == fold]) != set(lso["composition"]):
        raise SystemExit(f"the shipped model's leave-system-out fold {fold} is not this "
                         "split's")
    return rnd, lso


def row_metrics(rnd: pd.DataFrame | None, lso: pd.DataFrame, cost: float | None, where: str
                ) -> dict:
    """The row's metrics (the random-fold ones NaN when the row ran on leave-system-out
    only)."""
    nan = {"spearman": np.nan, "r2_mm": np.nan, "r2_log": np.nan}
    r = regression_report(rnd) if rnd is not None else {"all": nan, "bmg": nan}
    s = regression_report(lso)
    scr = screening_report(lso)
    w = scr["within_system"]
    return {"LSO bmg R² log": s["bmg"]["r2_log"], "LSO bmg Spearman": s["bmg"]["spearman"],
            "LSO within-system Spearman": w.get("spearman_weighted_mean", np.nan),
            "LSO Spearman": s["all"]["spearman"], "LSO R² mm": s["all"]["r2_mm"],
            "LSO best in top 20 %": w.get("best_in_top20_share", np.nan),
            "LSO AUC glass": scr.get("auc_glass_vs_crystal", np.nan),
            "random Spearman": r["all"]["spearman"], "random R² mm": r["all"]["r2_mm"],
            "random bmg R² log": r["bmg"]["r2_log"],
            "s per member": cost, "where": where}


def member_cost(run: Path, fold: int = 0) -> tuple[float | None, str]:
    """Training seconds of the member (its epochs summed, across resumed processes) and
    the device it trained on, as the member's log records them."""
    f = run / f"member_{fold}.json"
    if not f.exists():
        return None, ""
    info = json.loads(f.read_text())
    where = f"{info['device']} ({platform.processor() or platform.machine()})"
    return round(sum(h["seconds"] for h in info["history"]), 1), where


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", nargs="*", default=list(SWITCHES), choices=list(SWITCHES))
    p.add_argument("--data", default="train.parquet")
    p.add_argument("--runs", default="runs/hyp2", type=Path)
    p.add_argument("--groupings", nargs="+", default=["system", "random"],
                   choices=["system", "random"],
                   help="folds to train a row on (leave-system-out alone: half the cost)")
    p.add_argument("--fold", type=int, default=0,
                   help="the fold (0 = the declared screening fold; others confirm a row)")
    a = p.parse_args()
    rows = {"shipped network (v3's members: 10 epochs, floor target)":
            row_metrics(*shipped_row(a.data, a.fold), None, "carried predictions")}
    for key in a.rows:
        d = train_row(key, a.data, a.runs, a.groupings, a.fold)
        rnd = d["random"] / f"oof_{a.fold}.parquet" if "random" in d else None
        rows[SWITCHES[key][0]] = row_metrics(
            pd.read_parquet(rnd) if rnd and rnd.exists() else None,
            pd.read_parquet(d["system"] / f"oof_{a.fold}.parquet"),
            *member_cost(d["system"], a.fold))
        _write(rows, a.runs, a.fold)
    _write(rows, a.runs, a.fold)


def _write(rows: dict, runs: Path, fold: int = 0) -> None:
    table = pd.DataFrame(rows).T
    runs.mkdir(parents=True, exist_ok=True)
    name = "table" if fold == 0 else f"table_fold{fold}"
    table.to_csv(runs / f"{name}.csv")
    md = table.to_markdown(floatfmt=".3f")
    (runs / f"{name}.md").write_text(md + "\n")
    print(md, flush=True)


if __name__ == "__main__":
    main()

"""Ablation of the long-tail options on one fold (a budget this machine can run).

Usage: python scripts/ablation.py [--epochs 4] [--out runs/ablation]
Trains fold 0 of the random 5-fold split once per configuration (same split, same seed,
same budget) and scores its out-of-fold predictions; rerun to resume.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd
import torch

from gfascreen.model.metrics import regression_report
from gfascreen.model.train import TrainConfig, train_cv

CONFIGS = {
    "plain": {},
    "LDS": {"lds": True},
    "FDS": {"fds": True},
    "LDS+FDS": {"lds": True, "fds": True},
    "Mixup": {"mixup": 0.2},
    "plain, no coord channels": {"coords": False},
}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--out", default="runs/ablation")
    p.add_argument("--data", default="train.parquet")
    a = p.parse_args()
    torch.set_num_threads(2)
    results = {}
    for name, over in CONFIGS.items():
        out = Path(a.out) / name.replace(" ", "_").replace(",", "").replace("+", "_")
        base = {"folds": 5, "epochs": a.epochs, "patience": a.epochs, "lr": 1e-3,
                "lds": False, "fds": False, "coords": True, "only_folds": [0]}
        cfg = TrainConfig(**{**base, **over})
        train_cv(a.data, out, cfg, resume=(out / "config.json").exists())
        oof = pd.read_parquet(out / "oof_0.parquet")
        rep = regression_report(oof)
        wall = json.loads((out / "member_0.json").read_text())["wall_s"]
        results[name] = {"all": rep["all"], "bmg": rep["bmg"], "class": rep.get("class"),
                         "wall_s": wall}
        Path(a.out, "results.json").write_text(json.dumps(results, indent=2))
    lines = ["| config | R² (mm) | R² log | MAE (mm) | Spearman | bmg R² (mm) | class acc |",
             "|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        c = r["class"]["accuracy"] if r["class"] else float("nan")
        lines.append(f"| {name} | {r['all']['r2_mm']:.3f} | {r['all']['r2_log']:.3f} | "
                     f"{r['all']['mae_mm']:.3f} | {r['all']['spearman']:.3f} | "
                     f"{r['bmg']['r2_mm']:.3f} | {c:.3f} |")
    Path(a.out, "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

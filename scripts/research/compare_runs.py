"""Compare two K-fold runs on identical folds, and their average (not a test).

Each run is either a training run directory (its ``oof.parquet``) or an ensemble directory
whose member K was trained without fold K of the same split (``default`` = the shipped
ensemble): its out-of-fold predictions are recomputed, member K predicting fold K.

Usage: python scripts/research/compare_runs.py runs/amp14/random5 [--other default]
           [--data train.parquet]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from gfascreen.model.ensemble import Ensemble, default_model_dir
from gfascreen.model.evaluation.evaluate import member_oof
from gfascreen.model.evaluation.metrics import regression_report
from gfascreen.model.targets import from_target, to_target


def ensemble_oof(path: str, oof: pd.DataFrame, data: str) -> pd.DataFrame:
    """Out-of-fold predictions of an ensemble for the rows and folds of ``oof``."""
    ens = Ensemble.load(path, device="cpu")
    table = pd.read_parquet(data).set_index("composition")
    x = ens.featurizer.from_table(table.loc[oof["composition"]].reset_index())
    pred, _ = member_oof(ens, x, oof["fold"].to_numpy())
    out = oof.copy()
    out["pred_log"], out["pred_mm"] = pred, from_target(pred)
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("run", help="training run directory with oof.parquet")
    p.add_argument("--other", default="default",
                   help="second run directory, or an ensemble directory ('default')")
    p.add_argument("--data", default="train.parquet")
    a = p.parse_args()
    torch.set_num_threads(2)
    first = pd.read_parquet(Path(a.run, "oof.parquet"))
    if a.other != "default" and Path(a.other, "oof.parquet").is_file():
        second = pd.read_parquet(Path(a.other, "oof.parquet")).set_index("composition")
        second = second.loc[first["composition"]].reset_index()
        if not np.array_equal(second["fold"].to_numpy(), first["fold"].to_numpy()):
            raise SystemExit("the two runs do not share their folds")
    else:
        other = default_model_dir() if a.other == "default" else a.other
        second = ensemble_oof(str(other), first, a.data)
    both = first.copy()
    both["pred_mm"] = (first["pred_mm"].to_numpy() + second["pred_mm"].to_numpy()) / 2
    both["pred_log"] = to_target(both["pred_mm"].to_numpy())
    rows = []
    for name, o in [(a.run, first), (a.other, second), ("mean of both", both)]:
        r = regression_report(o)
        rows.append({"run": name, "r2_mm": r["all"]["r2_mm"], "r2_log": r["all"]["r2_log"],
                     "mae_mm": r["all"]["mae_mm"], "spearman": r["all"]["spearman"],
                     "bmg_r2_mm": r["bmg"]["r2_mm"]})
    print(pd.DataFrame(rows).round(3).to_string(index=False))


if __name__ == "__main__":
    main()

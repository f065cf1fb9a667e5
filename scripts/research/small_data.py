"""The small-data regime (the reference study's own setting): bulk glasses with a measured
Dmax alone, random 5-fold, the network against the baselines on the identical folds.

The network is trained with ``gfascreen train``'s defaults (:class:`TrainConfig`: the
shipped recipe with its budget of 800 optimiser steps whatever the table's size; the class
head switches itself off on a one-class table); ``--steps`` changes the budget.
``--pretrain`` adds a second
network row: the same recipe started from a trunk pre-trained, label-free, on generated
compositions over the same vocabulary (:mod:`gfascreen.model.training.pretrain`). Resumable: rerun
to continue.

Usage: python scripts/research/small_data.py [--data train.parquet] [--steps 800]
           [--out runs/bmg_steps]
           [--pretrain [--pre-n 20000 --pre-epochs 3 --pre-lr 1e-3]]
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd
import torch

from gfascreen.model.evaluation.evaluate import evaluate_run
from gfascreen.model.evaluation.evaluation_report import Evaluation
from gfascreen.model.evaluation.markdown import metrics_table
from gfascreen.model.training.pretrain import PretrainConfig, pretrain
from gfascreen.model.training.train import TrainConfig, prepare_table, train_cv
from gfascreen.tableio import write_parquet_atomic


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--data", default="train.parquet")
    p.add_argument("--steps", type=int, default=TrainConfig().steps)
    p.add_argument("--out", default="runs/bmg_steps")
    p.add_argument("--pretrain", action="store_true")
    p.add_argument("--pre-n", type=int, default=20000)
    p.add_argument("--pre-epochs", type=int, default=3)
    p.add_argument("--pre-lr", type=float, default=1e-3,
                   help="peak learning rate of the fine-tune from the pre-trained trunk")
    a = p.parse_args()
    torch.set_num_threads(2)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    table = pd.read_parquet(a.data)
    bmg = table[(table["gfa_class"] == "bmg") & table["dmax_mm"].notna()].reset_index(drop=True)
    path = out / "train_bmg.parquet"
    if not path.exists():
        write_parquet_atomic(bmg, path)
    cfg = TrainConfig(folds=5, steps=a.steps)
    run = out / "run"
    train_cv(path, run, cfg, resume=(run / "config.json").exists(), progress=False)
    ev = evaluate_run(run, data=path)
    print(f"{len(bmg)} bulk glasses with a Dmax; {a.steps} optimiser steps per member")
    print(metrics_table(Evaluation.from_dict(ev)))
    if a.pretrain:
        weights = out / "pretrained_trunk.safetensors"
        if not weights.exists():
            _, vocab = prepare_table(bmg, cfg)
            t0 = time.perf_counter()
            info = pretrain(vocab, weights, PretrainConfig(n_compositions=a.pre_n,
                                                           epochs=a.pre_epochs))
            info["wall_s"] = round(time.perf_counter() - t0, 1)
            (out / "pretrain.json").write_text(json.dumps(info, indent=2))
        run = out / ("run_pretrained" if a.pre_lr == 1e-3 else f"run_pretrained_lr{a.pre_lr:g}")
        train_cv(path, run, replace(cfg, init=str(weights), lr=a.pre_lr),
                 resume=(run / "config.json").exists(), progress=False)
        ev = evaluate_run(run, data=path)
        print(f"started from the pre-trained trunk (peak lr {a.pre_lr:g}):")
        print(metrics_table(Evaluation.from_dict(ev)))


if __name__ == "__main__":
    main()

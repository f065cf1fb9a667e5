"""Closing the loop, measured: does casting k alloys of a new system improve its map?

A leave-system-out member (trained without the held-out fold's systems; by default
``runs/hyp2/steps/system`` member 0, ``train``'s defaults on the declared screening fold)
plays the shipped model. For every held-out system with at least ``--min-alloys`` alloys
with a Dmax (two or more distinct values) and at least ``--min-bmg`` bulk glasses,
``k`` of its alloys are drawn at random (the
lab's first casts), the member is updated on them exactly as ``gfascreen train --init MODEL
--data my_alloys.csv`` does (:mod:`gfascreen.model.training.update`: the same steps, learning rate
and rehearsal, rehearsing on the member's own training alloys), and the system's other
alloys are ranked. Within-system Spearman, "best alloy in the top 20 %" and the mean
absolute error of log10(1 + Dmax/mm) (the scale) are compared with k = 0 (the same
member, the same remaining alloys) over ``--draws`` random draws.

Usage: python scripts/research/closing_loop.py [--run runs/hyp2/steps/system] [--k 3 5] [--draws 3]
       [--min-alloys 10] [--min-bmg 3]
Writes ``RUN/closing_loop.csv`` (one row per system, k and draw) and prints the table.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from safetensors.torch import load_file
from scipy.stats import spearmanr

from gfascreen.featurize import OPImageFeaturizer, Vocabulary
from gfascreen.model.recipe import TrainConfig
from gfascreen.model.targets import from_target, to_target
from gfascreen.model.training.train import FoldTrainer, predict_member, prepare_table
from gfascreen.model.training.update import UpdateConfig, batches, update_member


def load_member(run: Path, out: Path) -> tuple[FoldTrainer, torch.nn.Module, pd.DataFrame]:
    cfg = TrainConfig.from_dict(json.loads((run / "config.json").read_text()))
    vocab = Vocabulary.from_dict(json.loads((run / "vocabulary.json").read_text()))
    trainer = FoldTrainer(cfg, vocab, out, 0, torch.device("cpu"), progress=False)
    model = trainer.net_spec.build()
    model.load_state_dict(load_file(str(run / "member_0.safetensors")))
    return trainer, model.eval(), pd.read_parquet(run / "folds.parquet")


def scores(rest: pd.DataFrame, pred: np.ndarray, target: str) -> tuple[float, bool, float]:
    """Within-system Spearman, best alloy in the top 20 %, and the mean absolute error of
    log10(1 + Dmax/mm) (the scale) of predictions ``pred`` in the training target."""
    rho = float(spearmanr(rest["dmax_mm"], pred).statistic)
    top = math.ceil(0.2 * len(rest))
    best = rest["dmax_mm"].to_numpy().argmax()
    rank = (-pred).argsort().argsort()[best]
    mae = float(np.abs(to_target(from_target(pred, target)) - to_target(rest["dmax_mm"])).mean())
    return rho, bool(rank < top), mae


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", type=Path, default=Path("runs/hyp2/steps/system"))
    p.add_argument("--data", default="train.parquet")
    p.add_argument("--k", type=int, nargs="*", default=[3, 5])
    p.add_argument("--draws", type=int, default=3)
    p.add_argument("--min-alloys", type=int, default=10)
    p.add_argument("--min-bmg", type=int, default=3, help="bulk glasses a system needs")
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    trainer, base, folds = load_member(a.run, a.run / "closing_loop_tmp")
    t, _ = prepare_table(pd.read_parquet(a.data), trainer.c)
    t = t.merge(folds, on="composition")
    replay = batches(trainer, t[t["fold"] != 0], trainer.c.target)
    held = t[(t["fold"] == 0) & t["dmax_mm"].notna()]
    feat = OPImageFeaturizer(trainer.vocab)
    rows = []
    for system, g in held.groupby("system"):
        if (len(g) < a.min_alloys or g["dmax_mm"].nunique() < 2
                or (g["gfa_class"] == "bmg").sum() < a.min_bmg):
            continue
        g = g.reset_index(drop=True)
        base_pred, _ = predict_member(base, trainer.feat, feat.from_table(g))
        for k in a.k:
            for draw in range(a.draws):
                rng = np.random.default_rng(1000 * k + draw)
                cast = rng.choice(len(g), size=k, replace=False)
                rest = g.drop(index=cast)
                if rest["dmax_mm"].nunique() < 2:
                    continue
                t0 = time.time()
                model = update_member(trainer, copy.deepcopy(base),
                                      batches(trainer, g.iloc[cast], trainer.c.target),
                                      replay, UpdateConfig(seed=draw))
                pred, _ = predict_member(model, trainer.feat, feat.from_table(rest))
                rho, hit, mae = scores(rest, pred, trainer.c.target)
                rho0, hit0, mae0 = scores(rest, base_pred[rest.index.to_numpy()],
                                          trainer.c.target)
                rows.append({"system": system, "k": k, "draw": draw, "n_rest": len(rest),
                             "bmg": int((g["gfa_class"] == "bmg").sum()),
                             "spearman": rho, "spearman_k0": rho0, "best_top20": hit,
                             "best_top20_k0": hit0, "mae_log": mae, "mae_log_k0": mae0,
                             "seconds": round(time.time() - t0, 1)})
                pd.DataFrame(rows).to_csv(a.run / "closing_loop.csv", index=False)
        print(system, len(g), flush=True)
    summarise(pd.DataFrame(rows))


def summarise(r: pd.DataFrame) -> None:
    out = []
    for label, sel in (("the held-out systems measured", r),):
        for k, g in sel.groupby("k"):
            w = g["n_rest"]
            out.append({"systems": label, "k": k, "n systems": g["system"].nunique(),
                        "within-system Spearman, k = 0": np.average(g["spearman_k0"], weights=w),
                        "within-system Spearman after update": np.average(g["spearman"],
                                                                          weights=w),
                        "best in top 20 %, k = 0": g["best_top20_k0"].mean(),
                        "best in top 20 % after update": g["best_top20"].mean(),
                        "MAE log10(1+Dmax), k = 0": np.average(g["mae_log_k0"], weights=w),
                        "MAE after update": np.average(g["mae_log"], weights=w),
                        "s per update": g["seconds"].median()})
    print(pd.DataFrame(out).to_markdown(index=False, floatfmt=".3f"))


if __name__ == "__main__":
    main()

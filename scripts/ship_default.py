"""Evaluate, calibrate and document the shipped model (the default ensemble).

Steps (each reusing what is on disk):
1. ``--pack``: pack a finished random-fold run into the package (``runs/random5``; as
   ``gfascreen pack RUN --out DIR --id ID``, plus the run's wall times);
   otherwise the packed members already shipped are kept.
2. Random 5-fold evaluation: out-of-fold predictions recomputed from the shipped members
   (member K predicts fold K of the same seeded split) into ``runs/default_random5``, then
   ``gfascreen evaluate`` with baselines on the identical folds.
3. Leave-system-out: ``gfascreen evaluate runs/system5 --spread-model default`` (baselines,
   screening metrics, calibration measurements), then ``gfascreen calibrate default --lso
   runs/system5``: the calibration chosen, fitted and attached with the predictions
   themselves (``lso_oof.parquet``), checksums in the manifest.
4. The model card (``gfascreen card``, from the package's template).

Each step is a ``gfascreen`` command's function; a lab's own model needs none of this
script: ``gfascreen evaluate RUN --into MODEL`` and ``gfascreen calibrate MODEL --lso RUN``.

Usage: python scripts/ship_default.py [--pack RUN [--id ID]] [--system runs/system5]
           [--random-oof runs/default_random5] [--data train.parquet] [--random-oof-only]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from gfascreen.model.ensemble import Ensemble
from gfascreen.model.evaluation.calibrate import calibrate_model
from gfascreen.model.evaluation.card import record_evaluation, write_model_card
from gfascreen.model.evaluation.evaluate import evaluate_run, member_oof
from gfascreen.model.saved import ModelDir, default_model_dir, model_hash
from gfascreen.model.training.folds import assign_folds
from gfascreen.model.training.train import TrainConfig, oof_table, prepare_table
from gfascreen.tableio import write_parquet_atomic


def cached_evaluation(run: Path, data: str, **kw) -> dict:
    """``evaluation.json`` of a run if newer than its predictions, else evaluate."""
    ev = run / "evaluation.json"
    if ev.exists() and ev.stat().st_mtime > (run / "oof.parquet").stat().st_mtime:
        return json.loads(ev.read_text())
    return evaluate_run(run, data=data, **kw)


def random_oof_run(model: str, data: str, out: Path) -> Path:
    """A run directory holding the shipped members' random-fold out-of-fold predictions
    (kept when already there and made by the same members: ``model_hash.txt``)."""
    ens = Ensemble.load(model, device="cpu")
    stamp = out / "model_hash.txt"
    if (out / "oof.parquet").exists() and stamp.exists() \
            and stamp.read_text().strip() == model_hash(ens.manifest):
        return out
    cfg = TrainConfig.from_dict({**ens.manifest.config, "max_rows": None})
    t, _ = prepare_table(pd.read_parquet(data), cfg)
    folds = assign_folds(t, cfg.folds, cfg.grouping, cfg.seed)
    reg, prob = member_oof(ens, ens.featurizer.from_table(t), folds)
    oof = oof_table(t, np.arange(len(t)), folds, reg, prob, "log1p")
    out.mkdir(parents=True, exist_ok=True)
    write_parquet_atomic(oof, out / "oof.parquet")
    write_parquet_atomic(pd.DataFrame({"composition": t["composition"], "fold": folds}),
                         out / "folds.parquet")
    (out / "config.json").write_text(json.dumps(ens.manifest.config, indent=2))
    stamp.write_text(model_hash(ens.manifest))
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--pack", default=None, help="random-fold run to pack (default: keep)")
    p.add_argument("--system", default="runs/system5")
    p.add_argument("--data", default="train.parquet")
    p.add_argument("--out", default=str(default_model_dir()))
    p.add_argument("--id", default="gfascreen-default-v2", help="model id when packing")
    p.add_argument("--random-oof", default="runs/default_random5",
                   help="where the shipped members' random-fold predictions are kept")
    p.add_argument("--random-oof-only", action="store_true",
                   help="only write those predictions (what `gfascreen stack MODEL "
                        "--random-oof RUN` reads) and stop; the model is not changed")
    a = p.parse_args()
    torch.set_num_threads(2)
    if a.pack:  # `gfascreen pack`'s function, with the run's wall times recorded
        from gfascreen.model.training.pack import pack_ensemble

        pack_ensemble(a.pack, a.out, model_id=a.id)
        md = ModelDir(a.out)
        md.manifest.extra["training_wall_s"] = [
            json.loads(f.read_text())["wall_s"]
            for f in sorted(Path(a.pack).glob("member_*.json"))]
        md.write_manifest()
    # = gfascreen evaluate RUN --into MODEL, for the random folds and the leave-system-out
    # run, then gfascreen calibrate MODEL --lso RUN (which writes the model card).
    rnd = random_oof_run(a.out, a.data, Path(a.random_oof))
    if a.random_oof_only:
        print(f"random-fold out-of-fold predictions in {rnd}")
        return
    record_evaluation(a.out, rnd, cached_evaluation(rnd, a.data))
    ev_s = cached_evaluation(Path(a.system), a.data, spread_model=a.out)
    if not (Path(a.system) / "oof_calibration.parquet").exists():
        ev_s = evaluate_run(a.system, data=a.data, spread_model=a.out)
    record_evaluation(a.out, a.system, ev_s)
    calibrate_model(a.out, lso=a.system)
    print(write_model_card(a.out).read_text())


if __name__ == "__main__":
    main()

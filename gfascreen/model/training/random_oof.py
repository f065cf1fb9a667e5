"""A saved model's own random-fold out-of-fold predictions, recomputed from its members.

Member K of a random K-fold model never trained on fold K of its seeded split, so the
members of a packed (int8) model predict their folds again and give the shipped model's own
out-of-fold score, rather than its full-precision training run's (``gfascreen release``'s
``random-oof`` step; ``gfascreen evaluate`` and ``gfascreen stack --random-oof`` read the
run directory it writes).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from gfascreen.errors import GfaError
from gfascreen.model.evaluation.evaluate import member_oof
from gfascreen.model.parts import sha256_file
from gfascreen.model.recipe import TrainConfig, prepare_table
from gfascreen.model.saved import model_hash
from gfascreen.model.training.folds import assign_folds
from gfascreen.model.training.train import oof_table
from gfascreen.tableio import write_parquet_atomic

#: The members' hash beside the predictions: a directory made by other members is redone.
STAMP = "model_hash.txt"


def is_current(out: str | Path, model: str | Path) -> bool:
    """Whether ``out`` holds the random-fold predictions of ``model``'s members."""
    from gfascreen.model.saved import ModelDir

    stamp, oof = Path(out) / STAMP, Path(out) / "oof.parquet"
    return oof.is_file() and stamp.is_file() and \
        stamp.read_text().strip() == model_hash(ModelDir(model).manifest)


def random_oof_run(model: str | Path, data: str | Path, out: str | Path) -> Path:
    """Write a run directory (``oof.parquet``, ``folds.parquet``, ``config.json``) holding
    ``model``'s random-fold out-of-fold predictions on the training table ``data`` (the
    model's own recipe picks the rows and folds); kept as it is when already made by the
    same members. Returns ``out``."""
    from gfascreen.model.ensemble import Ensemble

    out = Path(out)
    if is_current(out, model):
        return out
    ens = Ensemble.load(model, device="cpu")
    if sha256_file(data) != ens.manifest.data.get("sha256"):
        raise GfaError(f"{data} is not the table {model} was trained on (its manifest "
                       f"records {ens.manifest.data.get('table')}, sha256 "
                       f"{ens.manifest.data.get('sha256')})")
    cfg = TrainConfig.from_dict(ens.manifest.config)
    if cfg.grouping != "random":
        raise GfaError(f"{model} was trained on {cfg.grouping} folds; its random-fold "
                       "predictions cannot be recomputed")
    t, _ = prepare_table(pd.read_parquet(data), cfg)
    folds = assign_folds(t, cfg.folds, cfg.grouping, cfg.seed)
    reg, prob = member_oof(ens, ens.featurizer.from_table(t), folds)
    out.mkdir(parents=True, exist_ok=True)
    write_parquet_atomic(oof_table(t, np.arange(len(t)), folds, reg, prob, "log1p"),
                         out / "oof.parquet")
    write_parquet_atomic(pd.DataFrame({"composition": t["composition"], "fold": folds}),
                         out / "folds.parquet")
    (out / "config.json").write_text(json.dumps(ens.manifest.config, indent=2))
    (out / STAMP).write_text(model_hash(ens.manifest))
    return out


__all__ = ["STAMP", "is_current", "random_oof_run"]

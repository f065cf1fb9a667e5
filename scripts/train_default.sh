#!/usr/bin/env bash
# Train the default ensemble (random 5-fold) and the leave-system-out run, resumable.
# Long-tail options: the ablation (scripts/ablation.py, retired to git history, fold 0, judged on inner-validation
# R² only; table in README.md, "Ablation") found LDS, FDS, LDS+FDS, Mixup
# and coordinate channels all worse than none of them at this budget, so all are off.
# The leave-system-out run uses the same recipe as the shipped random run.
# Usage: bash scripts/train_default.sh   (re-run the same command to resume)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
EPOCHS=${EPOCHS:-10}
EPOCHS_LSO=${EPOCHS_LSO:-$EPOCHS}
# AMP=1: bf16 autocast in training (~1.25x per epoch on this CPU). The shipped ensemble is fp32;
# `EPOCHS=14 AMP=1 RUNS=runs/amp14` gave the same out-of-fold R² (README, "Longer training").
AMP=${AMP:-0}
RUNS=${RUNS:-runs}
# TARGET: floor = log10(Dmax+0.01), the shipped v2 recipe; TARGET=log1p reproduces the
# first default. ORDER=mendeleev, PAIRS: the other issue-14 switches (README, "Hypothesis
# screen").
TARGET=${TARGET:-floor}
ORDER=${ORDER:-z}
# PAIRS=hmix,size,chi: physics channels (README, "Hypothesis screen"); empty = none.
PAIRS=${PAIRS:-}
# ONLY=random or ONLY=system trains just one of the two runs.
ONLY=${ONLY:-random system}
[[ -f train.parquet ]] || $PY -m gfascreen data build --out train.parquet
$PY - "$EPOCHS" "$EPOCHS_LSO" "$RUNS" "$AMP" "$ONLY" "$TARGET" "$ORDER" "$PAIRS" <<'PY'
import sys
from pathlib import Path

import torch

from gfascreen.model.training.train import TrainConfig, train_cv

torch.set_num_threads(2)
epochs = {"random": int(sys.argv[1]), "system": int(sys.argv[2])}
runs = Path(sys.argv[3])
amp = sys.argv[4] == "1"
only = sys.argv[5].split()
flags = {"lds": False, "fds": False, "mixup": 0.0, "coords": False,
         "target": sys.argv[6], "order": sys.argv[7], "pairs": sys.argv[8]}
for out, grouping in [(runs / "random5", "random"), (runs / "system5", "system")]:
    if grouping not in only:
        continue
    cfg = TrainConfig(folds=5, grouping=grouping, epochs=epochs[grouping], patience=3,
                      lr=1e-3, amp=amp, **flags)
    print(out, train_cv("train.parquet", out, cfg, resume=Path(out, "config.json").exists()),
          flush=True)
PY

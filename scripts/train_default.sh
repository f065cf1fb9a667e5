#!/usr/bin/env bash
# Train the default ensemble (random 5-fold) and the leave-system-out run, resumable.
# The long-tail options come from the ablation (scripts/ablation.py): the configuration
# with the best inner-validation R² (log) on fold 0 wins — the test fold is not consulted.
# Usage: bash scripts/train_default.sh   (re-run the same command to resume)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
EPOCHS=${EPOCHS:-10}
# The leave-system-out run (not shipped) got 6 epochs in the first session for lack of
# time; EPOCHS_LSO=10 reproduces the shipped recipe exactly.
EPOCHS_LSO=${EPOCHS_LSO:-6}
[[ -f train.parquet ]] || $PY -m gfascreen data build --out train.parquet
$PY - "$EPOCHS" "$EPOCHS_LSO" <<'PY'
import json, sys
from pathlib import Path

import torch

from gfascreen.model.train import TrainConfig, train_cv

torch.set_num_threads(2)
epochs = {"random": int(sys.argv[1]), "system": int(sys.argv[2])}
best, flags = -1e9, {"lds": False, "fds": False, "mixup": 0.0, "coords": True}
for d in sorted(Path("runs/ablation").glob("*/member_0.json")):
    score = json.loads(d.read_text())["best_val_r2_log"]
    cfg = json.loads((d.parent / "config.json").read_text())
    if score > best:
        best = score
        flags = {k: cfg[k] for k in ("lds", "fds", "mixup", "coords")}
print("chosen long-tail options:", flags, "inner-val R2(log) on fold 0:", best, flush=True)
for out, grouping in [("runs/random5", "random"), ("runs/system5", "system")]:
    cfg = TrainConfig(folds=5, grouping=grouping, epochs=epochs[grouping], patience=3,
                      lr=1e-3, **flags)
    print(out, train_cv("train.parquet", out, cfg, resume=Path(out, "config.json").exists()),
          flush=True)
PY

#!/usr/bin/env bash
# Train the default ensemble (random 5-fold) and the leave-system-out run, resumable.
# Usage: bash scripts/train_default.sh   (re-run the same command to resume)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
[[ -f train.parquet ]] || $PY -m gfascreen.cli data build --out train.parquet
$PY - <<'PY'
import torch
from gfascreen.model.train import TrainConfig, train_cv
from pathlib import Path
torch.set_num_threads(2)
for out, grouping in [("runs/random5", "random"), ("runs/system5", "system")]:
    cfg = TrainConfig(folds=5, grouping=grouping, epochs=6, patience=3, lr=1e-3,
                      lds=False, fds=False, coords=True)
    print(out, train_cv("train.parquet", out, cfg, resume=Path(out, "config.json").exists()))
PY

"""Pack a trained run into a compact, shippable model directory.

Convolution and linear weights become int8 with one float16 scale per output channel and
group of 128 inputs (symmetric, absmax); the stem, the first stage and the first block of
the second stage stay float16; batch-norm parameters and buffers become float16 (the codec
is :func:`~gfascreen.model.saved.encode_state` / ``decode_state``). The packed members
are checked against the full-precision ones on every training alloy the model carries, and
the difference, recomputed, is recorded in the manifest.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from safetensors.torch import load_file, save_file

from gfascreen.model import columns as pc
from gfascreen.model.ensemble import Ensemble
from gfascreen.model.evaluation.recorded import QUANTIZATION_CHECK, QuantizationCheck
from gfascreen.model.parts import sha256_file
from gfascreen.model.saved import PACKED, ModelDir, encode_state, write_manifest


def prediction_difference(ref: Ensemble, other: Ensemble) -> dict:
    """How far ``other`` strays from ``ref`` over every training alloy ``ref`` carries:
    largest and mean absolute difference in log10(1+Dmax), largest in mm, and each
    ensemble's scoring time (s)."""
    x = ref.featurizer.from_table(ref.known_alloys)
    t0 = time.perf_counter()
    a = ref.predict_fractions(x)
    t1 = time.perf_counter()
    b = other.predict_fractions(x)
    t2 = time.perf_counter()
    diff = np.abs(a[pc.LOG_DMAX].to_numpy() - b[pc.LOG_DMAX].to_numpy())
    diff_mm = np.abs(a[pc.DMAX_MM].to_numpy() - b[pc.DMAX_MM].to_numpy())
    return {"compositions": int(len(x)), "max_abs_diff_log10_1p_dmax": float(diff.max()),
            "mean_abs_diff_log10_1p_dmax": float(diff.mean()),
            "max_abs_diff_mm": float(diff_mm.max()),
            "seconds": [round(t1 - t0, 2), round(t2 - t1, 2)]}


def pack_ensemble(run_dir: str | Path, out_dir: str | Path,
                  model_id: str = "gfascreen-default") -> dict:
    """Encode every member of ``run_dir`` into ``out_dir``, verify the difference and
    record it (``quantization_check``) with the run's wall time per member
    (``training_wall_s``, s, from its ``member_K.json``)."""
    run, out = ModelDir(run_dir), Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    members = []
    for m in run.manifest.members:
        tmp = out / f".{m.file}.tmp"
        save_file(encode_state(load_file(str(run.verified(m)))), str(tmp),
                  metadata={"quant": PACKED})
        os.replace(tmp, out / m.file)
        members.append(replace(m, sha256=sha256_file(out / m.file)))
    for entry in (run.manifest.known_alloys, run.manifest.calibration, run.manifest.lso_oof):
        if entry is not None:
            shutil.copy2(run.verified(entry), out / entry.file)
    manifest = replace(run.manifest, id=model_id, quant=PACKED, members=members)
    write_manifest(out, manifest)
    q = prediction_difference(Ensemble.load(run.path, device="cpu"),
                              Ensemble.load(out, device="cpu"))
    q["member_mb"] = [round((out / m.file).stat().st_size / 1e6, 2) for m in members]
    manifest.extra[QUANTIZATION_CHECK] = QuantizationCheck.from_dict(q).to_dict()
    walls = [json.loads(f.read_text())["wall_s"] for f in sorted(run.path.glob("member_*.json"))]
    if walls:  # the run's training time per member (s), for the model card
        manifest.extra["training_wall_s"] = walls
    write_manifest(out, manifest)
    return q

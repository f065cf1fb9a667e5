"""Pack a trained run into a compact, shippable ensemble.

Convolution and linear weights become int8 with one float16 scale per output channel and
group of 128 inputs (symmetric, absmax); the stem, the first stage and the first block
of the second stage stay float16; batch-norm parameters and buffers become float16.
The packed members are checked against the full-precision ones on every in-domain composition of the
training table, and the largest difference in log10(1+Dmax) is recorded in the manifest.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from safetensors.torch import load_file, save_file

from gfascreen.errors import GfaError
from gfascreen.model.ensemble import Ensemble, sha256_file

#: Weights share one int8 scale per output channel and per group of this many inputs.
GROUP = 128
#: Layers kept in float16: the stem and the first stage carry most of the quantization
#: error (measured layer by layer on a trained member) and hold under 1 % of the weights.
KEEP_FLOAT16 = ("trunk.conv1.", "trunk.layer1.", "trunk.layer2.0.")
#: What the manifest and each member's metadata say about the storage.
_KEPT = ",".join(k.removeprefix("trunk.").rstrip(".") for k in KEEP_FLOAT16)
QUANT = f"int8-group{GROUP}+fp16({_KEPT})"


def quantize_state(state: dict[str, torch.Tensor], group: int = GROUP,
                   keep: tuple[str, ...] = KEEP_FLOAT16) -> dict[str, torch.Tensor]:
    """int8 weights with a float16 scale per (output channel, group of ``group`` inputs);
    layers named in ``keep`` and everything else float16 (integers unchanged)."""
    out = {}
    for k, v in state.items():
        if (v.is_floating_point() and v.ndim >= 2 and v.shape[0] > 1 and v.numel() > 256
                and not k.startswith(keep)):
            flat = v.float().reshape(v.shape[0], -1)
            n_in = flat.shape[1]
            pad = (-n_in) % group
            g = torch.nn.functional.pad(flat, (0, pad)).reshape(v.shape[0], -1, group)
            scale = (g.abs().amax(2, keepdim=True).clamp_min(1e-12) / 127.0).half()
            q = torch.round(g / scale.float()).clamp(-127, 127).to(torch.int8)
            out[k] = q.reshape(v.shape[0], -1)[:, :n_in].reshape(v.shape).contiguous()
            out[k + ".__scale"] = scale.squeeze(2).contiguous()
            out[k + ".__group"] = torch.tensor([group], dtype=torch.int32)
        elif v.is_floating_point():
            out[k] = v.to(torch.float16).contiguous()
        else:
            out[k] = v.contiguous()
    return out


def prediction_difference(ref: Ensemble, other: Ensemble, data: str | Path) -> dict:
    """How far ``other`` strays from ``ref`` over every in-domain composition of the
    training table ``data`` (the one ``ref`` was trained on): largest and mean absolute
    difference in log10(1+Dmax), largest in mm, and each ensemble's scoring time (s)."""
    import time

    from gfascreen.model.train import TrainConfig, prepare_table

    cfg = TrainConfig(**{**ref.manifest["config"], "max_rows": None})
    t, vocab = prepare_table(pd.read_parquet(data), cfg)
    if tuple(vocab.elements) != tuple(ref.vocabulary.elements):
        raise GfaError(f"{data} is not the table the model was trained on")
    x = ref.featurizer.fractions(t)
    t0 = time.perf_counter()
    a = ref.predict_fractions(x)
    t1 = time.perf_counter()
    b = other.predict_fractions(x)
    t2 = time.perf_counter()
    diff = np.abs(a["log_dmax"].to_numpy() - b["log_dmax"].to_numpy())
    diff_mm = np.abs(a["dmax_mm"].to_numpy() - b["dmax_mm"].to_numpy())
    return {"compositions": int(len(t)), "max_abs_diff_log10_1p_dmax": float(diff.max()),
            "mean_abs_diff_log10_1p_dmax": float(diff.mean()),
            "max_abs_diff_mm": float(diff_mm.max()),
            "seconds": [round(t1 - t0, 2), round(t2 - t1, 2)]}


def pack_ensemble(run_dir: str | Path, out_dir: str | Path, data: str | Path,
                  model_id: str = "gfascreen-default") -> dict:
    """Quantize every member of ``run_dir`` into ``out_dir`` and verify the difference."""
    run, out = Path(run_dir), Path(out_dir)
    manifest = json.loads((run / "manifest.json").read_text())
    out.mkdir(parents=True, exist_ok=True)
    for m in manifest["members"]:
        q = quantize_state(load_file(str(run / m["file"])))
        tmp = out / f".{m['file']}.tmp"
        save_file(q, str(tmp), metadata={"quant": QUANT})
        os.replace(tmp, out / m["file"])
        m["sha256"] = sha256_file(out / m["file"])
    shutil.copy2(run / "domain.safetensors", out / "domain.safetensors")
    manifest["quant"] = QUANT
    manifest["id"] = model_id
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2))
    q = prediction_difference(Ensemble.load(run, device="cpu"),
                              Ensemble.load(out, device="cpu"), data)
    q = {**q,
         "member_mb": [round((out / m["file"]).stat().st_size / 1e6, 2)
                       for m in manifest["members"]]}
    manifest["quantization_check"] = q
    manifest["members"] = [dict(m) for m in manifest["members"]]
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return q

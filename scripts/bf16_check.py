"""Speed and accuracy of bf16 against fp32 on an ensemble, and the record that
``--precision auto`` reads (not a test).

Scores every training alloy the model carries with both precisions on this CPU
(:func:`gfascreen.model.training.pack.prediction_difference`, the check the packer runs)
and prints member-images/s and the largest change in log10(1+Dmax) and in mm. With
``--write`` the figures go into the model's ``manifest.json`` as ``bf16_check`` (with the
model's hash, this CPU, torch and the date); ``--precision auto`` then runs this model in
bf16 where the hardware has it natively, provided the largest change is at most 0.02
(:data:`gfascreen.model.precision.BF16_MAX_DIFF_LOG`). Needs a CPU with native bf16
(AVX512-BF16 or AMX); the shipped model's 6,874 alloys x 5 members take minutes.

Usage: python scripts/bf16_check.py [--model default] [--write]
"""

from __future__ import annotations

import argparse
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path

import torch

from gfascreen.errors import GfaError
from gfascreen.model.ensemble import Ensemble
from gfascreen.model.precision import BF16_MAX_DIFF_LOG
from gfascreen.model.saved import BF16_CHECK, ModelDir, model_hash
from gfascreen.model.training.pack import prediction_difference


def cpu_name() -> str:
    info = Path("/proc/cpuinfo")
    text = info.read_text() if info.exists() else ""
    return next((ln.split(":", 1)[1].strip() for ln in text.splitlines()
                 if ln.startswith("model name")), platform.processor() or "unknown CPU")


def measure(model: str) -> dict:
    """The bf16-vs-fp32 record of ``model``, measured on this CPU."""
    fp32 = Ensemble.load(model, device="cpu", precision="fp32")
    bf16 = Ensemble.load(model, device="cpu", precision="bf16")
    d = prediction_difference(fp32, bf16)
    s32, s16 = d.pop("seconds")
    n = d["compositions"] * len(fp32.members)
    return {**d, "members": len(fp32.members), "model_hash": model_hash(fp32.manifest),
            "images_per_s": {"fp32": round(n / s32, 1), "bf16": round(n / s16, 1)},
            "speedup": round(s32 / s16, 2), "cpu": cpu_name(),
            "threads": torch.get_num_threads(), "torch": torch.__version__,
            "measured": datetime.now(UTC).date().isoformat()}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="default", help="model directory (default: shipped)")
    p.add_argument("--write", action="store_true",
                   help="record the figures in the model's manifest (bf16_check)")
    a = p.parse_args(argv)
    rec = measure(a.model)
    print(f"{rec['compositions']} compositions x {rec['members']} members on {rec['cpu']}: "
          f"fp32 {rec['images_per_s']['fp32']:.0f} images/s, bf16 "
          f"{rec['images_per_s']['bf16']:.0f} images/s ({rec['speedup']:.2f}x); max |d "
          f"log10(1+Dmax)| {rec['max_abs_diff_log10_1p_dmax']:.4f} (mean "
          f"{rec['mean_abs_diff_log10_1p_dmax']:.5f}), max |d Dmax| "
          f"{rec['max_abs_diff_mm']:.3f} mm")
    sound = rec["max_abs_diff_log10_1p_dmax"] <= BF16_MAX_DIFF_LOG
    if a.write:
        md = ModelDir(a.model)
        md.manifest.extra[BF16_CHECK] = rec
        md.write_manifest()
        print(f"recorded as {BF16_CHECK} in {md.path / 'manifest.json'}: --precision auto "
              + ("runs this model in bf16 where the hardware has it natively" if sound else
                 f"keeps fp32 for this model (over {BF16_MAX_DIFF_LOG})"))
    return rec


if __name__ == "__main__":
    try:
        main()
    except GfaError as exc:
        print(f"bf16_check: error: {exc}", file=sys.stderr)
        sys.exit(2)

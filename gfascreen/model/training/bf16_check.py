"""``gfascreen bf16-check MODEL [--write]``: bf16 against fp32 on a model, and the record
that ``--precision auto`` reads (a step of ``gfascreen release``).

Scores every training alloy the model carries with both precisions on a device that
computes bf16 natively (a GPU, or a CPU with AVX512-BF16 or AMX) through
:func:`~gfascreen.model.training.pack.prediction_difference` (the check the packer runs),
and measures member-images/s and the largest change in log10(1+Dmax) and in mm. Written
(``--write``) into the model's ``manifest.json`` as ``bf16_check`` with the model's hash,
the device, torch and the date, ``--precision auto`` then runs this model in bf16 where
the hardware has it natively, provided the largest change is at most
:data:`~gfascreen.model.precision.BF16_MAX_DIFF_LOG`. The shipped model's 6,874 alloys x 5
members take minutes on a CPU.
"""

from __future__ import annotations

import platform
from datetime import UTC, datetime
from pathlib import Path

from gfascreen.errors import GfaError
from gfascreen.model.precision import BF16_MAX_DIFF_LOG, native_bf16, resolve_device
from gfascreen.model.saved import BF16_CHECK, ModelDir, model_hash


def device_name(device) -> str:
    """The GPU's name, or the CPU's model name."""
    import torch

    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    info = Path("/proc/cpuinfo")
    text = info.read_text() if info.exists() else ""
    return next((ln.split(":", 1)[1].strip() for ln in text.splitlines()
                 if ln.startswith("model name")), platform.processor() or "unknown CPU")


def bf16_device(device: str = "auto"):
    """The device the check runs on, or None when it computes no bf16 natively."""
    dev = resolve_device(device)
    return dev if native_bf16(dev) else None


def measure(model: str, device: str = "auto") -> dict:
    """The bf16-vs-fp32 record of ``model``, measured on ``device`` (refused where it has no
    native bf16: an emulated bf16 says nothing of the hardware ``auto`` picks it on)."""
    import torch

    from gfascreen.model.ensemble import Ensemble
    from gfascreen.model.training.pack import prediction_difference

    dev = bf16_device(device)
    if dev is None:
        raise GfaError(f"bf16-check: {resolve_device(device)} computes no bf16 natively "
                       "(it needs a GPU, or a CPU with AVX512-BF16 or AMX); run it on one")
    fp32 = Ensemble.load(model, device=str(dev), precision="fp32")
    bf16 = Ensemble.load(model, device=str(dev), precision="bf16")
    d = prediction_difference(fp32, bf16)
    s32, s16 = d.pop("seconds")
    n = d["compositions"] * len(fp32.members)
    return {**d, "members": len(fp32.members), "model_hash": model_hash(fp32.manifest),
            "images_per_s": {"fp32": round(n / s32, 1), "bf16": round(n / s16, 1)},
            "speedup": round(s32 / s16, 2), "device": dev.type, "cpu": device_name(dev),
            "threads": torch.get_num_threads(), "torch": torch.__version__,
            "measured": datetime.now(UTC).date().isoformat()}


def record(model: str, rec: dict) -> str:
    """Write ``rec`` into ``model``'s manifest as ``bf16_check``; returns what
    ``--precision auto`` now does with the model."""
    md = ModelDir(model)
    md.manifest.extra[BF16_CHECK] = rec
    md.write_manifest()
    sound = rec["max_abs_diff_log10_1p_dmax"] <= BF16_MAX_DIFF_LOG
    return (f"recorded as {BF16_CHECK} in {md.path / 'manifest.json'}: --precision auto "
            + ("runs this model in bf16 where the hardware has it natively" if sound else
               f"keeps fp32 for this model (over {BF16_MAX_DIFF_LOG})"))


def summary(rec: dict) -> str:
    """One line of figures."""
    return (f"{rec['compositions']} compositions x {rec['members']} members on {rec['cpu']}: "
            f"fp32 {rec['images_per_s']['fp32']:.0f} images/s, bf16 "
            f"{rec['images_per_s']['bf16']:.0f} images/s ({rec['speedup']:.2f}x); max |d "
            f"log10(1+Dmax)| {rec['max_abs_diff_log10_1p_dmax']:.4f} (mean "
            f"{rec['mean_abs_diff_log10_1p_dmax']:.5f}), max |d Dmax| "
            f"{rec['max_abs_diff_mm']:.3f} mm")


def release_step(model: str) -> str:
    """The release's step: measured and recorded where this machine computes bf16
    natively, else skipped with a note saying how to record it later."""
    if bf16_device() is None:
        return (f"skipped: this machine computes no bf16 natively, so --precision auto keeps "
                f"fp32 for the model; record it on one that does with `gfascreen bf16-check "
                f"{model} --write`")
    rec = measure(model)
    return f"{summary(rec)}; {record(model, rec)}"


__all__ = ["bf16_device", "device_name", "measure", "record", "release_step", "summary"]

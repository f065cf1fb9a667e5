"""Device and precision policy, shared by training and inference (no model code here)."""

from __future__ import annotations

import contextlib

import torch

from gfascreen.errors import GfaError

#: ``--precision`` choices for scoring.
PRECISIONS = ("fp32", "bf16")


def resolve_device(device: str = "auto") -> torch.device:
    """``auto`` -> CUDA when present, else CPU; any other torch device string is checked."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        d = torch.device(device)
    except RuntimeError:
        raise GfaError(f"--device {device!r} is not a torch device (try cpu or cuda)") from None
    if d.type == "cuda" and not torch.cuda.is_available():
        raise GfaError("--device cuda asked for, but no CUDA GPU is available; use --device cpu")
    return d


#: Points per chunk (and Parquet part) and images per inference batch, by device kind: a
#: CPU part every few seconds; a GPU fed batches large enough to keep it busy (measured on
#: one H200: ResNet50 bf16 at batch 128 ran 28 k images/s, at 16,384 141 k).
CHUNK_SIZE = {"cpu": 512, "cuda": 8192}
INFERENCE_BATCH = {"cpu": 128, "cuda": 4096}


def chunk_size_for(device: torch.device) -> int:
    """The default screening chunk for a device (a CPU's for anything but CUDA)."""
    return CHUNK_SIZE.get(device.type, CHUNK_SIZE["cpu"])


def inference_batch_for(device: torch.device) -> int:
    """The default inference batch (images per forward pass) for a device."""
    return INFERENCE_BATCH.get(device.type, INFERENCE_BATCH["cpu"])


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX)."""
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def check_precision(precision: str, device: torch.device) -> None:
    """Refuse a ``--precision`` this machine cannot run (cheap: no model needed)."""
    if precision not in PRECISIONS:
        raise GfaError(f"--precision {precision!r}: choose {' or '.join(PRECISIONS)}")
    if precision == "bf16" and device.type == "cpu" and not cpu_has_bf16():
        raise GfaError("--precision bf16 needs a CPU with native bf16 (AVX512-BF16 or AMX) "
                       "or a GPU; use --precision fp32 here")


def autocast(device: torch.device, cpu_bf16: bool = False):
    """The one place precision is chosen: bf16 autocast always on CUDA; on CPU only when
    ``cpu_bf16`` is asked for and the CPU has native bf16; float32 otherwise."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    if cpu_bf16 and cpu_has_bf16():
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()

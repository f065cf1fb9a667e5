"""Device and precision policy, shared by training and inference (no model code here;
torch is imported on first use, so the command line reads :data:`PRECISIONS` at once).

Scoring precision (``--precision``): ``fp32`` is float32 everywhere; ``bf16`` is bfloat16
autocast (refused on a CPU without native bf16); ``auto`` (the default of ``screen`` and
``predict``) is bf16 where the hardware computes it natively (CUDA, or a CPU with
AVX512-BF16 or AMX) *and* the model records a measured bf16-vs-fp32 difference on its known
alloys of at most :data:`BF16_MAX_DIFF_LOG` (``gfascreen bf16-check MODEL --write``), else fp32.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from gfascreen.errors import GfaError

if TYPE_CHECKING:
    import torch

#: ``--precision`` choices for scoring.
PRECISIONS = ("auto", "fp32", "bf16")
#: ``auto`` picks bf16 only for a model whose recorded largest bf16-vs-fp32 difference over
#: its known alloys, in log10(1 + Dmax/mm), is at most this.
BF16_MAX_DIFF_LOG = 0.02


def resolve_device(device: str = "auto") -> torch.device:
    """``auto`` -> CUDA when present, else CPU; any other torch device string is checked."""
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        d = torch.device(device)
    except RuntimeError:
        raise GfaError(f"--device {device!r} is not a torch device (try cpu or cuda)") from None
    if d.type == "cuda" and not torch.cuda.is_available():
        raise GfaError("--device cuda asked for, but no CUDA GPU is available; use --device cpu")
    return d


#: Images per inference batch, by device kind: a GPU fed batches large enough to keep it
#: busy (measured on one H200: ResNet50 bf16 at batch 128 ran 28 k images/s, at 16,384
#: 141 k). Screening's chunk sizes are screening's own
#: (:data:`gfascreen.screening.options.CHUNK_SIZE`).
INFERENCE_BATCH = {"cpu": 128, "cuda": 4096}


def inference_batch_for(device: torch.device) -> int:
    """The default inference batch (images per forward pass) for a device."""
    return INFERENCE_BATCH.get(device.type, INFERENCE_BATCH["cpu"])


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX)."""
    import torch

    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` computes bf16 natively: a CUDA GPU, or a CPU with AVX512-BF16 or
    AMX (:func:`cpu_has_bf16`)."""
    if device.type == "cuda":
        return True
    return device.type == "cpu" and cpu_has_bf16()


def check_precision(precision: str, device: torch.device) -> None:
    """Refuse a ``--precision`` this machine cannot run (cheap: no model needed)."""
    if precision not in PRECISIONS:
        raise GfaError(f"--precision {precision!r}: choose {', '.join(PRECISIONS)}")
    if precision == "bf16" and device.type == "cpu" and not cpu_has_bf16():
        raise GfaError("--precision bf16 needs a CPU with native bf16 (AVX512-BF16 or AMX) "
                       "or a GPU; use --precision fp32 (or auto) here")


def resolve_precision(precision: str, device: torch.device, bf16_diff: float | None) -> str:
    """What the members run in on ``device``: ``fp32`` or ``bf16``. ``auto`` is bf16 where
    the device computes it natively and the model's recorded bf16 difference ``bf16_diff``
    (None: not measured) is at most :data:`BF16_MAX_DIFF_LOG`, else fp32."""
    check_precision(precision, device)
    if precision != "auto":
        return precision
    sound = bf16_diff is not None and bf16_diff <= BF16_MAX_DIFF_LOG
    return "bf16" if sound and native_bf16(device) else "fp32"


def autocast(device: torch.device, bf16: bool = False):
    """The autocast context of a forward pass: bfloat16 when ``bf16`` (on CUDA; on a CPU
    only where it has native bf16), float32 otherwise. Which precision a run uses is
    :func:`resolve_precision`'s; :func:`gfascreen.model.network.for_inference` casts the
    trunk's weights to match."""
    import torch

    if bf16 and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    if bf16 and device.type == "cpu" and cpu_has_bf16():
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()

"""What a screening run computes, and the help text of its options (no heavy import, so
the command line shows them at once)."""

from __future__ import annotations

from dataclasses import dataclass

from gfascreen.model.calibration import DEFAULT_CONFIDENCE, DEFAULT_THRESHOLDS_MM


@dataclass
class ScreenConfig:
    """What a screening run computes; the ``screen`` command's options come from here."""

    system: str
    step: float = 1.0
    out: str | None = None
    model: str = "default"
    device: str = "auto"
    precision: str = "fp32"
    confidence: float = DEFAULT_CONFIDENCE
    thresholds: str | None = None
    scheduler: str | None = None
    chunk_size: int = 0
    bounds: str | None = None
    resume: bool = False
    max_points: int = 2_000_000
    include_edges: bool = True
    progress: bool = True


HELP = {
    "system": "dash-separated elements, e.g. La-Co-Al",
    "step": "grid step in at.%% (default 1)",
    "out": "output directory (default ./screen_SYSTEM_stepSTEP)",
    "model": "model directory (default: the shipped ensemble)",
    "device": "auto, cpu, cuda, cuda:1 ...",
    "precision": "bf16: ~2x faster on CPUs with AVX512-BF16/AMX; answers differ from fp32 "
                 "by up to 0.012 in log10(1+Dmax) on the shipped model (GPUs use bf16 always)",
    "confidence": "coverage of the calibrated interval dmax_lo..dmax_hi and of the lower "
                  "bound dmax_at_least (default 0.9)",
    "thresholds": "thicknesses T (mm) of the P(Dmax >= T) columns, comma-separated "
                  f"(default {','.join(f'{t:g}' for t in DEFAULT_THRESHOLDS_MM)})",
    "scheduler": "address of a Dask distributed scheduler (default: local threads)",
    "chunk_size": "points per chunk and Parquet part (default 0 = by device: 512 on a CPU, "
                  "progress every few seconds; 8192 on a GPU; a resumed run keeps its own)",
    "bounds": "per-element at.%% bounds, e.g. 'Zr:40-70,Al:0-20'",
    "resume": "finish a run: skip parts already written, redo damaged ones",
    "max_points": "refuse grids larger than this (default 2,000,000)",
}

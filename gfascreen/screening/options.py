"""What a screening run computes: its options (:class:`ScreenConfig`, strings as typed),
the plan resolved from them once (:class:`ScreenPlan`, typed values and the loaded model),
and the help text of the options (no heavy import, so the command line shows them at once)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from gfascreen.model.columns import DEFAULT_THRESHOLDS_MM
from gfascreen.model.statement_options import DEFAULT_CONFIDENCE

if TYPE_CHECKING:
    import torch

    from gfascreen.model.ensemble import Ensemble
    from gfascreen.model.saved import ModelDir
    from gfascreen.screening.grid import CompositionGrid
    from gfascreen.screening.palette import AtlasGrid
    from gfascreen.screening.score import ChunkScorer

#: Points per chunk (and Parquet part) by device kind, when ``--chunk-size`` is 0: a CPU
#: part every few seconds; a GPU's large enough to keep it busy. A run records its own.
CHUNK_SIZE = {"cpu": 512, "cuda": 8192}


def chunk_size_for(device: torch.device) -> int:
    """The default screening chunk (points) for a device (a CPU's for anything but CUDA)."""
    return CHUNK_SIZE.get(device.type, CHUNK_SIZE["cpu"])


@dataclass
class ScreenConfig:
    """What a screening run computes; the ``screen`` command's options come from here.
    One system (``system``) or an atlas of many: every system of ``order`` (``"3"``,
    ``"3,4"``) over the palette ``elements`` (``"Zr,Cu,Al"``), or those of the file
    ``systems`` (one a line)."""

    system: str | None = None
    elements: str | None = None
    order: str | None = None
    systems: str | None = None
    step: float = 1.0
    out: str | None = None
    model: str = "default"
    device: str = "auto"
    precision: str = "auto"
    confidence: float = DEFAULT_CONFIDENCE
    thresholds: str | None = None
    scheduler: str | None = None
    chunk_size: int = 0
    bounds: str | None = None
    resume: bool = False
    max_points: int = 2_000_000
    include_edges: bool = True
    progress: bool = True


@dataclass(frozen=True)
class ScreenPlan:
    """A screening run resolved once from its :class:`ScreenConfig` (by
    :func:`gfascreen.screening.run.plan_screen`, before any model loads): every later step
    reads these typed values, never the option strings again. ``ensemble`` is the model,
    loaded once after every check (:meth:`with_ensemble`)."""

    config: ScreenConfig
    grid: CompositionGrid | AtlasGrid
    out: Path
    device: torch.device
    #: What the members run in: ``fp32`` or ``bf16`` (never ``auto``: resolved).
    precision: str
    #: Points per chunk and Parquet part (resolved: a resumed run's own, else the device's).
    chunk_size: int
    #: Images per forward pass on ``device``.
    batch_size: int
    thresholds_mm: tuple[float, ...]
    confidence: float
    #: The model directory, manifest read and checked (weights not yet loaded).
    model_dir: ModelDir
    ensemble: Ensemble | None = None

    @property
    def model(self) -> str:
        return str(self.config.model)

    @property
    def atlas(self) -> bool:
        """Whether the run is an atlas of many systems (each row its own ``system``)."""
        from gfascreen.screening.palette import AtlasGrid

        return isinstance(self.grid, AtlasGrid)

    def with_ensemble(self, ensemble: Ensemble) -> ScreenPlan:
        return replace(self, ensemble=ensemble)

    def scorer(self, device: str | None = None, batch_size: int | None = None
               ) -> ChunkScorer:
        """What each chunk is scored with (picklable: a Dask worker loads the model from
        it once per process, with its own ``device`` and that device's batch)."""
        from gfascreen.screening.score import ChunkScorer

        return ChunkScorer(self.model, device or str(self.device), self.precision,
                           self.confidence, self.thresholds_mm,
                           self.batch_size if device is None else batch_size)


#: Own reports of its best systems written with an atlas's page (``report --top``).
TOP_REPORTS = 3

HELP = {
    "system": "dash-separated elements, e.g. La-Co-Al",
    "elements": "an atlas: every system of --order over these comma-separated elements, "
                "e.g. Zr,Cu,Al,Ni,Ti,Co, each composition scored once",
    "order": "elements per system of an --elements atlas: 2 to 4, several comma-separated "
             "(default 3)",
    "systems": "an atlas of the systems in this file, one a line (e.g. Zr-Cu-Al)",
    "step": "grid step in at.%% (default 1)",
    "out": "output directory (default ./screen_SYSTEM_stepSTEP)",
    "model": "model directory (default: the shipped ensemble)",
    "device": "auto, cpu, cuda, cuda:1 ...",
    "precision": "auto (default): bf16 autocast on a GPU or a CPU with native bf16 "
                 "(AVX512-BF16/AMX, ~2x faster) when the model records a bf16 check within "
                 "0.02 in log10(1+Dmax) of fp32, else fp32; fp32: float32 everywhere; bf16: "
                 "bf16 autocast",
    "confidence": "coverage of the calibrated interval dmax_lo..dmax_hi and of the lower "
                  "bound dmax_at_least (default 0.9)",
    "thresholds": "thicknesses T (mm) of the P(Dmax >= T) columns, comma-separated "
                  f"(default {','.join(f'{t:g}' for t in DEFAULT_THRESHOLDS_MM)})",
    "scheduler": "address of a Dask distributed scheduler (default: score in this process, "
                 "Parquet parts written on a background thread)",
    "chunk_size": f"points per chunk and Parquet part (default 0 = by device: "
                  f"{CHUNK_SIZE['cpu']} on a CPU, progress every few seconds; "
                  f"{CHUNK_SIZE['cuda']} on a GPU; a resumed run keeps its own)",
    "bounds": "per-element at.%% bounds, e.g. 'Zr:40-70,Al:0-20'",
    "resume": "finish a run: skip parts already written, redo damaged ones",
    "max_points": "refuse grids larger than this (default 2,000,000)",
}

"""Grid -> scores -> Parquet: the screening engine.

A run directory is a Parquet dataset (``part-00000.parquet`` ...), one file per chunk,
each written atomically (temporary name, then rename), plus ``_run.json`` (what was asked)
and, once every chunk is written, ``_summary.json``. Names starting with ``_`` or ``.``
are skipped by pyarrow, so ``pandas.read_parquet(run_dir)`` reads exactly the results.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import dask
import numpy as np
import pandas as pd
from dask.callbacks import Callback
from tqdm.auto import tqdm

from gfascreen import __version__
from gfascreen.data.build import write_parquet_atomic
from gfascreen.errors import GfaError
from gfascreen.screening.grid import CompositionGrid
from gfascreen.screening.score import load_cached, score_chunk


@dataclass
class ScreenConfig:
    """What a screening run computes; see ``screen --help``."""

    system: str
    step: float = 1.0
    out: str | None = None
    model: str = "default"
    device: str = "auto"
    precision: str = "fp32"
    scheduler: str | None = None
    chunk_size: int = 4096
    bounds: str | None = None
    resume: bool = False
    max_points: int = 2_000_000
    include_edges: bool = True
    progress: bool = True


def part_name(i: int) -> str:
    return f"part-{i:05d}.parquet"


def default_out(elements: list[str], step: float) -> Path:
    return Path(f"screen_{'-'.join(elements)}_step{step:g}")


def check_writable(out: Path) -> None:
    """Fail before any work if ``out`` cannot be created or written."""
    probe = out
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK):
        raise GfaError(f"cannot write to {out}: {probe} is not a writable directory; "
                       "choose another --out")


class _TaskProgress(Callback):
    """Advances the progress bar as each part-writing task finishes."""

    def __init__(self, bar: tqdm):
        super().__init__()
        self.bar = bar

    def _posttask(self, key, result, dsk, state, worker_id):
        if isinstance(result, tuple) and len(result) == 2 and result[0] == "part-written":
            self.bar.update(result[1])


def _write_part(df: pd.DataFrame, path: Path, meta: dict) -> tuple[str, int]:
    write_parquet_atomic(df, path, meta)
    return ("part-written", len(df))


def screen(cfg: ScreenConfig) -> Path:
    """Run (or resume) a screening; returns the run directory."""
    grid = CompositionGrid(cfg.system, cfg.step, cfg.bounds, cfg.include_edges)
    if len(grid) > cfg.max_points:
        raise GfaError(f"the grid has {len(grid):,} points, over the limit of "
                       f"{cfg.max_points:,}; use a coarser --step, --bounds, or raise "
                       "--max-points")
    if cfg.chunk_size < 1:
        raise GfaError(f"--chunk-size must be positive, got {cfg.chunk_size}")
    out = Path(cfg.out) if cfg.out else default_out(grid.elements, cfg.step)
    check_writable(out)
    ens = load_cached(cfg.model, cfg.device, cfg.precision)
    unknown = [e for e in grid.elements if e not in ens.vocabulary.elements]
    if unknown:
        raise GfaError(f"the model never saw {', '.join(unknown)} in training; it covers "
                       f"{' '.join(ens.vocabulary.elements)}")
    request = {
        "gfascreen_version": __version__,
        "grid": grid.describe(),
        "chunk_size": cfg.chunk_size,
        "model": {"path": str(cfg.model), "id": ens.id, "hash": ens.hash,
                  "metrics": ens.manifest.get("metrics", {}).get("all", {}),
                  "data_sha256": ens.manifest.get("data", {}).get("sha256")},
    }
    if cfg.precision != "fp32":  # recorded (and checked on --resume) when not the default
        request["model"]["precision"] = cfg.precision
    run_json = out / "_run.json"
    if run_json.exists():
        if not cfg.resume:
            raise GfaError(f"{out} already holds a screening run; pass --resume to finish it or "
                           "choose another --out")
        old = json.loads(run_json.read_text())
        for key in ("grid", "chunk_size", "model"):
            if json.dumps(old.get(key), sort_keys=True) != json.dumps(request[key],
                                                                       sort_keys=True):
                raise GfaError(f"--resume: {out} was run with a different {key}; use a new --out")
        request["started"] = old.get("started")
    else:
        if out.exists() and any(out.glob("*.parquet")):
            raise GfaError(f"{out} already contains Parquet files; choose another --out")
        out.mkdir(parents=True, exist_ok=True)
        request["started"] = datetime.now(UTC).isoformat(timespec="seconds")
        tmp = out / "._run.json.tmp"
        tmp.write_text(json.dumps(request, indent=2))
        os.replace(tmp, run_json)
    meta = {k: request[k] for k in ("gfascreen_version", "grid", "model", "started")}

    n_chunks = grid.n_chunks(cfg.chunk_size)
    done = {i for i in range(n_chunks) if (out / part_name(i)).exists()}
    todo_points = len(grid) - sum(
        min(cfg.chunk_size, len(grid) - i * cfg.chunk_size) for i in done)
    bar = tqdm(total=len(grid), initial=len(grid) - todo_points, unit="pt",
               desc=f"screen {'-'.join(grid.elements)}", disable=not cfg.progress,
               unit_scale=True, smoothing=0.1)
    t0 = time.time()
    device = str(ens.device)
    if cfg.scheduler:
        _run_distributed(cfg, grid, out, done, meta, bar, device)
    else:
        tasks = []
        for i, units in enumerate(grid.units_chunks(cfg.chunk_size)):
            if i in done:
                continue
            name = f"score-{i}"
            df = dask.delayed(score_chunk, name=name, pure=False)(
                units, grid.elements, grid.step, cfg.model, device, cfg.precision)
            tasks.append(dask.delayed(_write_part, name=f"write-{i}", pure=False)(
                df, out / part_name(i), meta))
        # One worker thread: torch already uses every core inside a chunk.
        with _TaskProgress(bar):
            dask.compute(*tasks, scheduler="threads", num_workers=1)
    bar.close()
    wall = time.time() - t0
    table = pd.read_parquet(out)
    if len(table) != len(grid):
        raise GfaError(f"{out} holds {len(table)} rows, expected {len(grid)}; rerun with --resume")
    summary = _summarise(table, grid, wall, todo_points, out)
    (out / "_summary.json").write_text(json.dumps(summary, indent=2))
    _print_summary(summary)
    return out


def _run_distributed(cfg, grid, out, done, meta, bar, device) -> None:
    from distributed import Client, as_completed

    try:
        client = Client(cfg.scheduler, timeout="10s")
    except (OSError, TimeoutError) as exc:
        raise GfaError(f"cannot reach the Dask scheduler at {cfg.scheduler} ({exc})") from None
    try:
        futures = {}
        for i, units in enumerate(grid.units_chunks(cfg.chunk_size)):
            if i in done:
                continue
            f = client.submit(score_chunk, units, grid.elements, grid.step, cfg.model,
                              "cpu" if device == "cpu" else "auto", cfg.precision,
                              pure=False)
            futures[f] = i
        for f in as_completed(futures):
            _, n = _write_part(f.result(), out / part_name(futures[f]), meta)
            bar.update(n)
    finally:
        client.close()


def _summarise(table: pd.DataFrame, grid: CompositionGrid, wall: float, n_scored: int,
               out: Path) -> dict:
    els = grid.elements
    top = table.sort_values("dmax_mm", ascending=False).head(10)
    top_rows = [{"composition": "".join(f"{e}{r[e]:g}" for e in els if r[e] > 0),
                 "dmax_mm": round(float(r["dmax_mm"]), 3),
                 "dmax_std": round(float(r["dmax_std"]), 3),
                 "in_domain": bool(r["in_domain"])} for _, r in top.iterrows()]
    return {"out": str(out), "points": int(len(table)), "scored_now": int(n_scored),
            "wall_s": round(wall, 2),
            "points_per_s": round(n_scored / wall, 1) if wall > 0 and n_scored else None,
            "in_domain_fraction": round(float(np.mean(table["in_domain"])), 4),
            "top10": top_rows}


def _print_summary(s: dict) -> None:
    rate = f", {s['points_per_s']:,} points/s" if s["points_per_s"] else ""
    print(f"{s['points']:,} points in {s['out']} ({s['scored_now']:,} scored now in "
          f"{s['wall_s']:.1f} s{rate}); {100 * s['in_domain_fraction']:.1f}% in domain")
    print("best predicted glass formers (Dmax mm, ensemble mean ± spread):")
    for r in s["top10"]:
        flag = "" if r["in_domain"] else "  (out of domain)"
        print(f"  {r['composition']:<24} {r['dmax_mm']:7.2f} ± {r['dmax_std']:.2f}{flag}")


__all__ = ["ScreenConfig", "screen"]

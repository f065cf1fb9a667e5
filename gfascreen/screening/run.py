"""Grid -> scores -> Parquet: the screening engine.

A run directory is a Parquet dataset (``part-00000.parquet`` ...), one file per chunk,
each written atomically (temporary name, then rename), plus ``_run.json`` (what was asked),
``_lock`` while a process writes it, and, once every chunk is written, ``_summary.json``.
Names starting with ``_`` or ``.`` are skipped by pyarrow, so
``pandas.read_parquet(run_dir)`` reads exactly the results. Columns: the at.% of each
element, ``system`` and :data:`gfascreen.model.ensemble.COLUMNS`.

Guarantees (each tested in ``tests/test_screen.py`` and ``tests/test_bad_input.py``):
every check that needs no model (grid, output directory, existing run, resume
compatibility, precision) runs before the model loads; a part is either whole or absent;
``--resume`` redoes parts that are unreadable or of the wrong length and removes stray
temporary files; a second process on a live run is refused (``_lock`` holds the owner's
pid; a stale lock is taken over); Ctrl-C leaves a resumable run.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from gfascreen import __version__
from gfascreen.errors import GfaError
from gfascreen.model.calibration import DEFAULT_CONFIDENCE
from gfascreen.screening.grid import CompositionGrid
from gfascreen.tableio import check_writable, write_parquet_atomic

PART = re.compile(r"^part-(\d{5})\.parquet$")


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
    scheduler: str | None = None
    chunk_size: int = 512
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
    "confidence": "coverage of the calibrated interval dmax_lo..dmax_hi (default 0.9)",
    "scheduler": "address of a Dask distributed scheduler (default: local threads)",
    "chunk_size": "points per chunk and Parquet part (default 512: progress every few "
                  "seconds on a CPU)",
    "bounds": "per-element at.%% bounds, e.g. 'Zr:40-70,Al:0-20'",
    "resume": "finish a run: skip parts already written, redo damaged ones",
    "max_points": "refuse grids larger than this (default 2,000,000)",
}


def part_name(i: int) -> str:
    return f"part-{i:05d}.parquet"


def default_out(elements: list[str], step: float) -> Path:
    return Path(f"screen_{'-'.join(elements)}_step{step:g}")


def read_run_table(out: Path) -> pd.DataFrame:
    """The results of a run: its part files only (never anything else in the directory)."""
    parts = sorted(p for p in out.iterdir() if PART.match(p.name))
    if not parts:
        return pd.DataFrame()
    try:
        return pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)
    except Exception as exc:  # pyarrow raises several types for a damaged file
        raise GfaError(f"{out}: a part file is unreadable ({exc}); finish the run with "
                       "`screen ... --resume`, which redoes damaged parts") from None


# -- checks before any model loads ---------------------------------------------------------
def _make_grid(cfg: ScreenConfig) -> CompositionGrid:
    if cfg.chunk_size < 1:
        raise GfaError(f"--chunk-size must be positive, got {cfg.chunk_size}")
    if not 0 < cfg.confidence < 1:
        raise GfaError(f"--confidence must lie between 0 and 1 (e.g. 0.9), got {cfg.confidence}")
    grid = CompositionGrid(cfg.system, cfg.step, cfg.bounds, cfg.include_edges)
    if len(grid) > cfg.max_points:
        raise GfaError(f"the grid has {len(grid):,} points, over the limit of "
                       f"{cfg.max_points:,}; use a coarser --step, --bounds, or raise "
                       "--max-points")
    return grid


def _check_out_dir(out: Path, resume: bool) -> None:
    """A new run needs a new or empty directory; an existing run needs ``--resume``."""
    if out.exists() and not out.is_dir():
        raise GfaError(f"--out {out} is a file; choose a directory name")
    if (out / "_run.json").exists():
        if not resume:
            raise GfaError(f"{out} already holds a screening run; pass --resume to finish it "
                           "or choose another --out")
        return
    if out.exists() and any(out.iterdir()):
        raise GfaError(f"--out {out} already exists and holds other files; choose a new or "
                       "empty directory")


def _request(cfg: ScreenConfig, grid: CompositionGrid) -> dict:
    """What the run computes (``_run.json``), from the model's manifest alone."""
    from gfascreen.featurize import Vocabulary
    from gfascreen.model.precision import check_precision, resolve_device
    from gfascreen.model.saved import ModelDir, model_hash

    check_precision(cfg.precision, resolve_device(cfg.device))
    md = ModelDir(cfg.model)
    vocab = Vocabulary.from_dict(md.manifest.vocabulary)
    unknown = [e for e in grid.elements if e not in vocab.elements]
    if unknown:
        raise GfaError(f"the model never saw {', '.join(unknown)} in training; it covers "
                       f"{' '.join(vocab.elements)}")
    model = {"path": str(cfg.model), "id": md.manifest.id, "hash": model_hash(md.manifest),
             "metrics": md.manifest.metrics.get("all", {}),
             "data_sha256": md.manifest.data.get("sha256")}
    if cfg.precision != "fp32":  # recorded (and checked on --resume) when not the default
        model["precision"] = cfg.precision
    cal = md.manifest.calibration
    interval = ({"confidence": cfg.confidence, "method": cal.get("method"),
                 "calibrated_on": cal.get("calibrated_on")} if cal else
                {"confidence": None, "note": "the model carries no calibration; dmax_lo and "
                 "dmax_hi are NaN"})
    return {"gfascreen_version": __version__, "grid": grid.describe(),
            "chunk_size": cfg.chunk_size, "model": model, "interval": interval}


def _start_or_resume(out: Path, request: dict) -> dict:
    """Write ``_run.json`` for a new run, or check that a resumed one asks the same."""
    run_json = out / "_run.json"
    if run_json.exists():
        try:
            old = json.loads(run_json.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise GfaError(f"{run_json} is damaged; start again in a new --out") from None
        for key in ("grid", "chunk_size", "model", "interval"):
            if json.dumps(old.get(key), sort_keys=True) != json.dumps(request[key],
                                                                       sort_keys=True):
                raise GfaError(f"--resume: {out} was run with a different {key}; use a new --out")
        return {**request, "started": old.get("started")}
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise GfaError(f"cannot create --out {out} ({exc.strerror}); choose another --out"
                       ) from None
    request = {**request, "started": datetime.now(UTC).isoformat(timespec="seconds")}
    tmp = out / "._run.json.tmp"
    tmp.write_text(json.dumps(request, indent=2))
    os.replace(tmp, run_json)
    return request


# -- the lock ------------------------------------------------------------------------------
class RunLock:
    """``out/_lock`` holds the pid of the process writing the run; a live owner makes a
    second process fail, a dead one's lock is taken over. Released on exit."""

    def __init__(self, out: Path):
        self.path = out / "_lock"

    def __enter__(self) -> RunLock:
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                owner = self._owner()
                if owner is not None and _alive(owner):
                    raise GfaError(f"{self.path.parent} is being written by process {owner}; "
                                   "wait for it to finish or stop it, then --resume") from None
                print(f"note: taking over a stale lock of process {owner} on "
                      f"{self.path.parent}", file=sys.stderr)
                self.path.unlink(missing_ok=True)
                continue
            with os.fdopen(fd, "w") as f:
                f.write(json.dumps({"pid": os.getpid()}))
            return self
        raise GfaError(f"could not lock {self.path.parent}; try again")

    def _owner(self) -> int | None:
        try:
            return int(json.loads(self.path.read_text())["pid"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def __exit__(self, *exc) -> None:
        if self._owner() == os.getpid():
            self.path.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# -- parts ---------------------------------------------------------------------------------
def _heal(out: Path, grid: CompositionGrid, chunk_size: int) -> set[int]:
    """Indices of parts already written whole; removes stray temporary files and parts
    that are unreadable or of the wrong length (they are redone), and says so."""
    import pyarrow.parquet as pq

    for tmp in [*out.glob(".part-*.tmp"), *out.glob("part-*.tmp")]:
        tmp.unlink(missing_ok=True)
    n_chunks = grid.n_chunks(chunk_size)
    done = set()
    for p in out.iterdir():
        m = PART.match(p.name)
        if not m:
            continue
        i = int(m.group(1))
        expected = min(chunk_size, len(grid) - i * chunk_size)
        try:
            ok = i < n_chunks and pq.ParquetFile(p).metadata.num_rows == expected
        except Exception:  # unreadable footer, truncated file
            ok = False
        if ok:
            done.add(i)
        else:
            print(f"note: {p.name} is damaged or incomplete; redoing it", file=sys.stderr)
            p.unlink()
    return done


def _write_part(df: pd.DataFrame, path: Path, meta: dict) -> tuple[str, int]:
    write_parquet_atomic(df, path, meta)
    return ("part-written", len(df))


def _run_local(cfg: ScreenConfig, grid: CompositionGrid, out: Path, done: set[int],
               meta: dict, bar, device: str) -> None:
    import dask
    from dask.callbacks import Callback

    from gfascreen.screening.score import score_chunk

    class _Progress(Callback):
        def _posttask(self, key, result, dsk, state, worker_id):
            if isinstance(result, tuple) and len(result) == 2 and result[0] == "part-written":
                bar.update(result[1])

    tasks = []
    for i, units in enumerate(grid.units_chunks(cfg.chunk_size)):
        if i in done:
            continue
        df = dask.delayed(score_chunk, name=f"score-{i}", pure=False)(
            units, grid.elements, grid.step, cfg.model, device, cfg.precision, cfg.confidence)
        tasks.append(dask.delayed(_write_part, name=f"write-{i}", pure=False)(
            df, out / part_name(i), meta))
    # One worker thread: torch already uses every core inside a chunk.
    with _Progress():
        dask.compute(*tasks, scheduler="threads", num_workers=1)


def _run_distributed(cfg: ScreenConfig, grid: CompositionGrid, out: Path, done: set[int],
                     meta: dict, bar, device: str) -> None:
    from distributed import Client, as_completed

    from gfascreen.screening.score import score_chunk

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
                              cfg.confidence, pure=False, retries=2)
            futures[f] = i
        for f in as_completed(futures):
            _, n = _write_part(f.result(), out / part_name(futures[f]), meta)
            bar.update(n)
    finally:
        client.close()


# -- the run -------------------------------------------------------------------------------
def screen(cfg: ScreenConfig) -> Path:
    """Run (or resume) a screening; returns the run directory."""
    grid = _make_grid(cfg)
    out = Path(cfg.out) if cfg.out else default_out(grid.elements, cfg.step)
    check_writable(out)
    _check_out_dir(out, cfg.resume)
    request = _request(cfg, grid)
    request = _start_or_resume(out, request)
    with RunLock(out):
        done = _heal(out, grid, cfg.chunk_size)
        if len(done) == grid.n_chunks(cfg.chunk_size) and (out / "_summary.json").exists():
            print(f"{out} is already complete ({len(grid):,} points); nothing to do")
            return out
        _score(cfg, grid, out, done, request)
    return out


def _score(cfg: ScreenConfig, grid: CompositionGrid, out: Path, done: set[int],
           request: dict) -> None:
    from tqdm.auto import tqdm

    from gfascreen.screening.score import load_cached

    meta = {k: request[k] for k in ("gfascreen_version", "grid", "model", "interval", "started")}
    written = sum(min(cfg.chunk_size, len(grid) - i * cfg.chunk_size) for i in done)
    if cfg.progress:
        print(f"loading model {cfg.model} ...", file=sys.stderr, flush=True)
    ens = load_cached(cfg.model, cfg.device, cfg.precision)
    bar = tqdm(total=len(grid), initial=written, unit="pt", unit_scale=True, smoothing=0.1,
               desc=f"screen {'-'.join(grid.elements)}", disable=not cfg.progress)
    t0 = time.time()
    try:
        run = _run_distributed if cfg.scheduler else _run_local
        run(cfg, grid, out, done, meta, bar, str(ens.device))
    except KeyboardInterrupt:
        bar.close()
        print(f"\ninterrupted: finished parts are kept in {out}; resume with the same "
              "command plus --resume", file=sys.stderr)
        raise
    bar.close()
    wall = time.time() - t0
    table = read_run_table(out)
    if len(table) != len(grid):
        raise GfaError(f"{out} holds {len(table)} rows, expected {len(grid)}; rerun with --resume")
    summary = _summarise(table, grid, wall, len(grid) - written, out)
    (out / "_summary.json").write_text(json.dumps(summary, indent=2))
    _print_summary(summary)


def _summarise(table: pd.DataFrame, grid: CompositionGrid, wall: float, n_scored: int,
               out: Path) -> dict:
    els = grid.elements
    top = table.sort_values("dmax_mm", ascending=False).head(10)
    top_rows = [{"composition": "".join(f"{e}{r[e]:g}" for e in els if r[e] > 0),
                 "dmax_mm": round(float(r["dmax_mm"]), 3),
                 "dmax_std": round(float(r["dmax_std"]), 3),
                 "dmax_lo": round(float(r["dmax_lo"]), 3),
                 "dmax_hi": round(float(r["dmax_hi"]), 3),
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
    print("best predicted glass formers (Dmax mm, ensemble mean [calibrated interval]):")
    for r in s["top10"]:
        flag = "" if r["in_domain"] else "  (out of domain)"
        iv = ("" if np.isnan(r["dmax_lo"]) else
              f" [{r['dmax_lo']:.2f}, {r['dmax_hi']:.2f}]")
        print(f"  {r['composition']:<24} {r['dmax_mm']:7.2f}{iv}  spread {r['dmax_std']:.2f}"
              f"{flag}")


__all__ = ["HELP", "ScreenConfig", "read_run_table", "screen"]

"""Grid -> scores -> Parquet: the screening engine.

A run directory is a Parquet dataset (``part-00000.parquet`` ...), one file per chunk,
each written atomically (temporary name, then rename), plus ``_run.json`` (what was asked),
``_lock`` while a process writes it, and, once every chunk is written, ``_summary.json``
and last, atomically, the empty ``_SUCCESS`` marker (the Spark/Hadoop convention: no
``_SUCCESS``, not finished; every reader checks it). Names starting with ``_`` or ``.`` are
skipped by pyarrow, so ``pandas.read_parquet(run_dir)`` reads exactly the results.
Columns: the at.% of each element, ``system``, :data:`gfascreen.model.columns.COLUMNS`
and :data:`gfascreen.model.known.MEASURED_COLUMNS` (a known alloy's measurements).

The options are resolved once into a :class:`~gfascreen.screening.options.ScreenPlan`
(:func:`plan_screen`) and the model is loaded once. On one machine the chunks are scored in
this process while one writer thread (:class:`PartWriter`) writes the previous chunk's
part; ``--scheduler`` sends the chunks to a Dask cluster instead (workers load the model
once each) and the parts are written here the same way.

Guarantees (each tested in ``tests/test_screen.py`` and ``tests/test_bad_input.py``):
every check that needs no model (grid, output directory, existing run, resume
compatibility, precision) runs before the model loads; a part is either whole or absent;
``--resume`` redoes parts that are unreadable or of the wrong length and removes stray
temporary files; a second process on a live run is refused (``_lock`` holds the owner's
pid; a stale lock is taken over); Ctrl-C leaves a resumable run.
"""

from __future__ import annotations

import errno
import itertools
import json
import os
import queue
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from gfascreen import __version__
from gfascreen.errors import GfaError, Interrupted
from gfascreen.model import columns as pc
from gfascreen.screening.grid import CompositionGrid
from gfascreen.screening.options import HELP, ScreenConfig, ScreenPlan
from gfascreen.screening.palette import AtlasGrid, atlas_grid
from gfascreen.screening.runs import (
    PART,
    SUCCESS,
    alive,
    lock_pid,
    mark_success,
    part_name,
    read_run_table,
    resume_command,
)
from gfascreen.tableio import check_writable, write_parquet_atomic


def default_out(grid: CompositionGrid | AtlasGrid) -> Path:
    """``screen_SYSTEM_stepSTEP``, or ``atlas_PALETTE_orderORDERS_stepSTEP``."""
    if isinstance(grid, AtlasGrid):
        return Path(f"atlas_{grid.label()}_step{grid.step:g}")
    return Path(f"screen_{'-'.join(grid.elements)}_step{grid.step:g}")


# -- the plan: every check that needs no model, options resolved once -----------------
def _grid_of(cfg: ScreenConfig) -> CompositionGrid | AtlasGrid:
    """One system's grid (``--system``), or an atlas's (``--elements``, ``--systems``)."""
    if not (cfg.elements or cfg.systems):
        if cfg.order:
            raise GfaError("--order goes with --elements: every system of that order over "
                           "those elements")
        if not cfg.system:
            raise GfaError("give --system (one system), or an atlas of many: --elements "
                           "with --order, or --systems FILE")
        return CompositionGrid(cfg.system, cfg.step, cfg.bounds, cfg.include_edges)
    if cfg.system:
        raise GfaError("--system screens one system, --elements / --systems an atlas of "
                       "many; give one of them")
    if cfg.bounds:
        raise GfaError("--bounds is for one --system; an atlas screens each system's "
                       "whole simplex")
    return atlas_grid(cfg.elements, cfg.order, cfg.systems, cfg.step, cfg.include_edges)


def _make_grid(cfg: ScreenConfig) -> CompositionGrid | AtlasGrid:
    grid = _grid_of(cfg)
    if len(grid) > cfg.max_points:
        what, fix = ((f"the atlas has {len(grid):,} compositions ({len(grid.systems):,} "
                      "systems)", "fewer --elements or orders")
                     if isinstance(grid, AtlasGrid) else
                     (f"the grid has {len(grid):,} points", "--bounds"))
        raise GfaError(f"{what}, over the limit of {cfg.max_points:,}; use a coarser "
                       f"--step, {fix}, or raise --max-points")
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


def _resumed(cfg: ScreenConfig, out: Path) -> dict | None:
    """The ``_run.json`` of the run ``--resume`` finishes (None for a new run, or when it
    is damaged: :func:`_start_or_resume` says so)."""
    if not (cfg.resume and (out / "_run.json").is_file()):
        return None
    try:
        run = json.loads((out / "_run.json").read_text())
    except (json.JSONDecodeError, UnicodeDecodeError, OSError):
        return None
    return run if isinstance(run, dict) else None


def _chunk_size(cfg: ScreenConfig, resumed: dict | None, device) -> int:
    """``chunk_size`` 0 means: a resumed run's own, else the device's default."""
    from gfascreen.screening.options import chunk_size_for

    if cfg.chunk_size != 0:
        return cfg.chunk_size
    try:
        return int(resumed["chunk_size"])
    except (ValueError, KeyError, TypeError):
        return chunk_size_for(device)


def _precision(cfg: ScreenConfig, resumed: dict | None, out: Path, device, manifest) -> str:
    """What the members run in: ``auto`` finishes a resumed run in its own precision (so
    its parts agree), else picks bf16 only where ``device`` has it natively and the model
    records a sound bf16 check (:func:`gfascreen.model.precision.resolve_precision`)."""
    from gfascreen.model.precision import check_precision, resolve_precision
    from gfascreen.model.saved import bf16_record

    own = (resumed.get("model") or {}) if resumed is not None else None
    if cfg.precision == "auto" and isinstance(own, dict):
        own = own.get("precision", "fp32")  # runs before the record was kept were fp32
        if own in ("fp32", "bf16"):
            try:
                check_precision(own, device)
            except GfaError:
                raise GfaError(f"--resume: {out} was scored in {own}, which this machine "
                               "cannot run (no native bf16: AVX512-BF16, AMX or a GPU); "
                               "finish it on a machine that has it") from None
            return own
    return resolve_precision(cfg.precision, device, bf16_record(manifest))


def plan_screen(cfg: ScreenConfig) -> ScreenPlan:
    """Resolve the options once into a :class:`ScreenPlan`: grid, output directory, device,
    precision, chunk and batch size, thresholds, confidence, the model's manifest. Every
    check that needs no model runs here, before any model loads."""
    from gfascreen.model.precision import check_precision, inference_batch_for, resolve_device
    from gfascreen.model.saved import ModelDir
    from gfascreen.model.statement_options import check_confidence, parse_thresholds

    if cfg.chunk_size < 0:
        raise GfaError(f"--chunk-size must be positive (or 0: by device), got {cfg.chunk_size}")
    confidence = check_confidence(cfg.confidence)
    thresholds = parse_thresholds(cfg.thresholds)
    grid = _make_grid(cfg)
    out = Path(cfg.out) if cfg.out else default_out(grid)
    check_writable(out)
    _check_out_dir(out, cfg.resume)
    resumed = _resumed(cfg, out)
    device = resolve_device(cfg.device)
    check_precision(cfg.precision, device)
    md = ModelDir(cfg.model)
    vocab = md.manifest.image_spec.vocabulary
    unknown = [e for e in grid.elements if e not in vocab.elements]
    if unknown:
        raise GfaError(f"the model never saw {', '.join(unknown)} in training; its screens "
                       f"cover {' '.join(vocab.elements)} (`gfascreen predict` reads an alloy "
                       "with another element by the descriptor partner alone, where it knows "
                       "the element)")
    precision = _precision(cfg, resumed, out, device, md.manifest)
    return ScreenPlan(cfg, grid, out, device, precision,
                      _chunk_size(cfg, resumed, device), inference_batch_for(device),
                      thresholds, confidence, md)


def _unseen_figures(manifest) -> dict:
    """The figures of what the tool writes on systems the model never saw (the one
    distribution's, nested out of fold: the calibration's measurement); {} without them."""
    rep = (manifest.extra.get("calibration_report") or {}).get("headline") or {}
    fig = next((v for k, v in rep.items() if k.startswith("one distribution")), None)
    return {k: fig[k] for k in ("pooled_spearman", "within_system", "auc_bmg")} if fig else {}


def _request(plan: ScreenPlan) -> dict:
    """What the run computes (``_run.json``), from the plan (the model's manifest alone)."""
    from gfascreen.model.saved import model_hash, stack_hash

    md = plan.model_dir
    model = {"path": plan.model, "id": md.manifest.id, "hash": model_hash(md.manifest),
             "stack_hash": stack_hash(md.manifest),
             "metrics": md.manifest.metrics.get("all", {}),
             "unseen": _unseen_figures(md.manifest),
             "data_sha256": md.manifest.data.get("sha256"),
             "precision": plan.precision}  # the one used (checked on --resume)
    cal = md.manifest.calibration.info if md.manifest.calibration else None
    interval = ({"confidence": plan.confidence,
                 "method": cal.get("method") or ("one distribution per alloy" if
                                                 cal.get("thickness") else None),
                 "difficulty": cal.get("difficulty"), "binning": cal.get("binning"),
                 "thresholds_mm": list(plan.thresholds_mm),
                 "probabilities": "calibrated" if cal.get("probabilities") else "class head",
                 "calibrated_on": cal.get("calibrated_on")} if cal else
                {"confidence": None, "note": "the model carries no calibration; dmax_lo and "
                 "dmax_hi are NaN"})
    return {"gfascreen_version": __version__, "grid": plan.grid.describe(),
            "chunk_size": plan.chunk_size, "model": model, "interval": interval}


def _start_or_resume(out: Path, request: dict) -> dict:
    """Write ``_run.json`` for a new run, or check that a resumed one asks the same."""
    run_json = out / "_run.json"
    if run_json.exists():
        try:
            old = json.loads(run_json.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise GfaError(f"{run_json} is damaged; start again in a new --out") from None
        # Runs from before these records were fp32 and scored by the members alone.
        if isinstance(old.get("model"), dict):
            old["model"] = {"precision": "fp32", "stack_hash": None, **old["model"]}
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
                owner = lock_pid(self.path.parent)
                if owner is not None and alive(owner):
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

    def __exit__(self, *exc) -> None:
        if lock_pid(self.path.parent) == os.getpid():
            self.path.unlink(missing_ok=True)


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


def write_part(df: pd.DataFrame, path: Path, meta: dict) -> tuple[str, int]:
    """Write one scored part atomically: the one place a screen writes a part (the tests
    slow or fail a write here)."""
    write_parquet_atomic(df, path, meta)
    return ("part-written", len(df))


class PartWriter:
    """Writes parts on one background thread while the caller scores the next chunk.

    A bounded queue (at most ``depth`` scored chunks wait, so memory stays bounded); parts
    are written in the order given, each atomically (:func:`write_part`); the first write
    error is raised in the caller, at its next :meth:`put` or on leaving the ``with``
    block, and nothing is written after it. Leaving the block, normally or on an error or
    Ctrl-C, writes what is already queued first: every part is whole or absent, and a
    killed run loses only chunks not yet written, which ``--resume`` redoes."""

    def __init__(self, meta: dict, bar, depth: int = 2):
        self.meta, self.bar = meta, bar
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._loop, name="gfascreen-part-writer",
                                        daemon=True)

    def _loop(self) -> None:
        while (item := self._queue.get()) is not None:
            if self._error is not None:
                continue  # after a failure: drain, write nothing more
            df, path = item
            try:
                _, n = write_part(df, path, self.meta)
                self.bar.update(n)
            except BaseException as exc:  # raised in the scoring thread
                self._error = exc

    def put(self, df: pd.DataFrame, path: Path) -> None:
        """Queue a scored chunk for ``path`` (waits while ``depth`` chunks are queued)."""
        self._check()
        self._queue.put((df, path))

    def _check(self) -> None:
        if self._error is not None:
            raise self._error

    def __enter__(self) -> PartWriter:
        self._thread.start()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self._queue.put(None)
        self._thread.join()
        if exc_type is None:
            self._check()


def _run_local(plan: ScreenPlan, done: set[int], meta: dict, bar) -> None:
    """Chunk after chunk in this process with the plan's predictor (torch uses every core
    inside a chunk), the part of chunk N written by the writer thread while chunk N+1 is
    scored."""
    from gfascreen.screening import score

    scorer = plan.scorer()
    with PartWriter(meta, bar) as writer:
        for i, units in enumerate(plan.grid.units_chunks(plan.chunk_size)):
            if i in done:
                continue
            df = score.score_chunk(units, plan.grid.elements, plan.grid.step, scorer,
                                   plan.atlas, ensemble=plan.ensemble)
            writer.put(df, plan.out / part_name(i))


def connect(address: str):
    """A Dask distributed client, or a one-line error (checked before any progress bar)."""
    from distributed import Client

    try:
        return Client(address, timeout="10s")
    except (OSError, TimeoutError, ValueError) as exc:
        raise GfaError(f"cannot reach the Dask scheduler at {address} ({exc}); check "
                       "--scheduler, or leave it out to score locally") from None


#: Chunks in flight on a Dask cluster per worker thread (at least :data:`MIN_IN_FLIGHT`):
#: enough to keep every worker busy while finished ones travel back, few enough that the
#: lattice points waiting on the scheduler stay small whatever the grid's size.
IN_FLIGHT_PER_THREAD, MIN_IN_FLIGHT = 2, 8


def _run_distributed(client, plan: ScreenPlan, done: set[int], meta: dict, bar) -> None:
    """Chunks sent to the cluster's workers a window at a time (one more as each comes
    back), each worker scoring with the model it loaded once; parts written here as the
    chunks come back, in any order. A lost worker's chunks are run again elsewhere (the
    scheduler's rescheduling, ``retries`` for a failed task)."""
    from distributed import as_completed

    from gfascreen.screening import score

    # Each worker loads the model once on its own device ("auto" unless the screen asked
    # for the CPU), in the screen's precision, at that device's batch.
    scorer = plan.scorer(device="cpu" if plan.device.type == "cpu" else "auto")
    todo = ((i, u) for i, u in enumerate(plan.grid.units_chunks(plan.chunk_size))
            if i not in done)
    futures: dict = {}
    flow = as_completed()

    def submit_next() -> None:
        for i, units in itertools.islice(todo, 1):
            f = client.submit(score.score_chunk, units, plan.grid.elements, plan.grid.step,
                              scorer, plan.atlas, pure=False, retries=2)
            futures[f] = i
            flow.add(f)

    try:
        threads = sum(client.nthreads().values())
        for _ in range(max(MIN_IN_FLIGHT, IN_FLIGHT_PER_THREAD * threads)):
            submit_next()
        with PartWriter(meta, bar) as writer:
            for f in flow:
                try:
                    df = f.result()
                except GfaError:
                    raise
                except Exception as exc:  # scheduler or workers gone: CommClosedError ...
                    raise GfaError(f"lost the Dask scheduler or its workers at "
                                   f"{plan.config.scheduler} ({type(exc).__name__})") from None
                writer.put(df, plan.out / part_name(futures.pop(f)))
                submit_next()
    finally:
        try:
            client.close(timeout=5)
        except Exception:  # a dead scheduler cannot be closed politely
            pass


# -- the run -------------------------------------------------------------------------------
def screen(cfg: ScreenConfig | ScreenPlan) -> Path:
    """Run (or resume) a screening (its options, or the plan resolved from them); returns
    the run directory."""
    plan = cfg if isinstance(cfg, ScreenPlan) else plan_screen(cfg)
    out = plan.out
    new_dir = not out.exists()
    new = not (out / "_run.json").exists()
    request = _start_or_resume(out, _request(plan))
    locked = False
    try:
        with RunLock(out):
            locked = True
            done = _heal(out, plan.grid, plan.chunk_size)
            if (len(done) == plan.grid.n_chunks(plan.chunk_size)
                    and (out / "_summary.json").exists()):
                if not (out / SUCCESS).exists():  # finished before the marker was written
                    mark_success(out)
                print(f"{out} is already complete ({len(plan.grid):,} points); nothing "
                      "to do")
                return out
            _score(plan, done, request)
    except BaseException:
        if new and locked:  # this process started the run: leave nothing that blocks a retry
            _forget_unscored(out, new_dir)
        raise
    return out


def _forget_unscored(out: Path, new_dir: bool) -> None:
    """Remove a run this process started when it stopped before writing any part (a model
    that fails to load, Ctrl-C during the first chunk): its ``_run.json`` and temporary
    files, and the directory when this process made it, so the same command can run
    again without ``--resume``. A run with parts is kept for ``--resume``."""
    if any(PART.match(p.name) for p in out.iterdir()):
        return
    for p in [out / "_run.json", *out.glob(".*.tmp")]:
        p.unlink(missing_ok=True)
    if new_dir and not any(out.iterdir()):
        out.rmdir()


def load_model(plan: ScreenPlan) -> ScreenPlan:
    """The plan with its model loaded and verified, once per process: every local chunk
    scores with this one (``plan.ensemble``); held in the process's cache
    (:func:`~gfascreen.screening.score.load_cached`), so a report and an in-process Dask
    worker on the same device reuse it."""
    from gfascreen.screening.score import load_cached

    return plan.with_ensemble(load_cached(plan.model, str(plan.device), plan.precision))


def _score(plan: ScreenPlan, done: set[int], request: dict) -> None:
    from tqdm.auto import tqdm

    cfg, grid, out = plan.config, plan.grid, plan.out
    meta = {k: request[k] for k in ("gfascreen_version", "grid", "model", "interval", "started")}
    (out / SUCCESS).unlink(missing_ok=True)  # parts are about to change: not finished
    written = sum(min(plan.chunk_size, len(grid) - i * plan.chunk_size) for i in done)
    # Unreachable: one line, before any progress bar is drawn.
    client = connect(cfg.scheduler) if cfg.scheduler else None
    if client is None:  # a cluster's workers load the model, once each
        from gfascreen.screening.score import is_loaded

        if cfg.progress and not is_loaded(plan.model, str(plan.device), plan.precision):
            print(f"loading model {plan.model} ({plan.device}, {plan.precision}) ...",
                  file=sys.stderr, flush=True)
        plan = load_model(plan)
    elif cfg.progress:
        print(f"scoring on the Dask cluster at {cfg.scheduler}: each worker loads model "
              f"{plan.model} once ({plan.precision})", file=sys.stderr, flush=True)
    bar = tqdm(total=len(grid), initial=written, unit="pt", unit_scale=True, smoothing=0.1,
               desc=(f"atlas {grid.label()}" if plan.atlas else
                     f"screen {'-'.join(grid.elements)}"), disable=not cfg.progress)
    t0 = time.time()
    try:
        if client is not None:
            _run_distributed(client, plan, done, meta, bar)
        else:
            _run_local(plan, done, meta, bar)
    except KeyboardInterrupt:
        bar.close()
        raise Interrupted(f"interrupted: finished parts are kept in {out}; resume with "
                          f"`{resume_command(request, out)}`") from None
    except (GfaError, OSError) as exc:  # a full disk, a lost scheduler: say how to go on
        bar.close()
        raise _fault(exc, out, request) from None
    bar.close()
    wall = time.time() - t0
    if plan.atlas:
        from gfascreen.screening.atlas import finish_atlas

        summary = finish_atlas(plan, len(grid) - written, wall)
    else:
        table = read_run_table(out)
        if len(table) != len(grid):
            raise GfaError(f"{out} holds {len(table)} rows, expected {len(grid)}; rerun "
                           "with --resume")
        summary = _summarise(table, grid, wall, len(grid) - written, out)
    summary.update(device=str(plan.device), precision=plan.precision)
    tmp = out / "._summary.json.tmp"
    tmp.write_text(json.dumps(summary, indent=2))
    os.replace(tmp, out / "_summary.json")
    mark_success(out)  # last: the run is whole


def _fault(exc: Exception, out: Path, request: dict) -> GfaError:
    """One line for a run that stopped on a fault: what happened, what is kept, and the
    command that finishes it."""
    what = str(exc) if isinstance(exc, GfaError) else (exc.strerror or str(exc))
    os_error = exc if isinstance(exc, OSError) else exc.__cause__
    if getattr(os_error, "errno", None) == errno.ENOSPC:
        what = f"the disk holding {out} is full ({what}); free space, then"
    else:
        what = f"{what}; when it is fixed,"
    k = sum(1 for p in out.iterdir() if PART.match(p.name))
    return GfaError(f"screen stopped: {what} resume with `{resume_command(request, out)}` "
                    f"({k} whole parts are kept)")


def _summarise(table: pd.DataFrame, grid: CompositionGrid, wall: float, n_scored: int,
               out: Path) -> dict:
    els = grid.elements
    top = table.sort_values(pc.DMAX_MM, ascending=False).head(10)
    top_rows = [{"composition": "".join(f"{e}{r[e]:g}" for e in els if r[e] > 0),
                 pc.DMAX_MM: round(float(r[pc.DMAX_MM]), 3),
                 pc.DMAX_STD: round(float(r[pc.DMAX_STD]), 3),
                 pc.DMAX_LO: round(float(r[pc.DMAX_LO]), 3),
                 pc.DMAX_HI: round(float(r[pc.DMAX_HI]), 3),
                 pc.DMAX_AT_LEAST: round(float(r.get(pc.DMAX_AT_LEAST, np.nan)), 3),
                 pc.P_BMG: round(float(r.get(pc.P_BMG, np.nan)), 3),
                 pc.IN_DOMAIN: bool(r[pc.IN_DOMAIN])} for _, r in top.iterrows()]
    return {"out": str(out), "points": int(len(table)), "scored_now": int(n_scored),
            "wall_s": round(wall, 2),
            "points_per_s": round(n_scored / wall, 1) if wall > 0 and n_scored else None,
            "in_domain_fraction": round(float(np.mean(table[pc.IN_DOMAIN])), 4),
            "top10": top_rows}


def summary_text(s: dict) -> str:
    """The run's summary (``_summary.json``) for the terminal."""
    if "top_systems" in s:
        from gfascreen.screening.atlas import atlas_text

        return atlas_text(s)
    lines = []
    rate = f", {s['points_per_s']:,} points/s" if s["points_per_s"] else ""
    lines.append(f"{s['points']:,} points in {s['out']} ({s['scored_now']:,} scored now in "
                 f"{s['wall_s']:.1f} s{rate}); {100 * s['in_domain_fraction']:.1f}% in domain")
    lines.append("best predicted glass formers (Dmax mm: mean of the predicted distribution "
                 "[interval], P(bulk glass)):")
    for r in s["top10"]:
        flag = "" if r[pc.IN_DOMAIN] else "  (out of domain)"
        iv = ("" if np.isnan(r[pc.DMAX_LO]) else
              f" [{r[pc.DMAX_LO]:.2f}, {r[pc.DMAX_HI]:.2f}]")
        pb = "" if np.isnan(r.get(pc.P_BMG, np.nan)) else f"  P(bmg) {r[pc.P_BMG]:.2f}"
        lines.append(f"  {r['composition']:<24} {r[pc.DMAX_MM]:7.2f}{iv}{pb}{flag}")
    return "\n".join(lines)


__all__ = ["HELP", "ScreenConfig", "ScreenPlan", "plan_screen", "read_run_table", "screen",
           "summary_text"]

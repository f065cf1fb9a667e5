"""Reading a screening run directory: the one reader of ``report``, ``suggest``,
``validate`` and the examples.

A run is complete when every part ``_run.json`` implies (grid points / chunk size) is
there, ``_summary.json`` is written and, written last and atomically, the ``_SUCCESS``
marker (the Spark/Hadoop convention; ``pd.read_parquet(run)`` skips it, as every name
starting with ``_``, and cannot tell an unfinished run: check ``_SUCCESS`` first).
Anything else is a *state*, said in one line: not a run, a damaged run file, a run being
written by a live ``screen`` (its ``_lock``), or an incomplete run (k of n parts) with
the command that finishes it. ``partial=True`` reads what is there instead, and the caller
says so.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from gfascreen.errors import GfaError
from gfascreen.screening.options import CHUNK_SIZE

PART = re.compile(r"^part-(\d{5})\.parquet$")
#: The marker file of a finished run, written last (empty, as Spark and Hadoop write it).
SUCCESS = "_SUCCESS"


def part_name(i: int) -> str:
    return f"part-{i:05d}.parquet"


def read_run_table(out: Path, systems: list[str] | None = None) -> pd.DataFrame:
    """The results of a run: its part files only (never anything else in the directory);
    with ``systems``, only the rows whose ``system`` is one of them."""
    parts = list(iter_parts(out, systems=systems))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def iter_parts(out: Path, columns: list[str] | None = None,
               systems: list[str] | None = None) -> Iterator[pd.DataFrame]:
    """A run's parts one at a time, in order (``columns`` only, when given; with
    ``systems``, only the rows whose ``system`` is one of them)."""
    filters = None if systems is None else [("system", "in", list(systems))]
    for p in sorted(p for p in Path(out).iterdir() if PART.match(p.name)):
        try:
            yield pd.read_parquet(p, columns=columns, filters=filters)
        except Exception as exc:  # pyarrow raises several types for a damaged file
            raise GfaError(f"{out}: {p.name} is unreadable ({exc}); finish the run with "
                           "`screen ... --resume`, which redoes damaged parts") from None


def mark_success(out: Path) -> None:
    """Mark a run finished: an empty ``_SUCCESS``, by a rename (never half there)."""
    tmp = Path(out) / f".{SUCCESS}.tmp"
    tmp.write_bytes(b"")
    os.replace(tmp, Path(out) / SUCCESS)


def lock_pid(out: Path) -> int | None:
    """The pid written in a run's ``_lock`` (None without a readable lock)."""
    try:
        return int(json.loads((Path(out) / "_lock").read_text())["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def alive(pid: int) -> bool:
    """Whether process ``pid`` exists (one we may not signal counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def lock_owner(out: Path) -> int | None:
    """The pid in a run's ``_lock`` when that process is alive, else None."""
    pid = lock_pid(out)
    return pid if pid is not None and alive(pid) else None


def _num(x) -> str:
    """A number as the shortest text that reads back as the same float (``10``, ``0.9``)."""
    s = f"{float(x):g}"
    return s if float(s) == float(x) else repr(float(x))


def _route(grid: dict) -> list[str]:
    """What a run screens, as options: ``--system``, or an atlas's ``--elements`` and
    ``--order`` or ``--systems FILE``."""
    source = (grid.get("atlas") or {}).get("source")
    if source is None:
        return ["--system", "-".join(grid.get("elements", []))]
    if "systems_file" in source:
        return ["--systems", str(source["systems_file"])]
    return ["--elements", str(source.get("elements")), "--order", str(source.get("order"))]


def resume_command(run: dict, out: Path) -> str:
    """The command that finishes a run, from what ``_run.json`` recorded: every option the
    resume compares (grid, chunk size, model and its precision, the interval's confidence
    and thresholds) as it was given, quoted for a POSIX shell, so it works as printed."""
    import shlex

    from gfascreen.model.columns import DEFAULT_THRESHOLDS_MM
    from gfascreen.model.statement_options import DEFAULT_CONFIDENCE

    g = run.get("grid", {})
    model = run.get("model") or {}
    interval = run.get("interval") or {}
    args = ["screen", *_route(g), "--step",
            _num(g["step_at_pct"]) if "step_at_pct" in g else "?", "--out", str(out)]
    bounds = g.get("bounds") or {}
    if bounds:
        args += ["--bounds", ",".join(f"{e}:{_num(lo)}-{_num(hi)}"
                                      for e, (lo, hi) in bounds.items())]
    if not g.get("include_edges", True):
        args.append("--interior")
    if run.get("chunk_size") not in (None, CHUNK_SIZE["cpu"]):
        args += ["--chunk-size", str(run["chunk_size"])]
    if model.get("path") not in (None, "default"):
        args += ["--model", str(model["path"])]
    if model.get("precision", "fp32") != "fp32":
        args += ["--precision", str(model["precision"])]
    confidence = interval.get("confidence")
    if confidence is not None and float(confidence) != DEFAULT_CONFIDENCE:
        args += ["--confidence", _num(confidence)]
    thresholds = interval.get("thresholds_mm")
    if thresholds is not None and tuple(map(float, thresholds)) != tuple(DEFAULT_THRESHOLDS_MM):
        args += ["--thresholds", ",".join(_num(t) for t in thresholds)]
    return shlex.join([*args, "--resume"])


@dataclass
class Run:
    """A run directory read: its table (the parts present), what was asked, the summary
    (empty until complete) and, when incomplete, a one-line note."""

    path: Path
    table: pd.DataFrame
    request: dict
    summary: dict = field(default_factory=dict)
    parts_present: int = 0
    parts_expected: int = 0
    note: str = ""

    @property
    def complete(self) -> bool:
        return not self.note


def expected_parts(run: dict) -> int:
    points = int(run.get("grid", {}).get("points", 0))
    size = int(run.get("chunk_size") or CHUNK_SIZE["cpu"])
    return max(1, math.ceil(points / size)) if points else 0


def read_request(out: Path) -> tuple[dict, dict]:
    """A run's ``_run.json`` (what was asked) and ``_summary.json`` (empty until it is
    complete), or a one-line error."""
    if not (out / "_run.json").is_file():
        raise GfaError(f"{out} is not a screening run (no _run.json); run `screen` first")
    try:
        run = json.loads((out / "_run.json").read_text())
        summary = (json.loads((out / "_summary.json").read_text())
                   if (out / "_summary.json").is_file() else {})
    except (json.JSONDecodeError, UnicodeDecodeError, OSError):
        raise GfaError(f"{out}: _run.json or _summary.json is damaged") from None
    return run, summary


def load_run(run_dir: str | Path, partial: bool = False,
             systems: list[str] | None = None) -> Run:
    """Read a run (with ``systems``, only the rows whose ``system`` is one of them); raise
    a one-line :class:`GfaError` unless it is complete (or ``partial`` and at least one
    part is there)."""
    out = Path(run_dir)
    run, summary = read_request(out)
    n = expected_parts(run)
    k = sum(1 for p in out.iterdir() if PART.match(p.name))
    owner = lock_owner(out)
    note = ""
    if owner is not None:
        note = (f"{out} is being written by a live `screen` (process {owner}, {k} of {n} "
                "parts so far); wait for it to finish")
    elif k < n or not summary or not (out / SUCCESS).is_file():
        unmarked = "" if k < n else f", no {SUCCESS} marker"
        note = (f"{out} is incomplete ({k} of {n} parts{unmarked}; resume with "
                f"`{resume_command(run, out)}`)")
    if note and not partial:
        raise GfaError(note + " (or pass --partial to use the parts written so far)")
    if note and k == 0:
        raise GfaError(f"{out}: no part is written yet; {note}")
    return Run(out, read_run_table(out, systems), run, summary, k, n, note)

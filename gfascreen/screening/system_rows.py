"""One system of an atlas read as a run of its own, so ``report RUN --system Zr-Cu-Al``
and ``suggest RUN --system ...`` work from the atlas's rows without scoring again.

A system's rows are those whose elements are a subset of its own (the dataset's
``system`` column is each row's own set of elements), read from the parts with a filter
on that column; the run they make looks like a screen of that system alone: its at.%
columns (in the order given), ``system`` its name, the grid's elements its own."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from gfascreen.data.parse import alloy_system
from gfascreen.errors import GfaError
from gfascreen.screening.grid import parse_system
from gfascreen.screening.runs import Run, load_run, read_request
from gfascreen.screening.systems import read_systems, subsystems


def atlas_of(request: dict) -> dict | None:
    """What an atlas run asked (its systems, orders, how), None for a one-system run."""
    return request.get("grid", {}).get("atlas")


def check_system(request: dict, run_dir: Path, system: str) -> list[str]:
    """The elements of ``--system`` (in the order given), checked against the run: a
    system of the atlas or one of its subsystems (a one-system run: that system)."""
    elements = parse_system(system)
    atlas, grid = atlas_of(request), request.get("grid", {})
    if atlas is None:
        if set(elements) != set(grid.get("elements", [])):
            raise GfaError(f"--system {system}: {run_dir} screens "
                           f"{'-'.join(grid.get('elements', []))} alone; --system picks "
                           "one system of an atlas run")
        return elements
    if not any(set(elements) <= set(s.split("-")) for s in atlas["systems"]):
        raise GfaError(f"--system {system} is not in the atlas {run_dir} (orders "
                       f"{','.join(map(str, atlas['orders']))} over "
                       f"{','.join(grid.get('elements', []))}); its table of systems "
                       "lists them")
    return elements


def load_system_run(run_dir: str | Path, system: str, partial: bool = False) -> Run:
    """The run of ``system`` alone out of an atlas (or the run itself when it screened
    that system alone): its rows, columns and grid as a screen of it would have."""
    out = Path(run_dir)
    request, _ = read_request(out)
    elements = check_system(request, out, system)
    if atlas_of(request) is None:
        return load_run(out, partial)
    r = load_run(out, partial, systems=subsystems(elements))
    palette = request["grid"]["elements"]
    cols = elements + [c for c in r.table.columns if c not in palette]
    table = r.table[cols].reset_index(drop=True)
    table["system"] = alloy_system(elements)
    grid = {**request["grid"], "elements": elements, "points": int(len(table)),
            "atlas_system": alloy_system(elements)}
    return replace(r, table=table, request={**request, "grid": grid})


def require_system(run_dir: str | Path, system: str | None) -> None:
    """An atlas needs ``--system`` (for ``suggest``): say so, naming its best system."""
    out = Path(run_dir)
    if system is not None or not (out / "_run.json").is_file():
        return  # load_run says what is wrong with a run that is not one
    atlas = atlas_of(read_request(out)[0])
    if atlas is None:
        return
    try:
        best = str(read_systems(out)["elements"].iloc[0])
    except Exception:  # no table of systems yet (an unfinished atlas)
        best = atlas["systems"][0]
    raise GfaError(f"{out} is an atlas of {len(atlas['systems'])} systems; pass --system, "
                   f"e.g. --system {best} (`gfascreen report {out}` ranks them)")


__all__ = ["atlas_of", "check_system", "load_system_run", "require_system"]

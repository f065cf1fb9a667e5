"""An atlas's grid: every system of some orders over a palette of elements (``--elements
Zr,Cu,Al,Ni --order 3``) or the systems of a file (``--systems FILE``), on one exact
lattice of ``step`` at.%, each composition once.

The compositions are split by the elements they hold (their *face*: ``Cu-Zr`` for a
binary point, ``Zr`` for the pure metal), each face's interior points listed once, so a
binary edge shared by many ternaries is one set of rows. Faces come in a fixed order
(fewer elements first, then by the palette's order) and the points of each in the order
of :class:`~gfascreen.screening.grid.CompositionGrid`, so the chunks and parts of a run
are the same on every machine and after a resume. Rows are ``(n, K)`` lattice units over
the palette's ``K`` elements (0 for an element a point does not hold)."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import combinations
from math import comb
from pathlib import Path

import numpy as np

from gfascreen.data.parse import alloy_system
from gfascreen.errors import GfaError
from gfascreen.screening.grid import (
    CompositionGrid,
    LatticeGrid,
    check_symbols,
    parse_system,
    rechunk,
    step_units,
)

#: The orders (elements per system) an atlas takes.
MIN_ORDER, MAX_ORDER = 2, 4
#: Most elements in a palette (each row's set of elements is a bit mask of one int64).
MAX_PALETTE = 62
#: Lattice points per block taken from a face's grid before they are regrouped.
_BLOCK = 65536


def parse_elements(text: str) -> list[str]:
    """``"Zr,Cu,Al"`` -> ``["Zr", "Cu", "Al"]`` (order kept), each a distinct element."""
    parts = [p.strip() for p in str(text).split(",")]
    if not MIN_ORDER <= len(parts) <= MAX_PALETTE or any(not p for p in parts):
        raise GfaError(f"--elements {text!r}: give {MIN_ORDER} to {MAX_PALETTE} elements "
                       "separated by commas, e.g. Zr,Cu,Al,Ni")
    check_symbols(parts, f"--elements {text!r}")
    return parts


def parse_orders(text: str | int | None, palette: list[str]) -> list[int]:
    """``"3"`` or ``"3,4"`` -> ``[3]``, ``[3, 4]``: elements per system, each from
    :data:`MIN_ORDER` to :data:`MAX_ORDER` and at most the palette's size."""
    try:
        orders = sorted({int(p) for p in str(text).split(",") if p.strip()})
    except ValueError:
        raise GfaError(f"--order {text!r}: give elements per system, e.g. 3 or 3,4") from None
    if not orders or any(not MIN_ORDER <= k <= MAX_ORDER for k in orders):
        raise GfaError(f"--order {text!r}: each order must be from {MIN_ORDER} to "
                       f"{MAX_ORDER} (binaries to quaternaries)")
    if orders[-1] > len(palette):
        raise GfaError(f"--order {orders[-1]} needs at least {orders[-1]} elements; "
                       f"--elements gives {len(palette)}")
    return orders


def read_systems_file(path: str | Path) -> list[list[str]]:
    """The systems of ``--systems FILE``: one a line (``Zr-Cu-Al``), blank lines and
    ``#`` comments skipped; each of :data:`MIN_ORDER` to :data:`MAX_ORDER` elements, none
    twice (as a set of elements)."""
    p = Path(path)
    if not p.is_file():
        raise GfaError(f"--systems {path}: no such file; write one system a line, e.g. "
                       "Zr-Cu-Al")
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise GfaError(f"--systems {path}: cannot read it as text ({exc})") from None
    systems, seen = [], {}
    for no, line in enumerate(lines, start=1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        try:
            els = parse_system(text)
        except GfaError as exc:
            raise GfaError(f"--systems {path}, line {no}: {exc}") from None
        if not MIN_ORDER <= len(els) <= MAX_ORDER:
            raise GfaError(f"--systems {path}, line {no}: {text} has {len(els)} elements; an "
                           f"atlas takes systems of {MIN_ORDER} to {MAX_ORDER}")
        key = frozenset(els)
        if key in seen:
            raise GfaError(f"--systems {path}, line {no}: {text} is the system of line "
                           f"{seen[key]} again; list each system once")
        seen[key] = no
        systems.append(els)
    if not systems:
        raise GfaError(f"--systems {path} lists no system; write one a line, e.g. Zr-Cu-Al")
    return systems


def palette_of(systems: list[list[str]]) -> list[str]:
    """The elements of ``systems`` in the order they first appear."""
    return list(dict.fromkeys(e for s in systems for e in s))


def faces_of(systems: list[list[str]], palette: list[str], include_edges: bool
             ) -> list[tuple[int, ...]]:
    """The faces whose interior points make the grid (palette indices, ascending): every
    subset of a system with its edges, else the systems alone; fewer elements first."""
    faces = set()
    for s in systems:
        idx = tuple(sorted(palette.index(e) for e in s))
        sizes = range(1, len(idx) + 1) if include_edges else (len(idx),)
        faces.update(f for k in sizes for f in combinations(idx, k))
    return sorted(faces, key=lambda f: (len(f), f))


class AtlasGrid(LatticeGrid):
    """Every composition of ``systems`` (lists of elements) at ``step`` at.%, each once, as
    lattice units over their ``palette`` (:func:`palette_of`); with ``include_edges=False``
    only the points where every element of some system is present. ``source`` records
    how the systems were asked for (``--elements`` and ``--order``, or ``--systems``)."""

    bounds: dict = {}

    def __init__(self, systems: list[list[str]], step: float, include_edges: bool = True,
                 source: dict | None = None):
        self.systems = [list(s) for s in systems]
        self.elements = palette_of(self.systems)
        self.step = float(step)
        self.units = step_units(step)
        self.include_edges = include_edges
        self.source = dict(source or {})
        self.faces = faces_of(self.systems, self.elements, include_edges)
        self._count = sum(comb(self.units - 1, len(f) - 1) for f in self.faces)

    def __len__(self) -> int:
        return self._count

    @property
    def orders(self) -> list[int]:
        return sorted({len(s) for s in self.systems})

    def _face_blocks(self, face: tuple[int, ...]) -> Iterator[np.ndarray]:
        """The interior points of ``face`` as units over the palette."""
        if len(face) == 1:
            block = np.zeros((1, len(self.elements)), dtype=np.int32)
            block[0, face[0]] = self.units
            yield block
            return
        grid = CompositionGrid([self.elements[i] for i in face], self.step,
                               include_edges=False)
        for units in grid.units_chunks(_BLOCK):
            block = np.zeros((len(units), len(self.elements)), dtype=np.int32)
            block[:, list(face)] = units
            yield block

    def units_chunks(self, chunk_size: int = 4096) -> Iterator[np.ndarray]:
        """Lattice points over the palette, ``(n, K)`` int32 arrays of at most
        ``chunk_size`` rows, each row summing to ``self.units``; always the same order."""
        return rechunk((b for f in self.faces for b in self._face_blocks(f)), chunk_size)

    def describe(self) -> dict:
        """What ``_run.json`` records of the grid (a resume must ask the same)."""
        return {"elements": self.elements, "step_at_pct": self.step, "units": self.units,
                "bounds": {}, "include_edges": self.include_edges, "points": len(self),
                "atlas": {"systems": ["-".join(s) for s in self.systems],
                          "orders": self.orders, "source": self.source}}

    def label(self) -> str:
        """A short name of the atlas (progress bar, default directory)."""
        if "systems_file" in self.source:
            return Path(self.source["systems_file"]).stem
        return f"{'-'.join(self.elements)}_order{','.join(map(str, self.orders))}"


def atlas_grid(elements: str | None, order: str | None, systems_file: str | None,
               step: float, include_edges: bool = True) -> AtlasGrid:
    """The atlas asked for by ``--elements`` and ``--order`` (every system of those orders
    over the palette, in its order) or by ``--systems FILE``."""
    if systems_file:
        if elements or order:
            raise GfaError("--systems FILE lists the systems itself; leave out --elements "
                           "and --order")
        systems = read_systems_file(systems_file)
        return AtlasGrid(systems, step, include_edges, {"systems_file": str(systems_file)})
    palette = parse_elements(elements)
    orders = parse_orders(order if order is not None else "3", palette)
    systems = [list(c) for k in orders for c in combinations(palette, k)]
    return AtlasGrid(systems, step, include_edges,
                     {"elements": ",".join(palette), "order": ",".join(map(str, orders))})


def row_systems(units: np.ndarray, elements: list[str]) -> np.ndarray:
    """Each row's own system (its elements present, alphabetical, dash-joined) for lattice
    units ``(n, K)`` over ``elements``; one name made per distinct set."""
    present = np.asarray(units) > 0
    codes = present @ (1 << np.arange(present.shape[1], dtype=np.int64))
    uniq, inverse = np.unique(codes, return_inverse=True)
    names = np.array([alloy_system([e for j, e in enumerate(elements) if c >> j & 1])
                      for c in uniq], dtype=object)
    return names[inverse.reshape(-1)]


__all__ = ["AtlasGrid", "atlas_grid", "faces_of", "palette_of", "parse_elements",
           "parse_orders", "read_systems_file", "row_systems"]

"""Composition grids on the simplex, built on an exact integer lattice.

A step of ``s`` at.% means every composition is an integer number of units of ``s`` and
every row sums to exactly ``100 / s`` units (no float drift). Grids are yielded in
chunks; the number of points is known before any is made.
"""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from math import comb

import numpy as np
from pymatgen.core import Element

from gfascreen.errors import GfaError

MIN_ELEMENTS, MAX_ELEMENTS = 2, 6


def parse_system(system: str | list[str]) -> list[str]:
    """``"La-Co-Al"`` -> ``["La", "Co", "Al"]`` (order kept), with clear errors."""
    parts = system if isinstance(system, list) else [p.strip() for p in system.split("-")]
    if any(not p for p in parts):
        raise GfaError(f"--system {system!r}: write elements separated by dashes, e.g. La-Co-Al")
    check_symbols(parts, f"--system {system!r}")
    if not MIN_ELEMENTS <= len(parts) <= MAX_ELEMENTS:
        raise GfaError(f"--system {system!r}: need {MIN_ELEMENTS} to {MAX_ELEMENTS} elements, "
                       f"got {len(parts)}")
    return parts


def check_symbols(parts: list[str], where: str) -> None:
    """Each of ``parts`` a chemical element's symbol, none twice; ``where`` starts the
    error (the option as given)."""
    for p in parts:
        if not Element.is_valid_symbol(p) or p in ("D", "T"):
            raise GfaError(f"{where}: {p!r} is not a chemical element symbol")
    dup = sorted({p for p in parts if parts.count(p) > 1})
    if dup:
        raise GfaError(f"{where}: element {', '.join(dup)} is listed twice")


def step_units(step: float | str) -> int:
    """Number of lattice units in 100 at.% for ``step``; errors unless it divides 100."""
    try:
        s = Fraction(str(step))
    except (ValueError, ZeroDivisionError):
        raise GfaError(f"--step {step!r} is not a number") from None
    if s <= 0 or s > 50:
        raise GfaError(f"--step {step} must be between 0 and 50 at.%")
    n = Fraction(100) / s
    if n.denominator != 1:
        raise GfaError(f"--step {step} does not divide 100 at.%; use e.g. 0.5, 1, 2, 2.5 or 5")
    return int(n)


def parse_bounds(bounds: str | dict | None, elements: list[str]) -> dict[str, tuple[float, float]]:
    """``"Zr:40-70,Al:0-20"`` (at.%) -> ``{"Zr": (40, 70), "Al": (0, 20)}``."""
    if not bounds:
        return {}
    if isinstance(bounds, dict):
        items = {k: tuple(map(float, v)) for k, v in bounds.items()}
    else:
        items = {}
        for part in bounds.split(","):
            try:
                el, rng = part.split(":")
                lo, hi = rng.split("-")
                lo_hi = (float(lo), float(hi))
            except ValueError:
                raise GfaError(f"--bounds {bounds!r}: write e.g. 'Zr:40-70,Al:0-20' (at.%)"
                               ) from None
            if el.strip() in items:
                raise GfaError(f"--bounds {bounds!r}: {el.strip()} is bounded twice; give "
                               "each element once")
            items[el.strip()] = lo_hi
    for el, (lo, hi) in items.items():
        if el not in elements:
            raise GfaError(f"--bounds names {el}, which is not in the system {'-'.join(elements)}")
        if not 0 <= lo <= hi <= 100:
            raise GfaError(f"--bounds {el}:{lo:g}-{hi:g} must satisfy 0 <= low <= high <= 100")
    return items


def rechunk(blocks: Iterator[np.ndarray], chunk_size: int) -> Iterator[np.ndarray]:
    """Blocks of rows regrouped into chunks of exactly ``chunk_size`` rows (the last one
    shorter), in order: what the parts of a run hold whatever the blocks' sizes."""
    if chunk_size < 1:
        raise GfaError(f"--chunk-size must be positive, got {chunk_size}")
    buf: list[np.ndarray] = []
    n = 0
    for block in blocks:
        buf.append(block)
        n += len(block)
        while n >= chunk_size:
            allb = np.concatenate(buf)
            yield allb[:chunk_size]
            buf = [allb[chunk_size:]]
            n -= chunk_size
    if n:
        yield np.concatenate(buf)


class LatticeGrid:
    """What every grid of a run offers from its lattice points (``units_chunks``, lattice
    units of ``step`` at.%) and its size: the points in at.% and the number of chunks."""

    step: float

    def __len__(self) -> int:
        raise NotImplementedError

    def units_chunks(self, chunk_size: int = 4096) -> Iterator[np.ndarray]:
        raise NotImplementedError

    def chunks(self, chunk_size: int = 4096) -> Iterator[np.ndarray]:
        """The same points as at.% (float64; each row sums to 100 up to rounding of step)."""
        for u in self.units_chunks(chunk_size):
            yield u * self.step

    def n_chunks(self, chunk_size: int) -> int:
        return -(-len(self) // chunk_size)


class CompositionGrid(LatticeGrid):
    """Every composition of ``elements`` on the simplex at ``step`` at.%.

    ``include_edges=False`` keeps only points where every element is present (no pure
    elements, binaries, or lower-order faces). ``bounds`` limits elements to at.% ranges.
    """

    def __init__(self, elements: list[str] | str, step: float, bounds=None,
                 include_edges: bool = True):
        self.elements = parse_system(elements)
        self.step = float(step)
        self.units = step_units(step)
        self.bounds = parse_bounds(bounds, self.elements)
        lo_default = 0 if include_edges else 1
        self.include_edges = include_edges
        self.lo = []
        self.hi = []
        for el in self.elements:
            lo, hi = self.bounds.get(el, (0.0, 100.0))
            ulo = max(lo_default, int(np.ceil(Fraction(str(lo)) / Fraction(str(step)))))
            uhi = int(np.floor(Fraction(str(hi)) / Fraction(str(step))))
            self.lo.append(ulo)
            self.hi.append(min(uhi, self.units))
        self._count = self._count_points()
        if self._count == 0:
            raise GfaError(f"the bounds leave no composition of {'-'.join(self.elements)} "
                           f"at step {step:g}")

    def __len__(self) -> int:
        return self._count

    def _count_points(self) -> int:
        if not self.bounds and self.include_edges:
            k = len(self.elements)
            return comb(self.units + k - 1, k - 1)
        # Dynamic programming over elements: ways[s] = number of prefixes summing to s.
        ways = np.zeros(self.units + 1, dtype=object)
        ways[0] = 1
        for lo, hi in zip(self.lo, self.hi, strict=True):
            new = np.zeros_like(ways)
            for a in range(lo, hi + 1):
                new[a:] += ways[: self.units + 1 - a]
            ways = new
        return int(ways[self.units])

    def _prefixes(self) -> Iterator[tuple[int, ...]]:
        k = len(self.elements)
        rest_lo = [sum(self.lo[i:]) for i in range(k + 1)]
        rest_hi = [sum(self.hi[i:]) for i in range(k + 1)]

        def rec(i: int, used: int, prefix: tuple[int, ...]):
            if i == k - 2:
                yield prefix, used
                return
            for a in range(self.lo[i], self.hi[i] + 1):
                rem = self.units - used - a
                if rem < rest_lo[i + 1]:
                    break
                if rem > rest_hi[i + 1]:
                    continue
                yield from rec(i + 1, used + a, prefix + (a,))

        yield from rec(0, 0, ())

    def units_chunks(self, chunk_size: int = 4096) -> Iterator[np.ndarray]:
        """Integer lattice points, ``(n, k)`` int32 arrays of at most ``chunk_size`` rows,
        each row summing to ``self.units``; always the same order."""
        return rechunk(self._blocks(), chunk_size)

    def _blocks(self) -> Iterator[np.ndarray]:
        """The lattice points, one block per prefix of all but the last two elements."""
        k = len(self.elements)
        lo_a, hi_a, lo_b, hi_b = self.lo[-2], self.hi[-2], self.lo[-1], self.hi[-1]
        for prefix, used in self._prefixes():
            rem = self.units - used
            a = np.arange(max(lo_a, rem - hi_b), min(hi_a, rem - lo_b) + 1, dtype=np.int32)
            if len(a) == 0:
                continue
            block = np.empty((len(a), k), dtype=np.int32)
            block[:, : k - 2] = prefix
            block[:, k - 2] = a
            block[:, k - 1] = rem - a
            yield block

    def describe(self) -> dict:
        return {"elements": self.elements, "step_at_pct": self.step, "units": self.units,
                "bounds": {k: list(v) for k, v in self.bounds.items()},
                "include_edges": self.include_edges, "points": len(self)}


def composition_grid(elements: list[str] | str, step: float, bounds=None,
                     include_edges: bool = True, chunk_size: int = 4096
                     ) -> Iterator[np.ndarray]:
    """Yield the grid in at.% chunks; ``len(CompositionGrid(...))`` gives the count."""
    return CompositionGrid(elements, step, bounds, include_edges).chunks(chunk_size)


__all__ = ["CompositionGrid", "LatticeGrid", "check_symbols", "composition_grid",
           "parse_bounds", "parse_system", "rechunk", "step_units"]

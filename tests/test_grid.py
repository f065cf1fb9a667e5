from math import comb

import numpy as np
import pytest

from gfascreen.errors import GfaError
from gfascreen.screening.grid import CompositionGrid, composition_grid, parse_system


@pytest.mark.parametrize("system, step, n", [("La-Co-Al", 0.5, 20301),
                                              ("Zr-Cu-Al-Ni", 1, 176851),
                                              ("Cu-Zr", 1, 101)])
def test_counts_known_in_advance(system, step, n):
    g = CompositionGrid(system, step)
    assert len(g) == n
    rows = np.concatenate(list(g.units_chunks(5000)))
    assert len(rows) == n
    assert (rows.sum(1) == g.units).all()
    assert len(np.unique(rows, axis=0)) == n


def test_at_pct_rows_sum_to_exactly_100():
    for chunk in composition_grid("La-Co-Al", 0.5, chunk_size=999):
        assert len(chunk) <= 999
        assert np.all(chunk.sum(1) == 100.0)


def test_chunks_are_deterministic_and_cover_grid():
    g = CompositionGrid("Zr-Cu-Al-Ni", 5)
    a = np.concatenate(list(g.units_chunks(7)))
    b = np.concatenate(list(g.units_chunks(1000)))
    assert np.array_equal(a, b) and len(a) == comb(20 + 3, 3)


def test_bounds_and_interior():
    g = CompositionGrid("Zr-Cu-Al", 1, bounds="Zr:40-70")
    rows = np.concatenate(list(g.chunks()))
    assert rows[:, 0].min() == 40 and rows[:, 0].max() == 70 and len(rows) == len(g)
    inner = CompositionGrid("La-Co-Al", 1, include_edges=False)
    rows = np.concatenate(list(inner.chunks()))
    assert (rows > 0).all() and len(rows) == len(inner) == comb(99, 2)


@pytest.mark.parametrize("system, step, bounds, msg", [
    ("La-Co-Al", 0.3, None, "does not divide 100"),
    ("La-Xx-Al", 1, None, "'Xx'"),
    ("La-Co-La", 1, None, "listed twice"),
    ("La", 1, None, "need 2 to 6"),
    ("La-Co-Al", 1, "Zr:10-20", "not in the system"),
    ("La-Co-Al", 1, "La=10", "write e.g."),
    ("La-Co-Al", -1, None, "between 0 and 50"),
])
def test_bad_grids(system, step, bounds, msg):
    with pytest.raises(GfaError, match=msg):
        CompositionGrid(system, step, bounds)


def test_parse_system_keeps_order():
    assert parse_system("La-Co-Al") == ["La", "Co", "Al"]

"""Atlas vs one-system chunks scored alternately in one process (one model load), so the
load of other jobs hits both alike: points/s of each kind and their ratio.

Run: ``python scripts/atlas_rate.py [ROUNDS]`` (the shipped model, fp32 on the CPU; two
512-point chunks of the atlas Zr,Cu,Al,Ni order 3 at 4 at.% and two of Zr-Cu-Al at 2 at.%
per round, the order flipped every round)."""

from __future__ import annotations

import sys
import time

from gfascreen.screening.grid import CompositionGrid
from gfascreen.screening.palette import atlas_grid
from gfascreen.screening.score import ChunkScorer, score_chunk


def _kinds() -> dict[str, tuple]:
    """Each kind's grid, its first two chunks and whether rows get their own system."""
    atlas, single = atlas_grid("Zr,Cu,Al,Ni", "3", None, 4), CompositionGrid("Zr-Cu-Al", 2)
    return {"atlas": (atlas, list(atlas.units_chunks(512))[:2], True),
            "single": (single, list(single.units_chunks(512))[:2], False)}


def main(rounds: int) -> None:
    kinds = _kinds()
    scorer = ChunkScorer("default", "cpu", "fp32")
    grid, chunks, _ = kinds["single"]
    score_chunk(chunks[0][:64], grid.elements, grid.step, scorer)  # load and warm up
    took = {k: [0.0, 0] for k in kinds}
    for r in range(rounds):
        for k in range(2):
            for kind in list(kinds)[:: 1 if r % 2 else -1]:
                grid, chunks, own = kinds[kind]
                t0 = time.perf_counter()
                score_chunk(chunks[k], grid.elements, grid.step, scorer, own)
                took[kind][0] += time.perf_counter() - t0
                took[kind][1] += len(chunks[k])
    for kind, (s, n) in took.items():
        print(f"{kind}: {n} points in {s:.1f} s = {n / s:.1f} points/s")
    rate = {k: n / s for k, (s, n) in took.items()}
    print(f"atlas / single points/s: {rate['atlas'] / rate['single']:.3f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)

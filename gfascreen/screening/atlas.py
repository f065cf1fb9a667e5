"""The end of an atlas run: its table of systems (``_systems.parquet``, see
:mod:`gfascreen.screening.systems`) built in one pass over the parts, the summary
``_summary.json`` records, and that summary for the terminal (the best systems)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from gfascreen.errors import GfaError
from gfascreen.model import columns as pc
from gfascreen.screening.runs import iter_parts
from gfascreen.screening.systems import (
    SHARE_AT,
    SYSTEMS_FILE,
    face_stats,
    ranking_rule,
    systems_table,
)
from gfascreen.tableio import write_parquet_atomic

#: Systems the terminal summary lists.
SHOWN = 15


def finish_atlas(plan, n_scored: int, wall: float) -> dict:
    """Write ``_systems.parquet`` of a finished atlas (every part written) and return its
    summary: points, speed (points/s over ``wall`` s), in-domain share, the ranking rule
    and the :data:`SHOWN` best systems."""
    out, grid = plan.out, plan.grid
    rule = ranking_rule(plan.model_dir)
    faces = face_stats(iter_parts(out), rule)
    points = int(faces["points"].sum())
    if points != len(grid):
        raise GfaError(f"{out} holds {points} rows, expected {len(grid)}; rerun with --resume")
    table = systems_table(faces, grid.systems, rule, plan.model_dir.known_alloys())
    write_parquet_atomic(table, out / SYSTEMS_FILE, {"ranking": rule.to_dict(),
                                                     "share_at": SHARE_AT})
    return {"out": str(out), "points": points, "scored_now": int(n_scored),
            "wall_s": round(wall, 2),
            "points_per_s": round(n_scored / wall, 1) if wall > 0 and n_scored else None,
            "in_domain_fraction": round(float(faces["points_in_domain"].sum()) / points, 4),
            "systems": int(len(table)), "ranking": rule.to_dict(),
            "top_systems": _shown(table)}


def _shown(table: pd.DataFrame) -> list[dict]:
    """The best systems as plain values (JSON)."""
    cols = ["rank", "elements", "best_composition", "best_system", pc.DMAX_MM, pc.P_BMG,
            f"share_{pc.P_BMG}", "share_in_domain", "known_alloys", "best_measured_mm",
            "novel"]
    top = table.head(SHOWN)[[c for c in cols if c in table.columns]]
    return [{k: (None if isinstance(v, float) and not np.isfinite(v) else
                 v.item() if hasattr(v, "item") else v) for k, v in r.items()}
            for r in top.to_dict("records")]


def atlas_text(s: dict) -> str:
    """An atlas's summary (``_summary.json``) for the terminal."""
    rate = f", {s['points_per_s']:,} points/s" if s["points_per_s"] else ""
    lines = [f"{s['points']:,} compositions of {s['systems']:,} systems in {s['out']} "
             f"({s['scored_now']:,} scored now in {s['wall_s']:.1f} s{rate}); "
             f"{100 * s['in_domain_fraction']:.1f}% in domain",
             f"{s['ranking']['rule']}; {s['ranking']['why']}",
             f"best systems (table of all: {Path(s['out']) / SYSTEMS_FILE}; P(bmg) share: "
             f"of the grid with P(bulk glass) >= {SHARE_AT:g}):",
             f"  {'#':>3} {'system':<14} {'best composition':<24} {'Dmax mm':>8} "
             f"{'P(bmg)':>6} {'share':>6} {'domain':>6}  known (best mm)"]
    for r in s["top_systems"]:
        best = r.get("best_measured_mm")
        known = f"{r['known_alloys']}" + (f" ({best:g})" if best is not None else "")
        lines.append(f"  {r['rank']:>3} {r['elements']:<14} {r['best_composition']:<24} "
                     f"{r[pc.DMAX_MM]:8.2f} {_num(r.get(pc.P_BMG)):>6} "
                     f"{_num(r.get(f'share_{pc.P_BMG}')):>6} {_num(r['share_in_domain']):>6}"
                     f"  {known}{'  novel' if r['novel'] else ''}")
    return "\n".join(lines)


def _num(x) -> str:
    return "-" if x is None else f"{x:.2f}"


__all__ = ["atlas_text", "finish_atlas"]

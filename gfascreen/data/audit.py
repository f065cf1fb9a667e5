"""An audit of labels that contradict their neighbours: one declared rule.

A bulk-glass label is **contradicted** when (a) it carries no measured Dmax, (b) one source
alone gives it, and (c) the alloys of its own system within :data:`RADIUS_AT_PCT` (L1,
at.%) that several sources agree on (:data:`MIN_SOURCES` or more) include at least one, and
every one of them is a crystal. Zr86.67Al13.33 is the example: "bmg" in one source, with
Zr80Al20 a crystal in all four. ``data build`` leaves such rows out (each counted with this
reason); the model card lists those of the model's own training alloys.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from gfascreen.data.labels import DMAX_COLUMN

#: How near (L1, at.%) a neighbour must be to speak against a label.
RADIUS_AT_PCT = 15.0
#: How many sources must agree on a neighbour's label for it to count.
MIN_SOURCES = 2
#: The reason a contradicted row is left out with.
REASON = (f"a bulk glass in one source alone, without a Dmax, whose neighbours within "
          f"{RADIUS_AT_PCT:g} at.% that {MIN_SOURCES}+ sources agree on are all crystals")


def _n_sources(table: pd.DataFrame) -> np.ndarray:
    return table["sources"].astype(str).str.split(";").str.len().to_numpy()


def contradicted(table: pd.DataFrame, elements: list[str]) -> np.ndarray:
    """Row mask of the labels the rule contradicts (a training table: ``system``,
    ``gfa_class``, ``dmax_mm``, ``sources`` separated by ``;`` and at.% columns)."""
    out = np.zeros(len(table), dtype=bool)
    n_src = _n_sources(table)
    cls = table["gfa_class"].astype(str).to_numpy()
    cand = (cls == "bmg") & table[DMAX_COLUMN].isna().to_numpy() & (n_src == 1)
    comp = table[[e for e in elements if e in table.columns]].fillna(0.0).to_numpy(float)
    system = table["system"].astype(str).to_numpy()
    sure = n_src >= MIN_SOURCES
    for i in np.flatnonzero(cand):
        near = sure & (system == system[i])
        near &= np.abs(comp - comp[i]).sum(1) <= RADIUS_AT_PCT + 1e-9
        near[i] = False
        out[i] = bool(near.any()) and bool((cls[near] == "crystal").all())
    return out

"""Known alloys of a system: the one lookup used by reports, suggestions and validation.

They come from the training alloys a model carries (offline, no training table needed),
or from a table given with ``--data``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from gfascreen.data.labels import DMAX_COLUMN
from gfascreen.data.parse import alloy_system
from gfascreen.errors import GfaError


def system_alloys(model: str, elements: list[str], data: str | Path | None = None,
                  subsystems: bool = False) -> tuple[pd.DataFrame, str]:
    """The known alloys of the system of ``elements`` and where they come from; raises a
    one-line error when the source cannot be read. ``subsystems``: also those of its
    subsystems (binaries, pure elements), i.e. every known alloy of the composition space."""
    from gfascreen.model.saved import ModelDir

    if data:
        if not Path(data).is_file():
            raise GfaError(f"--data {data} not found; build it with `gfascreen data build`")
        table, source = pd.read_parquet(data), f"the training table {Path(data).name}"
    else:
        table = ModelDir(model).known_alloys()
        if table is None:
            raise GfaError(f"model {model} carries no training alloys; pass --data TABLE")
        source = f"the {len(table):,} training alloys the model carries"
    if subsystems:
        inside = table["system"].map(lambda sy: set(str(sy).split("-")) <= set(elements))
        return table[inside].copy(), source
    return table[table["system"] == alloy_system(elements)].copy(), source


def known_alloys(run: dict, elements: list[str], data: str | Path | None = None,
                 subsystems: bool = False) -> tuple[pd.DataFrame, str]:
    """:func:`system_alloys` for a screening run's model; a model that cannot be opened
    gives no known alloys (and says so) instead of an error, so a report still renders."""
    import sys

    try:
        return system_alloys(run["model"]["path"], elements, data, subsystems)
    except GfaError as exc:
        if data:
            raise
        print(f"note: no known alloys on the map ({exc})", file=sys.stderr)
        return pd.DataFrame(), "no source (the run's model could not be opened)"


#: What is known about an input that is one of the model's known alloys, beside the
#: model's own prediction (empty / NaN for any other composition).
MEASURED_COLUMNS = {
    "measured_class": "measured class (crystal, ribbon, bmg) of the known alloy with this "
                      "composition (the training alloys the model carries); empty otherwise",
    "measured_dmax_mm": "its measured Dmax (mm; NaN when unmeasured or not a known alloy)",
    "measured_source": "the data sets that report it (;-separated); empty otherwise",
}


def _by_key(known: pd.DataFrame | None) -> pd.DataFrame:
    """Known alloys indexed by their composition key (``composition``), one row each."""
    if known is None or not len(known) or "composition" not in known.columns:
        return pd.DataFrame(columns=["gfa_class", DMAX_COLUMN, "sources"])
    return known.drop_duplicates("composition").set_index("composition")


def measured(keys, known: pd.DataFrame | None) -> pd.DataFrame:
    """:data:`MEASURED_COLUMNS` for normalised composition keys
    (:func:`gfascreen.data.parse.composition_key`; an empty key matches nothing), one row
    per key, in order."""
    idx = _by_key(known)
    keys = pd.Index([str(k) for k in keys])
    hit = keys.isin(idx.index) & (keys != "")
    at = idx.reindex(keys)
    src = at["sources"] if "sources" in at.columns else pd.Series("", index=at.index)
    return pd.DataFrame({
        "measured_class": np.where(hit, at["gfa_class"].astype(str), ""),
        "measured_dmax_mm": np.where(hit, pd.to_numeric(at[DMAX_COLUMN], errors="coerce"),
                                     np.nan).astype(float),
        "measured_source": np.where(hit, src.fillna("").astype(str), "")})


def measured_at(table: pd.DataFrame, elements: list[str], known: pd.DataFrame | None
                ) -> pd.DataFrame:
    """:func:`measured` for the rows of a table of at.% columns ``elements`` (a screen's
    grid points): matched on the composition key, which is computed only for the rows
    whose at.% (to 0.01) equal a known alloy's, so a chunk of millions costs one pass."""
    from gfascreen.data.parse import composition_key

    n = len(table)
    keys = np.full(n, "", dtype=object)
    cols = [e for e in elements if known is not None and e in known.columns]
    if n and len(cols) == len(elements):
        k = known[known[cols].fillna(0.0).sum(1) >= 100.0 - 1e-6]
        if len(k):
            cents = np.rint(table[elements].to_numpy(dtype=float) * 100).astype(np.int64)
            kc = np.rint(k[cols].fillna(0.0).to_numpy(dtype=float) * 100).astype(np.int64)
            w = np.random.default_rng(0).integers(1, 2**31, len(elements), dtype=np.int64)
            cand = np.flatnonzero(np.isin(cents @ w, kc @ w))
            vals = table[elements].to_numpy(dtype=float)
            for i in cand:
                keys[i] = composition_key(dict(zip(elements, vals[i], strict=True)))
    return measured(keys, known)



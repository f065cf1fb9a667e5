"""The known alloys a model carries (``known_alloys.parquet``): its one owner.

The in-domain training alloys (at.% columns of the vocabulary, system, class, Dmax in mm,
provenance summary) travel with the model: the applicability domain, the measured values
shown beside a prediction of a known composition (:func:`measured`, :func:`measured_at`),
the known-alloy overlay of reports and the reference set of ``validate``. The file is
listed in the manifest (:attr:`gfascreen.model.saved.Manifest.known_alloys`) and read
through :meth:`gfascreen.model.saved.ModelDir.known_alloys`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from gfascreen.data.labels import DMAX_COLUMN
from gfascreen.model.parts import FileEntry

KNOWN_ALLOYS = "known_alloys.parquet"
#: Columns of ``known_alloys.parquet`` besides the at.% element columns.
KNOWN_COLUMNS = ("composition", "system", "gfa_class", DMAX_COLUMN, "sources", "n_source_rows")


def known_alloys_table(table: pd.DataFrame, elements: list[str]) -> pd.DataFrame:
    """The slice of a (prepared, in-domain) training table a model carries: identity,
    labels, provenance summary and the at.% columns of its vocabulary."""
    cols = [c for c in KNOWN_COLUMNS if c in table.columns]
    els = [e for e in elements if e in table.columns]
    out = table[cols + els].copy()
    out["gfa_class"] = out["gfa_class"].astype(str)
    return out.reset_index(drop=True)


def write_known_alloys(path: Path, table: pd.DataFrame, elements: list[str]) -> FileEntry:
    """Write ``known_alloys.parquet`` into a model directory; returns its manifest entry."""
    from gfascreen.tableio import write_parquet_atomic

    known = known_alloys_table(table, elements)
    write_parquet_atomic(known, path / KNOWN_ALLOYS)
    return FileEntry.of(path, KNOWN_ALLOYS, rows=int(len(known)))


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

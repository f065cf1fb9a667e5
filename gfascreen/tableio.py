"""Small shared I/O helpers: at.% element columns, atomic Parquet writes, writability.

Every package (data, featurize, model, screening, the CLI) uses these; none of them needs
the data builder or the screening engine for it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

from gfascreen.errors import GfaError


def table_elements(table: pd.DataFrame) -> list[str]:
    """The at.% element columns of a training or screening table, in column order."""
    from pymatgen.core import Element

    out = []
    for c in table.columns:
        if not isinstance(c, str) or len(c) > 2:
            continue
        try:
            Element(c)
        except (ValueError, KeyError):
            continue
        out.append(c)
    return out


def write_parquet_atomic(df: pd.DataFrame, path: str | os.PathLike, metadata: dict | None = None
                         ) -> None:
    """Write ``df`` to Parquet via a temporary file and a rename (never half-written).

    ``metadata`` is stored as JSON under the schema key ``gfascreen``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    t = pa.Table.from_pandas(df, preserve_index=False)
    if metadata:
        meta = dict(t.schema.metadata or {})
        meta.update({b"gfascreen": json.dumps(metadata, sort_keys=True).encode()})
        t = t.replace_schema_metadata(meta)
    try:
        pq.write_table(t, tmp)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        # Chained, so a caller can tell a full disk (errno) from other refusals.
        raise GfaError(f"cannot write {path}: {exc.strerror or exc}") from exc


def check_writable(out: str | os.PathLike, what: str = "--out") -> None:
    """Fail before any work if ``out`` (a file or directory to be) cannot be created."""
    out = Path(out)
    probe = out
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK):
        raise GfaError(f"cannot write to {out}: {probe} is not a writable directory; "
                       f"choose another {what}")


def check_parent_exists(path: str | os.PathLike, what: str) -> None:
    """An output file's directory must exist and be writable (checked before any work)."""
    parent = Path(path).parent
    if not parent.is_dir():
        raise GfaError(f"{what} {path}: directory {parent} does not exist; create it first")
    check_writable(parent, what)

"""A lab's own alloys as a training table: a CSV of formulas and Dmax (mm).

``gfascreen train --data my_alloys.csv`` (often with ``--init default``, to fine-tune the
shipped members on a few cast alloys) reads the file through :func:`table_from_csv`: one
formula column (``formula``, ``composition``, ``alloy`` …: the reader's rule,
:mod:`gfascreen.data.formula_table`; else the first column), one
Dmax column (``dmax``, ``dmax_mm`` or ``d_max``, any case) in mm and, optionally, a
``class`` column (crystal / ribbon / bmg). Without a class the Dmax decides
(:func:`~gfascreen.data.labels.class_of_dmax`). Rows of one composition are merged by the
data build's rule (:func:`~gfascreen.data.build.merge_composition`, the file one source),
so the table has the columns of ``gfascreen data build``; rows that cannot be read are
returned with the reason.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from gfascreen.data.build import SourceRow, assemble_table, merge_composition
from gfascreen.data.formula_table import Where, formula_column, read_formula_table
from gfascreen.data.labels import CLASSES, DMAX_COLUMN, class_of_dmax, label_dmax
from gfascreen.data.parse import composition_key, normalise, parse_formula
from gfascreen.errors import GfaError

DMAX_NAMES = ("dmax", DMAX_COLUMN, "d_max")


def _column(df: pd.DataFrame, names: tuple[str, ...]) -> str | None:
    lower = {c.strip().lower(): c for c in df.columns}
    return next((lower[n] for n in names if n in lower), None)


def _label(dmax: float | None, cls: str | None) -> tuple[str | None, float | None, str]:
    """(class, training Dmax, reason when unreadable) of one row."""
    if cls:
        c = cls.strip().lower()
        c = {"bulk": "bmg", "glass": "bmg", "crystalline": "crystal"}.get(c, c)
        if c not in CLASSES:
            return None, None, f"class {cls!r} is not one of {', '.join(CLASSES)}"
        return c, label_dmax(c, dmax if c == "bmg" else None), ""
    if dmax is None or not np.isfinite(dmax) or dmax < 0:
        return None, None, "Dmax is not a non-negative number of mm"
    c = class_of_dmax(dmax)
    return c, label_dmax(c, dmax), ""


def table_from_csv(path: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(table, rejects)`` from a CSV of formulas and Dmax; one row per composition
    (duplicates merged as the data build merges one source's rows)."""
    df, _, _ = read_formula_table(path, "--data", header=True)
    return table_from_frame(df, path)


def table_from_frame(df: pd.DataFrame, path: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`table_from_csv`'s rule for a table already read (all columns as text)."""
    df = df.astype(str).replace({"nan": "", "None": ""})
    df = df[(df.apply(lambda col: col.str.strip()) != "").any(axis=1)]  # blank lines
    if df.shape[1] == 0 or len(df) == 0:
        raise GfaError(f"{path} holds no alloys; give a CSV with columns formula,Dmax")
    f_col = formula_column(df, Where("--data", str(path)))
    d_col = _column(df, DMAX_NAMES)
    c_col = _column(df, ("class", "gfa_class"))
    if d_col is None and c_col is None:
        raise GfaError(f"{path} has no Dmax column (name one of {', '.join(DMAX_NAMES)}, "
                       f"in mm) and no class column; it has {list(df.columns)}")
    rows, rejects = {}, []
    for i, r in df.iterrows():
        raw = r[d_col].strip() if d_col else ""
        try:
            dmax = float(raw) if raw else None
        except ValueError:
            dmax = float("nan")
        cls, d, reason = _label(dmax, r[c_col] if c_col and r[c_col].strip() else None)
        if cls is not None:
            try:
                at = normalise(parse_formula(r[f_col]))
            except GfaError as exc:
                cls, reason = None, str(exc)
        if cls is None:
            rejects.append({"row": int(i) + 2, "raw_formula": r[f_col], "reason": reason})
            continue
        measured = d if cls == "bmg" and d is not None and np.isfinite(d) else None
        rows.setdefault(composition_key(at), []).append((SourceRow(
            "user", int(i) + 2, r[f_col], r[c_col] if c_col else "",
            dmax if dmax is not None and np.isfinite(dmax) else None, cls, measured), at))
    if not rows:
        raise GfaError(f"no row of {path} could be read (first: {rejects[0]['reason']})")
    table = assemble_table([merge_composition(key, rows[key][0][1], [e[0] for e in rows[key]])
                            for key in sorted(rows)])
    return table, pd.DataFrame(rejects, columns=["row", "raw_formula", "reason"])


def read_training_rows(path: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(table, rejects)`` from a Parquet table of ``data build`` (no rejects), or from a
    CSV, Parquet or JSON of formulas and Dmax (one rule: :func:`table_from_frame`)."""
    df, _, _ = read_formula_table(path, "--data", header=True)
    if {"gfa_class", "system"} <= set(df.columns):  # a table of `data build`
        return df, pd.DataFrame(columns=["row", "raw_formula", "reason"])
    return table_from_frame(df, path)

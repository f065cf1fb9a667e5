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


# -- formula input (``predict --input``) ---------------------------------------------------
#: Header names that mark a formula column (compared lower-case).
FORMULA_COLUMNS = ("formula", "formulas", "composition", "compositions", "alloy", "alloys",
                   "input")
#: Values of a column tried before it is called "not a formula column".
_PROBE = 1000


def _parses(value) -> bool:
    from gfascreen.data.parse import parse_formula

    if not isinstance(value, str) or not value.strip():
        return False
    try:
        parse_formula(value)
    except GfaError:
        return False
    return True


def _any_parses(values) -> bool:
    """Whether a formula is among the first non-empty values of a column."""
    n = 0
    for v in values:
        if isinstance(v, str) and v.strip():
            if _parses(v):
                return True
            n += 1
            if n >= _PROBE:
                break
    return False


def _delimiter(lines: list[str]) -> str:
    first = next((ln for ln in lines if ln.strip()), "")
    for d in (",", "\t", ";"):
        if d in first:
            return d
    return ","


def _unique_names(cells: list[str]) -> list[str]:
    names: list[str] = []
    for i, c in enumerate(cells):
        name = c.strip() or f"column{i + 1}"
        while name in names:
            name += "_"
        names.append(name)
    return names


def _text_table(text: str, where: str, column: str | None,
                notes: list[str]) -> tuple[pd.DataFrame, bool]:
    """CSV or plain text as a table of strings. The first line is column names only when
    it holds no formula and either names ``column`` or a formula column, or a later line
    holds a formula; every other line is a row (blank lines too: they get a reason)."""
    import csv
    import io

    if not text.strip():
        raise GfaError(f"--input {where} is empty; give one formula per line")
    lines = text.splitlines()
    rows = [r for r in csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(lines))]
    width = max(len(r) for r in rows) or 1
    rows = [[c for c in r] + [""] * (width - len(r)) for r in rows]
    first = [c.strip() for c in rows[0]]
    header = False
    if not any(_parses(c) for c in first):
        if column is not None and column in first:
            header = True
        elif any(c.lower() in FORMULA_COLUMNS for c in first):
            header = True
        elif any(c for c in first) and any(_parses(c) for r in rows[1:_PROBE + 1] for c in r):
            header = True
            if width == 1:
                notes.append(f"note: line 1 of --input {where} ({first[0]!r}) is read as the "
                             "column name, not a formula")
    if header:
        return pd.DataFrame(rows[1:], columns=_unique_names(first), dtype=str), True
    return pd.DataFrame(rows, columns=[f"column{i + 1}" for i in range(width)], dtype=str), False


def _json_table(text: str, where: str) -> pd.DataFrame:
    """A JSON list of formulas, or of records, as a table."""
    data = json.loads(text)
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list) or not data:
        raise GfaError(f"--input {where}: give a JSON list of formulas, e.g. "
                       '["Al25Co20La55", "Zr55Co29Al16"]')
    if all(isinstance(r, dict) for r in data):
        return pd.DataFrame(data)
    return pd.DataFrame({"formula": [r if isinstance(r, str) else json.dumps(r)
                                     for r in data]})


def _pick_column(df: pd.DataFrame, where: str, column: str | None, header: bool) -> str:
    cols = [str(c) for c in df.columns]
    if column is not None:
        if column in cols:
            return column
        if not header and column.isdigit() and 1 <= int(column) <= len(cols):
            return cols[int(column) - 1]
        if not header:
            raise GfaError(f"--input {where} has no column names (its first line is data); "
                           f"give --column as a number, 1 to {len(cols)}")
        raise GfaError(f"--input {where} has no column {column!r} (it has {cols})")
    return next((c for c in cols if c.lower() in FORMULA_COLUMNS), cols[0])


def _text(v) -> str:
    if v is None or (isinstance(v, float) and v != v):
        return ""
    return v if isinstance(v, str) else str(v)


def _numeric_or_text(s: pd.Series) -> pd.Series:
    """An input's other column as numbers when every non-empty value is one, else text."""
    if s.dtype != object:
        return s
    text = s.map(_text)
    blank = text.str.strip() == ""
    try:
        return pd.to_numeric(text.where(~blank, None))
    except (ValueError, TypeError):
        return text


def _read_input_table(path: str, where: str, column: str | None, stdin
                      ) -> tuple[pd.DataFrame, bool, list[str]]:
    """``--input`` as a table by its format (Parquet, JSON, or CSV/text), whether its first
    line was column names, and notes; anything unreadable is one :class:`GfaError`."""
    import sys

    suffix = "" if path == "-" else Path(path).suffix.lower()
    notes: list[str] = []
    header = True
    try:
        if suffix == ".parquet":
            df = pd.read_parquet(path)
        else:
            raw = (stdin or sys.stdin.buffer).read() if path == "-" else Path(path).read_bytes()
            text = raw.decode("utf-8-sig")
            if suffix == ".json" or (path == "-" and text.lstrip()[:1] in ("[", "{")):
                df = _json_table(text, where)
            else:
                df, header = _text_table(text, where, column, notes)
    except UnicodeDecodeError:
        raise GfaError(f"--input {where} is not UTF-8 text; save it as UTF-8 CSV") from None
    except GfaError:
        raise
    except Exception as exc:  # OSError, csv.Error, JSONDecodeError, ArrowInvalid ...: one line
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise GfaError(f"cannot read --input {where}: {first}") from None
    return df, header, notes


def _check_formula_column(df: pd.DataFrame, col: str, formulas: list, where: str,
                          header: bool) -> None:
    """When ``col`` holds no formula but another column does, one error naming
    ``--column`` with that column."""
    if _any_parses(formulas):
        return
    other = next((c for c in df.columns if c != col
                  and _any_parses(df[c].map(_text).tolist())), None)
    if other is not None:
        first = next((f for f in formulas if f.strip()), "")
        raise GfaError(f"--input {where}: column {col!r} holds no formula (e.g. "
                       f"{first!r}) but column {other!r} does; pass --column "
                       f"{other if header else df.columns.get_loc(other) + 1}")


def read_formula_input(path: str, column: str | None = None, stdin=None
                       ) -> tuple[list, pd.DataFrame, list[str]]:
    """What ``predict --input`` reads: the formulas (one per data row, none dropped), the
    input's other columns (same rows, to be kept beside the predictions) and notes for
    stderr. ``path`` ``-`` reads standard input (``stdin``, a binary stream).

    CSV or text (one formula per line, first column unless a column is named formula /
    composition / alloy or ``column`` names one), Parquet (a column), or JSON (a list of
    formulas, or of records). When the chosen column holds no formula but another does,
    the error names ``--column`` with that column."""
    where = "- (standard input)" if path == "-" else path
    if path != "-" and not Path(path).is_file():
        raise GfaError(f"cannot read --input {path}: no such file")
    df, header, notes = _read_input_table(path, where, column, stdin)
    if df.shape[1] == 0:
        raise GfaError(f"--input {where} holds no column of formulas")
    if len(df) == 0:
        raise GfaError(f"--input {where} holds column names but no formula below them")
    df.columns = [str(c) for c in df.columns]
    col = _pick_column(df, where, column, header)
    formulas = [_text(v) for v in df[col]]
    _check_formula_column(df, col, formulas, where, header)
    extras = df.drop(columns=[col]).reset_index(drop=True)
    for c in extras.columns:
        extras[c] = _numeric_or_text(extras[c])
    return formulas, extras, notes

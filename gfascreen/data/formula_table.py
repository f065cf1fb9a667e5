"""Reading a table of formulas from a file: the one reader of ``predict --input`` and
``train --data``.

CSV or text (the delimiter read off the first line; UTF-8, a byte-order mark allowed),
Parquet or JSON (a list of formulas, or of records), chosen by the file's suffix; the
header rule (a formula list's first line is column names only when it holds no formula;
a training table's always is); which column holds the formulas; and one-line errors that
name the option, the file and the fix. ``predict`` keeps the other columns beside its
predictions (:func:`read_formula_input`); ``train`` reads its Dmax and class columns
(:mod:`gfascreen.data.user_table`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from gfascreen.errors import GfaError

#: Header names that mark a formula column (compared lower-case).
FORMULA_COLUMNS = ("formula", "formulas", "composition", "compositions", "alloy", "alloys",
                   "input")
#: Values of a column tried before it is called "not a formula column".
_PROBE = 1000
#: What a file named by each option should hold (the fix of an empty file).
_WANTED = {"--input": "one formula per line",
           "--data": "a CSV with columns formula,Dmax (mm)"}


@dataclass(frozen=True)
class Where:
    """The option and the file it named, as every message spells them."""

    option: str
    path: str

    def __str__(self) -> str:
        return f"{self.option} {'- (standard input)' if self.path == '-' else self.path}"


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


def _text_table(text: str, where: Where, column: str | None, notes: list[str],
                header: bool | None = None) -> tuple[pd.DataFrame, bool]:
    """CSV or plain text as a table of strings (delimiter: the first of comma, tab and
    semicolon on the first line). ``header`` True: the first line is column names; None
    (detect): only when it holds no formula and either names ``column`` or a formula
    column, or a later line holds a formula. Every other line is a row (blank lines too:
    predict gives them a reason)."""
    import csv
    import io

    if not text.strip():
        raise GfaError(f"{where} is empty; give {_WANTED[where.option]}")
    lines = text.splitlines()
    rows = [r for r in csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(lines))]
    width = max(len(r) for r in rows) or 1
    rows = [[c for c in r] + [""] * (width - len(r)) for r in rows]
    first = [c.strip() for c in rows[0]]
    if header is None:
        header = _detect_header(rows, first, width, column, where, notes)
    if header:
        return pd.DataFrame(rows[1:], columns=_unique_names(first), dtype=str), True
    return pd.DataFrame(rows, columns=[f"column{i + 1}" for i in range(width)], dtype=str), False


def _detect_header(rows: list[list[str]], first: list[str], width: int, column: str | None,
                   where: Where, notes: list[str]) -> bool:
    """Predict's rule: whether the first line of a formula list is column names."""
    header = False
    if not any(_parses(c) for c in first):
        if column is not None and column in first:
            header = True
        elif any(c.lower() in FORMULA_COLUMNS for c in first):
            header = True
        elif any(c for c in first) and any(_parses(c) for r in rows[1:_PROBE + 1] for c in r):
            header = True
            if width == 1:
                notes.append(f"note: line 1 of {where} ({first[0]!r}) is read as the "
                             "column name, not a formula")
    return header


def _json_table(text: str, where: Where) -> pd.DataFrame:
    """A JSON list of formulas, or of records, as a table."""
    data = json.loads(text)
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list) or not data:
        raise GfaError(f"{where}: give a JSON list of formulas, e.g. "
                       '["Al25Co20La55", "Zr55Co29Al16"]')
    if all(isinstance(r, dict) for r in data):
        return pd.DataFrame(data)
    return pd.DataFrame({"formula": [r if isinstance(r, str) else json.dumps(r)
                                     for r in data]})


def read_formula_table(path: str | os.PathLike, option: str = "--input",
                       column: str | None = None, header: bool | None = None, stdin=None
                       ) -> tuple[pd.DataFrame, bool, list[str]]:
    """A table of formulas from a file, by its format (``.parquet``, ``.json``, else CSV
    or text), whether its first line was column names, and notes for stderr. ``option``:
    the command-line option that named the file (in every message); ``header``: True when
    the first line of a CSV is always column names, None to detect it (predict's formula
    lists); ``path`` ``-`` reads standard input (``stdin``, a binary stream). Anything
    unreadable is one :class:`GfaError` naming the file and the fix. CSV and text cells
    are strings; Parquet and JSON keep their types."""
    import sys

    path = str(path)
    where = Where(option, path)
    if path != "-" and not Path(path).is_file():
        raise GfaError(f"cannot read {where}: no such file")
    suffix = "" if path == "-" else Path(path).suffix.lower()
    notes: list[str] = []
    try:
        if suffix == ".parquet":
            df, header = pd.read_parquet(path), True
        else:
            raw = (stdin or sys.stdin.buffer).read() if path == "-" else Path(path).read_bytes()
            text = raw.decode("utf-8-sig")
            if suffix == ".json" or (path == "-" and text.lstrip()[:1] in ("[", "{")):
                df, header = _json_table(text, where), True
            else:
                df, header = _text_table(text, where, column, notes, header)
    except UnicodeDecodeError:
        raise GfaError(f"{where} is not UTF-8 text; save it as UTF-8 CSV") from None
    except GfaError:
        raise
    except Exception as exc:  # OSError, csv.Error, JSONDecodeError, ArrowInvalid ...: one line
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise GfaError(f"cannot read {where}: {first}") from None
    if df.shape[1] == 0:
        raise GfaError(f"{where} holds no column of formulas")
    if len(df) == 0:
        raise GfaError(f"{where} holds column names but no formula below them")
    df.columns = [str(c) for c in df.columns]
    return df, header, notes


def formula_column(df: pd.DataFrame, where: Where, column: str | None = None,
                   header: bool = True) -> str:
    """The formula column: ``column`` (a name, or a number from 1 for a table without
    column names), else the first named formula / composition / alloy ..., else the first."""
    cols = [str(c) for c in df.columns]
    if column is not None:
        if column in cols:
            return column
        if not header and column.isdigit() and 1 <= int(column) <= len(cols):
            return cols[int(column) - 1]
        if not header:
            raise GfaError(f"{where} has no column names (its first line is data); "
                           f"give --column as a number, 1 to {len(cols)}")
        raise GfaError(f"{where} has no column {column!r} (it has {cols})")
    return next((c for c in cols if c.strip().lower() in FORMULA_COLUMNS), cols[0])


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


def _check_formula_column(df: pd.DataFrame, col: str, formulas: list, where: Where,
                          header: bool) -> None:
    """When ``col`` holds no formula but another column does, one error naming
    ``--column`` with that column."""
    if _any_parses(formulas):
        return
    other = next((c for c in df.columns if c != col
                  and _any_parses(df[c].map(_text).tolist())), None)
    if other is not None:
        first = next((f for f in formulas if f.strip()), "")
        raise GfaError(f"{where}: column {col!r} holds no formula (e.g. "
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
    df, header, notes = read_formula_table(path, "--input", column, stdin=stdin)
    where = Where("--input", path)
    col = formula_column(df, where, column, header)
    formulas = [_text(v) for v in df[col]]
    _check_formula_column(df, col, formulas, where, header)
    extras = df.drop(columns=[col]).reset_index(drop=True)
    for c in extras.columns:
        extras[c] = _numeric_or_text(extras[c])
    return formulas, extras, notes

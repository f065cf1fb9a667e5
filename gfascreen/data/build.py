"""Build the training table from the raw public files.

Rows from every source are parsed (pymatgen), normalised to at.% summing to 100, labelled
(:mod:`gfascreen.data.labels`) and merged on a normalised composition key.

Merge rule, per composition (:func:`merge_composition`, also used for a lab's own CSV):

1. If any source reports a measured bulk Dmax (class bmg with a number), the row is
   ``bmg`` and ``dmax_mm`` is the median over sources of each source's median measured
   value. ``dmax_conflict`` is set when the largest and smallest measured values differ
   by more than a factor of two.
2. Otherwise the class is the one most sources report (each source file votes once);
   a tie goes to the more glass-forming class. ``dmax_mm`` follows the class (0, the ribbon
   placeholder, or NaN for a bmg without a measured value).

``class_conflict`` is set when the sources report different classes. Every output row
keeps its provenance: which sources, and each source row's raw formula, class and Dmax.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from statistics import median

import numpy as np
import pandas as pd
from pymatgen.core import Element

from gfascreen import __version__
from gfascreen.data.audit import REASON as AUDIT_REASON
from gfascreen.data.labels import (
    CLASS_RANK,
    CLASSES,
    CONFLICT_FACTOR,
    DMAX_COLUMN,
    castable_class,
    class_of_dmax,
    label_dmax,
)
from gfascreen.data.parse import alloy_system, composition_key, normalise, parse_formula
from gfascreen.data.sources import SOURCES, fetch
from gfascreen.errors import GfaError
from gfascreen.tableio import table_elements

REJECT_COLUMNS = ["source", "row", "raw_formula", "reason"]


@dataclass
class SourceRow:
    source: str
    row: int
    raw_formula: str
    raw_class: str
    raw_dmax: float | None
    gfa_class: str | None  # None: rejected
    measured_mm: float | None
    reason: str = ""


def _num(v) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if np.isnan(f) else f


def _read_xiong_dmax(path: Path) -> list[SourceRow]:
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    out = []
    for i, (f, d) in enumerate(zip(df["Alloy Formula"], df["Dmax"], strict=True), start=2):
        v = _num(d)
        if v is None or v < 0:
            cls, reason = None, f"Dmax {d!r} is not a non-negative number"
        else:
            cls, reason = class_of_dmax(v), ""
        out.append(SourceRow("xiong2020_dmax", i, f, d, v, cls, v if cls == "bmg" else None,
                             reason))
    return out


_XIONG_GFA = {"BMG": "bmg", "RMG": "ribbon", "CRA": "crystal"}


def _read_xiong_gfa(path: Path) -> list[SourceRow]:
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    out = []
    for i, (f, g) in enumerate(zip(df["Alloy"], df["GFA"], strict=True), start=2):
        cls = _XIONG_GFA.get(g.strip())
        reason = "" if cls else f"unknown GFA class {g!r}"
        out.append(SourceRow("xiong2020_gfa", i, f, g, None, cls, None, reason))
    return out


_FORREST = {"BMG": "bmg", "Ribbon": "ribbon", "Crystal": "crystal"}


def _read_forrest(path: Path) -> list[SourceRow]:
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    out = []
    for i, (f, d, g) in enumerate(zip(df["composition"], df["Dmax"], df["GFA"], strict=True),
                                  start=2):
        cls = _FORREST.get(g.strip())
        v = _num(d)
        reason = "" if cls else f"unknown GFA class {g!r}"
        measured = v if cls == "bmg" and v is not None and v > 0 else None
        out.append(SourceRow("forrest2022", i, f, g, v, cls, measured, reason))
    return out


def _read_ward(path: Path) -> list[SourceRow]:
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    out = []
    for i, r in enumerate(df.itertuples(index=False), start=2):
        g = r.gfa_type.strip()
        cls = {"BMG": "bmg", "Ribbon": "ribbon", "": "crystal"}.get(g)
        v = _num(r.D_max)
        reason = "" if cls else f"unknown gfa_type {g!r}"
        comment = r.comment.strip()
        if comment.lower().startswith("invalid"):
            cls, reason = None, f"flagged by the source: {comment}"
        measured = v if cls == "bmg" and v is not None and v > 0 else None
        out.append(SourceRow("ward2018", i, r.composition, g or "(no glass)", v, cls, measured,
                             reason))
    return out


READERS: dict[str, Callable[[Path], list[SourceRow]]] = {
    "xiong2020_dmax": _read_xiong_dmax,
    "xiong2020_gfa": _read_xiong_gfa,
    "forrest2022": _read_forrest,
    "ward2018": _read_ward,
}


def element_columns(elements) -> list[str]:
    """Element symbols ordered by atomic number."""
    return sorted(set(elements), key=lambda s: Element(s).Z)


#: A pure metal does not form a glass by casting: a single-element composition is a
#: crystal (Dmax 0 mm) whatever a source says (two sources label La100 and Zr100 BMG).
PURE_METAL = {"gfa_class": "crystal", DMAX_COLUMN: 0.0}


def merge_composition(key: str, at: dict[str, float], rows: list[SourceRow]) -> dict:
    """One table row from every source row of composition ``key`` (at.% ``at``): the merge
    rule of this module's docstring, then :data:`PURE_METAL`. The at.% stay under ``_at``
    for :func:`assemble_table`."""
    rec = {"composition": key, "system": alloy_system(at), "n_elements": len(at),
           **_resolve(rows)}
    if len(at) == 1:
        rec.update(PURE_METAL)  # physics over a source's label (La100, Zr100 "BMG")
    rec["_at"] = at
    return rec


def assemble_table(records: list[dict]) -> pd.DataFrame:
    """The training table from :func:`merge_composition`'s rows: their columns, then one
    at.% column per element (by atomic number, 0 where absent); ``gfa_class`` categorical."""
    elements = element_columns({el for r in records for el in r["_at"]})
    frac = np.zeros((len(records), len(elements)))
    col = {el: j for j, el in enumerate(elements)}
    for i, r in enumerate(records):
        for el, v in r["_at"].items():
            frac[i, col[el]] = v
    table = pd.DataFrame.from_records([{k: v for k, v in r.items() if k != "_at"}
                                       for r in records])
    table = pd.concat([table, pd.DataFrame(frac, columns=elements)], axis=1)
    table["gfa_class"] = pd.Categorical(table["gfa_class"], categories=list(CLASSES))
    return table


def _resolve(rows: list[SourceRow]) -> dict:
    by_source: dict[str, list[SourceRow]] = {}
    for r in rows:
        by_source.setdefault(r.source, []).append(r)
    measured = {
        s: median(r.measured_mm for r in rs if r.measured_mm is not None)
        for s, rs in by_source.items()
        if any(r.measured_mm is not None for r in rs)
    }
    classes_per_source = {
        s: max((r.gfa_class for r in rs), key=lambda c: CLASS_RANK[c])
        for s, rs in by_source.items()
    }
    all_classes = {r.gfa_class for r in rows}
    if measured:
        cls = "bmg"
        dmax = float(median(measured.values()))
        all_measured = [r.measured_mm for r in rows if r.measured_mm is not None]
        dmax_conflict = max(all_measured) > CONFLICT_FACTOR * min(all_measured)
    else:
        votes = Counter(classes_per_source.values())
        cls = max(votes, key=lambda c: (votes[c], CLASS_RANK[c]))
        d = label_dmax(cls, None)
        dmax = float("nan") if d is None else d
        dmax_conflict = False
    provenance = [
        {"source": r.source, "row": r.row, "formula": r.raw_formula, "class": r.raw_class,
         "dmax": r.raw_dmax}
        for r in sorted(rows, key=lambda r: (r.source, r.row))
    ]
    return {
        "gfa_class": cls,
        DMAX_COLUMN: dmax,
        "sources": ";".join(sorted(by_source)),
        "n_source_rows": len(rows),
        "class_conflict": len(all_classes) > 1,
        "dmax_conflict": bool(dmax_conflict),
        "provenance": json.dumps(provenance, separators=(",", ":")),
    }


def build_table(
    data_dir: str | os.PathLike | None = None, sources: list[str] | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return ``(table, rejects)`` built from the raw files of ``sources`` (default: all).

    ``table`` has one row per unique normalised composition, sorted by ``composition``.
    """
    keys = list(sources) if sources else list(SOURCES)
    parsed: dict[str, list[tuple[SourceRow, dict]]] = {}
    rejects: list[dict] = []
    for key in keys:
        if key not in READERS:
            raise GfaError(f"unknown data source {key!r}; known: {', '.join(READERS)}")
        path = fetch(key, data_dir)
        try:
            rows = READERS[key](path)
        except (KeyError, AttributeError, pd.errors.ParserError) as exc:
            raise GfaError(f"{path} does not have the expected columns ({exc})") from None
        for r in rows:
            if r.gfa_class is None:
                rejects.append({"source": r.source, "row": r.row, "raw_formula": r.raw_formula,
                                "reason": r.reason})
                continue
            try:
                at = normalise(parse_formula(r.raw_formula))
            except GfaError as exc:
                rejects.append({"source": r.source, "row": r.row, "raw_formula": r.raw_formula,
                                "reason": str(exc)})
                continue
            parsed.setdefault(composition_key(at), []).append((r, at))
    table = assemble_table([merge_composition(key, parsed[key][0][1],
                                              [e[0] for e in parsed[key]])
                            for key in sorted(parsed)])
    table, audited = apply_label_rules(table)
    rej = pd.DataFrame.from_records(rejects + audited, columns=REJECT_COLUMNS)
    return table, rej


def apply_label_rules(table: pd.DataFrame) -> tuple[pd.DataFrame, list[dict]]:
    """The declared label rules: a bulk glass thinner than 1 mm reads as the glass it is
    (:func:`~gfascreen.data.labels.castable_class`), and labels the audit contradicts
    (:mod:`gfascreen.data.audit`) leave the table, each returned as a reject with the
    reason."""
    from gfascreen.data.audit import contradicted

    table = table.assign(gfa_class=pd.Categorical(
        castable_class(table["gfa_class"], table[DMAX_COLUMN]), categories=list(CLASSES)))
    bad = contradicted(table, table_elements(table))
    rejects = [{"source": r["sources"], "row": -1, "raw_formula": r["composition"],
                "reason": AUDIT_REASON} for _, r in table[bad].iterrows()]
    return table[~bad].reset_index(drop=True), rejects


def summary(table: pd.DataFrame, rejects: pd.DataFrame) -> str:
    """Human-readable summary of a built table."""
    lines = [f"{len(table)} unique compositions, {len(table_elements(table))} elements"]
    counts = table["gfa_class"].value_counts()
    lines.append("per class: " + ", ".join(f"{c} {int(counts.get(c, 0))}" for c in CLASSES))
    bmg_d = int(((table["gfa_class"] == "bmg") & table[DMAX_COLUMN].notna()).sum())
    lines.append(f"bulk glasses with a measured Dmax: {bmg_d}")
    per_src = Counter(s for ss in table["sources"] for s in ss.split(";"))
    lines.append("rows per source: " + ", ".join(f"{k} {v}" for k, v in sorted(per_src.items())))
    lines.append(f"class conflicts: {int(table['class_conflict'].sum())}, "
                 f"Dmax conflicts (>x{CONFLICT_FACTOR:g}): {int(table['dmax_conflict'].sum())}")
    audited = int((rejects["reason"] == AUDIT_REASON).sum()) if len(rejects) else 0
    lines.append(f"rejected source rows: {len(rejects) - audited}; compositions left out by "
                 f"the label audit: {audited}")
    return "\n".join(lines)


def build_metadata(sources: list[str] | None = None) -> dict:
    keys = list(sources) if sources else list(SOURCES)
    return {
        "gfascreen_version": __version__,
        "sources": {k: {"file": SOURCES[k].filename, "sha256": SOURCES[k].sha256,
                        "doi": SOURCES[k].doi} for k in keys},
    }

"""An atlas's page: ``_report/report.html`` of a run of many systems, its table of systems
(best first by the declared ranking, every column sortable) with a small map of predicted
Dmax (mm) per system on one colour scale, each system's name linking to its own report
(``_report/systems/SYSTEM/report.html``, from the atlas's rows: :func:`write_report`
with ``system``), written here for the best ``top`` systems.

A ternary's map is its whole triangle, a quaternary's the ternary slice through its best
point (at that point's at.% of its fourth element), a binary's a strip from its first
element to its second; out of domain pale. :func:`report_run` is what ``gfascreen report``
calls: the atlas page for an atlas, else the run's (or one system's) report."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import numpy as np
import pandas as pd

from gfascreen.errors import GfaError
from gfascreen.model import columns as pc
from gfascreen.model.targets import to_target
from gfascreen.screening.options import TOP_REPORTS
from gfascreen.screening.report.page import _page, _write_page, report_dir, write_report
from gfascreen.screening.report.subplot import _map_image
from gfascreen.screening.runs import load_run
from gfascreen.screening.system_rows import atlas_of
from gfascreen.screening.systems import (
    SHARE_AT,
    SYSTEMS_FILE,
    face_stats,
    ranking_rule,
    read_systems,
    subsystems,
    systems_table,
)

#: Pixels of a system's small map (the triangle's width).
THUMB_PX = 120
#: Systems with a small map on the page (the best first); the rest are listed without.
MAPPED = 300
#: The colour map of the small maps (predicted Dmax, mm).
CMAP = "viridis"


def report_run(run_dir: str | Path, system: str | None = None, top: int = TOP_REPORTS,
               **kw) -> Path:
    """``gfascreen report RUN``: an atlas's page (and its ``top`` systems' own reports),
    or the report of a one-system run or of one ``system`` of an atlas."""
    from gfascreen.screening.runs import read_request

    if system is None and atlas_of(read_request(Path(run_dir))[0]) is not None:
        if kw.get("slices") is not None:
            raise GfaError("--slices is for a quaternary's report; with an atlas pass "
                           "--system too")
        return write_atlas_page(Path(run_dir), kw.get("data"), kw.get("partial", False),
                                top, kw.get("log_color", False))
    return write_report(run_dir, system=system, **kw)


def write_atlas_page(run_dir: Path, data=None, partial: bool = False,
                     top: int = TOP_REPORTS, log_color: bool = False) -> Path:
    """Write ``run_dir/_report/report.html`` for an atlas and the own reports of its
    ``top`` best systems."""
    if top < 0:
        raise GfaError(f"--top must be 0 or more, got {top}")
    r = load_run(run_dir, partial)
    table, rule = _systems_of(r)
    for els in table["elements"].head(top):
        write_report(run_dir, data, log_color, partial=partial, system=els)
    faces = dict(tuple(r.table.groupby("system")))
    vmax = float(np.nanmax(table[pc.DMAX_MM])) if len(table) else 1.0
    step = float(r.request["grid"]["step_at_pct"])
    thumbs = {els: _thumb(_rows_of(faces, els.split("-")), els.split("-"), step, vmax)
              for els in table["elements"].head(MAPPED)}
    outdir = report_dir(run_dir, r.request)
    outdir.mkdir(parents=True, exist_ok=True)
    body = [_header(r, table, rule, vmax), _table(table, thumbs, run_dir, outdir), _SORT_JS]
    return _write_page(outdir / "report.html", _page(["atlas"], body))


def _systems_of(r) -> tuple[pd.DataFrame, dict]:
    """The atlas's table of systems and its ranking: ``_systems.parquet`` of a finished
    atlas, else built now from the parts written so far."""
    if r.complete and (r.path / SYSTEMS_FILE).is_file():
        return read_systems(r.path), r.summary.get("ranking", {})
    from gfascreen.model.saved import ModelDir

    md = ModelDir(r.request["model"]["path"])
    rule = ranking_rule(md)
    systems = [s.split("-") for s in atlas_of(r.request)["systems"]]
    faces = face_stats([r.table], rule)
    done = [s for s in systems if any(n in faces.index for n in subsystems(s))]
    return systems_table(faces, done, rule, md.known_alloys()), rule.to_dict()


def _rows_of(faces: dict[str, pd.DataFrame], elements: list[str]) -> pd.DataFrame:
    """The rows of a system: those whose elements (``faces``, the rows by their
    ``system``) are a subset of its own."""
    parts = [faces[n] for n in subsystems(elements) if n in faces]
    return pd.concat(parts) if parts else pd.DataFrame()


def _colour(rows: pd.DataFrame) -> np.ndarray:
    """What a small map's colour shows: log10(1 + predicted Dmax/mm)."""
    return to_target(rows[pc.DMAX_MM].to_numpy(float))


def _thumb(rows: pd.DataFrame, elements: list[str], step: float, vmax: float) -> str:
    """A system's small map of predicted Dmax (colour :func:`_colour`, from 0 to that of
    ``vmax`` mm) as a PNG data URI."""
    if not len(rows):
        return ""
    top = float(to_target(vmax))
    if len(elements) == 2:
        return _strip(rows, elements, step, top)
    if len(elements) == 4:
        rows, elements, step = _best_slice(rows, elements, step)
    lat = np.rint(rows[elements[:2]].to_numpy(float) / step).astype(int)
    return _map_image(_colour(rows), rows[pc.IN_DOMAIN].to_numpy(bool), lat, step, CMAP,
                      0.0, top, px=THUMB_PX)


def _best_slice(rows: pd.DataFrame, elements: list[str], step: float
                ) -> tuple[pd.DataFrame, list[str], float]:
    """A quaternary's slice through its best point (in domain first, highest Dmax): the
    rows at that point's at.% of the fourth element, its three others, and the step that
    puts their sum (100 minus that at.%) on a whole triangle."""
    d = elements[3]
    below = rows[rows[d] < 100 - 1e-9]
    order = np.lexsort((-below[pc.DMAX_MM].to_numpy(float),
                        ~below[pc.IN_DOMAIN].to_numpy(bool)))
    level = float(below[d].iloc[order[0]])
    on = below[np.isclose(below[d], level)]
    n = int(round((100 - level) / step))
    return on, elements[:3], 100.0 / n


def _strip(rows: pd.DataFrame, elements: list[str], step: float, top: float) -> str:
    """A binary's map: a strip from its first element (left) to its second, each pixel
    the colour of its nearest grid point (0 to ``top``), out of domain pale."""
    from matplotlib import colormaps
    from PIL import Image

    n = int(round(100 / step))
    at = np.rint(rows[elements[1]].to_numpy(float) / step).astype(int)
    v = np.full(n + 1, np.nan)
    dom = np.zeros(n + 1, dtype=bool)
    v[at], dom[at] = _colour(rows), rows[pc.IN_DOMAIN].to_numpy(bool)
    idx = np.rint(np.linspace(0, n, THUMB_PX)).astype(int)
    rgba = colormaps[CMAP](np.clip(np.nan_to_num(v[idx]) / (top or 1.0), 0, 1))
    rgba[~dom[idx], :3] = 0.3 * rgba[~dom[idx], :3] + 0.7
    img = Image.fromarray((np.repeat(rgba[None], 16, axis=0) * 255).astype(np.uint8), "RGBA")
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _header(r, table: pd.DataFrame, rule: dict, vmax: float) -> str:
    """The page's heading: what the atlas screened, with which model, how it ranks."""
    grid, model = r.request["grid"], r.request["model"]
    atlas = atlas_of(r.request)
    partial = (f"<p style='color:#b00'><b>Partial run:</b> {html.escape(r.note)}; the "
               "table below ranks the systems of the parts written so far.</p>"
               if r.note else "")
    return (f"<h1>Atlas: {len(table):,} systems of {html.escape(','.join(grid['elements']))}"
            "</h1>"
            f"<p>Orders {', '.join(map(str, atlas['orders']))}; grid step "
            f"{grid['step_at_pct']:g} at.%, {len(r.table):,} compositions, each scored once. "
            f"Model <code>{html.escape(str(model['id']))}</code> (hash "
            f"{model['hash'][:12]}); screened {html.escape(str(r.request.get('started')))}."
            "</p>" + partial +
            f"<p><b>Ranking:</b> {html.escape(str(rule.get('rule', '')))}; "
            f"{html.escape(str(rule.get('why', '')))}.</p>"
            f"<p>Maps: predicted Dmax, one colour scale for all ({CMAP} on log10(1 + "
            f"Dmax/mm), 0 to {vmax:.2f} mm), out of domain pale; a ternary's whole "
            "triangle (first element at the top, second bottom left), a quaternary's "
            "slice through its best point, a binary's strip from its first element to its "
            "second. Shares: of the "
            f"system's grid with the probability at least {SHARE_AT:g}. Known alloys: the "
            "model's, in the system's composition space. Click a column's name to sort. "
            "A system's name links to its own report where it is written (the best "
            "ones here); any other: <code>gfascreen report RUN --system "
            "SYSTEM</code>.</p>")


#: The table's columns: (heading, column of the table of systems, format).
_COLUMNS = [("#", "rank", "{:d}"), ("best composition (at.%)", "best_composition", "{}"),
            ("its elements", "best_system", "{}"),
            ("Dmax (mm)", pc.DMAX_MM, "{:.2f}"), ("interval (mm)", None, ""),
            ("P(bulk glass)", pc.P_BMG, "{:.2f}"),
            ("P(Dmax ≥ 5 mm)", pc.threshold_column(5), "{:.2f}"),
            ("share P(bulk glass)", f"share_{pc.P_BMG}", "{:.2f}"),
            ("share P(Dmax ≥ 5 mm)", f"share_{pc.threshold_column(5)}", "{:.2f}"),
            ("in domain", "share_in_domain", "{:.2f}"), ("known alloys", "known_alloys", "{:d}"),
            ("bulk glasses known", "known_bulk_glasses", "{:d}"),
            ("best measured (mm)", "best_measured_mm", "{:.3g}"), ("novel", "novel", "{}")]
#: How a flag reads in the table.
_FLAG = {True: "yes", False: ""}


def _table(table: pd.DataFrame, thumbs: dict, run_dir: Path, outdir: Path) -> str:
    """The sortable table of systems, a small map and a link per system."""
    cols = [c for c in _COLUMNS if c[1] is None or c[1] in table.columns]
    head = "".join(f"<th onclick='sortBy(this)'>{html.escape(h)}</th>" for h, _, _ in
                   [cols[0], ("map", None, ""), ("system", None, ""), *cols[1:]])
    body = [_row(r, cols, thumbs.get(r["elements"], ""), run_dir, outdir)
            for r in table.to_dict("records")]
    return (f"<table class='tbl' id='atlas'><thead><tr>{head}</tr></thead><tbody>"
            + "".join(body) + "</tbody></table>")


def _row(r: dict, cols, thumb: str, run_dir: Path, outdir: Path) -> str:
    """One system's row: rank, map, name (a link to its own report when written)."""
    own = report_dir(run_dir, {"grid": {"atlas_system": r["system"]}}) / "report.html"
    name = html.escape(r["elements"])
    link = (f"<a href='{own.relative_to(outdir).as_posix()}'>{name}</a>" if own.is_file()
            else f"<span title='gfascreen report {html.escape(str(run_dir))} --system "
                 f"{name}'>{name}</span>")
    img = f"<img src='{thumb}' width='{THUMB_PX}'>" if thumb else ""
    cells = [_cell(r, cols[0]), f"<td>{img}</td>", f"<td data-v='{name}'>{link}</td>"]
    return "<tr>" + "".join(cells + [_cell(r, c) for c in cols[1:]]) + "</tr>"


def _cell(r: dict, col: tuple) -> str:
    """A cell with its value to sort by (``data-v``) and its text."""
    _, key, fmt = col
    if key is None:  # the interval of the best point
        lo, hi = r.get(pc.DMAX_LO, np.nan), r.get(pc.DMAX_HI, np.nan)
        text = "-" if not np.isfinite(hi) else f"{lo:.2f}-{hi:.2f}"
        return f"<td data-v='{hi if np.isfinite(hi) else -1}'>{text}</td>"
    v = r[key]
    missing = v is None or (isinstance(v, float) and not np.isfinite(v))
    text = ("-" if missing else _FLAG[bool(v)] if isinstance(v, bool | np.bool_)
            else fmt.format(int(v) if fmt == "{:d}" else v))
    sort = "-1" if missing else html.escape(str(int(v) if isinstance(v, bool) else v))
    return f"<td data-v='{sort}'>{html.escape(text)}</td>"


#: Sorting the table by a column's ``data-v`` (numbers as numbers), again to reverse.
_SORT_JS = """<script>
function sortBy(th) {
  const t = th.closest('table'), i = Array.from(th.parentNode.children).indexOf(th);
  const rows = Array.from(t.tBodies[0].rows), dir = th.dataset.dir === 'a' ? -1 : 1;
  const key = r => { const v = r.cells[i].dataset.v; const n = parseFloat(v);
                     return isNaN(n) ? v : n; };
  rows.sort((a, b) => { const x = key(a), y = key(b);
                        return (x > y ? 1 : x < y ? -1 : 0) * dir; });
  th.dataset.dir = dir === 1 ? 'a' : 'd';
  rows.forEach(r => t.tBodies[0].appendChild(r));
}
</script>"""


__all__ = ["report_run", "write_atlas_page"]

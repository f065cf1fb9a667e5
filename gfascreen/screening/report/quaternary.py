"""Screening run -> report: the one place where a grid's scores become maps.

``write_report(run_dir)`` writes ``run_dir/_report/report.html`` (self-contained, plotly.js
embedded, opens offline: a ternary's maps are images on the triangles with the hover on a
thinned grid, and the page embeds plotly.js's cartesian partial bundle) and, for
ternaries, ``map.png`` (``map.svg`` with ``svg=True``; python-ternary on matplotlib).
A quaternary's report shows the best of each at.% of its fourth element along it, and
ternary slices at fixed at.% of it through the best region (or ``slices``), in at.% of
the alloy, one colour scale per quantity for every slice.
Known alloys of the system (the training alloys the model carries, or a table given with
``--data``) are drawn on top, numbered, coloured by measured Dmax, with crystals and
ribbons marked differently.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from gfascreen.data.labels import DMAX_COLUMN
from gfascreen.errors import GfaError
from gfascreen.model import columns as pc
from gfascreen.screening.known import MEASURED_COLUMNS, known_alloys, measured_at
from gfascreen.screening.report.overlay import (
    KNOWN_STYLE,
    _compare_known,
    _known_groups,
    _known_labels,
    _known_traces,
    _number_known,
)
from gfascreen.screening.report.panels import (
    _Hover,
    _hover,
    _hover_marker,
    _hover_rows,
    _panels,
    f32,
)
from gfascreen.screening.report.slices import on_slice, slice_levels
from gfascreen.screening.report.static import _static_maps
from gfascreen.screening.report.subplot import (
    _add_domain_legend,
    _add_map_image,
    _axis_titles,
    _colorbar_x,
    _map_image,
    _panel_box,
    _panel_spacing,
    _subplot_key,
    _thin,
)
from gfascreen.screening.report.ternary import _ternary_fig
from gfascreen.screening.runs import load_run

#: The legend of the out-of-domain region; the numbers come from the run's model.
DOMAIN_RULE = "out of domain (pale): fewer than {n} training alloys within {r:g} at.% (L1)"


def domain_rule(run: dict) -> str:
    """The applicability-domain rule of the model a run was screened with, in words."""
    from gfascreen.model.saved import ModelDir

    try:
        d = ModelDir(run["model"]["path"]).manifest.domain
        return DOMAIN_RULE.format(n=int(d["min_neighbours"]), r=float(d["radius_at_pct"]))
    except (GfaError, KeyError, TypeError, ValueError):
        return "out of domain (pale): too few training alloys nearby (the model's rule)"


#: The quaternary report's slices: a fixed size (px), so the maps' images and the known
#: alloys' number labels can be placed on the triangles (see :func:`_triangle_box`).
QUAT_WIDTH, QUAT_ROW_PX, QUAT_GAP_PX = 1200, 300, 120
QUAT_MARGIN = {"l": 110, "r": 60, "t": 200, "b": 60}


def _quaternary_panels(df: pd.DataFrame, confidence: float | None, log_color: bool
                       ) -> list[tuple[pd.Series, str, str, str]]:
    """:func:`_panels`, with P(bulk glass) also for a model without a calibration (its
    class head's raw output, and the title says so)."""
    panels = _panels(df, confidence, log_color)
    if len(panels) == 2 and pc.P_BMG in df.columns and bool(np.isfinite(df[pc.P_BMG]).all()):
        panels.insert(1, (df[pc.P_BMG], "P(bulk glass), uncalibrated", "Blues", "Blues"))
    return panels


def _colour_range(values: pd.Series, title: str) -> dict:
    """One colour range per quantity: 0-1 for a probability, else the whole grid's."""
    v = values.to_numpy(dtype=float)
    if title.startswith("P(") or not np.isfinite(v).any():
        return {"cmin": 0.0, "cmax": 1.0}
    return {"cmin": float(np.nanmin(v)), "cmax": float(np.nanmax(v))}


def _ticks(total: float) -> list[float]:
    """At.% tick values along a slice's axes (0 to ``total``): at least three."""
    for t in (20, 10, 5, 2, 1, 0.5, 0.1):
        vals = [float(v) for v in np.arange(t, total - 1e-9, t)]
        if len(vals) >= 3:
            return vals
    return []


def _profile_fig(df: pd.DataFrame, known: pd.DataFrame, elements: list[str],
                 levels: list[float], why: str, panels) -> go.Figure:
    """Where the glasses are along the fourth element: each grid level's best predicted
    Dmax and best P(bulk glass) (in domain) against its at.%, the slices shown below
    (dashed), the known bulk glasses at their measured Dmax, numbered."""
    d = elements[3]
    dom = df[pc.IN_DOMAIN].to_numpy(dtype=bool)
    pool = df[dom] if dom.any() else df
    where = " (in domain)" if dom.any() else ""
    by = pool.groupby(pool[d].round(6))
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    best = by[pc.DMAX_MM].max()
    fig.add_trace(go.Scatter(x=best.index.to_numpy(float), y=best.to_numpy(float),
                             mode="lines+markers", name=f"best predicted Dmax{where} (mm)",
                             line={"color": "#440154"},
                             hovertemplate=f"{d} %{{x:g}} at.%: best predicted Dmax "
                                           "%{y:.2f} mm<extra></extra>"), secondary_y=False)
    p_title = next((t for _, t, *_ in panels if t.startswith("P(bulk glass")), None)
    if p_title is not None:
        pb = by[pc.P_BMG].max()
        fig.add_trace(go.Scatter(x=pb.index.to_numpy(float), y=pb.to_numpy(float),
                                 mode="lines+markers", name=f"best {p_title}{where}",
                                 line={"color": "#2171b5", "dash": "dot"},
                                 hovertemplate=f"{d} %{{x:g}} at.%: best {p_title} "
                                               "%{y:.2f}<extra></extra>"), secondary_y=True)
    g = known[(known["gfa_class"].astype(str) == "bmg") & known[DMAX_COLUMN].notna()] \
        if len(known) else known
    if len(g):
        fig.add_trace(go.Scatter(
            x=g[d].fillna(0.0).to_numpy(float), y=g[DMAX_COLUMN].to_numpy(float),
            mode="markers+text", text=[str(v) for v in g["label"]], textposition="top center",
            name="known: bulk glass, measured Dmax (mm), numbered as in the table",
            hovertext=[f"#{r['label']} {r['composition']}: measured Dmax {r[DMAX_COLUMN]:g} mm"
                       for _, r in g.iterrows()], hoverinfo="text",
            marker={"color": "#d62728", "size": 9, "line": {"width": 1, "color": "black"}}),
            secondary_y=False)
    for lv in levels:
        fig.add_vline(x=lv, line={"color": "#d62728", "width": 1, "dash": "dash"})
    fig.update_xaxes(title_text=f"{d} (at.%)", range=[-2, 102], dtick=10)
    fig.update_yaxes(title_text="Dmax (mm)", rangemode="tozero", secondary_y=False)
    if p_title is not None:
        fig.update_yaxes(title_text=p_title, range=[0, 1.02], secondary_y=True,
                         showgrid=False, tickmode="linear", tick0=0, dtick=0.2)
    fig.update_layout(
        title={"text": f"Best predicted Dmax{' and P(bulk glass)' if p_title else ''} at "
                       f"each {d} at.% of {'-'.join(elements)} (dashed: the slices below)"
                       f"<br><sup>Slices {html.escape(why)}</sup>"},
        width=QUAT_WIDTH, height=380, legend={"orientation": "h", "y": -0.22},
        margin={"l": 80, "r": 80, "t": 90, "b": 60})
    return fig


def _quaternary_figs(df: pd.DataFrame, known: pd.DataFrame, elements: list[str],
                     step: float, log_color: bool, confidence: float | None, rule: str,
                     cmp: pd.DataFrame | None = None, slices: list[float] | None = None
                     ) -> list[go.Figure]:
    """A quaternary's report: the profile along the fourth element (:func:`_profile_fig`)
    and ternary slices at fixed at.% of it (:func:`slice_levels`), one row per slice, one
    column per quantity (Dmax, P(bulk glass), then P(Dmax >= T) or the interval / spread)
    with one colour scale per quantity for every slice; the axes in at.% of the alloy (the
    three sum to 100 minus the fourth); each map an image of the slice's grid points (out
    of domain pale) with the hover on a thinned grid; known alloys numbered on the slice
    within half a grid step of them."""
    levels, why = slice_levels(df, elements, step, slices)
    panels = _quaternary_panels(df, confidence, log_color)
    figs = [_profile_fig(df, known, elements, levels, why, panels)]
    if not levels:
        return figs
    grid = _QuaternaryGrid.of(df, elements, step, confidence)
    marks = _SliceKnown.of(known, elements[3], levels, step, cmp)
    figs.append(_slices_fig(grid, marks, levels, why, panels, rule))
    return figs


@dataclass(frozen=True, eq=False)
class _QuaternaryGrid:
    """A quaternary run's grid as its slices draw it: the four elements, the grid step
    (at.%), the at.% of all four per row (``comps``), in domain or not, the fourth's at.%
    rounded to 1e-6 (``dv``) and the Dmax map's hover."""

    elements: list[str]
    step: float
    comps: np.ndarray
    dom: np.ndarray
    dv: np.ndarray
    hover: _Hover

    @classmethod
    def of(cls, df: pd.DataFrame, elements: list[str], step: float,
           confidence: float | None) -> _QuaternaryGrid:
        return cls(list(elements), step, df[elements].to_numpy(dtype=float),
                   df[pc.IN_DOMAIN].to_numpy(dtype=bool), df[elements[3]].round(6).to_numpy(),
                   _Hover(*_hover(df, elements, confidence)))

    def value_hover(self, sel: np.ndarray, v: np.ndarray, title: str, extra: str) -> dict:
        """The hover of rows ``sel`` on a map other than Dmax's: the composition (at.%)
        and the map's own value ``v`` (``title``), ``extra`` appended."""
        comp_t = " ".join(f"{e} %{{customdata[{k}]:.4g}}" for k, e in enumerate(self.elements))
        return {"customdata": f32(np.column_stack([self.comps[sel], v[sel]])),
                "hovertemplate": f"{comp_t}<br>{title} "
                                 f"%{{customdata[{len(self.elements)}]:.2f}}{extra}"
                                 "<extra></extra>"}


@dataclass(frozen=True, eq=False)
class _Slice:
    """The grid's slice at ``level`` at.% of the fourth element: its rows (indices), the
    at.% left to the other three (``total``), their lattice coordinates and the step of
    the slice drawn as a whole triangle (``eff``, at.%), the rows that carry the hover."""

    level: float
    rows: np.ndarray
    total: float
    lat: np.ndarray
    eff: float
    thin: np.ndarray


def _slice_at(grid: _QuaternaryGrid, level: float) -> _Slice:
    """The slice of ``grid`` at ``level`` at.% of its fourth element."""
    rows = np.flatnonzero(np.isclose(grid.dv, level))
    total = 100.0 - level
    lat = np.rint(grid.comps[rows][:, :2] / grid.step).astype(int)
    eff = grid.step * 100.0 / total if total > 0 else 100.0  # the slice as a whole triangle
    return _Slice(level, rows, total, lat, eff, rows[_thin(lat)])


@dataclass(frozen=True)
class _SliceGeometry:
    """The slices figure: ``rows`` slices of ``cols`` quantities, each row
    :data:`QUAT_ROW_PX` high with :data:`QUAT_GAP_PX` between (px)."""

    rows: int
    cols: int

    @property
    def gh(self) -> int:
        """The plot area's height (px)."""
        return self.rows * QUAT_ROW_PX + (self.rows - 1) * QUAT_GAP_PX

    @property
    def height(self) -> int:
        """The figure's height (px)."""
        return self.gh + QUAT_MARGIN["t"] + QUAT_MARGIN["b"]

    @property
    def spacing(self) -> float:
        return _panel_spacing(self.cols)

    @property
    def bar(self) -> dict:
        """Each quantity's one colour bar, beside the first slice (its triangle's height)."""
        return {"y": 1 - QUAT_ROW_PX / 2 / self.gh, "yanchor": "middle", "lenmode": "pixels",
                "len": 0.8 * QUAT_ROW_PX}


@dataclass(frozen=True, eq=False)
class _SliceKnown:
    """Known alloys on the slices: each one's slice (``slice_of``, at.% of the fourth
    element; NaN: on none), the top of the measured-Dmax scale (``cmax``, mm), how many
    of each kind are on some slice, and their measured vs predicted (``cmp``)."""

    known: pd.DataFrame
    slice_of: np.ndarray
    cmax: float | None
    counts: dict[str, int]
    cmp: pd.DataFrame | None

    @classmethod
    def of(cls, known: pd.DataFrame, d: str, levels: list[float], step: float,
           cmp: pd.DataFrame | None) -> _SliceKnown:
        slice_of = on_slice(known, d, levels, step)
        cmax = float(known[DMAX_COLUMN].max()) \
            if len(known) and known[DMAX_COLUMN].notna().any() else None
        drawn = pd.Series(slice_of, index=known.index).notna()
        counts = {k: int(drawn[g.index].sum()) for k, g in _known_groups(known)} \
            if len(known) else {}
        return cls(known, slice_of, cmax, counts, cmp)

    def draw(self, fig: go.Figure, level: float, row: int, box, geo: _SliceGeometry,
             elements: list[str], shown: set[str]) -> None:
        """The known alloys on the slice at ``level`` (at.%), numbered on its first panel
        (``row``, the triangle in paper ``box``, drawn in ``elements``' three): one legend
        entry and measured-Dmax scale per kind for all slices (``shown``: the kinds that
        have theirs)."""
        here = self.known[np.isclose(self.slice_of, level)]
        traces = _known_traces(here, elements, self.cmp, cmax=self.cmax,
                               colorbar={"x": -0.12, **geo.bar})
        for (group, _), t in zip(_known_groups(here), traces, strict=True):
            t.name = f"known: {KNOWN_STYLE[group]['name']} ({self.counts[group]} on the " \
                     "slices)"
            t.legendgroup = group
            if group in shown:
                t.showlegend = False
                t.marker.showscale = False
            shown.add(group)
            fig.add_trace(t, row=row, col=1)
        if len(here):
            _known_labels(fig, here, elements, box, QUAT_WIDTH, geo.height, QUAT_MARGIN)


def _slices_fig(grid: _QuaternaryGrid, marks: _SliceKnown, levels: list[float], why: str,
                panels: list[tuple[pd.Series, str, str, str]], rule: str) -> go.Figure:
    """The ternary slices at ``levels`` (at.% of the fourth element), one row each, one
    column per quantity of ``panels`` with one colour range each for every slice."""
    geo = _SliceGeometry(len(levels), len(panels))
    fig = _slice_subplots(geo, grid.elements[3], levels, panels)
    ranges = [_colour_range(p[0], p[1]) for p in panels]
    scaled: set[int] = set()  # the columns whose colour bar is drawn
    shown: set[str] = set()  # the known-alloy kinds with a legend entry
    for row, level in enumerate(levels, start=1):
        sl = _slice_at(grid, level)
        for col, (panel, rng) in enumerate(zip(panels, ranges, strict=True), start=1):
            box = _slice_panel(fig, grid, sl, geo, (row, col), panel, rng, scaled)
            if row == 1 and col == 1 and not grid.dom.all():
                _add_domain_legend(fig, rule)
            if col == 1 and len(marks.known):
                marks.draw(fig, level, row, box, geo, grid.elements[:3], shown)
        ticks = {"tickvals": _ticks(sl.total), "ticks": "outside"}
        for col in range(1, geo.cols + 1):
            fig.layout[_subplot_key((row - 1) * geo.cols + col)].update(
                sum=sl.total, **_axis_titles(grid.elements, ticks), bgcolor="rgba(0,0,0,0)")
    _slices_layout(fig, grid, geo, why)
    return fig


def _slice_subplots(geo: _SliceGeometry, d: str, levels: list[float],
                    panels: list[tuple[pd.Series, str, str, str]]) -> go.Figure:
    """The slices' empty subplots, each titled with its slice's at.% of ``d`` and quantity."""
    fig = make_subplots(rows=geo.rows, cols=geo.cols,
                        specs=[[{"type": "ternary"}] * geo.cols] * geo.rows,
                        horizontal_spacing=geo.spacing,
                        **({"vertical_spacing": QUAT_GAP_PX / geo.gh} if geo.rows > 1 else {}),
                        subplot_titles=[f"<b>{d} = {lv:g} at.%</b>: {p[1]}" for lv in levels
                                        for p in panels])
    fig.update_annotations(font_size=13)
    return fig


def _slice_panel(fig: go.Figure, grid: _QuaternaryGrid, sl: _Slice, geo: _SliceGeometry,
                 cell: tuple[int, int], panel: tuple[pd.Series, str, str, str], rng: dict,
                 scaled: set[int]) -> tuple[float, float, float, float]:
    """One quantity on one slice (``cell``: row, column): the map image of the slice's
    grid points (when three or more) and the hover points, on the quantity's one colour
    range ``rng``; its colour bar on the column's first hover points (``scaled``: the
    columns that have theirs). Returns the triangle's paper box."""
    row, col = cell
    values, title, cscale, cmap = panel
    box = _panel_box(fig, (row - 1) * geo.cols + col, QUAT_WIDTH, geo.height, QUAT_MARGIN)
    v = values.to_numpy(dtype=float)
    if len(sl.rows) >= 3 and sl.total > 0:
        _add_map_image(fig, box, _map_image(v[sl.rows], grid.dom[sl.rows], sl.lat, sl.eff,
                                            cmap, rng["cmin"], rng["cmax"]))
    x = _colorbar_x(col, geo.cols, geo.spacing)
    for sel, _inside, extra in _hover_rows(sl.thin, grid.dom):
        hover = grid.hover.at(sel, extra) if col == 1 else grid.value_hover(sel, v, title,
                                                                            extra)
        fig.add_trace(go.Scatterternary(
            a=f32(grid.comps[sel, 0]), b=f32(grid.comps[sel, 1]), c=f32(grid.comps[sel, 2]),
            mode="markers", showlegend=False, name=f"{title}, {grid.elements[3]} "
                                                   f"{sl.level:g} at.%", **hover,
            marker=_hover_marker(v[sel], cscale, rng, title, col not in scaled,
                                 {"x": x, **geo.bar})),
            row=row, col=col)
        scaled.add(col)
    return box


def _slices_layout(fig: go.Figure, grid: _QuaternaryGrid, geo: _SliceGeometry, why: str
                   ) -> None:
    """The slices figure's title (what the axes are, why these slices, which known alloys
    are drawn where), size and legend."""
    a, b, c, d = grid.elements
    fig.update_layout(
        title={"text": f"Slices at fixed {d}: {a}, {b}, {c} in at.% of the alloy (they sum "
                       f"to 100 − {d}); one colour scale per quantity<br><sup>Slices "
                       f"{html.escape(why)}</sup><br><sup>Pale: out of domain. Known alloys "
                       f"are drawn on the slice within {grid.step / 2:g} at.% of their {d} "
                       "(half a grid step), numbered as in the table</sup>",
               "y": 1 - 30 / geo.height, "yanchor": "top", "x": 0.01},
        width=QUAT_WIDTH, height=geo.height, autosize=False, margin=QUAT_MARGIN,
        legend={"orientation": "h", "x": 0, "y": 1 + 55 / geo.gh, "yanchor": "bottom"},
        plot_bgcolor="rgba(0,0,0,0)")


def _table_html(t: pd.DataFrame) -> str:
    return t.to_html(index=False, float_format=lambda v: f"{v:.3g}", border=0, classes="tbl",
                     escape=True)


def _header(elements, step, df, run, note: str = "") -> str:
    m = run["model"].get("metrics", {})
    iv = run.get("interval", {})
    how = html.escape(f"{iv.get('method')}; {iv.get('calibrated_on')}")
    iv_text = (f"Intervals: {round(100 * iv['confidence'])} % calibrated ({how})."
               if iv.get("confidence") else "No calibrated interval: the model carries none; "
               "the right map shows the raw member spread, which is not an error bar.")
    return (f"<h1>{html.escape('-'.join(elements))}: predicted glass-forming ability</h1>"
            f"<p>Grid: step {step:g} at.%, {len(df):,} compositions. Model "
            f"<code>{html.escape(str(run['model']['id']))}</code> "
            f"(hash {run['model']['hash'][:12]}), training data sha256 "
            f"{str(run['model'].get('data_sha256'))[:12]}. "
            f"Out-of-fold R² {m.get('r2_mm', float('nan')):.3f} "
            f"(mm), {m.get('r2_log', float('nan')):.3f} (log10(1+Dmax)), random folds; on "
            "systems absent from training expect less (see the model card). "
            f"Screened {html.escape(str(run.get('started')))}; report written "
            f"{datetime.now(UTC).isoformat(timespec='seconds')}.</p>"
            + (f"<p style='color:#b00'><b>Partial run:</b> {html.escape(note)}. Maps and "
               "tables below show only the parts written so far.</p>" if note else "")
            + f"<p><b>Domain:</b> {100 * float(df[pc.IN_DOMAIN].mean()):.1f}% of the grid is in "
            f"domain; {html.escape(domain_rule(run))}. {iv_text}</p>")


#: plotly.js's cartesian partial bundle (it holds the ternary traces), shipped in
#: ``gfascreen/screening/assets`` for the plotly.js version plotly.py writes for: a report
#: embeds it (1.5 MB) instead of the whole library (4.8 MB).
PARTIAL_BUNDLE = Path(__file__).parent.parent / "assets" / "plotly-cartesian-{version}.min.js"


def _plotly_js(figs: list[go.Figure]) -> str:
    """The plotly.js the page embeds: the cartesian partial bundle when every trace is
    one it holds (ternary maps) and it matches plotly.py's plotly.js, else the whole."""
    from plotly.offline import get_plotlyjs, get_plotlyjs_version

    partial = Path(str(PARTIAL_BUNDLE).format(version=get_plotlyjs_version()))
    if partial.is_file() and all(t.type in ("scatterternary", "scatter")
                                 for f in figs for t in f.data):
        return partial.read_text(encoding="utf-8")
    return get_plotlyjs()


def _check_slices_run(run_dir: Path) -> None:
    """``--slices`` needs a quaternary run (read from ``_run.json`` alone)."""
    import json

    try:
        elements = json.loads((run_dir / "_run.json").read_text())["grid"]["elements"]
    except (OSError, ValueError, KeyError, TypeError):
        return  # load_run says what is wrong with the run
    if len(elements) != 4:
        raise GfaError(f"--slices is for a quaternary run (slices at fixed at.% of its fourth "
                       f"element); {run_dir} is {'-'.join(elements)}")


def write_report(run_dir: str | Path, data: str | Path | None = None,
                 log_color: bool = False, n_suggest: int = 5, partial: bool = False,
                 svg: bool = False, slices: list[float] | None = None) -> Path:
    """Write ``run_dir/_report/report.html`` (+ ``map.png`` for ternaries, and
    ``map.svg`` when ``svg``). ``slices``: for a quaternary, the at.% of its fourth element
    to slice at (default: :func:`slice_levels` through the best region)."""
    rr = _read_report_run(Path(run_dir), data, partial, slices)
    outdir = rr.run_dir / "_report"
    outdir.mkdir(exist_ok=True)
    cmp = _compare_known(rr.df, rr.known, rr.elements, rr.step)
    sections = _plot_sections(_report_figs(rr, cmp, outdir, log_color, svg, slices))
    top = _top_rows(rr.df, rr.elements)
    picks, pick_note = _suggestions(rr, data, n_suggest)
    body = [_header(rr.elements, rr.step, rr.df, rr.request, rr.note), *sections,
            *_picks_section(picks, pick_note),
            "<h2>Top predicted Dmax (in domain; neighbouring grid points)</h2>",
            _table_html(top), *_known_section(cmp, rr)]
    out = _write_page(outdir / "report.html", _page(rr.elements, body))
    if len(cmp):
        cmp.to_csv(outdir / "known_alloys.csv", index=False)
    if len(picks):
        picks.to_csv(outdir / "suggestions.csv", index=False)
    return out


@dataclass(frozen=True, eq=False)
class _ReportRun:
    """What a report is drawn from: the run's table (``df``), request and note (why it is
    partial, or empty), its grid's elements and step (at.%), its intervals' confidence,
    and the known alloys of its system (numbered) with where they come from."""

    run_dir: Path
    df: pd.DataFrame
    request: dict
    note: str
    elements: list[str]
    step: float
    confidence: float | None
    known: pd.DataFrame
    known_source: str


def _read_report_run(run_dir: Path, data: str | Path | None, partial: bool,
                     slices: list[float] | None) -> _ReportRun:
    """Read a run for its report, with the known alloys of its system (from ``data`` when
    given). ``slices`` (at.%) are refused for a run that is not a quaternary before its
    table is read, and a level off the grid before anything is drawn."""
    if slices is not None:  # refused before the table is read
        _check_slices_run(run_dir)
    r = load_run(run_dir, partial)
    df, run = r.table, r.request
    elements = run["grid"]["elements"]
    step = run["grid"]["step_at_pct"]
    if slices is not None:
        slice_levels(df, elements, step, slices)  # refuse a level off the grid first
    confidence = run.get("interval", {}).get("confidence")
    known, known_source = known_alloys(run, elements, data)
    known = _number_known(known)
    if "measured_class" not in df.columns:  # a run screened before the columns existed
        df = pd.concat([df.reset_index(drop=True),
                        measured_at(df.reset_index(drop=True), elements, known)], axis=1)
    return _ReportRun(run_dir, df, run, r.note, elements, step, confidence, known,
                      known_source)


def _report_figs(rr: _ReportRun, cmp: pd.DataFrame, outdir: Path, log_color: bool,
                 svg: bool, slices: list[float] | None) -> list[go.Figure]:
    """The report's figures: a ternary's maps (and its static maps, written to
    ``outdir``), a quaternary's profile and slices (and each known alloy's slice, column
    ``slice`` of ``cmp``); none for another run."""
    df, known, elements, step = rr.df, rr.known, rr.elements, rr.step
    if len(elements) == 3:
        figs = [_ternary_fig(df, known, elements, log_color, rr.confidence,
                             domain_rule(rr.request), cmp)]
        _static_maps(df, known, elements, step, outdir, rr.confidence, svg)
        return figs
    if len(elements) == 4:
        figs = _quaternary_figs(df, known, elements, step, log_color, rr.confidence,
                                domain_rule(rr.request), cmp, slices)
        if len(cmp):
            levels, _ = slice_levels(df, elements, step, slices)
            at = on_slice(known, elements[3], levels, step)
            cmp["slice"] = [f"{elements[3]} {v:g} at.%" if np.isfinite(v) else "-"
                            for v in at]
        return figs
    return []


def _plot_sections(figs: list[go.Figure]) -> list[str]:
    """The figures as HTML, plotly.js embedded once, before the first."""
    sections = [f.to_html(full_html=False, include_plotlyjs=False) for f in figs]
    if figs:
        sections[0] = f"<script>{_plotly_js(figs)}</script>" + sections[0]
    return sections


def _top_rows(df: pd.DataFrame, elements: list[str]) -> pd.DataFrame:
    """The ten grid points of highest predicted Dmax in domain, with the composition
    (at.%), the predictions, and what was measured there when anything was."""
    shown = [pc.DMAX_MM, pc.DMAX_LO, pc.DMAX_HI, pc.DMAX_AT_LEAST, pc.P_GLASS, pc.P_BMG]
    cols = elements + [c for c in shown if c in df.columns] \
        + pc.threshold_columns(df.columns) + [pc.IN_DOMAIN] \
        + [c for c in MEASURED_COLUMNS if c in df.columns]
    top = df[df[pc.IN_DOMAIN]].sort_values(pc.DMAX_MM, ascending=False).head(10)
    return top[[c for c in cols if c not in MEASURED_COLUMNS
                or (top["measured_class"] != "").any()]]


def _suggestions(rr: _ReportRun, data: str | Path | None, n_suggest: int
                 ) -> tuple[pd.DataFrame, str]:
    """The next experiments (:func:`~gfascreen.screening.suggest.suggest`) and the
    paragraph that says how they were chosen, or why there are none."""
    from gfascreen.screening.suggest import default_target_mm, run_calibration, suggest

    df = rr.df
    calibration = run_calibration(rr.request)
    target_mm, target_why = default_target_mm(rr.known, df, calibration,
                                              df[pc.IN_DOMAIN].to_numpy(bool))
    space, _ = known_alloys(rr.request, rr.elements, data, subsystems=True)
    try:
        picks = suggest(df, rr.elements, n=n_suggest, calibration=calibration,
                        target_mm=target_mm, known=space if len(space) else None)
    except GfaError as exc:
        return pd.DataFrame(), f"<p>{html.escape(str(exc))}</p>"
    return picks, ("<p>Spaced at least 5 at.% apart, in domain, ranked by the calibrated "
                   f"probability of casting at least {target_mm:g} mm "
                   f"({html.escape(target_why)}; the upper confidence score for a model "
                   "without a predictive distribution); the same table comes from "
                   f"<code>gfascreen suggest {html.escape(str(rr.run_dir))}</code>.</p>")


def _picks_section(picks: pd.DataFrame, pick_note: str) -> list[str]:
    """The report's next-experiments section: heading, how they were chosen, the table."""
    body = [f"<h2>Next experiments: {len(picks)} compositions to cast</h2>", pick_note]
    if len(picks):
        body.append(_table_html(picks[["pick", "composition", "score", pc.DMAX_MM,
                                       pc.DMAX_LO, pc.DMAX_HI, pc.DMAX_AT_LEAST, pc.P_BMG,
                                       "nearest_known", "nearest_known_dmax_mm",
                                       "nearest_known_l1_at_pct", "reason"]]))
        if picks.attrs.get("shortfall"):
            body.append(f"<p>{html.escape(picks.attrs['shortfall'])}</p>")
    return body


def _known_section(cmp: pd.DataFrame, rr: _ReportRun) -> list[str]:
    """The known alloys' measured vs predicted table (``cmp``) with how to find them on
    the maps, or a line saying the system has none."""
    if not len(cmp):
        return [f"<p>No alloy of this system is among {html.escape(rr.known_source)}.</p>"]
    elements, step = rr.elements, rr.step
    return [f"<h2>Known alloys of this system ({len(cmp)}, from "
            f"{html.escape(rr.known_source)}): measured vs predicted</h2>",
            ("<p># = the number beside the marker on the map.</p>" if len(elements) != 4
             else f"<p># = the number beside the marker on the slice its {elements[3]} "
             f"is within {step / 2:g} at.% of (column <i>slice</i>; - : on no slice "
             "shown); a bulk glass with a measured Dmax is also numbered on the profile "
             "along it.</p>"),
            _table_html(cmp)]


def _page(elements: list[str], body: list[str]) -> str:
    """The whole report page around its ``body`` parts."""
    return ("<!DOCTYPE html><html><head><meta charset='utf-8'>"
            f"<title>gfascreen {html.escape('-'.join(elements))}</title><style>"
            "body{font-family:sans-serif;margin:2em;max-width:1250px}"
            ".tbl{border-collapse:collapse;font-size:13px}.tbl td,.tbl th{padding:2px 8px;"
            "border-bottom:1px solid #ddd}</style></head><body>" + "\n".join(body)
            + "</body></html>")


def _write_page(out: Path, page: str) -> Path:
    """Write ``page`` to ``out`` through a temporary file beside it (never half written)."""
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(out)
    return out

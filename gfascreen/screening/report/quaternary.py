"""A quaternary run's interactive figures (plotly): the profile along its fourth
element (each at.% level's best predicted Dmax in mm and best P(bulk glass)) and the
ternary slices at fixed at.% of it, one row per slice and one column per quantity with
one colour scale per quantity for every slice, the axes in at.% of the alloy (the three
sum to 100 minus the fourth), known alloys numbered on the slice within half a grid step
of them; a fixed size in px so the images and labels can be placed on the triangles."""

from __future__ import annotations

import html
from dataclasses import dataclass

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from gfascreen.data.labels import DMAX_COLUMN
from gfascreen.model import columns as pc
from gfascreen.screening.report.overlay import (
    KNOWN_STYLE,
    _known_groups,
    _known_labels,
    _known_traces,
    number_labels,
)
from gfascreen.screening.report.panels import _Hover, _hover_marker, _hover_rows, _panels, f32
from gfascreen.screening.report.slices import on_slice, slice_levels
from gfascreen.screening.report.subplot import (
    _add_domain_legend,
    _add_map_image,
    _axis_titles,
    _colorbar_at,
    _map_image,
    _panel_box,
    _panel_spacing,
    _subplot_key,
    _thin,
)

#: The quaternary report's slices: a fixed size (px), so the maps' images and the known
#: alloys' number labels can be placed on the triangles (see ``subplot._triangle_box``).
QUAT_WIDTH, QUAT_ROW_PX, QUAT_GAP_PX = 1200, 330, 120
QUAT_MARGIN = {"l": 90, "r": 85, "t": 200, "b": 60}
#: The profile along the fourth element: its height and margins (px, the legend in the
#: bottom one) and its x axis's range (at.%), fixed so its numbers can be placed in px.
PROFILE_HEIGHT, PROFILE_X = 380, (-2.0, 102.0)
PROFILE_MARGIN = {"l": 80, "r": 80, "t": 90, "b": 100}


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
    top = 1.08 * max(float(best.max()), float(g[DMAX_COLUMN].max()) if len(g) else 0.0, 1.0)
    if len(g):
        _profile_known(fig, g, d, top)
    for lv in levels:
        fig.add_vline(x=lv, line={"color": "#d62728", "width": 1, "dash": "dash"})
    fig.update_xaxes(title_text=f"{d} (at.%)", range=list(PROFILE_X), dtick=10)
    fig.update_yaxes(title_text="Dmax (mm)", range=[0, top], secondary_y=False)
    if p_title is not None:
        fig.update_yaxes(title_text=p_title, range=[0, 1.02], secondary_y=True,
                         showgrid=False, tickmode="linear", tick0=0, dtick=0.2)
    fig.update_layout(
        title={"text": f"Best predicted Dmax{' and P(bulk glass)' if p_title else ''} at "
                       f"each {d} at.% of {'-'.join(elements)} (dashed: the slices below)"
                       f"<br><sup>Slices {html.escape(why)}</sup>"},
        width=QUAT_WIDTH, height=PROFILE_HEIGHT, autosize=False, margin=PROFILE_MARGIN,
        legend={"orientation": "h", "y": -52 / _plot_px(PROFILE_HEIGHT, PROFILE_MARGIN, "y"),
                "yanchor": "top"})
    return fig


def _plot_px(size: int, margin: dict, axis: str) -> int:
    """The plot area's width (``axis`` "x") or height ("y") in px, the figure ``size`` px
    that way with ``margin``."""
    return size - (margin["l"] + margin["r"] if axis == "x" else margin["t"] + margin["b"])


def _profile_known(fig: go.Figure, g: pd.DataFrame, d: str, top: float) -> None:
    """The known bulk glasses ``g`` on the profile at their at.% of ``d`` and measured
    Dmax (mm; the axis from 0 to ``top``), numbered as in the table (placed apart inside
    the plot area; a number with no room is left off, its hover names it)."""
    x = g[d].fillna(0.0).to_numpy(float)
    y = g[DMAX_COLUMN].to_numpy(float)
    fig.add_trace(go.Scatter(
        x=x, y=y, mode="markers",
        name="known: bulk glass, measured Dmax (mm), numbered as in the table",
        hovertext=[f"#{r['label']} {r['composition']}: measured Dmax {r[DMAX_COLUMN]:g} mm"
                   for _, r in g.iterrows()], hoverinfo="text",
        marker={"color": "#d62728", "size": 9, "line": {"width": 1, "color": "black"}}),
        secondary_y=False)
    gw = _plot_px(QUAT_WIDTH, PROFILE_MARGIN, "x")
    gh = _plot_px(PROFILE_HEIGHT, PROFILE_MARGIN, "y")
    x0, x1 = (v * gw for v in fig.layout.xaxis.domain)  # the right axis takes a share
    xy = np.column_stack([x0 + (x - PROFILE_X[0]) / (PROFILE_X[1] - PROFILE_X[0]) * (x1 - x0),
                          (1 - y / top) * gh])
    number_labels(fig, g["label"], xy, gw, gh, np.array([[x0, 0], [x1, 0], [x1, gh], [x0, gh]]))


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
                   _Hover.of(df, elements, confidence))

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
        return _panel_spacing(QUAT_WIDTH, QUAT_MARGIN)

    def bar(self, box: tuple[float, float, float, float], left: bool = False) -> dict:
        """A colour bar beside the triangle in paper ``box`` (``left``: the known alloys'
        at the figure's left edge)."""
        return _colorbar_at(box, QUAT_WIDTH, self.height, QUAT_MARGIN, left)


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
                               colorbar=geo.bar(box, left=True))
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
    for sel, _inside, extra in _hover_rows(sl.thin, grid.dom):
        hover = grid.hover.at(sel, extra) if col == 1 else grid.value_hover(sel, v, title,
                                                                            extra)
        fig.add_trace(go.Scatterternary(
            a=f32(grid.comps[sel, 0]), b=f32(grid.comps[sel, 1]), c=f32(grid.comps[sel, 2]),
            mode="markers", showlegend=False, name=f"{title}, {grid.elements[3]} "
                                                   f"{sl.level:g} at.%", **hover,
            marker=_hover_marker(v[sel], cscale, rng, title, col not in scaled,
                                 geo.bar(box))),
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

"""A ternary run's interactive maps (plotly): one panel per quantity, each an image
of the whole grid (one value per pixel) on a triangle of a fixed figure size (px), the
hover on a thinned grid (composition in at.%, Dmax in mm), the out-of-domain region pale,
the known alloys numbered on the first panel."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from gfascreen.model import columns as pc
from gfascreen.screening.report.overlay import _known_labels, _known_traces
from gfascreen.screening.report.panels import _Hover, _hover_marker, _hover_rows, _panels, f32
from gfascreen.screening.report.subplot import (
    _add_domain_legend,
    _add_map_image,
    _axis_titles,
    _colorbar_at,
    _lattice,
    _map_image,
    _panel_box,
    _panel_spacing,
    _subplot_key,
    _thin,
)

#: The ternary report's fixed size (px): the map images are placed on the triangles by it.
TERNARY_WIDTH, TERNARY_HEIGHT = 1200, 490
#: Margins (px): room for the known alloys' colour bar (left), the last panel's colour bar
#: (right) and the legend (bottom), so plotly.js never widens them.
TERNARY_MARGIN = {"l": 90, "r": 85, "t": 80, "b": 80}


def _ternary_fig(df: pd.DataFrame, known: pd.DataFrame, elements: list[str],
                 log_color: bool, confidence: float | None, rule: str,
                 cmp: pd.DataFrame | None = None) -> go.Figure:
    """The ternary maps: each panel an image of the whole grid (one value per pixel) on
    the triangle, the hover on a thinned grid (composition and every value on the Dmax
    map, composition and its own value on the others), known alloys numbered with labels
    placed so they do not overlap."""
    panels = _panels(df, confidence, log_color)
    n = len(panels)
    fig = make_subplots(rows=1, cols=n, specs=[[{"type": "ternary"}] * n],
                        horizontal_spacing=_panel_spacing(TERNARY_WIDTH, TERNARY_MARGIN),
                        subplot_titles=[p[1] for p in panels])
    grid = _TernaryGrid.of(df, elements, confidence)
    boxes = [_ternary_panel(fig, grid, col, panel, rule)
             for col, panel in enumerate(panels, start=1)]
    if len(known):
        bar = _colorbar_at(boxes[0], TERNARY_WIDTH, TERNARY_HEIGHT, TERNARY_MARGIN, left=True)
        for t in _known_traces(known, elements, cmp, colorbar=bar):
            fig.add_trace(t, row=1, col=1)
        _known_labels(fig, known, elements, boxes[0], TERNARY_WIDTH, TERNARY_HEIGHT,
                      TERNARY_MARGIN)
    ticks = {"tickvals": [20, 40, 60, 80], "ticks": "outside"}
    for i in range(1, n + 1):
        fig.layout[_subplot_key(i)].update(**_axis_titles(elements, ticks), sum=100,
                                           bgcolor="rgba(0,0,0,0)")
    fig.update_layout(width=TERNARY_WIDTH, height=TERNARY_HEIGHT, autosize=False,
                      legend={"orientation": "h", "y": -0.02, "yanchor": "top"},
                      margin=TERNARY_MARGIN, plot_bgcolor="rgba(0,0,0,0)")
    return fig


@dataclass(frozen=True, eq=False)
class _TernaryGrid:
    """A ternary run's grid as its maps draw it: the at.% of the three elements per row
    (``abc``), in domain or not, lattice coordinates in steps of ``step`` (at.%), the rows
    that carry the hover (``thin``, indices) and the Dmax map's hover."""

    elements: list[str]
    abc: np.ndarray
    dom: np.ndarray
    lat: np.ndarray
    step: float
    thin: np.ndarray
    hover: _Hover

    @classmethod
    def of(cls, df: pd.DataFrame, elements: list[str], confidence: float | None
           ) -> _TernaryGrid:
        lat, step = _lattice(df, elements)
        return cls(list(elements), df[elements].to_numpy(dtype=float),
                   df[pc.IN_DOMAIN].to_numpy(dtype=bool), lat, step,
                   np.flatnonzero(_thin(lat)), _Hover.of(df, elements, confidence))


def _ternary_panel(fig: go.Figure, grid: _TernaryGrid, col: int,
                   panel: tuple[pd.Series, str, str, str], rule: str
                   ) -> tuple[float, float, float, float]:
    """Panel ``col``: its map image, the hover points (in and out of domain)
    coloured on its scale, and on the first the pale region's legend entry. Returns the
    triangle's paper box."""
    values, title, cscale, cmap = panel
    v = values.to_numpy(dtype=float)
    rng = ({"cmin": 0.0, "cmax": 1.0} if title.startswith("P(") else
           {"cmin": float(np.nanmin(v)), "cmax": float(np.nanmax(v))})
    box = _panel_box(fig, col, TERNARY_WIDTH, TERNARY_HEIGHT, TERNARY_MARGIN)
    bar = _colorbar_at(box, TERNARY_WIDTH, TERNARY_HEIGHT, TERNARY_MARGIN)
    _add_map_image(fig, box, _map_image(v, grid.dom, grid.lat, grid.step, cmap, rng["cmin"],
                                        rng["cmax"]))
    comp = " ".join(f"{e} %{{a}}" if k == 0 else f"{e} %{{{'bc'[k - 1]}}}"
                    for k, e in enumerate(grid.elements))
    for sel, inside, extra in _hover_rows(grid.thin, grid.dom):
        # The full hover on the Dmax map; the others show the composition and their own
        # value.
        hover = (grid.hover.at(sel, extra) if col == 1 else
                 {"hovertemplate": f"{comp}<br>{title} %{{marker.color:.2f}}{extra}"
                                   "<extra></extra>"})
        fig.add_trace(go.Scatterternary(
            a=f32(grid.abc[sel, 0]), b=f32(grid.abc[sel, 1]), c=f32(grid.abc[sel, 2]),
            mode="markers", **hover, showlegend=False,
            marker=_hover_marker(v[sel], cscale, rng, title, inside, bar)),
            row=1, col=col)
    if col == 1 and not grid.dom.all():
        _add_domain_legend(fig, rule)
    return box

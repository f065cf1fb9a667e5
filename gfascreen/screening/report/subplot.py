"""One map on a plotly ternary subplot, the pieces the ternary maps and the
quaternary slices share: the grid's lattice (in steps of at.%) and the rows thinned to
carry the hover, the map image (a PNG of the triangle, one value per pixel, out of domain
pale), where plotly.js draws a subplot's triangle (paper coordinates from the figure's
size and margins in px), the colour bars' places, the axes' titles (at.%) and the pale
region's legend entry."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

#: Most hover points per ternary panel: the hover grid is the run's, thinned to this.
HOVER_POINTS = 1400
#: Pixels of a map image's side (the image is the triangle's bounding box).
IMAGE_PX = 600


def _triangle_box(domain_x, domain_y, width: int, height: int, margin: dict
                  ) -> tuple[float, float, float, float]:
    """The paper box (x0, y0, x1, y1) plotly draws a full ternary's triangle in: the
    largest equilateral triangle centred in its domain (plotly.js ternary layout)."""
    gw = width - margin["l"] - margin["r"]
    gh = height - margin["t"] - margin["b"]
    wmax, hmax = (domain_x[1] - domain_x[0]) * gw, (domain_y[1] - domain_y[0]) * gh
    w_over_h = 2 / np.sqrt(3)
    w, h = (hmax * w_over_h, hmax) if wmax > w_over_h * hmax else (wmax, wmax / w_over_h)
    cx, cy = (domain_x[0] + domain_x[1]) / 2, (domain_y[0] + domain_y[1]) / 2
    return cx - w / gw / 2, cy - h / gh / 2, cx + w / gw / 2, cy + h / gh / 2


def _lattice(df: pd.DataFrame, elements: list[str]) -> tuple[np.ndarray, float]:
    """Lattice coordinates (a, b) of each row in grid steps, and the step (at.%)."""
    a, b, _ = elements
    vals = df[[a, b]].to_numpy(dtype=float)
    diffs = np.abs(np.diff(np.unique(vals)))
    step = float(diffs[diffs > 1e-9].min()) if (diffs > 1e-9).any() else 100.0
    return np.rint(vals / step).astype(int), step


def _map_image(values: np.ndarray, dom: np.ndarray, lat: np.ndarray, step: float,
               cmap: str, vmin: float, vmax: float, px: int = IMAGE_PX) -> str:
    """A panel's map as a PNG data URI: the triangle's bounding box, top vertex the first
    element, bottom left the second, bottom right the third (plotly's a, b, c); each
    pixel the value of its nearest grid point, out of domain pale, outside transparent."""
    import base64
    import io

    from matplotlib import colormaps
    from PIL import Image

    n = int(round(100 / step))
    table = np.full((n + 1, n + 1), np.nan)
    out = np.zeros((n + 1, n + 1), dtype=bool)
    table[lat[:, 0], lat[:, 1]] = values
    out[lat[:, 0], lat[:, 1]] = ~dom
    hpx = int(round(px * np.sqrt(3) / 2))
    x = (np.arange(px) + 0.5) / px
    y = 1 - (np.arange(hpx) + 0.5) / hpx  # image rows from the top
    X, Y = np.meshgrid(x, y)
    fa = Y  # share of a: height over the base
    fb = 1 - X - Y / 2  # share of b: towards the bottom left
    fc = 1 - fa - fb
    inside = (fa >= 0) & (fb >= 0) & (fc >= 0)
    ia = np.clip(np.rint(fa * n), 0, n).astype(int)
    ib = np.clip(np.rint(fb * n), 0, n - ia).astype(int)
    v = table[ia, ib]
    ok = inside & np.isfinite(v)
    norm = np.clip((v - vmin) / (vmax - vmin if vmax > vmin else 1.0), 0, 1)
    rgba = colormaps[cmap](np.where(ok, norm, 0.0))
    pale = out[ia, ib] & ok
    rgba[pale, :3] = 0.3 * rgba[pale, :3] + 0.7  # out of domain: pale, as the legend says
    rgba[..., 3] = ok
    img = Image.fromarray((rgba * 255).astype(np.uint8), "RGBA")
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _thin(lat: np.ndarray, limit: int = HOVER_POINTS) -> np.ndarray:
    """Rows of a coarser sub-grid (every k-th lattice line, k as small as keeps at most
    ``limit`` points) that carry the hover."""
    for k in range(1, 200):
        keep = np.all(lat % k == 0, axis=1)
        if keep.sum() <= limit:
            return keep
    return keep


def _subplot_key(i: int) -> str:
    """The layout key of the ``i``-th ternary subplot (1-based, row by row)."""
    return "ternary" if i == 1 else f"ternary{i}"


#: Px between two panels' triangles: room for the first's right-hand axis title and the
#: next's left-hand one (under the corners), or for the first's colour bar (beside it).
PANEL_GAP_PX = 125
#: A colour bar's thickness (px) and the share of its triangle's height it spans, from the
#: top down, so that it stays clear of the axis titles under the corners.
COLORBAR_PX, COLORBAR_SHARE = 14, 0.7


def _panel_spacing(width: int, margin: dict) -> float:
    """The horizontal spacing (paper) of :data:`PANEL_GAP_PX` between panels of a figure
    ``width`` px wide with ``margin`` (px)."""
    return PANEL_GAP_PX / (width - margin["l"] - margin["r"])


def _colorbar_at(box: tuple[float, float, float, float], width: int, height: int,
                 margin: dict, left: bool = False) -> dict:
    """A colour bar beside a triangle (paper ``box``, the figure ``width`` x ``height`` px
    with ``margin``): just right of it, or with ``left`` at the figure's left edge (the
    known alloys' scale); level with its top, :data:`COLORBAR_SHARE` of its height long.
    Inside the figure, so plotly.js never widens a margin (that would move the triangles
    off the images and labels placed on them)."""
    gw = width - margin["l"] - margin["r"]
    gh = height - margin["t"] - margin["b"]
    x = -(margin["l"] - 16) / gw if left else box[2] + 6 / gw
    return {"x": x, "xanchor": "left", "y": box[3], "yanchor": "top", "lenmode": "pixels",
            "len": COLORBAR_SHARE * (box[3] - box[1]) * gh, "thickness": COLORBAR_PX,
            "xpad": 4}


def _panel_box(fig: go.Figure, i: int, width: int, height: int, margin: dict
               ) -> tuple[float, float, float, float]:
    """The paper box of the ``i``-th ternary subplot's triangle, the figure ``width`` x
    ``height`` px with ``margin`` (px)."""
    lay = fig.layout[_subplot_key(i)]
    return _triangle_box(lay.domain.x, lay.domain.y, width, height, margin)


def _add_map_image(fig: go.Figure, box: tuple[float, float, float, float], source: str
                   ) -> None:
    """A map image (data URI) stretched over a triangle's paper ``box``, below the traces."""
    fig.add_layout_image(source=source, xref="paper", yref="paper", x=box[0], y=box[3],
                         sizex=box[2] - box[0], sizey=box[3] - box[1], xanchor="left",
                         yanchor="top", sizing="stretch", layer="below")


def _add_domain_legend(fig: go.Figure, rule: str) -> None:
    """The legend entry of the pale (out-of-domain) region, ``rule`` in words."""
    fig.add_trace(go.Scatterternary(
        a=[None], b=[None], c=[None], mode="markers", name=rule,
        marker={"color": "#e6e6e6", "symbol": "square", "size": 12},
        showlegend=True), row=1, col=1)


def _axis_titles(elements: list[str], ticks: dict) -> dict:
    """A ternary subplot's three axes: titled with their element (at.%), with ``ticks``."""
    a, b, c = elements[:3]
    return {"aaxis": {"title": f"{a} (at.%)", **ticks},
            "baxis": {"title": f"{b} (at.%)", **ticks},
            "caxis": {"title": f"{c} (at.%)", **ticks}}

"""A ternary run's static maps, ``map.png`` (200 dpi) and with ``svg`` ``map.svg``
(python-ternary on matplotlib): one heat map per quantity in the HTML's orientation, out
of domain dotted grey, known alloys numbered as in the report's table, the axes in at.%;
a grid finer than 1 at.% is drawn at 1 at.%."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from gfascreen.model import columns as pc
from gfascreen.screening.report.labels import label_sizes, place_labels
from gfascreen.screening.report.overlay import KNOWN_STYLE, _known_groups
from gfascreen.screening.report.panels import _panels

#: The static maps' resolution (dots per inch): the PNG's, and the SVG's image layers'.
STATIC_DPI = 200


def _static_maps(df: pd.DataFrame, known: pd.DataFrame, elements: list[str], step: float,
                 outdir: Path, confidence: float | None, svg: bool = False) -> list[Path]:
    """PNG (and, when asked, SVG) maps with the HTML's orientation (first element at the
    top, second bottom left, third bottom right); out-of-domain cells dotted grey; known
    alloys numbered as in the report's table."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    df, step = _static_grid(df, elements, step)
    points = _TernaryPoints(tuple(elements), step)
    panels = _panels(df, confidence)
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4.8))
    for ax, (values, title, _, cmap) in zip(axes, panels, strict=True):
        _static_panel(fig, ax, df, values, title, cmap, points,
                      known if ax is axes[0] else None)
    fig.tight_layout()
    paths = _save_static(fig, outdir, svg)
    plt.close(fig)
    return paths


def _static_grid(df: pd.DataFrame, elements: list[str], step: float
                 ) -> tuple[pd.DataFrame, float]:
    """The grid the static maps draw and its step (at.%): a run finer than 1 at.% drawn at
    1 at.% (it keeps the drawing quick; every 1 at.% point is on the grid)."""
    if step < 1.0:
        on = np.all(np.isclose(df[elements].to_numpy() % 1.0, 0.0), axis=1)
        return df[on], 1.0
    return df, step


@dataclass(frozen=True)
class _TernaryPoints:
    """python-ternary's points of rows of at.% of the three ``elements``, in grid steps of
    ``step`` (at.%): (i, j, k), i growing to the bottom right, j to the top, k to the
    bottom left."""

    elements: tuple[str, ...]
    step: float

    @property
    def scale(self) -> int:
        """Grid steps along a side of the triangle."""
        return int(round(100 / self.step))

    def __call__(self, t: pd.DataFrame) -> np.ndarray:
        a, b, c = self.elements
        return t[[c, a, b]].to_numpy(dtype=float) / self.step


def _static_panel(fig, ax, df: pd.DataFrame, values: pd.Series, title: str, cmap: str,
                  points: _TernaryPoints, known: pd.DataFrame | None) -> None:
    """One static map on ``ax``: the heat map of ``values``, the out-of-domain points
    dotted grey, ``known`` alloys (when given) numbered, the axes in at.%."""
    import ternary

    pts = np.rint(points(df)).astype(int)
    _, tax = ternary.figure(ax=ax, scale=points.scale)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        _heatmap(fig, ax, pts, values.to_numpy(dtype=float), cmap, title)
        out = ~df[pc.IN_DOMAIN].to_numpy(dtype=bool)
        if out.any():
            tax.scatter(points(df[out]).tolist(), marker=".", s=2, color="#bbbbbb",
                        label="out of domain", zorder=4, rasterized=True)
        if known is not None and len(known):
            _static_known(tax, known, points)
    _static_axes(tax, points.elements, points.scale)
    ax.set_title(title, fontsize=10)


def _static_axes(tax, elements: tuple[str, ...], scale: int) -> None:
    """A static map's frame: the triangle's boundary, axis labels and ticks (at.%) and the
    legend, matplotlib's own axes hidden."""
    a, b, c = elements
    tax.boundary(linewidth=1.0)
    tax.right_axis_label(f"{a} (at.%)", fontsize=9, offset=0.16)
    tax.left_axis_label(f"{b} (at.%)", fontsize=9, offset=0.16)
    tax.bottom_axis_label(f"{c} (at.%)", fontsize=9, offset=0.06)
    tax.ticks(axis="lbr", ticks=[f"{v:g}" for v in range(20, 100, 20)],
              locations=[scale * v / 100 for v in range(20, 100, 20)], linewidth=1,
              fontsize=7, offset=0.025)
    with warnings.catch_warnings():  # a panel without out-of-domain or known points
        warnings.simplefilter("ignore", UserWarning)
        tax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(-0.05, 1.02))
    tax.clear_matplotlib_ticks()
    tax.get_axes().axis("off")


def _save_static(fig, outdir: Path, svg: bool) -> list[Path]:
    """``outdir/map.png`` and, with ``svg``, ``map.svg``: both at :data:`STATIC_DPI`,
    the SVG's text, axes and markers as vectors and its dense layers (the heat maps, the
    out-of-domain dots) as images at that resolution (at 2 at.%, 12.6 MB of SVG paths and
    gradients before)."""
    paths = []
    for ext in ("png", "svg") if svg else ("png",):
        p = outdir / f"map.{ext}"
        fig.savefig(p, dpi=STATIC_DPI)
        paths.append(p)
    return paths


def _heatmap(fig, ax, pts: np.ndarray, values: np.ndarray, cmap, title: str) -> None:
    """One colour-interpolated mesh over the grid's points (python-ternary's projection:
    x = i + j/2, y = j·√3/2), with its colour bar: one matplotlib collection instead of a
    patch per grid triangle (at 1 at.%, 15 s -> well under a second per map)."""
    from matplotlib.tri import Triangulation

    x = pts[:, 0] + pts[:, 1] / 2.0
    y = pts[:, 1] * np.sqrt(3.0) / 2.0
    tri = Triangulation(x, y)
    ok = np.isfinite(values)
    if not ok.any():
        return
    tri.set_mask(~ok[tri.triangles].all(axis=1))
    lim = {"vmin": 0.0, "vmax": 1.0} if title.startswith("P(") else {}
    mesh = ax.tripcolor(tri, np.where(ok, values, 0.0), cmap=cmap, shading="gouraud",
                        rasterized=True, **lim)
    fig.colorbar(mesh, ax=ax, label=title, shrink=0.8)


def tax_point(p) -> tuple[float, float]:
    """python-ternary's (i, j, k) point in the axes' data coordinates."""
    from ternary.helpers import project_point

    return tuple(project_point(p))


def _static_known(tax, known: pd.DataFrame, ijk) -> None:
    style = {"bmg": {"marker": "o", "facecolors": "#d62728", "edgecolors": "black"},
             "bmg_nodmax": {"marker": "o", "facecolors": "none", "edgecolors": "black"},
             "ribbon": {"marker": "D", "color": "#555555"},
             "crystal": {"marker": "x", "color": "#d62728"}}
    for key, g in _known_groups(known):
        tax.scatter(ijk(g).tolist(), s=24, label=KNOWN_STYLE[key]["name"], zorder=5,
                    linewidths=1.0, **style[key])
    _static_numbers(tax, known, ijk)


def _static_numbers(tax, known: pd.DataFrame, ijk: _TernaryPoints) -> None:
    """The numbers of the report's table beside the known alloys' markers, placed apart
    inside the triangle (:func:`place_labels`, in display px with y down; the offsets in
    points); a number with no room is left off."""
    ax = tax.get_axes()
    if not len(known):
        return
    ax.figure.canvas.draw()
    pt = 72.0 / ax.figure.dpi  # points per display px
    pts = np.array([tax_point(p) for p in ijk(known).tolist()])
    s = ijk.scale
    corners = [tax_point(p) for p in ((s, 0, 0), (0, s, 0), (0, 0, s))]
    flip = np.array([1.0, -1.0])  # matplotlib's y grows upwards
    offs = place_labels(ax.transData.transform(pts) * flip,
                        label_sizes(known["label"], 3.6 / pt, 8.0 / pt),
                        ax.transData.transform(corners) * flip, marker_px=3.5 / pt)
    for t, p, (dx, dy) in zip(known["label"], pts, offs, strict=True):
        if np.isfinite(dx):
            ax.annotate(str(t), p, xytext=(dx * pt, -dy * pt), textcoords="offset points",
                        fontsize=6, ha="center", va="center", zorder=6,
                        arrowprops={"arrowstyle": "-", "lw": 0.4, "color": "#444"})

"""Known alloys over the maps: numbered by measured Dmax (mm), their plotly
markers by kind (bulk glass with and without a measured Dmax, ribbon-only glass,
crystal) with what was measured beside the model's prediction in the hover, their number
labels placed apart (px; the static maps use the same placement), and the measured vs
predicted table at each one's nearest grid point (at.%, mm)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from gfascreen.data.labels import DMAX_COLUMN
from gfascreen.model import columns as pc
from gfascreen.screening.report.panels import _has_interval


def _fmt_comp(row, elements) -> str:
    return "".join(f"{e}{row[e]:.4g}" for e in elements if row[e] > 0)


#: Known-alloy markers: bulk glasses with a measured Dmax get their own colour scale.
KNOWN_STYLE = {
    "bmg": {"symbol": "circle", "name": "bulk glass, measured Dmax"},
    "bmg_nodmax": {"symbol": "circle-open", "name": "bulk glass, no measured Dmax",
                   "color": "black"},
    "ribbon": {"symbol": "diamond", "name": "ribbon-only glass", "color": "#555555"},
    "crystal": {"symbol": "x", "name": "crystal", "color": "#d62728"},
}


def _known_groups(known: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    cls = known["gfa_class"].astype(str)
    groups = [("bmg", known[(cls == "bmg") & known[DMAX_COLUMN].notna()]),
              ("bmg_nodmax", known[(cls == "bmg") & known[DMAX_COLUMN].isna()]),
              ("ribbon", known[cls == "ribbon"]), ("crystal", known[cls == "crystal"])]
    return [(k, g) for k, g in groups if len(g)]


def _known_hover(r, name: str, cmp: pd.DataFrame | None) -> str:
    """A known alloy's hover: what was measured (class, Dmax, sources) beside the model's
    own prediction at its grid point (``cmp``: :func:`_compare_known`'s rows indexed by
    number)."""
    txt = (f"#{r['label']} {r['composition']}<br>measured: {name}"
           + ("" if pd.isna(r[DMAX_COLUMN]) else f", Dmax {r[DMAX_COLUMN]:g} mm")
           + (f" ({r['sources']})" if isinstance(r.get("sources"), str) else ""))
    if cmp is not None and len(cmp):
        p = cmp.loc[r["label"]]
        txt += (f"<br>predicted: Dmax {p['predicted_mm']:.2f} mm"
                + ("" if pd.isna(p[pc.P_BMG]) else f", P(bmg) {p[pc.P_BMG]:.2f}")
                + ("" if p["grid_point"] == r["composition"]
                   else f" (nearest grid point {p['grid_point']})"))
    return txt


def _known_traces(known: pd.DataFrame, elements: list[str], cmp: pd.DataFrame | None = None,
                  cmax: float | None = None, colorbar: dict | None = None
                  ) -> list[go.Scatterternary]:
    """Known alloys, numbered as in the table under the map (labels offset, no jitter);
    the hover shows what was measured beside the prediction. ``elements``: the three of the
    triangle (a quaternary slice's alloys are drawn at their share of the three);
    ``cmax``: the top of the measured-Dmax colour scale (default: these alloys' best)."""
    a, b, c = elements
    traces = []
    cmp = cmp.set_index("#") if cmp is not None and len(cmp) else cmp
    for key, g in _known_groups(known):
        st = KNOWN_STYLE[key]
        txt = [_known_hover(r, st["name"], cmp) for _, r in g.iterrows()]
        marker = {"symbol": st["symbol"], "size": 11, "line": {"width": 1.5, "color": "black"}}
        if key == "bmg":
            top = known[DMAX_COLUMN].max() if cmax is None else cmax
            marker |= {"color": g[DMAX_COLUMN], "colorscale": "Reds", "cmin": 0,
                       "cmax": float(max(top, 1e-6)),
                       "colorbar": {"title": {"text": "measured Dmax (mm)", "side": "right"},
                                    **(colorbar or {"x": -0.12, "len": 0.5, "y": 0.3})}}
        else:
            marker |= {"color": st["color"]}
            if key == "crystal":
                marker["line"] = {"width": 1, "color": st["color"]}
        traces.append(go.Scatterternary(
            a=g[a], b=g[b], c=g[c], mode="markers", hovertext=txt, hoverinfo="text",
            name=f"known: {st['name']} ({len(g)})", marker=marker))
    return traces


def _place_labels(xy: np.ndarray, size_px: float = 14.0) -> np.ndarray:
    """Label offsets (px, screen y down) beside points ``xy`` (px), greedy in order: the
    first of rings of candidate positions whose box overlaps no label placed so far and
    no point, so number labels do not overlap (a leader line joins the far ones)."""
    placed: list[tuple[float, float]] = []
    out = np.zeros_like(xy, dtype=float)
    angles = np.deg2rad([45, 135, -45, -135, 90, -90, 0, 180, 22, 158, -22, -158])
    for i, (x, y) in enumerate(xy):
        best = None
        for r in (16, 24, 34, 46, 60, 76):
            for t in angles:
                dx, dy = r * np.cos(t), -r * np.sin(t)
                cx, cy = x + dx, y + dy
                if any(abs(cx - px) < size_px and abs(cy - py) < size_px * 0.8
                       for px, py in placed):
                    continue
                if np.any((np.abs(xy[:, 0] - cx) < size_px * 0.6)
                          & (np.abs(xy[:, 1] - cy) < size_px * 0.5)):
                    continue
                best = (dx, dy)
                break
            if best is not None:
                break
        best = best or (12.0, -12.0)
        placed.append((x + best[0], y + best[1]))
        out[i] = best
    return out


def _known_labels(fig: go.Figure, known: pd.DataFrame, elements: list[str], box,
                  width: int, height: int, margin: dict) -> None:
    """The known alloys' numbers as annotations beside their markers, placed by
    :func:`_place_labels` (a short leader line where a number had to move away); a
    figure of ``width`` x ``height`` px with ``margin``, the triangle in paper ``box``,
    each alloy at its share of the three ``elements`` (as plotly draws it)."""
    a, b, c = elements
    gw = width - margin["l"] - margin["r"]
    gh = height - margin["t"] - margin["b"]
    abc = known[[a, b, c]].fillna(0.0).to_numpy(float)
    total = np.where(abc.sum(1) > 0, abc.sum(1), 1.0)
    fa, fb = abc[:, 0] / total, abc[:, 1] / total
    px_x = (box[0] + (1 - fb - fa / 2) * (box[2] - box[0])) * gw
    px_y = (1 - (box[1] + fa * (box[3] - box[1]))) * gh
    offs = _place_labels(np.column_stack([px_x, px_y]))
    for (_, r), x0, y0, (dx, dy) in zip(known.iterrows(), px_x, px_y, offs, strict=True):
        fig.add_annotation(x=x0 / gw, y=1 - y0 / gh, xref="paper", yref="paper",
                           text=str(r["label"]), showarrow=True, ax=dx, ay=dy,
                           arrowwidth=0.6, arrowhead=0, arrowcolor="#444",
                           font={"size": 11, "color": "black"}, standoff=5, startstandoff=0,
                           bgcolor="rgba(255,255,255,0.75)", borderpad=1)


def _compare_known(df: pd.DataFrame, known: pd.DataFrame, elements: list[str]
                   ) -> pd.DataFrame:
    """Measured vs predicted for known alloys (nearest grid point)."""
    if not len(known):
        return pd.DataFrame()
    grid = df[elements].to_numpy()
    interval = _has_interval(df)
    out = []
    for _, r in known.iterrows():
        v = np.array([r[e] for e in elements])
        i = int(np.abs(grid - v).sum(1).argmin())
        out.append({"#": r["label"], "composition": r["composition"],
                    "class": str(r["gfa_class"]), "measured_mm": r[DMAX_COLUMN],
                    "source": r.get("sources", ""),
                    "predicted_mm": df[pc.DMAX_MM].iloc[i],
                    "interval_mm": (f"{df[pc.DMAX_LO].iloc[i]:.2f}-{df[pc.DMAX_HI].iloc[i]:.2f}"
                                    if interval else "-"),
                    "at_least_mm": df[pc.DMAX_AT_LEAST].iloc[i]
                    if pc.DMAX_AT_LEAST in df.columns else np.nan,
                    pc.P_BMG: df[pc.P_BMG].iloc[i] if pc.P_BMG in df.columns else np.nan,
                    "spread_mm": df[pc.DMAX_STD].iloc[i],
                    pc.IN_DOMAIN: df[pc.IN_DOMAIN].iloc[i],
                    "grid_point": _fmt_comp(df.iloc[i], elements)})
    return pd.DataFrame(out)


def _number_known(known: pd.DataFrame) -> pd.DataFrame:
    """Known alloys sorted by measured Dmax (unmeasured last), numbered 1.. for the map."""
    if not len(known):
        return known
    k = known.sort_values([DMAX_COLUMN, "composition"], ascending=[False, True],
                          na_position="last").reset_index(drop=True)
    return k.assign(label=np.arange(1, len(k) + 1))

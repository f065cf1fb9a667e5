"""Known alloys over the maps: numbered by measured Dmax (mm), their plotly
markers by kind (bulk glass with and without a measured Dmax, ribbon-only glass,
crystal) with what was measured beside the model's prediction in the hover, their number
labels placed apart (px; the static maps use the same placement), and the measured vs
predicted table, the prediction at each one's own composition (at.%, mm)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from gfascreen.data.labels import DMAX_COLUMN
from gfascreen.errors import GfaError
from gfascreen.model import columns as pc
from gfascreen.screening.report.labels import label_sizes, place_labels
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
    own prediction (``cmp``: :func:`_compare_known`'s rows indexed by number)."""
    txt = (f"#{r['label']} {r['composition']}<br>measured: {name}"
           + ("" if pd.isna(r[DMAX_COLUMN]) else f", Dmax {r[DMAX_COLUMN]:g} mm")
           + (f" ({r['sources']})" if isinstance(r.get("sources"), str) else ""))
    if cmp is not None and len(cmp):
        p = cmp.loc[r["label"]]
        txt += (f"<br>predicted: Dmax {p['predicted_mm']:.2f} mm"
                + ("" if pd.isna(p[pc.P_BMG]) else f", P(bmg) {p[pc.P_BMG]:.2f}")
                + ("" if p["predicted_at"] == OWN
                   else f" (at the nearest grid point {p['predicted_at']})"))
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


def _triangle_px(box, gw: float, gh: float) -> np.ndarray:
    """The corners (top, bottom left, bottom right; px from the plot area's top left, y
    down) of the triangle in paper ``box`` on a plot area ``gw`` x ``gh`` px."""
    x0, x1 = box[0] * gw, box[2] * gw
    top, base = (1 - box[3]) * gh, (1 - box[1]) * gh
    return np.array([[(x0 + x1) / 2, top], [x0, base], [x1, base]])


def number_labels(fig: go.Figure, labels, xy: np.ndarray, gw: float, gh: float,
                  area: np.ndarray | None) -> list:
    """Number ``labels`` beside points ``xy`` (px from the top left of a plot area ``gw``
    x ``gh`` px, y down) as annotations with a leader line to each point, placed apart
    inside ``area`` (px) by :func:`~gfascreen.screening.report.labels.place_labels`.
    Returns the labels left off for want of room."""
    labels = list(labels)
    offs = place_labels(xy, label_sizes(labels), area)
    for t, (x0, y0), (dx, dy) in zip(labels, xy, offs, strict=True):
        if np.isfinite(dx):
            fig.add_annotation(x=x0 / gw, y=1 - y0 / gh, xref="paper", yref="paper",
                               text=str(t), showarrow=True, ax=dx, ay=dy, arrowwidth=0.6,
                               arrowhead=0, arrowcolor="#444",
                               font={"size": 11, "color": "black"}, standoff=5,
                               startstandoff=0, bgcolor="rgba(255,255,255,0.75)",
                               borderpad=1)
    return [t for t, (dx, _) in zip(labels, offs, strict=True) if not np.isfinite(dx)]


def _known_labels(fig: go.Figure, known: pd.DataFrame, elements: list[str], box,
                  width: int, height: int, margin: dict) -> list:
    """The known alloys' numbers beside their markers (:func:`number_labels`, inside the
    triangle); a figure of ``width`` x ``height`` px with ``margin``, the triangle in paper
    ``box``, each alloy at its share of the three ``elements`` (as plotly draws it).
    Returns the numbers left off."""
    a, b, c = elements
    gw = width - margin["l"] - margin["r"]
    gh = height - margin["t"] - margin["b"]
    abc = known[[a, b, c]].fillna(0.0).to_numpy(float)
    total = np.where(abc.sum(1) > 0, abc.sum(1), 1.0)
    fa, fb = abc[:, 0] / total, abc[:, 1] / total
    px_x = (box[0] + (1 - fb - fa / 2) * (box[2] - box[0])) * gw
    px_y = (1 - (box[1] + fa * (box[3] - box[1]))) * gh
    return number_labels(fig, known["label"], np.column_stack([px_x, px_y]), gw, gh,
                         _triangle_px(box, gw, gh))


#: ``predicted_at`` of a known alloy predicted at its own composition.
OWN = "its composition"


def _nearest_rows(df: pd.DataFrame, known: pd.DataFrame, elements: list[str]
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Each known alloy's nearest grid row (index) and its L1 distance to it (at.%)."""
    grid = df[elements].to_numpy(dtype=float)
    idx, dist = np.empty(len(known), dtype=int), np.empty(len(known))
    for k, v in enumerate(known[elements].fillna(0.0).to_numpy(dtype=float)):
        d = np.abs(grid - v).sum(1)  # one alloy at a time: a grid of millions fits
        idx[k] = int(d.argmin())
        dist[k] = d[idx[k]]
    return idx, dist


def _known_predictions(df: pd.DataFrame, known: pd.DataFrame, elements: list[str],
                       run: dict | None) -> tuple[pd.DataFrame, list[str], str]:
    """The predictions at each known alloy's own composition: the grid's where it holds
    it, the run's model's for the others (:func:`own_predictions`, loaded only then); the
    nearest grid point's where there is no ``run`` or its model cannot score them. Returns
    them (one row per alloy), where each is from (:data:`OWN` or that grid point) and why
    any is a grid point's ("" when none is)."""
    idx, dist = _nearest_rows(df, known, elements)
    rows = df.iloc[idx].reset_index(drop=True)
    off = dist > 1e-6
    at = [OWN if not o else _fmt_comp(r, elements) for o, (_, r) in zip(off, rows.iterrows(),
                                                                         strict=True)]
    why = "no run to score them with"
    if off.any() and run is not None:
        own, why = own_predictions(run, known[off])
        if own is not None:
            cols = [c for c in rows.columns if c in own.columns]
            rows.loc[off, cols] = own[cols].to_numpy()
            at = [OWN] * len(known)
    return rows, at, "" if all(a == OWN for a in at) else why


def _compare_known(df: pd.DataFrame, known: pd.DataFrame, elements: list[str],
                   run: dict | None = None) -> pd.DataFrame:
    """Measured vs predicted (mm) for the known alloys, the prediction at each one's own
    composition (:func:`_known_predictions`; column ``predicted_at``, and
    ``attrs["note"]`` says why where it is the nearest grid point's)."""
    if not len(known):
        return pd.DataFrame()
    p, at, note = _known_predictions(df, known, elements, run)
    nan = pd.Series(np.nan, index=p.index)
    out = pd.DataFrame({
        "#": known["label"].to_numpy(), "composition": known["composition"].to_numpy(),
        "class": known["gfa_class"].astype(str).to_numpy(),
        "measured_mm": known[DMAX_COLUMN].to_numpy(),
        "source": known["sources"].to_numpy() if "sources" in known else "",
        "predicted_mm": p[pc.DMAX_MM],
        "interval_mm": ([f"{lo:.2f}-{hi:.2f}" for lo, hi in zip(p[pc.DMAX_LO], p[pc.DMAX_HI],
                                                               strict=True)]
                        if _has_interval(df) else "-"),
        "at_least_mm": p.get(pc.DMAX_AT_LEAST, nan), pc.P_BMG: p.get(pc.P_BMG, nan),
        "spread_mm": p[pc.DMAX_STD], pc.IN_DOMAIN: p[pc.IN_DOMAIN].astype(bool),
        "predicted_at": at})
    out.attrs["note"] = note
    return out


def _number_known(known: pd.DataFrame) -> pd.DataFrame:
    """Known alloys sorted by measured Dmax (unmeasured last), numbered 1.. for the map."""
    if not len(known):
        return known
    k = known.sort_values([DMAX_COLUMN, "composition"], ascending=[False, True],
                          na_position="last").reset_index(drop=True)
    return k.assign(label=np.arange(1, len(k) + 1))


def own_predictions(run: dict, known: pd.DataFrame) -> tuple[pd.DataFrame | None, str]:
    """The predictions of a screening run's model at the ``known`` alloys' own
    compositions (one row each, in order), with the run's interval confidence and
    P(Dmax >= T) thresholds (mm): by the ensemble this process already holds for that model
    (a screen writing its report), else loaded once on the CPU. None, and why, when the
    model cannot be opened or is no longer the one the run was screened with."""
    from gfascreen.model.columns import DEFAULT_THRESHOLDS_MM
    from gfascreen.model.statement_options import DEFAULT_CONFIDENCE
    from gfascreen.screening.score import held, load_cached

    path = run["model"]["path"]
    try:
        ens = held(path) or load_cached(path, "cpu")
    except GfaError as exc:
        return None, f"the run's model could not be opened: {exc}"
    if ens.hash != run["model"]["hash"]:
        return None, f"the model at {path} is no longer the one this run was screened with"
    iv = run.get("interval", {})
    return ens.predict(known["composition"].tolist(),
                       confidence=iv.get("confidence") or DEFAULT_CONFIDENCE,
                       thresholds_mm=tuple(iv.get("thresholds_mm") or DEFAULT_THRESHOLDS_MM)
                       ), ""

"""Screening run -> report: the one place where a grid's scores become maps.

``write_report(run_dir)`` writes ``run_dir/_report/report.html`` (self-contained, plotly.js
embedded, opens offline) and, for ternaries, ``map.png`` / ``map.svg`` (python-ternary on
matplotlib). Known alloys of the system from the training table are drawn on top, coloured
by measured Dmax, with crystals and ribbons marked differently.
"""

from __future__ import annotations

import html
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from gfascreen.errors import GfaError

MARKERS = {"crystal": "x", "ribbon": "diamond-open", "bmg": "circle"}


def _load_run(run_dir: Path) -> tuple[pd.DataFrame, dict, dict]:
    from gfascreen.screening.run import read_run_table

    if not (run_dir / "_run.json").is_file():
        raise GfaError(f"{run_dir} is not a screening run (no _run.json); run `screen` first")
    if not (run_dir / "_summary.json").is_file():
        raise GfaError(f"{run_dir} is unfinished; complete it with `screen ... --resume`")
    try:
        run = json.loads((run_dir / "_run.json").read_text())
        summary = json.loads((run_dir / "_summary.json").read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise GfaError(f"{run_dir}: _run.json or _summary.json is damaged") from None
    return read_run_table(run_dir), run, summary


def known_alloys(run: dict, elements: list[str], data: str | Path | None = None
                 ) -> tuple[pd.DataFrame, str]:
    """Known alloys of the system and where they come from: the training alloys the model
    carries (offline, no training table needed), or the table ``data`` when given."""
    from gfascreen.model.saved import ModelDir

    system = "-".join(sorted(elements))
    if data:
        if not Path(data).is_file():
            raise GfaError(f"--data {data} not found; build it with `gfascreen data build`")
        table, source = pd.read_parquet(data), f"the training table {Path(data).name}"
    else:
        try:
            table = ModelDir(run["model"]["path"]).known_alloys()
        except GfaError as exc:
            print(f"note: no known alloys on the map ({exc})", file=sys.stderr)
            return pd.DataFrame(), "no source (the run's model could not be opened)"
        if table is None:
            return pd.DataFrame(), "no source (the model carries no training alloys)"
        source = f"the {len(table):,} training alloys the model carries"
    return table[table["system"] == system].copy(), source


def _fmt_comp(row, elements) -> str:
    return "".join(f"{e}{row[e]:.4g}" for e in elements if row[e] > 0)


def _hover(df: pd.DataFrame, elements: list[str]) -> list[str]:
    """Hover text per grid point: composition (at.%), Dmax ± spread (mm), class odds."""
    def fmt(col: str, spec: str) -> pd.Series:
        return df[col].map(spec.format)

    s = pd.Series("", index=df.index)
    for k, e in enumerate(elements):
        s = s + ("" if k == 0 else " ") + e + fmt(e, "{:g}")
    s = s + "<br>Dmax " + fmt("dmax_mm", "{:.2f}") + " ± " + fmt("dmax_std", "{:.2f}") + " mm"
    probs = [c for c in df.columns if c.startswith("p_")]
    for k, p in enumerate(probs):
        s = s + ("<br>" if k == 0 else ", ") + p[2:] + " " + fmt(p, "{:.2f}")
    s = s + np.where(df["in_domain"].to_numpy(dtype=bool), "", "<br>(out of domain)")
    return s.tolist()


def _ternary_fig(df: pd.DataFrame, known: pd.DataFrame, elements: list[str],
                 log_color: bool) -> go.Figure:
    a, b, c = elements
    fig = make_subplots(rows=1, cols=2, specs=[[{"type": "ternary"}, {"type": "ternary"}]],
                        horizontal_spacing=0.12)
    per_side = 100.0 / max(float(df[a].diff().abs().replace(0, np.nan).min() or 1.0), 1e-9)
    msize = float(np.clip(1.25 * 420 / per_side, 2.5, 14))
    hover = _hover(df, elements)
    zval = np.log10(df["dmax_mm"] + 0.01) if log_color else df["dmax_mm"]
    ctitle = "predicted log10 Dmax (mm)" if log_color else "predicted Dmax (mm)"
    for col, (values, title, cscale, x) in enumerate(
            [(zval, ctitle, "Viridis", 0.43),
             (df["dmax_std"], "ensemble spread (mm)", "Magma", 1.0)],
            start=1):
        fig.add_trace(go.Scatterternary(
            a=df[a], b=df[b], c=df[c], mode="markers", hovertext=hover, hoverinfo="text",
            marker={"color": values, "colorscale": cscale, "size": msize,
                    "symbol": "hexagon",
                    "colorbar": {"title": {"text": title, "side": "right"}, "x": x,
                                 "len": 0.8}},
            name="grid", showlegend=False), row=1, col=col)
    if len(known):
        for cls, g in known.groupby("gfa_class", observed=True):
            txt = [f"{r['composition']}<br>{cls}, measured Dmax "
                   + ("n/a" if pd.isna(r["dmax_mm"]) else f"{r['dmax_mm']:g} mm")
                   for _, r in g.iterrows()]
            fig.add_trace(go.Scatterternary(
                a=g[a], b=g[b], c=g[c], mode="markers", hovertext=txt, hoverinfo="text",
                name=f"known {cls} ({len(g)})",
                marker={"symbol": MARKERS.get(str(cls), "circle"), "size": 9,
                        "color": g["dmax_mm"].fillna(0) if cls == "bmg" else "white",
                        "colorscale": "Viridis", "cmin": float(df["dmax_mm"].min()),
                        "cmax": float(max(df["dmax_mm"].max(), 1e-6)),
                        "line": {"width": 1.5, "color": "black" if cls != "crystal" else "red"}}),
                row=1, col=1)
    for i in (1, 2):
        key = "ternary" if i == 1 else "ternary2"
        fig.layout[key].update(
            aaxis={"title": f"{a} (at.%)", "min": 0, "ticksuffix": ""},
            baxis={"title": f"{b} (at.%)"}, caxis={"title": f"{c} (at.%)"}, sum=100)
    fig.update_layout(height=560, legend={"orientation": "h", "y": -0.1},
                      margin={"l": 40, "r": 40, "t": 60, "b": 40})
    return fig


def _quaternary_figs(df: pd.DataFrame, elements: list[str], log_color: bool) -> list[go.Figure]:
    a, b, c, d = elements[:4]
    # Barycentric -> 3D coordinates of a regular tetrahedron.
    verts = np.array([[0, 0, 0], [1, 0, 0], [0.5, np.sqrt(3) / 2, 0],
                      [0.5, np.sqrt(3) / 6, np.sqrt(2 / 3)]])
    w = df[[a, b, c, d]].to_numpy() / 100.0
    xyz = w @ verts
    sub = df["dmax_mm"] >= df["dmax_mm"].quantile(0.5)
    zval = np.log10(df["dmax_mm"] + 0.01) if log_color else df["dmax_mm"]
    tet = go.Figure(go.Scatter3d(
        x=xyz[sub, 0], y=xyz[sub, 1], z=xyz[sub, 2], mode="markers",
        hovertext=np.array(_hover(df, elements))[sub.to_numpy()], hoverinfo="text",
        marker={"size": 2, "color": zval[sub], "colorscale": "Viridis",
                "colorbar": {"title": "Dmax (mm)"}}))
    for v, name in zip(verts, elements[:4], strict=True):
        tet.add_trace(go.Scatter3d(x=[v[0]], y=[v[1]], z=[v[2]], mode="text", text=[name],
                                   showlegend=False))
    tet.update_layout(title=f"Upper half of predicted Dmax inside the {'-'.join(elements)} "
                      "tetrahedron", height=600, showlegend=False)
    figs = [tet]
    levels = sorted(df[d].unique())
    picks = [lv for lv in levels if lv > 0][:: max(1, len(levels) // 4)][:4]
    for lv in picks:
        s = df[np.isclose(df[d], lv)]
        rest = 100.0 - lv
        f = go.Figure(go.Scatterternary(
            a=s[a] / rest * 100, b=s[b] / rest * 100, c=s[c] / rest * 100, mode="markers",
            hovertext=_hover(s, elements), hoverinfo="text",
            marker={"color": s["dmax_mm"], "colorscale": "Viridis", "size": 5,
                    "colorbar": {"title": "Dmax (mm)"}}))
        f.update_layout(title=f"Slice at {d} = {lv:g} at.% (axes: share of the remaining "
                        f"{rest:g} at.%)", height=480,
                        ternary={"aaxis": {"title": a}, "baxis": {"title": b},
                                 "caxis": {"title": c}})
        figs.append(f)
    return figs


def _static_maps(df: pd.DataFrame, known: pd.DataFrame, elements: list[str], step: float,
                 outdir: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import ternary

    if step < 1.0:
        # Static figures at 1 at.% keep the SVG small; every 1 at.% point is on the grid.
        on = np.all(np.isclose(df[elements].to_numpy() % 1.0, 0.0), axis=1)
        df, step = df[on], 1.0
    scale = int(round(100 / step))
    paths = []
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.3))
    for ax, col, title in [(axes[0], "dmax_mm", "Predicted Dmax (mm)"),
                           (axes[1], "dmax_std", "Ensemble spread (mm)")]:
        ij = np.rint(df[elements[:2]].to_numpy(dtype=float) / step).astype(int)
        data = dict(zip(map(tuple, ij.tolist()), df[col].to_numpy(dtype=float).tolist(),
                        strict=True))
        _, tax = ternary.figure(ax=ax, scale=scale)
        tax.heatmap(data, style="triangular", cmap="viridis" if col == "dmax_mm" else "magma",
                    colorbar=True, cbarlabel=title)
        if col == "dmax_mm" and len(known):
            for cls, g in known.groupby("gfa_class", observed=True):
                pts = [(r[elements[0]] / step, r[elements[1]] / step, r[elements[2]] / step)
                       for _, r in g.iterrows()]
                m = {"crystal": "x", "ribbon": "D", "bmg": "o"}.get(str(cls), "o")
                style = ({"color": "red"} if m == "x"
                         else {"facecolors": "white", "edgecolors": "black"})
                tax.scatter(pts, marker=m, s=22, label=f"known {cls}", zorder=5,
                            linewidths=1.0, **style)
            tax.legend(fontsize=7, loc="upper right")
        tax.boundary(linewidth=1.0)
        tax.left_axis_label(f"{elements[2]} (at.%)", fontsize=9)
        tax.right_axis_label(f"{elements[1]} (at.%)", fontsize=9)
        tax.bottom_axis_label(f"{elements[0]} (at.%)", fontsize=9)
        tax.ticks(axis="lbr", ticks=[f"{v:g}" for v in range(0, 101, 20)],
                  locations=[scale * v / 100 for v in range(0, 101, 20)], linewidth=1,
                  fontsize=7, offset=0.02)
        tax.clear_matplotlib_ticks()
        tax.get_axes().axis("off")
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    for ext in ("png", "svg"):
        p = outdir / f"map.{ext}"
        fig.savefig(p, dpi=200 if ext == "png" else None)
        paths.append(p)
    plt.close(fig)
    return paths


def _compare_known(df: pd.DataFrame, known: pd.DataFrame, elements: list[str], step: float
                   ) -> pd.DataFrame:
    """Measured vs predicted for known alloys (nearest grid point)."""
    if not len(known):
        return pd.DataFrame()
    grid = df[elements].to_numpy()
    out = []
    for _, r in known.iterrows():
        v = np.array([r[e] for e in elements])
        i = int(np.abs(grid - v).sum(1).argmin())
        out.append({"composition": r["composition"], "class": str(r["gfa_class"]),
                    "measured_mm": r["dmax_mm"], "predicted_mm": df["dmax_mm"].iloc[i],
                    "spread_mm": df["dmax_std"].iloc[i],
                    "grid_point": _fmt_comp(df.iloc[i], elements)})
    return pd.DataFrame(out).sort_values("measured_mm", ascending=False, na_position="last")


def write_report(run_dir: str | Path, data: str | Path | None = None,
                 log_color: bool = False) -> Path:
    """Write ``run_dir/_report/report.html`` (+ PNG/SVG maps for ternaries)."""
    run_dir = Path(run_dir)
    df, run, summary = _load_run(run_dir)
    elements = run["grid"]["elements"]
    step = run["grid"]["step_at_pct"]
    known, known_source = known_alloys(run, elements, data)
    outdir = run_dir / "_report"
    outdir.mkdir(exist_ok=True)
    sections = []
    if len(elements) == 3:
        figs = [_ternary_fig(df, known, elements, log_color)]
    elif len(elements) == 4:
        figs = _quaternary_figs(df, elements, log_color)
    else:
        figs = []
    for i, f in enumerate(figs):
        sections.append(f.to_html(full_html=False, include_plotlyjs="inline" if i == 0 else False))
    if len(elements) == 3:
        _static_maps(df, known, elements, step, outdir)
    cmp = _compare_known(df, known, elements, step)
    top = df.sort_values("dmax_mm", ascending=False).head(10)
    df = df.assign(optimistic=df["dmax_mm"] + df["dmax_std"])
    explore = df.sort_values("optimistic", ascending=False).head(10)
    m = run["model"].get("metrics", {})

    def table_html(t: pd.DataFrame) -> str:
        return t.to_html(index=False, float_format=lambda v: f"{v:.3g}", border=0,
                         classes="tbl")

    cols = elements + ["dmax_mm", "dmax_std"] + [c for c in df.columns if c.startswith("p_")] \
        + ["in_domain"]
    head = (f"<h1>{html.escape('-'.join(elements))}: predicted glass-forming ability</h1>"
            f"<p>Grid: step {step:g} at.%, {len(df):,} compositions. Model "
            f"<code>{html.escape(str(run['model']['id']))}</code> "
            f"(hash {run['model']['hash'][:12]}), training data sha256 "
            f"{str(run['model'].get('data_sha256'))[:12]}. "
            f"Out-of-fold R² {m.get('r2_mm', float('nan')):.3f} "
            f"(mm), {m.get('r2_log', float('nan')):.3f} (log10(1+Dmax)). "
            f"Screened {html.escape(str(run.get('started')))}; report written "
            f"{datetime.now(UTC).isoformat(timespec='seconds')}. "
            f"{100 * summary['in_domain_fraction']:.1f}% of the grid is in domain.</p>")
    body = [head, *sections,
            "<h2>Top candidates (highest predicted Dmax)</h2>", table_html(top[cols]),
            "<h2>Next experiments (highest mean + spread)</h2>",
            table_html(explore[cols + ["optimistic"]])]
    if len(cmp):
        body += [f"<h2>Known alloys of this system ({len(cmp)}): measured vs predicted</h2>",
                 table_html(cmp)]
    else:
        body.append(f"<p>No alloy of this system is among {html.escape(known_source)}.</p>")
    page = ("<!DOCTYPE html><html><head><meta charset='utf-8'>"
            f"<title>gfascreen {html.escape('-'.join(elements))}</title><style>"
            "body{font-family:sans-serif;margin:2em;max-width:1200px}"
            ".tbl{border-collapse:collapse;font-size:13px}.tbl td,.tbl th{padding:2px 8px;"
            "border-bottom:1px solid #ddd}</style></head><body>" + "\n".join(body)
            + "</body></html>")
    out = outdir / "report.html"
    tmp = outdir / ".report.html.tmp"
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(out)
    if len(cmp):
        cmp.to_csv(outdir / "known_alloys.csv", index=False)
    return out

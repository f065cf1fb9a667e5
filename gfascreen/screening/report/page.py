"""The report page: :func:`write_report` reads a run and the known alloys of its
system, draws its figures (a ternary's maps and static maps, a quaternary's profile and
slices) and writes ``_report/report.html`` (plotly.js embedded once): the header (grid
step in at.%, model, domain), the figures, the next experiments, the top predicted Dmax
(mm) in domain and the known alloys' measured vs predicted (mm), with those tables also
as ``known_alloys.csv`` and ``suggestions.csv``."""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from gfascreen.errors import GfaError
from gfascreen.model import columns as pc
from gfascreen.model.known import MEASURED_COLUMNS, measured_at
from gfascreen.screening.known import known_alloys
from gfascreen.screening.report.overlay import _compare_known, _fmt_comp, _number_known
from gfascreen.screening.report.quaternary import _quaternary_figs
from gfascreen.screening.report.slices import on_slice, slice_levels
from gfascreen.screening.report.static import _static_maps
from gfascreen.screening.report.ternary import _ternary_fig
from gfascreen.screening.runs import load_run
from gfascreen.screening.system_rows import load_system_run

#: The legend of the out-of-domain region; the numbers come from the run's model.
DOMAIN_RULE = "out of domain (pale): fewer than {n} training alloys within {r:g} at.% (L1)"


def domain_rule(run: dict) -> str:
    """The applicability-domain rule of the model a run was screened with, in words."""
    from gfascreen.model.saved import ModelDir

    try:
        d = ModelDir(run["model"]["path"]).manifest.domain
        return DOMAIN_RULE.format(n=int(d.min_neighbours), r=float(d.radius_at_pct))
    except (GfaError, KeyError, TypeError, ValueError):
        return "out of domain (pale): too few training alloys nearby (the model's rule)"


def _table_html(t: pd.DataFrame) -> str:
    """A table as HTML that wraps to the page: headings split at their underscores, a
    list of sources at its semicolons (the CSV files keep the names and values)."""
    t = t.rename(columns=lambda c: str(c).replace("_", " "))
    for c in t.select_dtypes(include="object").columns:
        t[c] = t[c].map(lambda v: v.replace(";", "; ") if isinstance(v, str) else v)
    return t.to_html(index=False, float_format=lambda v: f"{v:.3g}", border=0, classes="tbl",
                     escape=True)


def _figures_text(model: dict) -> str:
    """How good the model is, in the header: on systems it never saw where the run records
    it (the one distribution's figures), else the members' random-fold R²."""
    u = model.get("unseen") or {}
    if u:
        return (f"On systems absent from training (leave-system-out, nested out of fold): "
                f"Spearman {u['pooled_spearman']:.3f} pooled, {u['within_system']:.3f} "
                f"within a system; AUC bulk glass {u['auc_bmg']:.3f} (model card). ")
    m = model.get("metrics", {})
    return (f"Out-of-fold R² {m.get('r2_mm', float('nan')):.3f} "
            f"(mm), {m.get('r2_log', float('nan')):.3f} (log10(1+Dmax)), random folds; on "
            "systems absent from training expect less (see the model card). ")


def _header(elements, step, df, run, note: str = "") -> str:
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
            + _figures_text(run["model"]) +
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


def _check_slices_run(run_dir: Path, system: str | None) -> None:
    """``--slices`` needs a quaternary run or ``--system`` (read from ``_run.json`` alone)."""
    import json

    try:
        elements = (system.split("-") if system else
                    json.loads((run_dir / "_run.json").read_text())["grid"]["elements"])
    except (OSError, ValueError, KeyError, TypeError):
        return  # load_run says what is wrong with the run
    if len(elements) != 4:
        raise GfaError(f"--slices is for a quaternary run (slices at fixed at.% of its fourth "
                       f"element); {run_dir} is {'-'.join(elements)}")


def write_report(run_dir: str | Path, data: str | Path | None = None,
                 log_color: bool = False, n_suggest: int = 5, partial: bool = False,
                 svg: bool = False, slices: list[float] | None = None,
                 system: str | None = None) -> Path:
    """Write ``run_dir/_report/report.html`` (+ ``map.png`` for ternaries, and
    ``map.svg`` when ``svg``). ``slices``: for a quaternary, the at.% of its fourth element
    to slice at (default: :func:`slice_levels` through the best region). ``system``: one
    system of an atlas run, from its rows, in ``run_dir/_report/systems/SYSTEM/``."""
    rr = _read_report_run(Path(run_dir), data, partial, slices, system)
    outdir = report_dir(rr.run_dir, rr.request)
    outdir.mkdir(parents=True, exist_ok=True)
    cmp = _compare_known(rr.df, rr.known, rr.elements, rr.request)
    sections = _plot_sections(_report_figs(rr, cmp, outdir, log_color, svg, slices))
    picks, pick_note = _suggestions(rr, data, n_suggest)
    body = [_header(rr.elements, rr.step, rr.df, rr.request, rr.note), *sections,
            *_picks_section(picks, pick_note), *_top_section(rr.df, rr.elements),
            *_known_section(cmp, rr)]
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


def report_dir(run_dir: Path, request: dict) -> Path:
    """Where a run's report goes: ``_report/``, one system of an atlas's
    ``_report/systems/SYSTEM/``."""
    name = request.get("grid", {}).get("atlas_system")
    return run_dir / "_report" / ("systems/" + name if name else "")


def _read_report_run(run_dir: Path, data: str | Path | None, partial: bool,
                     slices: list[float] | None, system: str | None = None) -> _ReportRun:
    """Read a run (or one ``system`` of an atlas) for its report, with the known alloys
    of its system (from ``data`` when given). ``slices`` (at.%) are refused for a run
    that is not a quaternary before its table is read, and a level off the grid before
    anything is drawn."""
    if slices is not None:  # refused before the table is read
        _check_slices_run(run_dir, system)
    r = load_system_run(run_dir, system, partial) if system else load_run(run_dir, partial)
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
    ``slice`` of ``cmp``); none for another run. ``cmp.attrs["unnumbered"]``: the known
    alloys drawn on the maps without their number."""
    df, known, elements, step = rr.df, rr.known, rr.elements, rr.step
    if len(elements) == 3:
        figs = [_ternary_fig(df, known, elements, log_color, rr.confidence,
                             domain_rule(rr.request), cmp)]
        _static_maps(df, known, elements, step, outdir, rr.confidence, svg)
    elif len(elements) == 4:
        figs = _quaternary_figs(df, known, elements, step, log_color, rr.confidence,
                                domain_rule(rr.request), cmp, slices)
        if len(cmp):
            levels, _ = slice_levels(df, elements, step, slices)
            at = on_slice(known, elements[3], levels, step)
            cmp["slice"] = [f"{elements[3]} {v:g} at.%" if np.isfinite(v) else "-"
                            for v in at]
    else:
        return []
    if len(cmp):
        cmp.attrs["unnumbered"] = _unnumbered(figs[-1], cmp)
    return figs


def _unnumbered(fig: go.Figure, cmp: pd.DataFrame) -> list:
    """The known alloys drawn on the maps ``fig`` (a quaternary's: those on a slice) whose
    number found no room beside their marker (:mod:`.labels`)."""
    shown = {a.text for a in fig.layout.annotations}
    drawn = cmp[cmp["slice"] != "-"] if "slice" in cmp else cmp
    return [n for n in drawn["#"] if str(n) not in shown]


def _plot_sections(figs: list[go.Figure]) -> list[str]:
    """The figures as HTML, plotly.js embedded once, before the first."""
    sections = [f.to_html(full_html=False, include_plotlyjs=False) for f in figs]
    if figs:
        sections[0] = f"<script>{_plotly_js(figs)}</script>" + sections[0]
    return sections


#: The top predicted table: how many grid points, and how far each lies at least from
#: every one above it (at.% that must move to turn one into the other, half the L1
#: distance), so that it lists separate places, not one peak's neighbouring grid points.
TOP_N, TOP_SPACING_AT_PCT = 10, 3.0


def _top_rows(df: pd.DataFrame, elements: list[str]) -> pd.DataFrame:
    """The :data:`TOP_N` grid points of highest predicted Dmax in domain, each at least
    :data:`TOP_SPACING_AT_PCT` at.% from those above it (:func:`spaced_picks`): the
    composition (at.%), the predictions, and what was measured there when anything was."""
    from gfascreen.screening.suggest import spaced_picks

    shown = [pc.DMAX_MM, pc.DMAX_LO, pc.DMAX_HI, pc.DMAX_AT_LEAST, pc.P_GLASS, pc.P_BMG]
    cols = ["composition"] + [c for c in shown if c in df.columns] \
        + pc.threshold_columns(df.columns) + [c for c in MEASURED_COLUMNS if c in df.columns]
    rows = spaced_picks(df[elements].to_numpy(dtype=float), df[pc.DMAX_MM].to_numpy(float),
                        df[pc.IN_DOMAIN].to_numpy(bool), TOP_N, TOP_SPACING_AT_PCT)
    top = df.iloc[rows].reset_index(drop=True)
    top.insert(0, "composition", [_fmt_comp(r, elements) for _, r in top.iterrows()])
    return top[[c for c in cols if c not in MEASURED_COLUMNS
                or (top["measured_class"] != "").any()]]


def _top_section(df: pd.DataFrame, elements: list[str]) -> list[str]:
    """The top predicted table's heading, how its rows were chosen, and the table."""
    top = _top_rows(df, elements)
    return [f"<h2>Top predicted Dmax: {len(top)} places in domain</h2>",
            f"<p>The grid points of highest predicted Dmax in domain, each at least "
            f"{TOP_SPACING_AT_PCT:g} at.% from every one above it (the at.% that must move "
            f"to turn one into the other: {2 * TOP_SPACING_AT_PCT:g} at.% L1), so that the "
            "list shows separate places rather than one peak's neighbouring grid "
            "points.</p>", _table_html(top)]


def _suggestions(rr: _ReportRun, data: str | Path | None, n_suggest: int
                 ) -> tuple[pd.DataFrame, str]:
    """The next experiments (:func:`~gfascreen.screening.suggest.suggest`) and the
    paragraph that says how they were chosen, or why there are none."""
    from gfascreen.screening.suggest import (
        AWAY_FROM_KNOWN_AT_PCT,
        default_ranking,
        run_calibration,
        suggest,
    )

    df = rr.df
    calibration = run_calibration(rr.request)
    space, _ = known_alloys(rr.request, rr.elements, data, subsystems=True)
    target_mm, why = default_ranking(df, calibration, space, rr.elements)
    which = (f" --system {'-'.join(rr.elements)}"
             if rr.request["grid"].get("atlas_system") else "")
    try:
        picks = suggest(df, rr.elements, n=n_suggest, calibration=calibration,
                        target_mm=target_mm, known=space if len(space) else None)
    except GfaError as exc:
        return pd.DataFrame(), f"<p>{html.escape(str(exc))}</p>"
    return picks, ("<p>Spaced at least 5 at.% apart, in domain, at least "
                   f"{AWAY_FROM_KNOWN_AT_PCT:g} at.% (L1) from every measured alloy, "
                   f"{html.escape(why)}; the same table comes from "
                   f"<code>gfascreen suggest {html.escape(str(rr.run_dir) + which)}</code>.</p>")


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
    at = ("Predicted: the model's prediction at each alloy's own composition."
          if not cmp.attrs.get("note") else
          "Predicted: at each alloy's own composition where column <i>predicted at</i> "
          "says so, else at its nearest grid point (" + html.escape(cmp.attrs["note"]) + ").")
    return [f"<h2>Known alloys of this system ({len(cmp)}, from "
            f"{html.escape(rr.known_source)}): measured vs predicted</h2>",
            ("<p># = the number beside the marker on the map" if len(elements) != 4
             else f"<p># = the number beside the marker on the slice its {elements[3]} "
             f"is within {step / 2:g} at.% of (column <i>slice</i>; - : on no slice "
             "shown); a bulk glass with a measured Dmax is also numbered on the profile "
             "along it") + _unnumbered_text(cmp.attrs.get("unnumbered", [])) + f". {at}</p>",
            _table_html(cmp)]


def _unnumbered_text(numbers: list) -> str:
    """The clause naming the known alloys drawn on a map without their number."""
    if not numbers:
        return ""
    return ("; where markers crowd, the numbers that found no room are left off the map "
            f"(hover the marker for it): {', '.join(f'#{n}' for n in numbers)}")


def _page(elements: list[str], body: list[str]) -> str:
    """The whole report page around its ``body`` parts."""
    return ("<!DOCTYPE html><html><head><meta charset='utf-8'>"
            f"<title>gfascreen {html.escape('-'.join(elements))}</title><style>"
            "body{font-family:sans-serif;margin:2em;max-width:1250px}"
            ".tbl{border-collapse:collapse;font-size:13px;max-width:100%}"
            ".tbl td,.tbl th{padding:2px 8px;border-bottom:1px solid #ddd;"
            "overflow-wrap:break-word}</style></head><body>" + "\n".join(body)
            + "</body></html>")


def _write_page(out: Path, page: str) -> Path:
    """Write ``page`` to ``out`` through a temporary file beside it (never half written)."""
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(out)
    return out

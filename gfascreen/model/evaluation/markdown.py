"""Markdown (and terminal) text of the typed reports: the one place each table is rendered.

The model card (``model_card.md``), ``CALIBRATION.md`` and the commands' output
(``gfascreen evaluate``, ``calibrate``, ``stack``) all take their tables from here.
"""

from __future__ import annotations

from dataclasses import fields

import numpy as np

from gfascreen.model.backbone import BACKBONES, DEFAULT_BACKBONE
from gfascreen.model.evaluation.calibration_report import (
    GROUPS,
    CalibrationReport,
    IntervalReport,
    ProbabilityReport,
)
from gfascreen.model.evaluation.evaluation_report import (
    Evaluation,
    RegressionFigures,
    Scores,
    SystemRanking,
)
from gfascreen.model.evaluation.headline import Headline
from gfascreen.model.evaluation.system_ranking import STATISTICS

#: The page of the calibration's measurement in a model directory.
CALIBRATION_PAGE = "CALIBRATION.md"
#: What each calibrated class event is called.
EVENT_NAMES = {"glass": "glass", "bmg": "bulk glass"}


def table(header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def fmt(v: float | None, spec: str = ".3f") -> str:
    """``v`` formatted, or an en dash when there is none (None or not finite)."""
    return "–" if v is None or (isinstance(v, float) and not np.isfinite(v)) else format(v, spec)


# -- evaluations --------------------------------------------------------------------------
def regression_line(b: RegressionFigures) -> str:
    """One line of pooled metrics."""
    return (f"R² {fmt(b.r2_mm)} (mm), R² {fmt(b.r2_log)} (log10(1+Dmax)), "
            f"MAE {fmt(b.mae_mm)} mm, RMSE {fmt(b.rmse_mm)} mm, Spearman "
            f"{fmt(b.spearman)} (n = {b.n})")


def _models(ev: Evaluation) -> list[tuple[str, Scores]]:
    title = BACKBONES[ev.backbone or DEFAULT_BACKBONE].title
    return [(f"{title} OP-image ensemble", ev.model), *(ev.baselines or {}).items()]


def metrics_table(ev: Evaluation) -> str:
    """Pooled regression metrics, ensemble and baselines."""
    rows = []
    for name, s in _models(ev):
        a, fm = s.all, s.fold_mean
        rows.append([name, fmt(a.r2_mm), fmt(a.r2_log), fmt(a.mae_mm), fmt(a.spearman),
                     fmt(s.bmg.r2_mm), fmt(fm.r2_mm if fm else None)])
    return table(["model", "R² mm", "R² log", "MAE mm", "Spearman", "R² mm, bmg only",
                  "fold-mean R² mm"], rows)


def screening_table(ev: Evaluation) -> str:
    """Within-system ranking and class AUCs, ensemble and baselines."""
    rows = []
    for name, s in _models(ev):
        scr = s.screening
        w = scr.within_system if scr else None
        rows.append([name, str(w.systems if w else 0),
                     fmt(w.spearman_weighted_mean if w else None),
                     fmt(w.spearman_median if w else None),
                     fmt(w.best_in_top20_share if w else None, ".2f"),
                     fmt(scr.auc_glass_vs_crystal if scr else None),
                     fmt(scr.auc_bmg_vs_rest if scr else None)])
    return table(["model", "systems", "within-system Spearman (weighted mean)", "median",
                  "best alloy in top 20 %", "AUC glass vs crystal", "AUC bmg vs rest"], rows)


def system_ranking_table(rep: SystemRanking) -> str:
    """How well each statistic ranks systems never seen: the AUC for holding a bulk glass,
    the Spearman with the best measured Dmax pooled and per order, and the choice."""
    orders = sorted({k for s in rep.statistics.values() for k in (s.by_order or {})}, key=int)
    first = next(iter(rep.statistics.values()), None)
    n_at = {k: (first.by_order or {}).get(k) for k in orders} if first else {}
    header = ["statistic of a system's predictions",
              f"AUC: holds a bulk glass ≥ {rep.bulk_mm:g} mm ({rep.systems} systems, "
              f"{rep.holding_bulk_glass} hold one)",
              f"Spearman with its best measured Dmax ({first.systems if first else 0} "
              f"systems with ≥ {rep.min_alloys} measured alloys)",
              *[f"{k} elements ({n_at[k].systems if n_at[k] else 0})" for k in orders]]
    rows = [[f"**{STATISTICS[name][1]}**" if name == rep.chosen else STATISTICS[name][1],
             fmt(s.auc_holds_bulk_glass), fmt(s.spearman),
             *[fmt((s.by_order or {})[k].spearman if k in (s.by_order or {}) else None)
               for k in orders]] for name, s in rep.statistics.items()]
    return table(header, rows) + (f"\n\nAn atlas ranks systems by the "
                                   f"{STATISTICS[rep.chosen][1]}, {rep.why}."
                                   if rep.why and rep.chosen else "")


def report_text(ev: Evaluation) -> str:
    """All tables of an evaluation, for the terminal."""
    parts = ["Regression (rows with a Dmax, out of fold):", metrics_table(ev), "",
             "Screening:", screening_table(ev)]
    systems = ev.model.screening.systems if ev.model.screening else None
    if systems is not None:
        parts += ["", "Ranking systems never seen (each system's largest prediction over "
                  "its measured alloys):", system_ranking_table(systems)]
    cal = ev.measured_calibration
    if cal is not None:
        parts += ["", "Calibration (cross-conformal, folds held out in turn), every candidate:",
                  candidates_markdown(cal), "", calibration_text(cal)]
    return "\n".join(parts)


# -- the calibration ----------------------------------------------------------------------
def coverage_table(rep: IntervalReport) -> str:
    """Coverage and widths per group and confidence."""
    rows = []
    conditional = any(r.bmg_coverage is not None for by in rep.groups.values()
                      for r in by.values())
    for g in GROUPS:
        for c, r in rep.groups.get(g, {}).items():
            rows.append([g, c + " %", str(r.n), fmt(r.coverage), fmt(r.median_width_mm, ".2f"),
                         fmt(r.at_least_coverage), fmt(r.median_at_least_mm, ".2f")]
                        + ([fmt(r.bmg_coverage), fmt(r.bmg_median_width_mm, ".2f")]
                           if conditional and g == "bmg" else ["", ""] if conditional else []))
    return table(["alloys", "confidence", "n", "interval coverage", "median width (mm)",
                  "lower-bound coverage", "median lower bound (mm)"]
                 + (["conditional coverage", "conditional median width (mm)"]
                    if conditional else []), rows)


def reliability_markdown(name: str, rep: ProbabilityReport) -> str:
    """ECE, Brier and the decile reliability table of one probability."""
    raw = rep.brier_raw is not None
    head = (f"**{name}**: ECE {rep.ece:.3f}"
            + (f" (class head {rep.ece_raw:.3f})" if rep.ece_raw is not None else "")
            + f", Brier {rep.brier:.4f}"
            + (f" (class head {rep.brier_raw:.4f}; " if raw else " (")
            + f"class prior {rep.brier_prior:.4f}), worst decile with >= 50 alloys off by "
            f"{rep.worst_decile_gap:.3f}; n = {rep.n}")
    rows = [[f"{r.lo:.3f}-{r.hi:.3f}", str(r.n), f"{r.predicted:.3f}", f"{r.observed:.3f}"]
            for r in rep.reliability]
    return head + "\n\n" + table(["predicted range", "n", "mean predicted", "observed"], rows)


def _probability_blocks(rep: CalibrationReport, heading: str) -> list[str]:
    """Each calibrated probability's reliability, the class events under ``heading``
    "Class probabilities", the thresholds under "P(Dmax >= T)" (a heading of "" leaves
    the headings out)."""
    parts = [f"{heading} Class probabilities"] if heading else []
    for e, r in rep.chosen_probabilities.items():
        parts += [reliability_markdown(f"P({EVENT_NAMES.get(e, e)})", r), ""]
    parts += [f"{heading} P(Dmax >= T)"] if heading else []
    for t, r in rep.exceedance.items():
        parts += [reliability_markdown(f"P(Dmax >= {t} mm)", r), ""]
    return parts


def calibration_sections(rep: CalibrationReport, level: int = 2) -> str:
    """The measurement's text and tables, headings at ``level`` (2 on ``CALIBRATION.md``,
    3 inside the model card's calibration section)."""
    h = "#" * level
    parts = [
        "Measured cross-conformally on the leave-system-out predictions the model carries "
        f"({rep.n_rows} alloys, {rep.n_with_dmax} with a measured Dmax, "
        f"{rep.folds} folds): each statement is fitted on four folds and measured on "
        "the fifth, in turn, so every alloy is judged by a calibration that never saw its "
        "system. Reproduce: `gfascreen calibrate default` (then this page is rewritten).",
        "",
        f"Chosen by the declared rule (`gfascreen.model.evaluation.calibrate.choose_weight`): "
        f"**{rep.chosen}**"
        + (f" (chosen inside each outer fold: {', '.join(rep.chosen_per_fold)}; the tables "
           "below are those nested readings)" if rep.chosen_per_fold else "")
        + f"; probability maps: beta calibration, binning **{rep.probability_binning}** "
        "(lower out-of-fold Brier score).",
        "",
        f"{h} What each number means",
        "Every column is read off one predictive distribution per alloy "
        "(`gfascreen/model/distribution.py`): crystal (0 mm), ribbon (0.1 mm) and bulk "
        "glass (castable at 1 mm or thicker) with the thickness given a bulk glass.",
        "- `p_glass`, `p_bmg`: the class masses: the raw class scores (the stack's, or the "
        "class head's for a network-only model) mapped by beta calibration (smooth and "
        "increasing: the ranking is kept) to the frequencies observed on systems the "
        "predicting model never saw; a source's bulk glass below 1 mm counts as a glass, not "
        "a bulk glass (`castable_class`), so `p_bmg` = `p_dmax_ge_1`.",
        "- `dmax_bmg_lo`..`dmax_bmg_hi`: the thickness given a bulk glass, "
        "log10(1 + Dmax/mm) = μ + σ z with z the conformal residuals of the leave-system-out "
        "bulk glasses; its coverage is measured on bulk glasses with a measured Dmax "
        "(conditional columns).",
        "- `dmax_lo`..`dmax_hi`, `dmax_at_least`, `p_dmax_ge_T`, `dmax_mm`: quantiles, "
        "survival function and mean of the whole mixture. Its point masses (0 and 0.1 mm) "
        "make the whole interval cover more than its confidence wherever an atom holds the "
        "quantile (crystals and ribbons): read the conditional interval for thickness.",
        "",
        *([f"{h} Ranking and thickness, out of fold",
           "The same leave-system-out alloys read by the stack at the point (the figures "
           "it was chosen by) and by the one distribution every column now comes from "
           "(nested: the spread weight chosen inside each outer fold).", "",
           headline_table(rep.headline), ""] if rep.headline else []),
        f"{h} Intervals and lower bounds",
        coverage_table(rep.intervals),
        "",
        *_probability_blocks(rep, h),
    ]
    if rep.partner_only is not None:
        parts += [partner_only_sections(rep.partner_only, level)]
    return "\n".join(parts).strip()


def partner_only_sections(rep: CalibrationReport, level: int = 2) -> str:
    """The partner-only distribution's measurement (the alloys with an element outside the
    network's vocabulary), headings at ``level``."""
    h = "#" * level
    return "\n".join([
        f"{h} The descriptor partner alone: elements outside the network's vocabulary",
        "An alloy with an element outside the network's vocabulary that the descriptor "
        "partner knows (its element table: every element with all Magpie data and an "
        "atomic radius) is read by the partner alone (`route` = partner only, never "
        "`in_domain`), through a distribution of its own: beta maps of the partner's class "
        f"scores (binning **{rep.probability_binning}**) and a thickness with one scale "
        "for every alloy (no members, no spread), fitted and measured as above on the "
        "partner's own leave-system-out predictions (`gb_*` in `lso_oof.parquet`: each "
        f"alloy predicted by boosters that never saw its system; {rep.n_rows} alloys, "
        f"{rep.n_with_dmax} with a measured Dmax). These figures are for unseen systems of "
        "elements the partner was trained on (read `out_of_domain` for the nearest case); "
        "an element no training alloy holds is a further step they cannot measure.",
        "",
        f"{h}# Ranking and thickness, out of fold (partner alone)",
        headline_table(rep.headline) if rep.headline else "",
        "",
        f"{h}# Intervals and lower bounds (partner alone)",
        coverage_table(rep.intervals),
        "",
        *_probability_blocks(rep, h + "#"),
    ])


def calibration_page(rep: CalibrationReport, model_id: str) -> str:
    """``CALIBRATION.md``: the measurement as a page of its own."""
    return f"# Calibration of {model_id}\n\n{calibration_sections(rep)}\n\n"


def calibration_text(rep: CalibrationReport) -> str:
    """The chosen calibration's coverage, lower bounds and probability reliability, for the
    terminal (``gfascreen evaluate --spread-model``)."""
    return "\n".join([f"Chosen by the declared rule: {rep.chosen}", "",
                      coverage_table(rep.intervals), "", *_probability_blocks(rep, "")])


def calibration_summary(rep: CalibrationReport) -> str:
    """What ``gfascreen calibrate`` prints: the choice, the coverage table and one line per
    calibrated probability."""
    lines = [f"chosen: {rep.chosen}; probability maps: {rep.probability_binning}",
             coverage_table(rep.intervals)]
    for e, r in rep.chosen_probabilities.items():
        raw = f" (class head {r.ece_raw:.3f})" if r.ece_raw is not None else ""
        lines.append(f"P({e}): ECE {r.ece:.3f}{raw}, Brier {r.brier:.4f}")
    for t, r in rep.exceedance.items():
        lines.append(f"P(Dmax >= {t} mm): ECE {r.ece:.3f}, Brier {r.brier:.4f}")
    if rep.partner_only is not None:
        lines += ["", "the descriptor partner alone (elements outside the network's "
                  "vocabulary):", calibration_summary(rep.partner_only)]
    return "\n".join(lines)


def candidates_markdown(rep: CalibrationReport) -> str:
    """Every candidate's 90 % coverage and bulk-glass width, and whether the declared rule
    admits it ("" when the report keeps no candidates)."""
    rows = []
    for k, r in (rep.candidates or {}).items():
        rows.append([k, *(fmt(r.at(g).coverage) for g in GROUPS),
                     fmt(r.at("bmg").median_width_mm, ".2f"),
                     "yes" if r.admissible() else "no"])
    if not rows:
        return ""
    return table(["candidate", *(f"90 % coverage, {g}" for g in GROUPS),
                  "bmg median width (mm)", "admissible"], rows)


# -- the stack ----------------------------------------------------------------------------
def headline_table(rows: dict[str, Headline]) -> str:
    """One row per (grouping, part), one column per headline figure."""
    names = [f.name for f in fields(Headline)]
    head = "| | " + " | ".join(names) + " |"
    lines = [head, "|" + "---|" * (len(names) + 1)]
    for name, h in rows.items():
        lines.append(f"| {name} | " + " | ".join(f"{getattr(h, k):.3f}" for k in names) + " |")
    return "\n".join(lines)


__all__ = ["CALIBRATION_PAGE", "EVENT_NAMES", "calibration_page", "calibration_sections",
           "calibration_summary", "calibration_text", "candidates_markdown", "coverage_table",
           "partner_only_sections",
           "fmt", "headline_table", "metrics_table", "regression_line", "reliability_markdown",
           "report_text", "screening_table", "table"]

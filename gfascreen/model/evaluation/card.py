"""The model card: what a saved model is, how it was trained, how good it is, how sure.

Rendered from the template ``model_card.md`` beside this module with what the model's
manifest records: its specs and recipe, the evaluations that ``gfascreen evaluate RUN
--into MODEL`` stored (random and leave-system-out folds, baselines on the same folds) and
the calibration that ``gfascreen calibrate`` attached and measured, each read as a typed
result (:class:`~gfascreen.model.evaluation.recorded.Recorded`) and its tables rendered by
:mod:`gfascreen.model.evaluation.markdown` (the calibration's by the same function as
``CALIBRATION.md``, one heading level down). ``gfascreen card MODEL`` writes it;
``gfascreen calibrate`` rewrites it at its end.
"""

from __future__ import annotations

import json
from dataclasses import fields, replace
from pathlib import Path
from string import Template

from gfascreen.data.labels import DMAX_COLUMN
from gfascreen.errors import GfaError
from gfascreen.model.backbone import BACKBONES, PACK_FLOAT16
from gfascreen.model.evaluation.evaluation_report import Evaluation
from gfascreen.model.evaluation.markdown import (
    calibration_sections,
    candidates_markdown,
    fmt,
    headline_table,
    metrics_table,
    regression_line,
    screening_table,
    system_ranking_table,
)
from gfascreen.model.evaluation.recorded import EVALUATION, Recorded
from gfascreen.model.evaluation.stack_report import headline_rows
from gfascreen.model.recipe import TrainConfig
from gfascreen.model.saved import GROUP, ModelDir
from gfascreen.model.stack import RIBBON_MM

TEMPLATE = Path(__file__).with_name("model_card.md")
CARD = "MODEL_CARD.md"
#: Recipe fields that say nothing about how a model was trained.
_NOT_RECIPE = ("only_folds", "device", "max_rows", "max_steps")


def recipe_flags(config: dict) -> str:
    """The ``gfascreen train`` options that differ from today's defaults."""
    default = TrainConfig()
    out = []
    for f in fields(TrainConfig):
        if f.name in _NOT_RECIPE or f.name not in config:
            continue
        value, base = config[f.name], getattr(default, f.name)
        if value == base:
            continue
        flag = "--" + f.name.replace("_", "-")
        out.append(flag if value is True else f"--no-{flag[2:]}" if value is False
                   else f"{flag} {value}")
    return " ".join(out) or "(the defaults)"


def record_evaluation(model: str | Path, run: str | Path, report: Evaluation | dict) -> str:
    """``evaluate RUN --into MODEL``: store a run's evaluation (``evaluate_run``'s result,
    read as :class:`Evaluation`) in the model's manifest under its grouping (``random`` or
    ``system``) with the run's wall time per member."""
    md = ModelDir(model)
    run = Path(run)
    ev = report if isinstance(report, Evaluation) else Evaluation.from_dict(report)
    grouping = json.loads((run / "config.json").read_text()).get("grouping", "random")
    recorded = md.manifest.extra.setdefault(EVALUATION, {})
    recorded[grouping] = replace(ev, run=str(run)).to_dict()
    walls = [json.loads(f.read_text())["wall_s"] for f in sorted(run.glob("member_*.json"))]
    if walls:
        same = grouping == md.manifest.folds.get("grouping", "random")
        md.manifest.extra["training_wall_s" if same else "system_training_wall_s"] = walls
    md.write_manifest()
    return grouping


def _section(ev: Evaluation | None, command: str) -> str:
    if ev is None:
        return f"Not evaluated yet: `{command}`."
    return "\n\n".join([f"`gfascreen evaluate {ev.run or 'RUN'}` (baselines on the "
                        "identical folds).",
                        f"- All: {regression_line(ev.model.all)}\n"
                        f"- Bulk glasses only: {regression_line(ev.model.bmg)}",
                        metrics_table(ev), screening_table(ev)])


def _stack(m, rec: Recorded) -> str:
    stack = m.stack
    if stack is None:
        return ("No stack: the members alone (`gfascreen stack MODEL` adds the descriptor "
                "partner and the stack).")
    w, features = stack.rank_weight, m.partner.features if m.partner else []
    step = stack.partner_step_at_pct
    averaged = (f" The partner is read as its mean over the composition and its neighbours "
                f"{step:g} at.% away (no spike at its training alloys; the stack's figures "
                f"unchanged on the leave-system-out folds: docs/research-log.md)."
                if step > 0 else "")
    text = (f"Prediction = the stack of the members and a descriptor partner (LightGBM on "
            f"{len(features)} element-property descriptors: Magpie statistics, "
            f"ΔH_mix, δ, S_mix, number of elements): class probabilities from a multinomial "
            f"logistic regression over both parts' class scores; `dmax_bmg_mm` (the "
            f"thickness if a bulk glass) a linear blend of the three regressions fitted on "
            f"bulk glasses; `dmax_mm` = P(bmg)·D + P(ribbon)·{RIBBON_MM:g} mm with "
            f"log10(1 + D) = {w:g}·network + {1 - w:g}·partner. Fitted on "
            f"the leave-system-out out-of-fold predictions; the figures below are the "
            f"stack's own nested out-of-fold predictions (each fold's stack fitted on the "
            f"other four, its weight chosen there), beside each part and the baselines on "
            f"the identical folds. Built by `gfascreen stack`. With a calibration, these "
            f"readings are the stack's at the point; every column the tool writes is read off "
            f"one distribution (the calibration section).{averaged}")
    rows = headline_rows(rec.stack, rec.evaluations)
    return text + ("\n\n" + headline_table(rows) if rows else "")


def _calibration(md: ModelDir, rec: Recorded) -> str:
    if md.manifest.calibration is None:
        return "Not calibrated yet: `gfascreen calibrate MODEL --lso RUN`."
    cal = md.manifest.calibration.info
    maps = (cal.get("probabilities") or {}).get("binning")
    if isinstance(cal.get("thickness"), dict):
        th = cal["thickness"]
        text = (f"Fitted and chosen by `gfascreen calibrate` on {cal.get('calibrated_on')}: "
                f"one predictive distribution per alloy (`gfascreen/model/distribution.py`): "
                f"class masses by beta maps (binning `{maps}`), a bulk glass meaning castable "
                f"at 1 mm or thicker; the thickness given a bulk glass from {th.get('n')} "
                f"conformal residuals, its scale 1 + {th.get('spread_weight'):g} x the "
                f"members' spread / median. {_label_audit(md)}")
    else:
        text = (f"Fitted and chosen by `gfascreen calibrate` on {cal.get('calibrated_on')}: "
                f"interval method `{cal.get('method')}`, difficulty `{cal.get('difficulty')}` "
                f"(beta {cal.get('beta')}), Mondrian binning `{cal.get('binning')}`, "
                f"probability maps `{maps}`.")
    if rec.calibration is not None:  # the measurement (also on CALIBRATION.md, one level up)
        text += "\n\n" + calibration_sections(rec.calibration, level=3)
    ev_s = rec.evaluations.get("system")
    every = candidates_markdown(ev_s.measured_calibration) if (
        ev_s and ev_s.measured_calibration) else ""
    if every:
        text += ("\n\nEvery candidate, measured cross-conformally on the leave-system-out "
                 "folds:\n\n" + every)
    return text


def _label_audit(md: ModelDir) -> str:
    """The declared label rules and the model's training alloys the audit contradicts."""
    from gfascreen.data.audit import REASON, contradicted
    from gfascreen.data.labels import castable_class

    known = md.known_alloys()
    if known is None or "sources" not in known.columns:
        return ""
    els = list(md.manifest.image_spec.vocabulary.elements)
    bad = known.loc[contradicted(known, els), "composition"].tolist()
    thin = int((castable_class(known["gfa_class"], known[DMAX_COLUMN])
                != known["gfa_class"].astype(str).to_numpy()).sum())
    return (f"Label rules (`gfascreen data build` applies both; this model's members were "
            f"trained before them): {thin} of its bulk-glass labels measured below 1 mm count "
            f"as glasses, not bulk glasses (its calibration reads them so); the audit "
            f"({REASON}) contradicts {len(bad)} of its training labels, left in its training "
            f"and calibration: {', '.join(bad) if bad else 'none'}.")


def _systems(md: ModelDir) -> str:
    """How well the shipped prediction ranks whole systems it never saw, from the
    model's leave-system-out predictions (``lso_oof.parquet``)."""
    from gfascreen.model.evaluation.evaluation_report import SystemRanking
    from gfascreen.model.evaluation.system_ranking import system_evidence

    try:
        lso = md.lso_oof()
    except GfaError as exc:  # listed but missing or damaged: the rest of the card stands
        return f"Not measured: {exc}."
    if lso is None or not len(lso):
        return ("Not measured: the model keeps no leave-system-out predictions "
                "(`lso_oof.parquet`).")
    rep = SystemRanking.from_dict(system_evidence(lso), "lso_oof system ranking")
    return ("Each system scored by the largest prediction over its measured alloys, every "
            "prediction from a model that never saw the system (`lso_oof.parquet`, the "
            "shipped prediction's leave-system-out out-of-fold figures), against whether "
            "it holds a bulk glass and how thick its best is:\n\n"
            + system_ranking_table(rep))


def _loop(m) -> str:
    """The loop simulation's table (``scripts/loop_simulation.py --record``)."""
    from gfascreen.model.evaluation.loop import loop_text

    return loop_text(m.extra.get("loop_simulation"))


def _storage(md: ModelDir, rec: Recorded) -> str:
    m, q = md.manifest, rec.quantization
    if m.quant == "float32" or q is None:
        return f"Members stored as `{m.quant}` safetensors."
    kept = ", ".join(PACK_FLOAT16.values())
    return (f"Conv/linear weights int8 with one float16 scale per output channel and group "
            f"of {GROUP} inputs; {kept} and every batch-norm in float16 (`{m.quant}`): "
            f"members of {list(q.member_mb)} MB. Largest difference from full precision over "
            f"all {q.compositions} training alloys: {q.max_abs_diff_log10_1p_dmax:.4f} in "
            f"log10(1+Dmax) (mean {q.mean_abs_diff_log10_1p_dmax:.5f}); "
            f"{q.max_abs_diff_mm:.3f} mm.")


def _outside_vocabulary(md: ModelDir) -> str:
    """What becomes of an alloy with an element outside the network's vocabulary."""
    vocab = md.manifest.image_spec.vocabulary.elements
    part = md.manifest.partner
    known = part.elements if part is not None and part.elements is not None else vocab
    extra = [e for e in known if e not in vocab]
    if not extra:
        return "refused"
    cal = md.manifest.calibration
    calibrated = cal is not None and cal.partner_only is not None
    return (f"an element among {' '.join(extra)} is read by the descriptor partner alone: "
            "`route` = partner only, `in_domain` = False, "
            + ("its own distribution calibrated on the partner's leave-system-out "
               "predictions (CALIBRATION.md)" if calibrated else "uncalibrated")
            + ", though the partner was trained on no alloy holding such an element; any "
            "other is refused")


def model_card(model: str | Path) -> str:
    """The card of a saved model, rendered from :data:`TEMPLATE`."""
    md = ModelDir(model)
    m = md.manifest
    net, image = m.network_spec, m.image_spec
    rec = Recorded.from_extra(m.extra)
    ev_r = rec.evaluations.get(m.folds.get("grouping", "random"))
    ev_s = rec.evaluations.get("system")
    known = md.known_alloys()
    classes = (", ".join(f"{n} {c}" for c, n in known["gfa_class"].value_counts().items())
               if known is not None else "not carried")
    pairs = list(image.pairs)
    lso_r2 = (f" (leave-system-out R² {fmt(ev_s.model.all.r2_mm, '.2f')} in mm, against "
              f"{fmt(ev_r.model.all.r2_mm, '.2f')} on random folds)" if ev_r and ev_s else "")
    grouping = m.folds.get("grouping", "random")
    values = {
        "id": m.id, "backbone": BACKBONES[net.name].title,
        "target": m.target.replace(DMAX_COLUMN, "Dmax/mm"),
        "image": "one channel x xᵀ" + (f" plus physics channels x_i x_j f(i, j) for "
                                       f"{', '.join(pairs)}" if pairs else ""),
        "heads": ("a bulk-glass log10 Dmax head mixed by a crystal / ribbon / bulk-glass "
                  "class head" if net.head == "mixture" else
                  "with a joint crystal / ribbon / bulk-glass classification head"
                  if net.class_head else "no class head"),
        "n_members": len(m.members), "grouping": grouping,
        "grouping_title": grouping.capitalize(), "folds": m.folds.get("k", len(m.members)),
        "table": m.data.get("table"), "table_sha": m.data.get("sha256"),
        "rows": m.data.get("rows"), "classes": classes,
        "n_elements": len(image.vocabulary), "elements": " ".join(image.vocabulary.elements),
        "order": ("atomic number" if image.vocabulary.order == "z" else "Mendeleev number"),
        "min_count": m.vocabulary.get("min_count"), "flags": recipe_flags(m.config),
        "seed": m.config.get("seed"), "batch_size": m.config.get("batch_size"),
        "patience": m.config.get("patience"), "wall": m.extra.get("training_wall_s", "—"),
        "wall_lso": m.extra.get("system_training_wall_s", "—"),
        "random_section": _section(ev_r, "gfascreen evaluate RUN --into MODEL"),
        "system_section": _section(ev_s, "gfascreen train --grouping system --out LSO_RUN; "
                                          "gfascreen evaluate LSO_RUN --spread-model MODEL "
                                          "--into MODEL"),
        "stack_section": _stack(m, rec), "systems_section": _systems(md),
        "calibration_section": _calibration(md, rec), "storage": _storage(md, rec),
        "loop_section": _loop(m),
        "min_neighbours": m.domain.min_neighbours, "radius": f"{m.domain.radius_at_pct:g}",
        "lso_r2": lso_r2, "model_arg": "default" if md.is_default else str(md.path),
        "outside": _outside_vocabulary(md)}
    try:
        return Template(TEMPLATE.read_text(encoding="utf-8")).substitute(values)
    except (KeyError, ValueError) as exc:
        raise GfaError(f"model card template {TEMPLATE}: {exc}") from None


def write_model_card(model: str | Path) -> Path:
    """Write ``MODEL_CARD.md`` into the model directory; returns its path."""
    md = ModelDir(model)
    path = md.path / CARD
    path.write_text(model_card(model), encoding="utf-8")
    return path


__all__ = ["model_card", "record_evaluation", "recipe_flags", "write_model_card"]

"""Command line: gfascreen data | train | evaluate | card | pack | calibrate | stack |
release | predict | screen | report | suggest | validate, and screen (an alias of
gfascreen screen). ``release`` runs the others' model-making steps in order, resumably.

Every user error (:class:`~gfascreen.errors.GfaError`) is printed as one line on stderr
with exit status 2, never as a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import MISSING, fields
from pathlib import Path

from gfascreen import __version__
from gfascreen.errors import GfaError, Interrupted
from gfascreen.model import columns as pc


def _to_stderr(message: str) -> None:
    """Progress and notes go to stderr, results to stdout."""
    print(message, file=sys.stderr)


# -- data -------------------------------------------------------------------------------
def _cmd_data_build(a: argparse.Namespace) -> None:
    from gfascreen.data.build import build_metadata, build_table, summary
    from gfascreen.tableio import check_parent_exists, write_parquet_atomic

    out = Path(a.out)
    check_parent_exists(out, "--output")
    table, rejects = build_table(a.data_dir, a.sources)
    write_parquet_atomic(table, out, build_metadata(a.sources))
    rej_path = out.with_name(out.stem + ".rejects.parquet")
    write_parquet_atomic(rejects, rej_path)
    print(summary(table, rejects))
    print(f"wrote {out} and {rej_path}")


# -- train / evaluate / predict ---------------------------------------------------------
def _cmd_train(a: argparse.Namespace) -> None:
    from gfascreen.model.recipe import TrainConfig, init_model, table_note
    from gfascreen.model.training.train import train_cv
    from gfascreen.model.training.update import UPDATE_MAX_ROWS

    cfg = _config_from_args(TrainConfig, a)
    if not Path(a.data).is_file():  # said before any note about the table
        raise GfaError(f"--data {a.data}: training table not found; build one with "
                       "`gfascreen data build --out train.parquet`, or give a CSV of "
                       "formula,Dmax (mm)")
    rows = _table_rows(a.data)
    if 0 < rows <= UPDATE_MAX_ROWS and not a.resume and init_model(cfg.init) is not None:
        _update(a, cfg)
        return
    note = table_note(cfg, rows) if rows > 0 else None
    if note:
        print(note, file=sys.stderr)
    metrics = train_cv(a.data, a.out, cfg, resume=a.resume, progress=not a.quiet)
    if metrics is None:
        print(f"training stopped before every fold finished; resume with --resume --out {a.out}")
        return
    from gfascreen.model.evaluation.evaluation_report import Scores

    print(json.dumps(Scores.from_dict(metrics, "metrics").all.to_dict(), indent=2))
    if a.stack and cfg.grouping == "random":
        _stack_after_training(a.out)


def _stack_after_training(out: str) -> None:
    """The descriptor partner and the stack on the run's own folds (a note, not a failure,
    when the table cannot carry them, e.g. a table of one class)."""
    from gfascreen.model.training.stack_model import stack_model

    try:
        rep = stack_model(out, progress=lambda m: None)
    except GfaError as exc:
        print(f"note: no stack ({exc}); the members alone predict", file=sys.stderr)
        return
    from gfascreen.model.evaluation.stack_report import StackEvaluation

    stack = StackEvaluation.from_dict(rep).groupings["random"].parts["stack"]
    print(f"stacked with the descriptor partner on the training folds: {stack.to_dict()}",
          file=sys.stderr)


def _update(a: argparse.Namespace, cfg) -> None:
    """A few cast alloys and a saved model: every member updated on all of them."""
    from gfascreen.data.user_table import read_training_rows
    from gfascreen.model.precision import resolve_device
    from gfascreen.model.training.update import UpdateConfig, update_model

    table, rejects = read_training_rows(a.data)
    for _, r in rejects.iterrows():
        print(f"row {r['row']} ({r['raw_formula']!r}) left out: {r['reason']}",
              file=sys.stderr)
    print(f"note: {len(table)} alloys: updating every member of {cfg.init} on all of them "
          "(rehearsing on its training alloys) instead of training K-fold members; the "
          "interval calibration is the base model's", file=sys.stderr)
    info = update_model(cfg.init, table, a.out, UpdateConfig(seed=cfg.seed),
                        device=str(resolve_device(cfg.device)))
    print(f"updated {info['members']} members on {info['alloys']} alloys in "
          f"{info['seconds']:.0f} s; wrote {a.out} (use it with --model {a.out})")


def _table_rows(path: str) -> int:
    """Rows of a training table or CSV (0 when it cannot be read: training then says why)."""
    try:
        if Path(path).suffix.lower() in (".csv", ".txt"):
            with open(path, encoding="utf-8") as f:
                return max(0, sum(1 for line in f if line.strip()) - 1)
        import pyarrow.parquet as pq

        return pq.ParquetFile(path).metadata.num_rows
    except Exception:
        return 0


def _cmd_evaluate(a: argparse.Namespace) -> None:
    from gfascreen.model.evaluation.evaluate import evaluate_run
    from gfascreen.model.evaluation.evaluation_report import Evaluation
    from gfascreen.model.evaluation.markdown import report_text

    report = Evaluation.from_dict(evaluate_run(a.run_dir, baselines=a.baselines, data=a.data,
                                               spread_model=a.spread_model))
    print(report_text(report))
    print(f"\nwritten: {Path(a.run_dir) / 'evaluation.json'}")
    if a.into:
        from gfascreen.model.evaluation.card import record_evaluation, write_model_card

        grouping = record_evaluation(a.into, a.run_dir, report)
        print(f"recorded in {a.into} as its {grouping}-fold evaluation; model card: "
              f"{write_model_card(a.into)}")


def _cmd_card(a: argparse.Namespace) -> None:
    from gfascreen.model.evaluation.card import write_model_card

    print(f"written: {write_model_card(a.model)}")


def _cmd_pack(a: argparse.Namespace) -> None:
    from gfascreen.model.evaluation.recorded import QuantizationCheck
    from gfascreen.model.training.pack import pack_ensemble

    q = QuantizationCheck.from_dict(pack_ensemble(a.run, a.out, model_id=a.id))
    print(f"packed {a.run} into {a.out} (members of {', '.join(map(str, q.member_mb))} MB); "
          f"largest difference from full precision over {q.compositions} known alloys: "
          f"{q.max_abs_diff_log10_1p_dmax:.4f} in log10(1+Dmax), "
          f"{q.max_abs_diff_mm:.3f} mm")


def _cmd_stack(a: argparse.Namespace) -> None:
    from gfascreen.model.evaluation.card import write_model_card
    from gfascreen.model.evaluation.markdown import headline_table
    from gfascreen.model.evaluation.stack_report import StackEvaluation
    from gfascreen.model.training.stack_model import stack_model

    rep = StackEvaluation.from_dict(stack_model(
        a.model, a.random_oof, progress=_to_stderr, frames=a.frames))
    print(headline_table({f"{g} {part}": h for g in ("random", "system")
                          if g in rep.groupings for part, h in rep.groupings[g].parts.items()}))
    print(f"partner and stack attached to {a.model}, recalibrated in {rep.wall_s:.0f} s; "
          f"model card: {write_model_card(a.model)}")


def _cmd_calibrate(a: argparse.Namespace) -> None:
    from gfascreen.model.evaluation.calibrate import calibrate_model
    from gfascreen.model.evaluation.calibration_report import CalibrationReport
    from gfascreen.model.evaluation.markdown import calibration_summary
    from gfascreen.model.saved import ModelDir

    if a.lso is not None and "stack" in ModelDir(a.model).manifest.extra:
        from gfascreen.model.training.stack_model import stack_model

        print("the model carries a stack: re-stacking on these leave-system-out "
              "predictions, then calibrating", file=sys.stderr)
        stack_model(a.model, lso=a.lso, progress=_to_stderr,
                    recalibrate=False)
        a.lso = None
    print(calibration_summary(CalibrationReport.from_dict(calibrate_model(a.model, a.lso))))
    from gfascreen.model.evaluation.card import write_model_card

    print(f"attached to {a.model}; tables in CALIBRATION.md there; model card: "
          f"{write_model_card(a.model)}")


def _cmd_release(a: argparse.Namespace) -> None:
    from dataclasses import replace

    from gfascreen.model.recipe import recorded_recipe
    from gfascreen.model.training.release import Release, plan, plan_text, run_release, steps

    recipe = recorded_recipe(a.recipe)
    limits = {k: v for k, v in (("max_rows", a.max_rows), ("max_steps", a.max_steps)) if v}
    rel = Release(Path(a.data), Path(a.out), replace(recipe, **limits), Path(a.runs), a.id,
                  a.recipe)
    planned = plan(steps(rel, _to_stderr, bars=not a.quiet),
                   a.steps.split(",") if a.steps else None)
    print(plan_text(planned))
    if a.plan:
        return
    if not Path(a.data).is_file():
        raise GfaError(f"--data {a.data}: training table not found; build one with "
                       "`gfascreen data build --output train.parquet`")
    run_release(rel, planned, _to_stderr)
    print(f"released {a.out} (steps recorded in {rel.log}); use it with --model {a.out}")


def _read_formula_file(path: str, column: str | None) -> list:
    """The formulas of ``--input`` (see :func:`gfascreen.tableio.read_formula_input`)."""
    from gfascreen.tableio import read_formula_input

    return read_formula_input(path, column)[0]


def _with_amount_notes(res):
    """A ``note`` column after ``reason``: what was done to a scored input without
    refusing it (amounts that summed neither to 100 nor to 1, normalised)."""
    from gfascreen.data.parse import amount_note

    res["note"] = [amount_note(f) if ok else ""
                   for f, ok in zip(res["input"], res["in_vocabulary"], strict=True)]
    return res


def _with_input_columns(res, extras):
    """The input's other columns (id, notes, a measured Dmax) beside the predictions,
    right after ``input``; a name the predictions use gets an ``input_`` prefix."""
    if extras is None or extras.shape[1] == 0:
        return res
    extras = extras.rename(columns={c: f"input_{c}" for c in extras.columns
                                    if c in res.columns})
    at = list(res.columns).index("input") + 1
    return res.iloc[:, :at].join(extras).join(res.iloc[:, at:])


def _check_output(path: str) -> None:
    """An output table's format (by extension) and directory, checked before any work;
    ``-`` is standard output (CSV)."""
    import os

    from gfascreen.tableio import check_parent_exists

    if path == "-":
        return
    for p in {Path(os.path.abspath(path)), Path(path).resolve()}:
        if p == Path("/dev") or Path("/dev") in p.parents:
            raise GfaError(f"--output {path}: not a file under /dev; give --output - to "
                           "write CSV to standard output")
    if Path(path).suffix not in (".csv", ".parquet", ".json"):
        raise GfaError(f"--output {path}: name a .csv, .parquet or .json file, or - for "
                       "CSV on standard output")
    check_parent_exists(path, "--output")


def _write_table(res, out: Path | str) -> None:
    """Write predictions in the format the extension names (.csv, .parquet, .json), or as
    CSV on standard output for ``-``."""
    from gfascreen.tableio import write_parquet_atomic

    if str(out) == "-":
        res.to_csv(sys.stdout, index=False)
        sys.stdout.flush()
        return
    out = Path(out)
    if out.suffix == ".parquet":
        write_parquet_atomic(res, out)
        return
    tmp = out.with_name(f".{out.name}.tmp")
    if out.suffix == ".json":
        res.to_json(tmp, orient="records", indent=1)
    else:
        res.to_csv(tmp, index=False)
    tmp.replace(out)


#: Inputs per batch of ``predict`` (the progress bar moves once per batch).
PREDICT_BATCH = 512


def _predict_batches(ens, formulas: list, a: argparse.Namespace, thresholds):
    """Predictions in batches, with a progress bar and ETA on stderr for long inputs (not
    with --quiet, nor when stderr is not a terminal)."""
    import pandas as pd
    from tqdm.auto import tqdm

    show = len(formulas) > PREDICT_BATCH and not a.quiet and sys.stderr.isatty()
    parts = []
    with tqdm(total=len(formulas), unit="alloy", disable=not show, desc="predict") as bar:
        for i in range(0, len(formulas), PREDICT_BATCH):
            chunk = formulas[i:i + PREDICT_BATCH]
            parts.append(ens.predict(chunk, strict=a.strict, confidence=a.confidence,
                                     thresholds_mm=thresholds))
            bar.update(len(chunk))
    return pd.concat(parts, ignore_index=True)


def _unknown_columns(res) -> list[str]:
    """The measured_* columns when no input is a known alloy (left off the printed table;
    files keep them)."""
    from gfascreen.screening.known import MEASURED_COLUMNS

    cols = [c for c in MEASURED_COLUMNS if c in res.columns]
    return cols if cols and (res["measured_class"] == "").all() else []


def _predict_inputs(a: argparse.Namespace):
    """The formulas to predict, command line first, then ``--input``'s; and the input's
    other columns (None without ``--input``), one row per formula."""
    import pandas as pd

    formulas, extras = list(a.formulas), None
    if a.input:
        from gfascreen.tableio import read_formula_input

        read, extras, notes = read_formula_input(a.input, a.column)
        for n in notes:
            print(n, file=sys.stderr)
        if formulas:  # formulas on the command line come first, without input columns
            extras = pd.concat([extras.iloc[:0].reindex(range(len(formulas))), extras],
                               ignore_index=True)
        formulas += read
    if not formulas:
        raise GfaError("give formulas (e.g. Al25Co20La55) or --input file.csv")
    return formulas, extras


def _show_predictions(res, a: argparse.Namespace) -> None:
    """The predictions written where ``--output`` says (a file, ``-`` for CSV on stdout),
    or printed as a table without the spread and log columns."""
    import pandas as pd

    footer = (f"interval dmax_lo..dmax_hi and lower bound dmax_at_least at "
              f"{round(100 * a.confidence)} % confidence; probabilities calibrated on "
              "unseen alloy systems (model card)")
    if a.output == "-":  # the table alone on stdout, everything else on stderr
        _write_table(res, "-")
        print(f"{footer}; wrote {len(res)} predictions to standard output", file=sys.stderr)
    elif a.output:
        _write_table(res, Path(a.output))
        print(f"wrote {len(res)} predictions to {a.output}")
    else:
        with pd.option_context("display.max_columns", None, "display.width", 220):
            shown = res.drop(columns=[pc.LOG_DMAX, pc.LOG_DMAX_STD, pc.DIFFICULTY_LOG, pc.DMAX_STD,
                                      pc.P_CRYSTAL, pc.P_RIBBON]
                             + (["note"] if (res["note"] == "").all() else [])
                             + _unknown_columns(res))
            print(shown.round(3).to_string(index=False))
            print(footer)


def _predict_notes(res) -> None:
    """One line on stderr each for inputs not scored, known alloys and normalised amounts."""
    skipped = int((~res["in_vocabulary"]).sum())
    if skipped:
        print(f"gfascreen: {skipped} of {len(res)} inputs could not be scored (see the "
              "reason column)", file=sys.stderr)
    known = int((res["measured_class"] != "").sum()) if "measured_class" in res else 0
    if known:
        print(f"gfascreen: note: {known} of {len(res)} inputs are known alloys of the model: "
              "measured_class, measured_dmax_mm and measured_source give what was measured "
              "(the prediction is still the model's own)", file=sys.stderr)
    normalised = int((res["note"] != "").sum())
    if normalised:
        print(f"gfascreen: note: the amounts of {normalised} of {len(res)} inputs summed "
              "neither to 100 nor to 1 and were normalised (see the note column)",
              file=sys.stderr)


def _cmd_predict(a: argparse.Namespace) -> None:
    from gfascreen.model.calibration import check_confidence, parse_thresholds
    from gfascreen.model.ensemble import Ensemble

    check_confidence(a.confidence)
    thresholds = parse_thresholds(a.thresholds)
    if a.output:
        _check_output(a.output)
    formulas, extras = _predict_inputs(a)
    ens = Ensemble.load(a.model, device=a.device, precision=a.precision)
    res = _with_amount_notes(_predict_batches(ens, formulas, a, thresholds))
    res = _with_input_columns(res, extras)
    if not res["in_vocabulary"].any():
        raise GfaError(f"no input could be scored; {res['reason'].iloc[0]}")
    if ens.calibration is None:
        print("note: this model carries no calibration; dmax_lo/dmax_hi are NaN",
              file=sys.stderr)
    _show_predictions(res, a)
    _predict_notes(res)


# -- screen / report / validate ---------------------------------------------------------
def _cmd_screen(a: argparse.Namespace) -> None:
    from gfascreen.screening.run import ScreenConfig, screen, summary_text

    if a.out is not None and not a.out.strip():
        raise GfaError("--out is empty; name the run directory, or leave --out out for "
                       "./screen_SYSTEM_stepSTEP")
    cfg = _config_from_args(ScreenConfig, a, include_edges=not a.interior,
                            progress=not a.quiet)
    out = screen(cfg)
    summary = Path(out) / "_summary.json"
    if summary.is_file():
        print(summary_text(json.loads(summary.read_text())))
    if a.report:
        from gfascreen.screening.report import write_report

        print("writing the report ...", file=sys.stderr, flush=True)
        print(f"report: {write_report(out)}")


def _at_pct_list(text: str) -> list[float]:
    """``--slices 10,15,20``: at.% values, each in [0, 100]."""
    try:
        vals = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give at.% values separated by commas, "
                                         "e.g. 10,15,20") from None
    if not vals or any(not 0 <= v <= 100 for v in vals):
        raise argparse.ArgumentTypeError(f"{text!r}: give at.% values from 0 to 100 "
                                         "separated by commas, e.g. 10,15,20")
    return vals


def _cmd_report(a: argparse.Namespace) -> None:
    from gfascreen.screening.report import write_report

    path = write_report(a.run_dir, data=a.data, log_color=a.log_color, partial=a.partial,
                        svg=a.svg, slices=a.slices)
    print(f"report: {path}")


def _cmd_suggest(a: argparse.Namespace) -> None:
    import pandas as pd

    from gfascreen.screening.suggest import suggest_run

    if a.output:
        _check_output(a.output)
    picks, why = suggest_run(a.run_dir, a.n, a.min_distance, a.out_of_domain, a.ucb,
                             a.target_mm, a.partial, a.away_from_known)
    for line in why.splitlines():
        print(f"gfascreen: {line}", file=sys.stderr)
    if a.output:
        _write_table(picks, a.output)
        print(f"wrote {len(picks)} suggestions to "
              f"{'standard output' if a.output == '-' else a.output}",
              file=sys.stderr if a.output == "-" else sys.stdout)
        return
    with pd.option_context("display.max_colwidth", None, "display.width", 220):
        print(picks[["pick", "composition", "score", pc.DMAX_MM, pc.DMAX_LO, pc.DMAX_HI,
                     pc.DMAX_AT_LEAST, pc.P_BMG, pc.IN_DOMAIN, "nearest_known",
                     "nearest_known_dmax_mm", "nearest_known_l1_at_pct"]]
              .rename(columns={"nearest_known_dmax_mm": "its_dmax_mm",
                               "nearest_known_l1_at_pct": "l1_at_pct"})
              .round(3).to_string(index=False))
        print()
        for _, r in picks.iterrows():
            print(f"{r['pick']}. {r['composition']}: {r['reason']}")


def _cmd_validate(a: argparse.Namespace) -> None:
    from gfascreen import validation

    if not a.out.strip():
        raise GfaError("--out is empty; name the directory for the maps and tables")
    if a.blind:
        print(validation.validate_blind(a.systems, model=a.model, out=a.out))
    else:
        print(f"note: validate writes its maps and tables to {a.out}/ (--out)",
              file=sys.stderr, flush=True)
        print(validation.validate(a.systems or ["La-Co-Al", "Al-Co-Zr"], step=a.step,
                                  model=a.model, data=a.data, out=a.out, device=a.device,
                                  holdout=a.holdout_system))
    print(f"wrote {Path(a.out) / 'summary.md'} and the rest of {a.out}/", file=sys.stderr)


# -- options from the config dataclasses -------------------------------------------------
def _config_from_args(cls, a: argparse.Namespace, **override):
    """A config dataclass from the parsed options of the same names."""
    pc.names = {f.name for f in fields(cls)}
    return cls(**{**{k: v for k, v in vars(a).items() if k in pc.names}, **override})


def _add_config_args(p: argparse.ArgumentParser, cls, helps: dict[str, str],
                     skip: tuple[str, ...] = ()) -> None:
    """One option per field of ``cls``, its default taken from the dataclass (so defaults
    live in one place); booleans become --flag / --no-flag."""
    defaults = cls(**{f.name: None for f in fields(cls)
                      if f.default is MISSING and f.default_factory is MISSING})
    for f in fields(cls):
        if f.name in skip:
            continue
        default = getattr(defaults, f.name)
        flag = "--" + f.name.replace("_", "-")
        h = helps.get(f.name, "")
        if isinstance(default, bool):
            p.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction,
                           default=default, help=h)
        elif default is None:
            p.add_argument(flag, dest=f.name, default=None, help=h)
        else:
            p.add_argument(flag, dest=f.name, type=type(default), default=default,
                           help=f"{h} (default {default})"
                           if h and "(default" not in h and default != "" else h)


def _add_screen_args(p: argparse.ArgumentParser) -> None:
    from gfascreen.model.precision import PRECISIONS
    from gfascreen.screening.options import HELP, ScreenConfig

    p.add_argument("--system", required=True, help=HELP["system"])
    _add_config_args(p, ScreenConfig, HELP,
                     skip=("system", "include_edges", "progress", "resume", "precision"))
    p.add_argument("--precision", choices=PRECISIONS, default=ScreenConfig.precision,
                   help=HELP["precision"] + "; auto finishes a resumed run in its own")
    p.add_argument("--resume", action="store_true", help=HELP["resume"])
    p.add_argument("--interior", action="store_true",
                   help="leave out pure elements and binaries (default: whole closed simplex)")
    p.add_argument("--report", action="store_true", help="write the HTML report afterwards")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_screen)


TRAIN_HELP = {
    "folds": "K of K-fold cross-validation; one member per fold",
    "grouping": "random K-fold, or system (leave-alloy-system-out)",
    "steps": "optimiser steps per member (one-cycle: warm-up, cosine decay), whatever the "
             "table's size",
    "epochs": "budget in epochs instead of --steps (0 = use --steps)",
    "patience": "early-stopping patience (validations, ~20 per budget)",
    "batch_size": "images per optimiser step", "lr": "peak learning rate (one-cycle)",
    "lds": "label distribution smoothing loss weights",
    "fds": "feature distribution smoothing", "mixup": "Mixup Beta alpha (0 = off)",
    "class_head": "joint crystal/ribbon/bmg classification head",
    "bmg_weight": "loss weight of bulk glasses' Dmax relative to other alloys",
    "head": "direct (one head regresses the target for every alloy, shipped) or mixture "
            "(a bulk-glass log10 Dmax head beside the class head; Dmax = P(bmg) x bulk "
            "Dmax + P(ribbon) x 0.1 mm)",
    "coords": "add row/column coordinate channels (CoordConv)",
    "amp": "bf16 autocast in training (CUDA; CPUs with native bf16); the shipped recipe is fp32",
    "min_count": "keep elements found in at least this many alloys",
    "order": "element order: z (atomic number) or mendeleev",
    "init": "scratch, imagenet, a trunk weights file, or a saved model to fine-tune: "
            "`default` (the shipped model) or a model directory, whose vocabulary, image, "
            "target and heads are kept", "max_rows": "train on a random subset",
    "weight_decay": "AdamW weight decay",
    "class_weight": "loss weight of the crystal/ribbon/bmg class head beside the Dmax "
                    "regression",
    "val_fraction": "share of each member's training fold held out for early stopping",
    "seed": "random seed of the folds, the inner validation split and the initialisation",
    "max_steps": "batches per epoch cap", "device": "auto, cpu, cuda ...",
    "target": "regression target: floor = log10(Dmax+0.01) (shipped) or log1p = log10(1+Dmax)",
    "stem": "resnet (7x7/2 conv + max-pool, shipped) or no-maxpool",
    "backbone": "torchvision ResNet of the members' trunk (the shipped model's: resnet50)",
    "pairs": "physics channels x_i x_j f(i,j), comma-separated: hmix (mixing enthalpy), "
             "size (atomic-size mismatch), chi (electronegativity difference); default none",
}


def _add_train_args(t: argparse.ArgumentParser) -> None:
    from gfascreen.model.backbone import BACKBONES
    from gfascreen.model.recipe import TrainConfig

    t.add_argument("--data", default="train.parquet",
                   help="training table from `data build`, or a CSV of formula,Dmax (mm) "
                        "such as a lab's own cast alloys (with --init default: fine-tune "
                        "the shipped members on them)")
    t.add_argument("--out", required=True, help="run directory (becomes the model)")
    _add_config_args(t, TrainConfig, TRAIN_HELP,
                     skip=("only_folds", "max_rows", "max_steps", "grouping", "order",
                           "backbone"))
    t.add_argument("--backbone", choices=list(BACKBONES), default=TrainConfig.backbone,
                   help=TRAIN_HELP["backbone"])
    t.add_argument("--grouping", choices=["random", "system"], default="random",
                   help=TRAIN_HELP["grouping"])
    t.add_argument("--order", choices=["z", "mendeleev"], default="z", help=TRAIN_HELP["order"])
    t.add_argument("--max-rows", type=int, default=None, help=TRAIN_HELP["max_rows"])
    t.add_argument("--max-steps", type=int, default=None, help=TRAIN_HELP["max_steps"])
    t.add_argument("--resume", action="store_true", help="continue an interrupted run")
    t.add_argument("--no-stack", dest="stack", action="store_false",
                   help="skip the descriptor partner and the stack that a random-fold run "
                        "otherwise gets on its own folds (`gfascreen stack` adds them later)")
    t.add_argument("--quiet", action="store_true")
    t.set_defaults(func=_cmd_train)


def _add_data_command(sub: argparse._SubParsersAction) -> None:
    d = sub.add_parser("data", help="build the training table from the raw data sets")
    dsub = d.add_subparsers(dest="data_command", required=True)
    b = dsub.add_parser("build", help="parse, label and merge the raw files into one table")
    b.add_argument("--data-dir", default=None, help="directory with the raw files")
    b.add_argument("--output", "--out", dest="out", default="train.parquet",
                   help="output Parquet file (default train.parquet; --out, a folder "
                        "everywhere else, is kept as an alias here)")
    b.add_argument("--sources", nargs="+", default=None, help="subset of sources (default all)")
    b.set_defaults(func=_cmd_data_build)


def _add_evaluate_command(sub: argparse._SubParsersAction) -> None:
    e = sub.add_parser("evaluate", help="metrics, screening metrics and baselines for a run")
    e.add_argument("run_dir")
    e.add_argument("--data", default=None, help="training table (for baselines)")
    e.add_argument("--spread-model", default=None,
                   help="model whose member spread is the difficulty for the calibration "
                        "measurements (e.g. default); off when not given")
    e.add_argument("--baselines", action=argparse.BooleanOptionalAction, default=True,
                   help="random forest / gradient boosting on the same folds")
    e.add_argument("--into", default=None, metavar="MODEL",
                   help="record this evaluation in a model directory (its random or "
                        "leave-system-out section) and rewrite its model card")
    e.set_defaults(func=_cmd_evaluate)


def _add_card_command(sub: argparse._SubParsersAction) -> None:
    cd = sub.add_parser("card", help="write a model's MODEL_CARD.md from what it records")
    cd.add_argument("model", help="model directory, or default (the shipped model)")
    cd.set_defaults(func=_cmd_card)


def _add_pack_command(sub: argparse._SubParsersAction) -> None:
    pk = sub.add_parser("pack", help="pack a finished run into a compact model directory "
                        "(int8 weights, float16 stem; the difference checked and recorded)")
    pk.add_argument("run", help="finished training run (a model directory)")
    pk.add_argument("--out", required=True, help="packed model directory")
    pk.add_argument("--id", default="gfascreen-default", help="model id of the packed model")
    pk.set_defaults(func=_cmd_pack)


def _add_calibrate_command(sub: argparse._SubParsersAction) -> None:
    c = sub.add_parser("calibrate", help="fit and attach calibrated intervals, lower bounds "
                       "and probabilities from leave-system-out predictions")
    c.add_argument("model", help="model directory, or default (the shipped model)")
    c.add_argument("--lso", default=None,
                   help="leave-system-out run evaluated with `evaluate RUN --spread-model "
                        "MODEL` (default: the predictions the model carries)")
    c.set_defaults(func=_cmd_calibrate)


def _add_stack_command(sub: argparse._SubParsersAction) -> None:
    st = sub.add_parser("stack", help="train the descriptor partner (LightGBM on Magpie "
                        "descriptors) and the stack on the model's out-of-fold predictions "
                        "(nested), attach both and recalibrate")
    st.add_argument("model", help="model directory (it is changed in place)")
    st.add_argument("--random-oof", default=None,
                    help="random-fold out-of-fold predictions of the same members (a run "
                         "directory or oof.parquet), for the side-by-side table")
    st.add_argument("--frames", default=None,
                    help="directory to keep the out-of-fold frames in, for research")
    st.set_defaults(func=_cmd_stack)


def _add_release_command(sub: argparse._SubParsersAction) -> None:
    rl = sub.add_parser("release", help="build a shippable model from a training table: "
                        "train, pack, evaluate, calibrate, stack, card (resumable)")
    rl.add_argument("--data", default="train.parquet", help="training table (default "
                    "train.parquet)")
    rl.add_argument("--out", required=True, help="model directory to write")
    rl.add_argument("--runs", default="runs", help="directory of the training runs, the "
                    "out-of-fold tables and the release log (default runs)")
    rl.add_argument("--recipe", default="default",
                    help="the training recipe: default (the one the shipped model recorded: "
                         "`gfascreen train --epochs 10`), a model or run directory, or a "
                         "JSON file of `gfascreen train` fields")
    rl.add_argument("--id", default=None, help="model id (default: the --out folder's name)")
    rl.add_argument("--steps", default=None,
                    help="comma-separated steps to consider (default all; --plan lists them)")
    rl.add_argument("--max-rows", type=int, default=None, help="rehearsal: train on a random "
                    "subset of this many alloys")
    rl.add_argument("--max-steps", type=int, default=None,
                    help="rehearsal: at most this many batches per epoch")
    rl.add_argument("--plan", "--dry-run", dest="plan", action="store_true",
                    help="print the steps, which are done and the equivalent commands; run "
                         "nothing")
    rl.add_argument("--quiet", action="store_true", help="no progress bars")
    rl.set_defaults(func=_cmd_release)


def _add_predict_command(sub: argparse._SubParsersAction) -> None:
    from gfascreen.model.precision import PRECISIONS
    from gfascreen.screening.options import HELP as SCREEN_HELP
    from gfascreen.screening.options import ScreenConfig

    pr = sub.add_parser("predict", help="predict Dmax (mm) for formulas, one row per input")
    pr.add_argument("formulas", nargs="*", help="e.g. Al25Co20La55 Zr55Co29Al16")
    pr.add_argument("--input", default=None,
                    help="formulas from a CSV or text file (one per line), a Parquet file "
                         "(a column) or a JSON list; - reads standard input")
    pr.add_argument("--column", default=None,
                    help="formula column of --input (default: a column named formula, "
                         "composition or alloy, else the first; a number, from 1, for a "
                         "file without column names); its other columns are kept beside "
                         "the predictions")
    pr.add_argument("--output", default=None,
                    help="write .csv, .parquet or .json (by extension) instead of printing; "
                         "- writes CSV to standard output (notes on stderr)")
    pr.add_argument("--model", default="default",
                    help="model directory (default: the shipped ensemble)")
    pr.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1 ...")
    pr.add_argument("--precision", choices=PRECISIONS, default=ScreenConfig.precision,
                    help=SCREEN_HELP["precision"])
    pr.add_argument("--confidence", type=float, default=ScreenConfig.confidence,
                    help=SCREEN_HELP["confidence"])
    pr.add_argument("--thresholds", default=None, help=SCREEN_HELP["thresholds"])
    pr.add_argument("--quiet", action="store_true", help="no progress bar")
    pr.add_argument("--strict", action="store_true",
                    help="refuse the whole batch if any input cannot be scored")
    pr.set_defaults(func=_cmd_predict)


def _add_report_command(sub: argparse._SubParsersAction) -> None:
    r = sub.add_parser("report", help="HTML/PNG/SVG maps of a screening run")
    r.add_argument("run_dir")
    r.add_argument("--data", default=None,
                   help="training table for the known-alloy overlay (default: the alloys the "
                        "model carries)")
    r.add_argument("--log-color", action="store_true", help="log colour scale for Dmax")
    r.add_argument("--svg", action="store_true",
                   help="also write map.svg beside map.png (ternaries; several MB at fine "
                        "steps)")
    r.add_argument("--partial", action="store_true",
                   help="report an incomplete run from the parts written so far (said so "
                        "on the page)")
    r.add_argument("--slices", type=_at_pct_list, default=None, metavar="AT,AT,...",
                   help="quaternary runs: the at.%% of the fourth element to slice at, on the "
                        "run's grid, e.g. 10,15,20 (default: four through the best region, "
                        "said on the page)")
    r.set_defaults(func=_cmd_report)


def _add_suggest_command(sub: argparse._SubParsersAction) -> None:
    sg = sub.add_parser("suggest", help="the next alloys to cast from a finished screen")
    sg.add_argument("run_dir")
    sg.add_argument("-n", "--count", "--n", dest="n", type=int, default=5,
                    help="how many compositions (default 5)")
    sg.add_argument("--min-distance", type=float, default=5.0,
                    help="at.%% that must move between any two picks (default 5)")
    sg.add_argument("--target-mm", type=float, default=None,
                    help="rank by the calibrated P(Dmax >= T mm) (the default ranking; "
                         "default T: among the system's measured bulk-glass Dmax values "
                         "and the model's thresholds, the one whose P(Dmax >= T) varies "
                         "most across the grid; said on stderr)")
    sg.add_argument("--away-from-known", type=float, default=0.0, metavar="D",
                    help="keep picks at least D at.%% (L1) from every measured alloy of "
                         "the model (default 0: each pick still names its nearest one)")
    sg.add_argument("--ucb", type=float, default=None,
                    help="rank by the upper bound of the calibrated interval at this "
                         "confidence instead (e.g. 0.68; 0.9 favours the most uncertain "
                         "points)")
    sg.add_argument("--out-of-domain", action="store_true",
                    help="also pick where the model has no nearby training alloys")
    sg.add_argument("--output", default=None,
                    help="write .csv, .parquet or .json; - writes CSV to standard output")
    sg.add_argument("--partial", action="store_true",
                    help="suggest from an incomplete run's parts written so far")
    sg.set_defaults(func=_cmd_suggest)


def _add_validate_command(sub: argparse._SubParsersAction) -> None:
    v = sub.add_parser("validate", help="maps and rank agreement for known systems")
    v.add_argument("--systems", nargs="+", default=None,
                   help="systems to check (default La-Co-Al Al-Co-Zr; with --blind the five "
                        "reference systems)")
    v.add_argument("--blind", action="store_true",
                   help="from the model's kept leave-system-out predictions (no retraining)")
    v.add_argument("--step", type=float, default=1.0, help="grid step in at.%%")
    v.add_argument("--model", default="default", help="model directory")
    v.add_argument("--data", default=None,
                   help="training table (default: the alloys the model carries)")
    v.add_argument("--out", default="validation", help="output directory")
    v.add_argument("--device", default="auto")
    v.add_argument("--holdout-system", action="store_true",
                   help="retrain without each system's alloys first (costs a full training)")
    v.set_defaults(func=_cmd_validate)


def build_parser() -> argparse.ArgumentParser:
    """The `gfascreen` parser: one sub-command each, added by its `_add_*` function."""
    p = argparse.ArgumentParser(
        prog="gfascreen",
        description="Composition-space screening of bulk metallic glasses: predicted Dmax "
                    "(critical casting diameter, mm) from a ResNet50 OP-image ensemble.")
    p.add_argument("--version", action="version", version=f"gfascreen {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    _add_data_command(sub)
    _add_train_args(sub.add_parser("train", help="K-fold training of the ResNet ensemble"))
    _add_evaluate_command(sub)
    _add_card_command(sub)
    _add_pack_command(sub)
    _add_calibrate_command(sub)
    _add_stack_command(sub)
    _add_release_command(sub)
    _add_predict_command(sub)
    _add_screen_args(sub.add_parser("screen", help="score every composition of a system"))
    _add_report_command(sub)
    _add_suggest_command(sub)
    _add_validate_command(sub)
    return p


def _run(parser: argparse.ArgumentParser, argv: list[str] | None) -> int:
    args = parser.parse_args(argv)
    try:
        args.func(args)
    except GfaError as exc:
        print(f"gfascreen: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a file-system refusal no check foresaw: still one line
        where = f" ({exc.filename})" if exc.filename else ""
        print(f"gfascreen: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 2
    except Interrupted as exc:  # the command said what is kept and how to go on
        print(exc, file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("\ngfascreen: interrupted (finished parts are kept; rerun with --resume)",
              file=sys.stderr)
        return 130
    return 0


def main(argv: list[str] | None = None) -> int:
    return _run(build_parser(), argv)


def screen_main(argv: list[str] | None = None) -> int:
    """``screen ...``: the same as ``gfascreen screen ...``."""
    p = argparse.ArgumentParser(prog="screen", description="score every composition of a system")
    p.add_argument("--version", action="version", version=f"gfascreen {__version__}")
    _add_screen_args(p)
    return _run(p, argv)


if __name__ == "__main__":
    sys.exit(main())

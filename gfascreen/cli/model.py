"""The commands that make a model: ``data build`` (the training table), ``train``,
``evaluate``, ``card``, ``pack``, ``calibrate``, ``stack``, ``bf16-check`` and ``release``
(all of them in order, resumably)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from gfascreen.cli.common import add_config_args, config_from_args, to_stderr
from gfascreen.errors import GfaError


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


def _cmd_train(a: argparse.Namespace) -> None:
    from gfascreen.model.recipe import UPDATE_MAX_ROWS, TrainConfig, init_model
    from gfascreen.model.training.train import train_cv

    cfg = config_from_args(TrainConfig, a)
    if not Path(a.data).is_file():  # said before any note about the table
        raise GfaError(f"--data {a.data}: training table not found; build one with "
                       "`gfascreen data build --out train.parquet`, or give a CSV of "
                       "formula,Dmax (mm)")
    rows = _table_rows(a.data)
    if 0 < rows <= UPDATE_MAX_ROWS and not a.resume and init_model(cfg.init) is not None:
        _update(a, cfg)
        return
    metrics = train_cv(a.data, a.out, cfg, resume=a.resume, progress=not a.quiet,
                       notes=to_stderr)
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
    from gfascreen.model.training.attach_stack import stack_model

    try:
        rep = stack_model(out, progress=lambda m: None)
    except GfaError as exc:
        print(f"note: no stack: {exc}; the members alone predict", file=sys.stderr)
        return
    from gfascreen.model.evaluation.stack_report import StackEvaluation

    stack = StackEvaluation.from_dict(rep).groupings["random"].parts["stack"]
    print(f"stacked with the descriptor partner on the training folds: {stack.to_dict()}",
          file=sys.stderr)


def _update(a: argparse.Namespace, cfg) -> None:
    """A few cast alloys and a saved model: the casts correct the distribution near them
    (the partner refitted with --refit-partner, the members fine-tuned with
    --fine-tune-members), the rest carried; what moved printed."""
    from gfascreen.data.user_table import read_training_rows
    from gfascreen.model.evaluation.moved import moved_text
    from gfascreen.model.precision import resolve_device
    from gfascreen.model.training.update import UpdateConfig, update_model

    table, rejects = read_training_rows(a.data)
    for _, r in rejects.iterrows():
        print(f"row {r['row']} ({r['raw_formula']!r}) left out: {r['reason']}",
              file=sys.stderr)
    print(f"note: {len(table)} alloys: updating {cfg.init} on all of them instead of "
          "training K-fold members", file=sys.stderr)
    info = update_model(cfg.init, table, a.out,
                        UpdateConfig(seed=cfg.seed, members=a.fine_tune_members,
                                     partner=a.refit_partner),
                        device=str(resolve_device(cfg.device)), progress=to_stderr)
    print(moved_text(info["moved"]))
    took = "".join(f", {k} {v:.0f} s" for k, v in info["seconds"].items())
    print(f"updated on {info['alloys']} alloys{took}; wrote {a.out} with UPDATE.md "
          f"(use it with --model {a.out})")


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


def _statement_grid(spec: str) -> tuple[str, float]:
    """``--statements SYSTEM[:STEP]`` (step in at.%, default 1) as (system, step)."""
    system, _, step = spec.partition(":")
    try:
        return system, float(step or 1.0)
    except ValueError:
        raise GfaError(f"--statements {spec}: give a system and a step in at.%, e.g. "
                       "La-Co-Al:1") from None


def _cmd_statements(a: argparse.Namespace) -> None:
    """``evaluate MODEL --statements SYSTEM:STEP``: the checks no fold measures."""
    import numpy as np

    from gfascreen.model.ensemble import Ensemble
    from gfascreen.model.evaluation.statement_checks import check_statements
    from gfascreen.screening.grid import CompositionGrid

    given = [opt for opt, v in (("--data", a.data), ("--spread-model", a.spread_model),
                                ("--into", a.into)) if v]
    if given:
        raise GfaError(f"{', '.join(given)}: for evaluating a training run, not with "
                       "--statements; run them as two commands")
    system, step = _statement_grid(a.statements)
    grid = CompositionGrid(system, step)
    ens = Ensemble.load(a.run_dir)
    units = np.concatenate(list(grid.units_chunks()))
    checks = check_statements(ens, "-".join(grid.elements),
                              ens.featurizer.from_amounts(units, grid.elements))
    print(checks.text())
    if a.json:
        Path(a.json).write_text(json.dumps(checks.to_dict(), indent=1) + "\n")
        print(f"written: {a.json}")


def _cmd_evaluate(a: argparse.Namespace) -> None:
    if a.statements:
        return _cmd_statements(a)
    if a.json:
        raise GfaError("--json writes the --statements checks; give --statements SYSTEM:STEP "
                       "or leave --json out (a run's evaluation is written to evaluation.json)")
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
    from gfascreen.model.training.attach_stack import stack_model

    rep = StackEvaluation.from_dict(stack_model(
        a.model, a.random_oof, progress=to_stderr, frames=a.frames))
    print(headline_table({f"{g} {part}": h for g in ("random", "system")
                          if g in rep.groupings for part, h in rep.groupings[g].parts.items()}))
    print(f"partner and stack attached to {a.model}, recalibrated in {rep.wall_s:.0f} s; "
          f"model card: {write_model_card(a.model)}")


def _cmd_calibrate(a: argparse.Namespace) -> None:
    from gfascreen.model.evaluation.calibrate import calibrate_model
    from gfascreen.model.evaluation.calibration_report import CalibrationReport
    from gfascreen.model.evaluation.markdown import calibration_summary
    from gfascreen.model.saved import ModelDir

    if a.lso is not None and ModelDir(a.model).manifest.stack is not None:
        from gfascreen.model.training.attach_stack import stack_model

        print("the model carries a stack: re-stacking on these leave-system-out "
              "predictions, then calibrating", file=sys.stderr)
        stack_model(a.model, lso=a.lso, progress=to_stderr,
                    recalibrate=False)
        a.lso = None
    print(calibration_summary(CalibrationReport.from_dict(calibrate_model(a.model, a.lso))))
    from gfascreen.model.evaluation.card import write_model_card

    print(f"attached to {a.model}; tables in CALIBRATION.md there; model card: "
          f"{write_model_card(a.model)}")


def _cmd_bf16_check(a: argparse.Namespace) -> None:
    from gfascreen.model.training.bf16_check import measure, record, summary

    rec = measure(a.model, a.device)
    print(summary(rec))
    if a.write:
        print(record(a.model, rec))


def _cmd_release(a: argparse.Namespace) -> None:
    from dataclasses import replace

    from gfascreen.model.recipe import recorded_recipe
    from gfascreen.model.training.release import Release, plan, plan_text, run_release, steps

    recipe = recorded_recipe(a.recipe)
    limits = {k: v for k, v in (("max_rows", a.max_rows), ("max_steps", a.max_steps)) if v}
    rel = Release(Path(a.data), Path(a.out), replace(recipe, **limits), Path(a.runs), a.id,
                  a.recipe)
    planned = plan(steps(rel, to_stderr, bars=not a.quiet),
                   a.steps.split(",") if a.steps else None)
    print(plan_text(planned))
    if a.plan:
        return
    if not Path(a.data).is_file():
        raise GfaError(f"--data {a.data}: training table not found; build one with "
                       "`gfascreen data build --output train.parquet`")
    run_release(rel, planned, to_stderr)
    print(f"released {a.out} (steps recorded in {rel.log}); use it with --model {a.out}")


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


def add_train_args(t: argparse.ArgumentParser) -> None:
    from gfascreen.model.backbone import BACKBONES
    from gfascreen.model.recipe import UPDATE_MAX_ROWS, TrainConfig

    t.add_argument("--data", default="train.parquet",
                   help="training table from `data build`, or a CSV of formula,Dmax (mm) "
                        "such as a lab's own cast alloys (with --init default: update the "
                        "shipped model on them)")
    t.add_argument("--out", required=True, help="run directory (becomes the model)")
    add_config_args(t, TrainConfig, TRAIN_HELP,
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
    t.add_argument("--refit-partner", action="store_true",
                   help=f"with --init MODEL and at most {UPDATE_MAX_ROWS} alloys (an update): "
                        "also refit the descriptor partner on the known and cast alloys "
                        "(minutes on a CPU); by default the casts correct the predicted "
                        "distribution near them and every other part is carried")
    t.add_argument("--fine-tune-members", action="store_true",
                   help=f"with --init MODEL and at most {UPDATE_MAX_ROWS} alloys (an update): "
                        "also fine-tune the members' last stage and heads (minutes more "
                        "on a CPU)")
    t.add_argument("--quiet", action="store_true")
    t.set_defaults(func=_cmd_train)


def add_data_command(sub: argparse._SubParsersAction) -> None:
    d = sub.add_parser("data", help="build the training table from the raw data sets")
    dsub = d.add_subparsers(dest="data_command", required=True)
    b = dsub.add_parser("build", help="parse, label and merge the raw files into one table")
    b.add_argument("--data-dir", default=None, help="directory with the raw files")
    b.add_argument("--output", "--out", dest="out", default="train.parquet",
                   help="output Parquet file (default train.parquet; --out, a folder "
                        "everywhere else, is kept as an alias here)")
    b.add_argument("--sources", nargs="+", default=None, help="subset of sources (default all)")
    b.set_defaults(func=_cmd_data_build)


def add_evaluate_command(sub: argparse._SubParsersAction) -> None:
    e = sub.add_parser("evaluate", help="metrics, screening metrics and baselines for a run; "
                       "with --statements, checks of a model's statements")
    e.add_argument("run_dir", help="a training run, or with --statements a model (default: "
                   "the shipped one)")
    e.add_argument("--statements", default=None, metavar="SYSTEM:STEP",
                   help="check the model RUN_DIR's statements that no fold measures: the "
                        "largest share of SYSTEM's grid (STEP at.%%, default 1) holding one "
                        "P(glass) or P(bulk glass), the pure metals' P(glass), its thick "
                        "bulk glasses' predicted/measured Dmax and two known ones")
    e.add_argument("--json", default=None, metavar="FILE",
                   help="with --statements: also write the checks as JSON")
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


def add_card_command(sub: argparse._SubParsersAction) -> None:
    cd = sub.add_parser("card", help="write a model's MODEL_CARD.md from what it records")
    cd.add_argument("model", help="model directory, or default (the shipped model)")
    cd.set_defaults(func=_cmd_card)


def add_pack_command(sub: argparse._SubParsersAction) -> None:
    pk = sub.add_parser("pack", help="pack a finished run into a compact model directory "
                        "(int8 weights, float16 stem; the difference checked and recorded)")
    pk.add_argument("run", help="finished training run (a model directory)")
    pk.add_argument("--out", required=True, help="packed model directory")
    pk.add_argument("--id", default="gfascreen-default", help="model id of the packed model")
    pk.set_defaults(func=_cmd_pack)


def add_calibrate_command(sub: argparse._SubParsersAction) -> None:
    c = sub.add_parser("calibrate", help="fit and attach calibrated intervals, lower bounds "
                       "and probabilities from leave-system-out predictions")
    c.add_argument("model", help="model directory, or default (the shipped model)")
    c.add_argument("--lso", default=None,
                   help="leave-system-out run evaluated with `evaluate RUN --spread-model "
                        "MODEL` (default: the predictions the model carries)")
    c.set_defaults(func=_cmd_calibrate)


def add_stack_command(sub: argparse._SubParsersAction) -> None:
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


def add_bf16_check_command(sub: argparse._SubParsersAction) -> None:
    b = sub.add_parser("bf16-check", help="bf16 against fp32 on a model's alloys; --write "
                       "records it for --precision auto")
    b.add_argument("model", nargs="?", default="default",
                   help="model directory (default: default, the shipped model)")
    b.add_argument("--write", action="store_true",
                   help="record the figures in the model's manifest (bf16_check): "
                        "--precision auto then runs the model in bf16 where it is sound")
    b.add_argument("--device", default="auto",
                   help="a device with native bf16: a GPU, or a CPU with AVX512-BF16 or AMX "
                        "(default auto)")
    b.set_defaults(func=_cmd_bf16_check)


def add_release_command(sub: argparse._SubParsersAction) -> None:
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

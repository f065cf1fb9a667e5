"""Command line: ``gfascreen {data,train,evaluate,predict,screen,report,validate}`` and
``screen`` (an alias of ``gfascreen screen``).

Every user error (:class:`~gfascreen.errors.GfaError`) is printed as one line on stderr
with exit status 2, never as a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from gfascreen import __version__
from gfascreen.errors import GfaError


# -- data -------------------------------------------------------------------------------
def _cmd_data_build(a: argparse.Namespace) -> None:
    from gfascreen.data.build import build_metadata, build_table, summary, write_parquet_atomic
    from gfascreen.screening.run import check_writable

    out = Path(a.out)
    check_writable(out.parent)
    table, rejects = build_table(a.data_dir, a.sources)
    write_parquet_atomic(table, out, build_metadata(a.sources))
    rej_path = out.with_name(out.stem + ".rejects.parquet")
    write_parquet_atomic(rejects, rej_path)
    print(summary(table, rejects))
    print(f"wrote {out} and {rej_path}")


# -- train / evaluate / predict ---------------------------------------------------------
def _cmd_train(a: argparse.Namespace) -> None:
    from gfascreen.model.train import TrainConfig, train_cv

    cfg = TrainConfig(folds=a.folds, grouping=a.grouping, epochs=a.epochs,
                      batch_size=a.batch_size, lr=a.lr, lds=a.lds, fds=a.fds, mixup=a.mixup,
                      class_head=a.class_head, coords=a.coords, min_count=a.min_count,
                      order=a.order,
                      seed=a.seed, init=a.init, max_rows=a.max_rows, max_steps=a.max_steps,
                      patience=a.patience, amp=a.amp, device=a.device)
    metrics = train_cv(a.data, a.out, cfg, resume=a.resume, progress=not a.quiet)
    if metrics is None:
        print(f"training stopped before every fold finished; resume with --resume --out {a.out}")
    else:
        print(json.dumps(metrics["all"], indent=2))


def _cmd_evaluate(a: argparse.Namespace) -> None:
    from gfascreen.model.evaluate import evaluate_run

    report = evaluate_run(a.run_dir, baselines=a.baselines, data=a.data)
    print(json.dumps(report, indent=2))


def _cmd_predict(a: argparse.Namespace) -> None:
    import pandas as pd

    from gfascreen.model.ensemble import Ensemble

    formulas = list(a.formulas)
    if a.input:
        try:
            df = pd.read_csv(a.input)
        except (OSError, pd.errors.ParserError) as exc:
            raise GfaError(f"cannot read --input {a.input}: {exc}") from None
        col = a.column or df.columns[0]
        if col not in df.columns:
            raise GfaError(f"--input {a.input} has no column {col!r}")
        formulas += df[col].astype(str).tolist()
    if not formulas:
        raise GfaError("give formulas (e.g. Al25Co20La55) or --input file.csv")
    ens = Ensemble.load(a.model, device=a.device)
    res = ens.predict(formulas)
    if a.output:
        out = Path(a.output)
        if out.suffix == ".parquet":
            res.to_parquet(out, index=False)
        else:
            res.to_csv(out, index=False)
        print(f"wrote {len(res)} predictions to {out}")
    else:
        import pandas as pd

        with pd.option_context("display.max_columns", None, "display.width", 200):
            print(res.round(4).to_string(index=False))


# -- screen / report / validate ---------------------------------------------------------
def _cmd_screen(a: argparse.Namespace) -> None:
    from gfascreen.screening.run import ScreenConfig, screen

    cfg = ScreenConfig(system=a.system, step=a.step, out=a.out, model=a.model, device=a.device,
                       precision=a.precision, scheduler=a.scheduler, chunk_size=a.chunk_size,
                       bounds=a.bounds,
                       resume=a.resume, max_points=a.max_points, include_edges=not a.interior,
                       progress=not a.quiet)
    out = screen(cfg)
    if a.report:
        from gfascreen.screening.report import write_report

        print(f"report: {write_report(out)}")


def _cmd_report(a: argparse.Namespace) -> None:
    from gfascreen.screening.report import write_report

    print(f"report: {write_report(a.run_dir, data=a.data, log_color=a.log_color)}")


def _cmd_validate(a: argparse.Namespace) -> None:
    from gfascreen.screening.validate import validate

    print(validate(a.systems, step=a.step, model=a.model, data=a.data, out=a.out,
                   device=a.device, holdout=a.holdout_system))


# -- plumbing ---------------------------------------------------------------------------
def _add_screen_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--system", required=True, help="dash-separated elements, e.g. La-Co-Al")
    p.add_argument("--step", type=float, default=1.0, help="grid step in at.%% (default 1)")
    p.add_argument("--out", default=None, help="output directory (default ./screen_SYSTEM_step)")
    p.add_argument("--model", default="default", help="ensemble directory (default: shipped)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1 ...")
    p.add_argument("--precision", choices=["fp32", "bf16"], default="fp32",
                   help="bf16: ~2x faster on CPUs with AVX512-BF16/AMX; answers differ from "
                        "fp32 by up to 0.012 in log10(1+Dmax) on the shipped model (GPUs use "
                        "bf16 always)")
    p.add_argument("--scheduler", default=None,
                   help="address of a Dask distributed scheduler (default: local threads)")
    p.add_argument("--chunk-size", type=int, default=4096, help="points per chunk")
    p.add_argument("--bounds", default=None,
                   help="per-element at.%% bounds, e.g. 'Zr:40-70,Al:0-20'")
    p.add_argument("--interior", action="store_true",
                   help="leave out pure elements and binaries (default: whole closed simplex)")
    p.add_argument("--max-points", type=int, default=2_000_000,
                   help="refuse grids larger than this (default 2,000,000)")
    p.add_argument("--resume", action="store_true", help="skip chunks already written")
    p.add_argument("--report", action="store_true", help="write the HTML report afterwards")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_screen)


def _bool_flag(p: argparse.ArgumentParser, name: str, default: bool, help: str) -> None:
    p.add_argument(f"--{name}", dest=name.replace("-", "_"),
                   action=argparse.BooleanOptionalAction, default=default, help=help)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gfascreen", description=__doc__.split("\n")[0])
    p.add_argument("--version", action="version", version=f"gfascreen {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("data", help="build the training table from the raw data sets")
    dsub = d.add_subparsers(dest="data_command", required=True)
    b = dsub.add_parser("build", help="parse, label and merge the raw files into one table")
    b.add_argument("--data-dir", default=None, help="directory with the raw files")
    b.add_argument("--out", default="train.parquet", help="output Parquet (default train.parquet)")
    b.add_argument("--sources", nargs="+", default=None, help="subset of sources (default all)")
    b.set_defaults(func=_cmd_data_build)

    t = sub.add_parser("train", help="K-fold training of the ResNet50 ensemble")
    t.add_argument("--data", default="train.parquet", help="training table from `data build`")
    t.add_argument("--out", required=True, help="run directory (becomes the ensemble)")
    t.add_argument("--folds", type=int, default=5)
    t.add_argument("--grouping", choices=["random", "system"], default="random",
                   help="random K-fold, or leave-alloy-system-out")
    t.add_argument("--epochs", type=int, default=10)
    t.add_argument("--patience", type=int, default=3, help="early-stopping patience (epochs)")
    t.add_argument("--batch-size", type=int, default=64)
    t.add_argument("--lr", type=float, default=1e-3)
    _bool_flag(t, "lds", False, "label distribution smoothing loss weights")
    _bool_flag(t, "fds", False, "feature distribution smoothing")
    _bool_flag(t, "class-head", True, "joint crystal/ribbon/bmg classification head")
    _bool_flag(t, "coords", False, "add row/column coordinate channels (CoordConv)")
    _bool_flag(t, "amp", True, "bf16 autocast in training (CUDA; CPUs with native bf16)")
    t.add_argument("--mixup", type=float, default=0.0, help="Mixup Beta alpha (0 = off)")
    t.add_argument("--min-count", type=int, default=20,
                   help="keep elements found in at least this many alloys")
    t.add_argument("--order", choices=["z", "mendeleev"], default="z", help="element order")
    t.add_argument("--init", default="scratch", help="scratch, imagenet, or a weights file")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--max-rows", type=int, default=None, help="train on a random subset")
    t.add_argument("--max-steps", type=int, default=None, help="batches per epoch cap")
    t.add_argument("--device", default="auto")
    t.add_argument("--resume", action="store_true", help="continue an interrupted run")
    t.add_argument("--quiet", action="store_true")
    t.set_defaults(func=_cmd_train)

    e = sub.add_parser("evaluate", help="metrics, parity plot and baselines for a run")
    e.add_argument("run_dir")
    e.add_argument("--data", default=None, help="training table (for baselines)")
    _bool_flag(e, "baselines", True, "random forest / gradient boosting on the same folds")
    e.set_defaults(func=_cmd_evaluate)

    pr = sub.add_parser("predict", help="predict Dmax (mm) for formulas")
    pr.add_argument("formulas", nargs="*", help="e.g. Al25Co20La55 Zr55Co29Al16")
    pr.add_argument("--input", default=None, help="CSV with a column of formulas")
    pr.add_argument("--column", default=None, help="formula column of --input (default first)")
    pr.add_argument("--output", default=None, help="write CSV or .parquet instead of printing")
    pr.add_argument("--model", default="default")
    pr.add_argument("--device", default="auto")
    pr.set_defaults(func=_cmd_predict)

    _add_screen_args(sub.add_parser("screen", help="score every composition of a system"))

    r = sub.add_parser("report", help="HTML/PNG/SVG maps of a screening run")
    r.add_argument("run_dir")
    r.add_argument("--data", default=None, help="training table for the known-alloy overlay")
    r.add_argument("--log-color", action="store_true", help="log colour scale for Dmax")
    r.set_defaults(func=_cmd_report)

    v = sub.add_parser("validate", help="maps and rank agreement for known systems")
    v.add_argument("--systems", nargs="+", default=["La-Co-Al", "Al-Co-Zr"])
    v.add_argument("--step", type=float, default=1.0)
    v.add_argument("--model", default="default")
    v.add_argument("--data", default="train.parquet")
    v.add_argument("--out", default="validation")
    v.add_argument("--device", default="auto")
    v.add_argument("--holdout-system", action="store_true",
                   help="retrain without each system's alloys first (costs a full training)")
    v.set_defaults(func=_cmd_validate)
    return p


def _run(parser: argparse.ArgumentParser, argv: list[str] | None) -> int:
    args = parser.parse_args(argv)
    try:
        args.func(args)
    except GfaError as exc:
        print(f"gfascreen: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("gfascreen: interrupted (finished parts are kept; rerun with --resume)",
              file=sys.stderr)
        return 130
    return 0


def main(argv: list[str] | None = None) -> int:
    return _run(build_parser(), argv)


def screen_main(argv: list[str] | None = None) -> int:
    """``screen ...``: the same as ``gfascreen screen ...``."""
    p = argparse.ArgumentParser(prog="screen", description="score every composition of a system")
    _add_screen_args(p)
    return _run(p, argv)


if __name__ == "__main__":
    sys.exit(main())

"""The commands on a composition space: ``screen`` (score a system's grid), ``report``
(its maps), ``suggest`` (what to cast next) and ``validate`` (known systems)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from gfascreen.cli.common import (
    add_config_args,
    add_known_data_arg,
    add_model_args,
    add_run_args,
    check_output,
    config_from_args,
    write_table,
)
from gfascreen.errors import GfaError
from gfascreen.model import columns as pc


def _cmd_screen(a: argparse.Namespace) -> None:
    from gfascreen.screening.run import ScreenConfig, screen, summary_text

    if a.out is not None and not a.out.strip():
        raise GfaError("--out is empty; name the run directory, or leave --out out for "
                       "./screen_SYSTEM_stepSTEP (an atlas: ./atlas_..._stepSTEP)")
    cfg = config_from_args(ScreenConfig, a, include_edges=not a.interior,
                            progress=not a.quiet)
    out = screen(cfg)
    summary = Path(out) / "_summary.json"
    if summary.is_file():
        print(summary_text(json.loads(summary.read_text())))
    if a.report:
        from gfascreen.screening.report import report_run

        print("writing the report ...", file=sys.stderr, flush=True)
        print(f"report: {report_run(out)}")


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
    from gfascreen.screening.report import report_run

    path = report_run(a.run_dir, a.system, a.top, data=a.data, log_color=a.log_color,
                      partial=a.partial, svg=a.svg, slices=a.slices)
    print(f"report: {path}")


def _cmd_suggest(a: argparse.Namespace) -> None:
    import pandas as pd

    from gfascreen.screening.suggest import suggest_run

    if a.output:
        check_output(a.output)
    picks, why = suggest_run(a.run_dir, a.n, a.min_distance, a.out_of_domain, a.ucb,
                             a.target_mm, a.partial, a.away_from_known, a.system)
    for line in why.splitlines():
        print(f"gfascreen: {line}", file=sys.stderr)
    if a.output:
        write_table(picks, a.output)
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
    out = Path(a.out)
    if a.blind:
        print(validation.validate_blind(a.systems, model=a.model, out=a.out))
        print(f"wrote {' and '.join(str(out / f) for f in validation.BLIND_FILES)}",
              file=sys.stderr)
        return
    print(f"note: validate writes its maps and tables to {a.out}/ (--out)",
          file=sys.stderr, flush=True)
    print(validation.validate(a.systems or list(validation.DEFAULT_SYSTEMS), step=a.step,
                              model=a.model, data=a.data, out=a.out, device=a.device,
                              holdout=a.holdout_system))
    print(f"wrote {' and '.join(str(out / f) for f in validation.SUMMARY_FILES)}, and each "
          f"system's screen and report in {a.out}/", file=sys.stderr)


def add_screen_args(p: argparse.ArgumentParser) -> None:
    from gfascreen.model.precision import PRECISIONS
    from gfascreen.screening.options import HELP, ScreenConfig

    p.add_argument("--system", default=None, help=HELP["system"] + " (or an atlas of many: "
                   "--elements with --order, or --systems FILE)")
    add_config_args(p, ScreenConfig, HELP,
                     skip=("system", "include_edges", "progress", "resume", "precision"))
    p.add_argument("--precision", choices=PRECISIONS, default=ScreenConfig.precision,
                   help=HELP["precision"] + "; auto finishes a resumed run in its own")
    p.add_argument("--resume", action="store_true", help=HELP["resume"])
    p.add_argument("--interior", action="store_true",
                   help="leave out pure elements and binaries (default: whole closed simplex)")
    p.add_argument("--report", action="store_true", help="write the HTML report afterwards")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_screen)


def add_report_command(sub: argparse._SubParsersAction) -> None:
    from gfascreen.screening.options import TOP_REPORTS

    r = sub.add_parser("report", help="HTML/PNG/SVG maps of a screening run")
    add_run_args(r, partial="report an incomplete run from the parts written so far (said "
                 "so on the page)",
                 system="an atlas run: the report of this one system, from the atlas's rows "
                 "(default: the atlas's page, its table of systems)")
    add_known_data_arg(r, "training table for the known-alloy overlay")
    r.add_argument("--log-color", action="store_true", help="log colour scale for Dmax")
    r.add_argument("--svg", action="store_true",
                   help="also write map.svg beside map.png (ternaries; several MB at fine "
                        "steps)")
    r.add_argument("--slices", type=_at_pct_list, default=None, metavar="AT,AT,...",
                   help="quaternary runs: the at.%% of the fourth element to slice at, on the "
                        "run's grid, e.g. 10,15,20 (default: four through the best region, "
                        "said on the page)")
    r.add_argument("--top", type=int, default=TOP_REPORTS,
                   help="an atlas's page: also write the own reports of this many best "
                        f"systems (default {TOP_REPORTS}; ~5 s each)")
    r.set_defaults(func=_cmd_report)


def add_suggest_command(sub: argparse._SubParsersAction) -> None:
    sg = sub.add_parser("suggest", help="the next alloys to cast from a finished screen")
    add_run_args(sg, partial="suggest from an incomplete run's parts written so far",
                 system="an atlas run: suggest in this system, from the atlas's rows")
    sg.add_argument("-n", "--count", "--n", dest="n", type=int, default=5,
                    help="how many compositions (default 5)")
    sg.add_argument("--min-distance", type=float, default=5.0,
                    help="at.%% that must move between any two picks (default 5)")
    sg.add_argument("--target-mm", type=float, default=None,
                    help="rank by the calibrated P(Dmax >= T mm) instead of the default, "
                         "the expected gain in Dmax over the best measured alloy of the "
                         "system (said on stderr)")
    sg.add_argument("--away-from-known", type=float, default=1.0, metavar="D",
                    help="keep picks at least D at.%% (L1) from every measured or cast "
                         "alloy of the model (default 1; 0 allows them)")
    sg.add_argument("--ucb", type=float, default=None,
                    help="rank by this quantile of the predicted Dmax instead (e.g. 0.68; "
                         "0.9 favours the most uncertain points)")
    sg.add_argument("--out-of-domain", action="store_true",
                    help="also pick where the model has no nearby training alloys")
    sg.add_argument("--output", default=None,
                    help="write .csv, .parquet or .json; - writes CSV to standard output")
    sg.set_defaults(func=_cmd_suggest)


def add_validate_command(sub: argparse._SubParsersAction) -> None:
    v = sub.add_parser("validate", help="maps and rank agreement for known systems")
    v.add_argument("--systems", nargs="+", default=None,
                   help="systems to check (default La-Co-Al Al-Co-Zr; with --blind the five "
                        "reference systems: La-Co-Al Al-Co-Zr Mg-Cu-Gd Al-Cu-Zr Ca-Mg-Zn)")
    v.add_argument("--blind", action="store_true",
                   help="from the model's kept leave-system-out predictions (no retraining, "
                        "no screen; writes blind.md and blind.csv)")
    v.add_argument("--step", type=float, default=1.0, help="grid step in at.%% (default 1)")
    add_model_args(v)
    add_known_data_arg(v)
    v.add_argument("--out", default="validation",
                   help="output directory (default validation)")
    v.add_argument("--holdout-system", action="store_true",
                   help="retrain without each system's alloys first (costs a full training)")
    v.set_defaults(func=_cmd_validate)

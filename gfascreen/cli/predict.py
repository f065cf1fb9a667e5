"""``predict``: Dmax (mm), intervals and calibrated probabilities for formulas, one row per
input (from the command line or ``--input``), printed or written as a table."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gfascreen.cli.common import add_model_args, check_output, write_table
from gfascreen.errors import GfaError
from gfascreen.model import columns as pc


def _with_amount_notes(res):
    """A ``note`` column after ``reason``: what was done to a scored input without
    refusing it (amounts that summed neither to 100 nor to 1, normalised)."""
    from gfascreen.data.parse import amount_note

    res["note"] = [amount_note(f) if why == "" else ""
                   for f, why in zip(res["input"], res["reason"], strict=True)]
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
    from gfascreen.model.known import MEASURED_COLUMNS

    cols = [c for c in MEASURED_COLUMNS if c in res.columns]
    return cols if cols and (res["measured_class"] == "").all() else []


def _predict_inputs(a: argparse.Namespace):
    """The formulas to predict, command line first, then ``--input``'s; and the input's
    other columns (None without ``--input``), one row per formula."""
    import pandas as pd

    formulas, extras = list(a.formulas), None
    if a.input:
        from gfascreen.data.formula_table import read_formula_input

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

    footer = (f"one distribution per alloy: dmax_mm its mean; interval dmax_lo..dmax_hi, "
              f"lower bound dmax_at_least and, if a bulk glass (>= 1 mm), "
              f"dmax_bmg_lo..dmax_bmg_hi at {round(100 * a.confidence)} % confidence; "
              "probabilities calibrated on unseen alloy systems (model card)")
    if a.output == "-":  # the table alone on stdout, everything else on stderr
        write_table(res, "-")
        print(f"{footer}; wrote {len(res)} predictions to standard output", file=sys.stderr)
    elif a.output:
        write_table(res, Path(a.output))
        print(f"wrote {len(res)} predictions to {a.output}")
    else:
        with pd.option_context("display.max_columns", None, "display.width", 220):
            shown = res.drop(columns=[pc.LOG_DMAX, pc.LOG_DMAX_STD, pc.DIFFICULTY_LOG, pc.DMAX_STD,
                                      pc.BMG_LOC_LOG, pc.P_CRYSTAL, pc.P_RIBBON]
                             + (["note"] if (res["note"] == "").all() else [])
                             + ([pc.ROUTE] if (res[pc.ROUTE] != pc.ROUTE_PARTNER_ONLY).all()
                                else [])
                             + _unknown_columns(res))
            print(shown.round(3).to_string(index=False))
            print(footer)


def _predict_notes(res) -> None:
    """One line on stderr each for inputs not scored, known alloys and normalised amounts."""
    skipped = int((res["reason"] != "").sum())
    if skipped:
        print(f"gfascreen: {skipped} of {len(res)} inputs could not be scored (see the "
              "reason column)", file=sys.stderr)
    known = int((res["measured_class"] != "").sum()) if "measured_class" in res else 0
    if known:
        print(f"gfascreen: note: {known} of {len(res)} inputs are known alloys of the model: "
              "measured_class, measured_dmax_mm and measured_source give what was measured "
              "(the prediction is still the model's own)", file=sys.stderr)
    alone = int((res[pc.ROUTE] == pc.ROUTE_PARTNER_ONLY).sum())
    if alone:
        print(f"gfascreen: note: {alone} of {len(res)} inputs hold an element outside the "
              "network's vocabulary: predicted by the descriptor partner alone (route "
              f"'{pc.ROUTE_PARTNER_ONLY}', never in domain; its own calibration: the model's "
              "CALIBRATION.md)", file=sys.stderr)
    normalised = int((res["note"] != "").sum())
    if normalised:
        print(f"gfascreen: note: the amounts of {normalised} of {len(res)} inputs summed "
              "neither to 100 nor to 1 and were normalised (see the note column)",
              file=sys.stderr)


def _cmd_predict(a: argparse.Namespace) -> None:
    from gfascreen.model.ensemble import Ensemble
    from gfascreen.model.statement_options import check_confidence, parse_thresholds

    check_confidence(a.confidence)
    thresholds = parse_thresholds(a.thresholds)
    if a.output:
        check_output(a.output)
    formulas, extras = _predict_inputs(a)
    ens = Ensemble.load(a.model, device=a.device, precision=a.precision)
    res = _with_amount_notes(_predict_batches(ens, formulas, a, thresholds))
    res = _with_input_columns(res, extras)
    if (res["reason"] != "").all():
        raise GfaError(f"no input could be scored; {res['reason'].iloc[0]}")
    if ens.calibration is None:
        print("note: this model carries no calibration; dmax_lo/dmax_hi are NaN",
              file=sys.stderr)
    _show_predictions(res, a)
    _predict_notes(res)


def add_predict_command(sub: argparse._SubParsersAction) -> None:
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
    add_model_args(pr)
    pr.add_argument("--precision", choices=PRECISIONS, default=ScreenConfig.precision,
                    help=SCREEN_HELP["precision"])
    pr.add_argument("--confidence", type=float, default=ScreenConfig.confidence,
                    help=SCREEN_HELP["confidence"])
    pr.add_argument("--thresholds", default=None, help=SCREEN_HELP["thresholds"])
    pr.add_argument("--quiet", action="store_true", help="no progress bar")
    pr.add_argument("--strict", action="store_true",
                    help="refuse the whole batch if any input cannot be scored")
    pr.set_defaults(func=_cmd_predict)

"""Command line: gfascreen data | train | evaluate | card | pack | calibrate | stack |
bf16-check | release | predict | screen | report | suggest | validate, and screen (an alias of
gfascreen screen). ``release`` runs the others' model-making steps in order, resumably.

Every user error (:class:`~gfascreen.errors.GfaError`) is printed as one line on stderr
with exit status 2, never as a traceback.

One module a group of commands: :mod:`~gfascreen.cli.model` (making a model),
:mod:`~gfascreen.cli.predict`, :mod:`~gfascreen.cli.screen` (screen, report, suggest,
validate); :mod:`~gfascreen.cli.common` holds what they share.
"""

from __future__ import annotations

import argparse
import sys

from gfascreen import __version__
from gfascreen.cli import model, predict, screen
from gfascreen.errors import GfaError, Interrupted


def build_parser() -> argparse.ArgumentParser:
    """The `gfascreen` parser: one sub-command each, added by its module's `add_*` function."""
    p = argparse.ArgumentParser(
        prog="gfascreen",
        description="Composition-space screening of bulk metallic glasses: predicted Dmax "
                    "(critical casting diameter, mm) from a ResNet50 OP-image ensemble.")
    p.add_argument("--version", action="version", version=f"gfascreen {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    model.add_data_command(sub)
    model.add_train_args(sub.add_parser("train", help="K-fold training of the ResNet ensemble"))
    model.add_evaluate_command(sub)
    model.add_card_command(sub)
    model.add_pack_command(sub)
    model.add_calibrate_command(sub)
    model.add_stack_command(sub)
    model.add_bf16_check_command(sub)
    model.add_release_command(sub)
    predict.add_predict_command(sub)
    screen.add_screen_args(sub.add_parser("screen", help="score every composition of a system"))
    screen.add_report_command(sub)
    screen.add_suggest_command(sub)
    screen.add_validate_command(sub)
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
    screen.add_screen_args(p)
    return _run(p, argv)

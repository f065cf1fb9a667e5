"""Screen a ternary system and write its report.

Usage: python examples/screen_system.py [--system La-Co-Al] [--step 1] [--model default]
"""

from __future__ import annotations

import argparse

from gfascreen.screening.report import write_report
from gfascreen.screening.run import ScreenConfig, screen


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--system", default="La-Co-Al")
    p.add_argument("--step", type=float, default=1.0)
    p.add_argument("--model", default="default")
    p.add_argument("--out", default=None)
    p.add_argument("--data", default=None, help="training table for the known-alloy overlay")
    a = p.parse_args(argv)
    run_dir = screen(ScreenConfig(system=a.system, step=a.step, model=a.model, out=a.out))
    print("report:", write_report(run_dir, data=a.data))


if __name__ == "__main__":
    main()

"""Analyse a screening run with pandas: top candidates and a cut along a binary edge.

Usage: python examples/analyse_parquet.py RUN_DIR [--edge Co-Al]
"""

from __future__ import annotations

import argparse

from gfascreen.errors import GfaError
from gfascreen.screening.runs import load_run


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("run_dir")
    p.add_argument("--edge", default=None, help="binary edge, e.g. Co-Al (default: first two)")
    p.add_argument("--top", type=int, default=10)
    a = p.parse_args(argv)

    # pd.read_parquet(RUN) reads a finished run (RUN/_SUCCESS exists) in one line, but reads
    # half a grid as readily; load_run checks _SUCCESS and says when the run is incomplete
    # or still being written.
    try:
        df = load_run(a.run_dir).table
    except GfaError as exc:
        raise SystemExit(f"error: {exc}") from None
    elements = df["system"].iloc[0].split("-")

    print(f"{len(df):,} compositions of {'-'.join(elements)}")
    print(f"\nTop {a.top} in-domain candidates by predicted Dmax (mm):")
    top = df[df["in_domain"]].nlargest(a.top, "dmax_mm")
    print(top[elements + ["dmax_mm", "dmax_std"]].round(3).to_string(index=False))

    x, y, *rest = (a.edge.split("-") if a.edge else elements[:2]) + [""]
    if rest != [""] or x not in elements or y not in elements or x == y:
        raise SystemExit(f"error: --edge {a.edge!r}: name two elements of the run, e.g. "
                         f"{elements[0]}-{elements[1]}")
    others = [e for e in elements if e not in (x, y)]
    edge = df[(df[others] == 0).all(axis=1)].sort_values(x)
    print(f"\nCut along the {x}-{y} edge ({len(edge)} points):")
    print(edge[[x, y, "dmax_mm", "dmax_std"]].round(3).to_string(index=False))


if __name__ == "__main__":
    main()

"""The loop, simulated on the leave-system-out folds (gfascreen.model.evaluation.loop):
does casting k alloys of a system the model never saw, and updating on them, improve what
it says about the rest?

Usage: python scripts/loop_simulation.py [--model default] [--k 3 5 10] [--draws 20]
       [--min-alloys 12] [--min-bmg 1] [--out runs/loop] [--record]
Writes OUT/grid.csv (the choice's simulations), OUT/loop.csv (one row per system, k,
order, draw and design) and prints the table; ``--record`` stores the table in the
model's manifest (``loop_simulation``) and rewrites its MODEL_CARD.md. 3-5 min on a
2-core CPU.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from gfascreen.model.evaluation.card import write_model_card
from gfascreen.model.evaluation.loop import record, simulate, summary
from gfascreen.model.saved import ModelDir


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="default")
    p.add_argument("--k", type=int, nargs="*", default=[3, 5, 10])
    p.add_argument("--draws", type=int, default=20)
    p.add_argument("--min-alloys", type=int, default=12)
    p.add_argument("--min-bmg", type=int, default=1)
    p.add_argument("--weight", type=float, default=0.5)
    p.add_argument("--out", type=Path, default=Path("runs/loop"))
    p.add_argument("--record", action="store_true")
    a = p.parse_args()
    t0 = time.time()
    md = ModelDir(a.model)
    res = simulate(md, a.k, a.draws, a.min_alloys, a.min_bmg, a.weight)
    a.out.mkdir(parents=True, exist_ok=True)
    res.grid.to_csv(a.out / "grid.csv", index=False)
    res.rows.to_csv(a.out / "loop.csv", index=False)
    print(f"{res.n_systems} systems; chosen per outer fold: {json.dumps(res.chosen)}; "
          f"on all: {json.dumps(res.chosen_all)}; {time.time() - t0:.0f} s")
    print(summary(res.rows).round(3).to_string())
    if a.record:
        command = "python scripts/loop_simulation.py " + " ".join(sys.argv[1:])
        md.manifest.extra["loop_simulation"] = record(res, command.strip())
        md.write_manifest()
        print(f"recorded in {md.path / 'manifest.json'}; wrote {write_model_card(a.model)}")


if __name__ == "__main__":
    main()

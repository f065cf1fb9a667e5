"""The GPU check: screening throughput of the shipped model beside the network alone.

One command for a fresh CUDA machine with the project installed (fits in ~8 minutes on one
H200 by the earlier measurements); on a CPU it runs too, with ``--quick`` (small grids), so
it is rehearsed before a GPU is at hand:

    python scripts/gpu_check.py [--model default] [--json runs/gpu_check.json] [--quick]
                                [--systems La-Co-Al:0.5 ...]

Measures, on the device ``auto`` picks:
1. the network alone: the ensemble's members on random compositions, images/s and the
   points/s that implies (one image per member per point), at the device's inference batch;
2. ``screen`` end to end (grid, featurize, members, domain, calibration, Parquet) for
   La-Co-Al at 0.5 at.% (20,301 points), Zr-Cu-Al-Ni at 0.5 at.% (1,373,701) and
   Zr-Cu-Al-Ni-Ti at 2 at.% (316,251), each as points/s beside (1).
Writes the figures as JSON; each screen writes into a temporary directory.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import torch

FULL = [("La-Co-Al", 0.5), ("Zr-Cu-Al-Ni", 0.5), ("Zr-Cu-Al-Ni-Ti", 2.0)]
QUICK = [("La-Co-Al", 5.0), ("Zr-Cu-Al-Ni", 10.0)]


def network_alone(model: str, n: int) -> dict:
    """Members only, on ``n`` random compositions of the model's vocabulary."""
    from gfascreen.model.ensemble import Ensemble

    ens = Ensemble.load(model, precision="auto")  # what `screen` resolves auto to
    x = torch.distributions.Dirichlet(torch.ones(len(ens.vocabulary))).sample((n,))
    ens.member_outputs(x[: min(n, ens.batch_size)])  # warm-up (kernels, allocator)
    if ens.device.type == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    ens.member_outputs(x)
    if ens.device.type == "cuda":
        torch.cuda.synchronize()
    s = time.perf_counter() - t
    members = len(ens.members)
    return {"device": str(ens.device), "precision": ens.precision,
            "batch": ens.batch_size, "compositions": n,
            "members": members, "images_per_s": round(n * members / s),
            "points_per_s": round(n / s)}


def screen_rate(model: str, system: str, step: float) -> dict:
    from gfascreen.screening.run import ScreenConfig, screen

    with tempfile.TemporaryDirectory() as d:
        t = time.perf_counter()
        out = screen(ScreenConfig(system=system, step=step, out=str(Path(d) / "run"),
                                  model=model, progress=False))
        wall = time.perf_counter() - t
        summary = json.loads((out / "_summary.json").read_text())
    return {"system": system, "step": step, "points": summary["points"],
            "precision": summary.get("precision"),
            "wall_s": round(wall, 1), "scoring_s": summary["wall_s"],
            "points_per_s_scoring": summary["points_per_s"],
            "points_per_s_whole": round(summary["points"] / wall)}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="default")
    p.add_argument("--quick", action="store_true", help="small grids (a CPU rehearsal)")
    p.add_argument("--systems", nargs="*", default=None, metavar="SYSTEM:STEP",
                   help="screens to time instead (e.g. La-Co-Al:0.5)")
    p.add_argument("--compositions", type=int, default=None,
                   help="random compositions for the network alone (default 65,536; 2,048 "
                        "with --quick)")
    p.add_argument("--json", default=None)
    a = p.parse_args(argv)
    grids = ([(g.split(":")[0], float(g.split(":")[1])) for g in a.systems] if a.systems
             else QUICK if a.quick else FULL)
    r = {"machine": platform.node(), "torch": torch.__version__,
         "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
         "network_alone": network_alone(a.model,
                                        a.compositions or (2048 if a.quick else 65536)),
         "screens": []}
    print(json.dumps(r["network_alone"]), flush=True)
    for system, step in grids:
        row = screen_rate(a.model, system, step)
        row["share_of_network_alone"] = round(
            row["points_per_s_scoring"] / r["network_alone"]["points_per_s"], 3)
        r["screens"].append(row)
        print(json.dumps(row), flush=True)
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(json.dumps(r, indent=2))
    return r


if __name__ == "__main__":
    main()

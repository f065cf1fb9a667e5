"""The GPU check: screening throughput of the shipped model beside the network alone.

One command for a fresh CUDA machine with the project installed (fits in ~8 minutes on one
H200 by the earlier measurements); on a CPU it runs too, with ``--quick`` (small grids), so
it is rehearsed before a GPU is at hand:

    python scripts/gpu_check.py [--model default] [--json runs/gpu_check.json] [--quick]
                                [--systems La-Co-Al:0.5 ...] [--device cpu]
                                [--only partner] [--partner-compositions N]
                                [--atlas ELEMENTS:ORDER:STEP ...]

Measures, on the device ``auto`` picks (or ``--device``):
1. the network alone: the ensemble's members on random compositions, images/s and the
   points/s that implies (one image per member per point), at the device's inference batch;
2. the descriptor partner alone (a model with one): descriptors and the three boosters'
   trees in torch on the device (:mod:`gfascreen.model.trees`), points/s (and the trees'
   seconds alone, on descriptors made beforehand), beside LightGBM on the CPU (at most
   20,000 of the points), the largest difference between the two, each path's load time;
3. ``screen`` end to end (grid, featurize, members, domain, calibration, Parquet) for
   La-Co-Al at 0.5 at.% (20,301 points), Zr-Cu-Al-Ni at 0.5 at.% (1,373,701) and
   Zr-Cu-Al-Ni-Ti at 2 at.% (316,251), each as points/s beside (1);
4. an atlas end to end (``screen --elements … --order …``): by default every ternary of the
   model's vocabulary at 2 at.% (43 elements: 14.6 M compositions, the atlas issue's
   10-minute goal for one H200); ``--quick`` a small one.
Writes the figures as JSON; each screen writes into a temporary directory. ``--only
partner`` measures (2) alone (``--device cpu``: the CPU measurement of docs/throughput.md).
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
#: Atlases (elements, order, step in at.%); "vocabulary": every element the model knows.
FULL_ATLAS = [("vocabulary", "3", 2.0)]
QUICK_ATLAS = [("Zr,Cu,Al,Ni", "3", 10.0)]


def network_alone(model: str, n: int, device: str = "auto") -> dict:
    """Members only, on ``n`` random compositions of the model's vocabulary."""
    from gfascreen.model.ensemble import Ensemble

    ens = Ensemble.load(model, device=device, precision="auto")  # `screen`'s auto
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


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def random_compositions(n: int, vocabulary: int, seed: int = 0) -> torch.Tensor:
    """``n`` fractions (float64) over 1-5 random elements of a vocabulary, uniform on each
    simplex (normalised exponential draws)."""
    g = torch.Generator().manual_seed(seed)
    k = torch.randint(1, 6, (n, 1), generator=g)
    place = torch.rand((n, vocabulary), generator=g).argsort(1).argsort(1)
    w = -torch.log(torch.rand((n, vocabulary), generator=g, dtype=torch.float64))
    w = torch.where(place < k, w, 0.0)  # the k elements placed first in a random order
    return w / w.sum(1, keepdim=True)


def _timed(fn, device: torch.device, repeats: int) -> tuple[float, object]:
    """The best wall time of ``repeats`` calls (after one warm-up call) and the result."""
    out = fn()
    best = float("inf")
    for _ in range(repeats):
        _sync(device)
        t = time.perf_counter()
        out = fn()
        _sync(device)
        best = min(best, time.perf_counter() - t)
    return best, out


def partner_alone(model: str, n: int, device: str = "auto", lightgbm_points: int = 20000,
                  repeats: int = 3) -> dict | None:
    """The descriptor partner on ``n`` random compositions: descriptors + trees in torch
    on ``device``, and LightGBM on the CPU on the first ``lightgbm_points`` of them (None
    for a model without a partner)."""
    import numpy as np

    from gfascreen.model.partner import Partner
    from gfascreen.model.precision import resolve_device
    from gfascreen.model.saved import ModelDir

    md, dev = ModelDir(model), resolve_device(device)
    t = time.perf_counter()
    by_torch = Partner.load(md, dev, trees="torch")
    if by_torch is None:
        return None
    load_torch = time.perf_counter() - t
    x = random_compositions(n, len(by_torch.vocabulary))
    xd = x.to(dev)
    s, out = _timed(lambda: by_torch.predict(xd), dev, repeats)
    d = by_torch.featurizer(xd)
    s_trees, _ = _timed(lambda: by_torch.predict_descriptors(d), dev, repeats)
    r = {"device": str(dev), "threads": torch.get_num_threads(), "compositions": n,
         "torch_load_s": round(load_torch, 2), "torch_s": round(s, 3),
         "torch_trees_s": round(s_trees, 3), "torch_points_per_s": round(n / s)}
    try:
        import lightgbm  # noqa: F401
    except ImportError:
        return r
    t = time.perf_counter()
    by_lgb = Partner.load(md, "cpu", trees="lightgbm")
    load_lgb = time.perf_counter() - t
    m = min(n, lightgbm_points)
    s_lgb, ref = _timed(lambda: by_lgb.predict(x[:m]), torch.device("cpu"), repeats)
    d_cpu = by_lgb.descriptors(x[:m])
    s_lgb_trees, _ = _timed(lambda: by_lgb.predict_descriptors(d_cpu), torch.device("cpu"),
                            repeats)
    diff = max(float(np.abs(np.asarray(getattr(out, k))[:m] - getattr(ref, k)).max())
               for k in ("log_dmax", "proba", "log_dmax_bmg"))
    r.update({"lightgbm_load_s": round(load_lgb, 2), "lightgbm_compositions": m,
              "lightgbm_s": round(s_lgb, 3), "lightgbm_trees_s": round(s_lgb_trees, 3),
              "lightgbm_points_per_s": round(m / s_lgb),
              "torch_over_lightgbm": round((n / s) / (m / s_lgb), 2),
              "max_abs_diff": diff})
    return r


def screen_rate(model: str, system: str, step: float, device: str = "auto") -> dict:
    from gfascreen.screening.run import ScreenConfig, screen

    with tempfile.TemporaryDirectory() as d:
        t = time.perf_counter()
        out = screen(ScreenConfig(system=system, step=step, out=str(Path(d) / "run"),
                                  model=model, progress=False, device=device))
        wall = time.perf_counter() - t
        summary = json.loads((out / "_summary.json").read_text())
    return {"system": system, "step": step, "points": summary["points"],
            "precision": summary.get("precision"),
            "wall_s": round(wall, 1), "scoring_s": summary["wall_s"],
            "points_per_s_scoring": summary["points_per_s"],
            "points_per_s_whole": round(summary["points"] / wall)}


def atlas_rate(model: str, elements: str, order: str, step: float, device: str = "auto"
               ) -> dict:
    """One atlas end to end (scoring, Parquet parts, the table of systems; no page)."""
    from gfascreen.screening.run import ScreenConfig, screen

    if elements == "vocabulary":
        from gfascreen.model.saved import ModelDir

        elements = ",".join(ModelDir(model).manifest.image_spec.vocabulary.elements)
    with tempfile.TemporaryDirectory() as d:
        t = time.perf_counter()
        out = screen(ScreenConfig(elements=elements, order=order, step=step,
                                  out=str(Path(d) / "atlas"), model=model, progress=False,
                                  device=device, max_points=50_000_000))
        wall = time.perf_counter() - t
        summary = json.loads((out / "_summary.json").read_text())
    return {"atlas": f"{elements} order {order}", "step": step, "points": summary["points"],
            "wall_s": round(wall, 1), "scoring_s": summary["wall_s"],
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
    p.add_argument("--device", default="auto",
                   help="every measurement's device (auto: CUDA when present; cpu: a "
                        "rehearsal on a CUDA machine too)")
    p.add_argument("--only", choices=("partner",), default=None,
                   help="measure the descriptor partner alone")
    p.add_argument("--partner-compositions", type=int, default=None,
                   help="random compositions for the partner (default 262,144 on CUDA, "
                        "20,000 on a CPU, 2,000 with --quick)")
    p.add_argument("--atlas", nargs="*", default=None, metavar="ELEMENTS:ORDER:STEP",
                   help="atlases to time instead (e.g. Zr,Cu,Al,Ni:3:10; none: skip)")
    p.add_argument("--json", default=None)
    a = p.parse_args(argv)
    atlases = ([tuple(g.split(":")) for g in a.atlas] if a.atlas is not None
               else QUICK_ATLAS if a.quick else FULL_ATLAS)
    grids = ([(g.split(":")[0], float(g.split(":")[1])) for g in a.systems] if a.systems
             else QUICK if a.quick else FULL)
    cuda = a.device != "cpu" and torch.cuda.is_available()
    r = {"machine": platform.node(), "processor": platform.processor() or platform.machine(),
         "torch": torch.__version__, "gpu": torch.cuda.get_device_name(0) if cuda else None,
         "screens": []}
    if a.only is None:
        r["network_alone"] = network_alone(
            a.model, a.compositions or (2048 if a.quick else 65536), a.device)
        print(json.dumps(r["network_alone"]), flush=True)
    r["partner_alone"] = partner_alone(
        a.model, a.partner_compositions or (2000 if a.quick else 1 << 18 if cuda else 20000),
        a.device)
    print(json.dumps(r["partner_alone"]), flush=True)
    for system, step in grids if a.only is None else []:
        row = screen_rate(a.model, system, step, a.device)
        row["share_of_network_alone"] = round(
            row["points_per_s_scoring"] / r["network_alone"]["points_per_s"], 3)
        r["screens"].append(row)
        print(json.dumps(row), flush=True)
    r["atlases"] = []
    for elements, order, step in atlases if a.only is None else []:
        row = atlas_rate(a.model, elements, str(order), float(step), a.device)
        r["atlases"].append(row)
        print(json.dumps(row), flush=True)
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(json.dumps(r, indent=2))
    return r


if __name__ == "__main__":
    main()

"""Throughput benchmarks on this machine (not a test).

Usage: python scripts/benchmark.py [--model DIR [--baseline-model DIR]] [--quick]
           [--json out.json]
       python scripts/benchmark.py --stub-network [--model DIR]   (the pipeline without the network)
       python scripts/benchmark.py --screen La-Co-Al:2 [--precision fp32 auto bf16]
           [--model DIR] [--device cpu] [--report]   (one screen beside the network alone)

Measures: grid generation and featurization (points/s), ResNet50 training and inference
(images/s) for several execution variants with the largest change in log10(1+Dmax) each
causes versus eager float32, and an end-to-end screening run compared with the model alone.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from gfascreen.featurize import OPImageFeaturizer, Vocabulary
from gfascreen.model.network import NetworkSpec, build_network
from gfascreen.screening.grid import CompositionGrid

#: Input channels of the shipped model (one OP image; coordinate channels are off).
CHANNELS = 1


def timeit(fn, repeat: int = 3) -> float:
    fn()
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def gflop_per_image(n_vocab: int = 43) -> float:
    """Forward-pass cost of one OP image through the ResNet50 (GFLOP, torch's FLOP
    counter: 0.41 at 43 x 43)."""
    from torch.utils.flop_counter import FlopCounterMode

    model = build_network(NetworkSpec(CHANNELS)).eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.rand(1, CHANNELS, n_vocab, n_vocab))
    return counter.get_total_flops() / 1e9


def fp32_roofline(n_vocab: int = 43) -> dict:
    """The CPU's fp32 peak from /proc/cpuinfo: cores x clock x FLOPs per cycle (two FMA
    units: 64 with AVX-512, 32 with AVX2+FMA, 8 otherwise), and the ResNet50 images/s it
    allows. The clock is the one /proc/cpuinfo reports (a VM's nominal clock; boost can
    exceed it, so a measurement above this "peak" means the clock is higher)."""
    import os

    text = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    flags = next((ln.split(":", 1)[1].split() for ln in text.splitlines()
                  if ln.startswith("flags")), [])
    mhz = next((float(ln.split(":", 1)[1]) for ln in text.splitlines()
                if ln.startswith("cpu MHz")), float("nan"))
    per_cycle = 64 if "avx512f" in flags else 32 if {"avx2", "fma"} <= set(flags) else 8
    cores = len(os.sched_getaffinity(0))
    gflops = cores * mhz / 1000 * per_cycle
    per_image = gflop_per_image(n_vocab)
    return {"cores": cores, "mhz": round(mhz), "flops_per_cycle": per_cycle,
            "peak_gflops": round(gflops, 1), "gflop_per_image": round(per_image, 3),
            "resnet50_images_per_s_at_peak": round(gflops / per_image)}


def bench_grid() -> dict:
    out = {}
    for system, step in [("La-Co-Al", 0.5), ("Zr-Cu-Al-Ni", 1)]:
        g = CompositionGrid(system, step)
        s = timeit(lambda g=g: sum(len(c) for c in g.units_chunks(4096)), 2)
        out[f"{system} step {step:g}"] = {"points": len(g), "points_per_s": round(len(g) / s)}
    return out


def bench_featurize(n_vocab: int) -> dict:
    vocab = Vocabulary.from_elements(
        ["H", "Li", "Be", "B", "C", "Mg", "Al", "Si", "P", "Ca", "Ti", "V", "Cr", "Mn", "Fe",
         "Co", "Ni", "Cu", "Zn", "Ga", "Ge", "Sr", "Y", "Zr", "Nb", "Mo", "Pd", "Ag", "Sn",
         "Ba", "La", "Ce", "Pr", "Nd", "Sm", "Gd", "Tb", "Dy", "Er", "Yb", "Hf", "Ta", "W",
         "Pt", "Au"][:n_vocab])
    f = OPImageFeaturizer(vocab)
    x = torch.rand(1_000_000, n_vocab)
    s = timeit(lambda: f.transform(x[:200_000]), 2)
    return {"points_per_s": round(200_000 / s), "vocab": n_vocab}


def _variants(model: torch.nn.Module, example: torch.Tensor) -> dict:
    cl = model.to(memory_format=torch.channels_last)
    v = {
        "eager fp32 NCHW": (model, lambda x: x, contextlib.nullcontext),
        "channels-last fp32": (cl, lambda x: x.contiguous(memory_format=torch.channels_last),
                               contextlib.nullcontext),
        "channels-last bf16 autocast": (
            cl, lambda x: x.contiguous(memory_format=torch.channels_last),
            lambda: torch.autocast("cpu", dtype=torch.bfloat16)),
    }
    return v


def bench_inference(n_vocab: int, batch: int, repeat: int) -> dict:
    torch.manual_seed(0)
    net = build_network(NetworkSpec(CHANNELS)).eval()
    x = torch.rand(batch, CHANNELS, n_vocab, n_vocab)
    ref = None
    res = {}
    with torch.inference_mode():
        for name, (m, prep, ctx) in _variants(net, x).items():
            xi = prep(x)

            def run(m=m, xi=xi, ctx=ctx):
                with ctx():
                    return m(xi)["reg"].float()

            s = timeit(run, repeat)
            out = run()
            if ref is None:
                ref = out
            res[name] = {"images_per_s": round(batch / s, 1),
                         "max_abs_diff_output": float((out - ref).abs().max())}
    return res


def bench_training(n_vocab: int, batch: int, steps: int) -> dict:
    res = {}
    for name, ctx in [("channels-last fp32", contextlib.nullcontext),
                      ("channels-last bf16 autocast",
                       lambda: torch.autocast("cpu", dtype=torch.bfloat16))]:
        torch.manual_seed(0)
        net = build_network(NetworkSpec(CHANNELS)).to(memory_format=torch.channels_last).train()
        opt = torch.optim.AdamW(net.parameters(), 1e-3)
        x = torch.rand(batch, CHANNELS, n_vocab, n_vocab)
        x = x.contiguous(memory_format=torch.channels_last)
        y = torch.rand(batch)

        def step(net=net, opt=opt, x=x, y=y, ctx=ctx):
            with ctx():
                loss = ((net(x)["reg"].float() - y) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()

        step()
        t = time.perf_counter()
        for _ in range(steps):
            step()
        res[name] = {"images_per_s": round(batch * steps / (time.perf_counter() - t), 1)}
    return res


def bench_end_to_end(model: str) -> dict:
    from gfascreen.model.ensemble import Ensemble
    from gfascreen.screening.run import ScreenConfig, screen

    ens = Ensemble.load(model, device="cpu")
    grid = CompositionGrid("La-Co-Al", 2)
    with tempfile.TemporaryDirectory() as d:
        t = time.perf_counter()
        screen(ScreenConfig(system="La-Co-Al", step=2, out=str(Path(d) / "run"), model=model,
                            device="cpu", progress=False))
        e2e = time.perf_counter() - t
    units = np.concatenate(list(grid.units_chunks(10**9)))
    x = ens.featurizer.from_amounts(units, grid.elements)
    t = time.perf_counter()
    ens.predict_fractions(x)
    alone = time.perf_counter() - t
    return {"points": len(grid), "members": len(ens.members), "end_to_end_s": round(e2e, 2),
            "model_alone_s": round(alone, 2),
            "overhead_fraction": round((e2e - alone) / e2e, 3),
            "end_to_end_points_per_s": round(len(grid) / e2e, 1)}


class StubMember(torch.nn.Module):
    """A zero-cost stand-in for a ResNet50 member: same outputs and shapes, no work."""

    fds = None

    def __init__(self, n_classes: int = 3):
        super().__init__()
        self.n_classes = n_classes

    def forward(self, img: torch.Tensor, y=None) -> dict:
        b = img.shape[0]
        return {"reg": torch.zeros(b, device=img.device),
                "logits": torch.zeros(b, self.n_classes, device=img.device)}


#: Pipeline stages timed by the stub benchmark: (where, attribute, label).
STAGES = [("gfascreen.screening.grid", "CompositionGrid.units_chunks", "grid"),
          ("gfascreen.featurize.op_image", "OPImageFeaturizer.from_amounts", "fractions"),
          ("gfascreen.featurize.op_image", "OPImageFeaturizer.images", "OP images"),
          ("gfascreen.model.members", "Members.outputs", "members (stub) + images"),
          ("gfascreen.model.domain", "Domain.neighbourhood", "domain + neighbours"),
          ("gfascreen.model.stack_reading", "StackReading.read", "partner + stack"),
          ("gfascreen.model.calibrated", "CalibratedColumns.columns",
           "calibrated statements (probabilities, intervals, bounds, P(Dmax>=T))"),
          ("gfascreen.screening.run", "write_part", "Parquet parts")]


def bench_pipeline_stub(model: str, system: str = "La-Co-Al", step: float = 0.5) -> dict:
    """The whole screening pipeline with the members replaced by :class:`StubMember`:
    points/s on this CPU and each stage's share of the wall time (what stands between
    the network and the user)."""
    import importlib

    from gfascreen.model.ensemble import Ensemble
    from gfascreen.screening import score
    from gfascreen.screening.run import ScreenConfig, screen

    ens = Ensemble.load(model, device="cpu")
    stubs = [StubMember(len(ens.classes or [0, 0, 0])) for _ in ens.members]
    ens = Ensemble(dataclasses.replace(
        ens.parts, members=dataclasses.replace(ens.parts.members, nets=stubs)))
    spent: dict[str, float] = {}
    undo = []
    for mod_name, attr, label in STAGES:
        mod = importlib.import_module(mod_name)
        owner, name = (getattr(mod, attr.split(".")[0]), attr.split(".")[1]) if "." in attr \
            else (mod, attr)
        real = getattr(owner, name)

        def timed(*a, _real=real, _label=label, **kw):
            t0 = time.perf_counter()
            try:
                return _real(*a, **kw)
            finally:
                spent[_label] = spent.get(_label, 0.0) + time.perf_counter() - t0

        setattr(owner, name, timed)
        undo.append((owner, name, real))
    score.hold(model, "cpu", "fp32", ens)
    try:
        with tempfile.TemporaryDirectory() as d:
            t = time.perf_counter()
            screen(ScreenConfig(system=system, step=step, out=str(Path(d) / "run"),
                                model=model, device="cpu", precision="fp32",
                                progress=False))
            wall = time.perf_counter() - t
    finally:
        for owner, name, real in undo:
            setattr(owner, name, real)
        score.forget(model)
    n = len(CompositionGrid(system, step))
    # member_outputs includes the OP images: report it net of them.
    spent["members (stub) + images"] -= spent.get("OP images", 0.0)
    return {"system": system, "step": step, "points": n, "wall_s": round(wall, 2),
            "points_per_s": round(n / wall),
            "share": {k: round(v / wall, 3) for k, v in spent.items()},
            "unaccounted_share": round(1 - sum(spent.values()) / wall, 3)}


def network_alone(ens, x: torch.Tensor, batch_size: int) -> float:
    """Seconds for the ensemble's members alone on the OP images of ``x`` (made once,
    beforehand), at ``batch_size`` and in the ensemble's precision: the work no pipeline
    around the network can avoid."""
    from gfascreen.model.network import forward_images

    dev = ens.featurizer.device
    bf16 = ens.precision == "bf16"
    imgs = [ens.featurizer.images(x[i:i + batch_size].to(dev))
            .contiguous(memory_format=torch.channels_last)
            for i in range(0, len(x), batch_size)]
    with torch.inference_mode():
        forward_images(ens.members[0], imgs[0], bf16)  # warm-up (kernels, allocator)
        t = time.perf_counter()
        for m in ens.members:
            for img in imgs:
                forward_images(m, img, bf16)[0].cpu()
        return time.perf_counter() - t


def bench_screen_vs_network(model: str, system: str, step: float, precision: str,
                            device: str = "cpu", report: bool = False) -> dict:
    """One ``screen`` (in process, the model loaded by it, optionally with its report)
    and then the network alone on the same grid's images with the very ensemble the
    screen used (same device, precision and batch): the pipeline's efficiency is the
    network's time over the whole screen's."""
    from gfascreen.screening.run import ScreenConfig, load_model, plan_screen, screen

    with tempfile.TemporaryDirectory() as d:
        cfg = ScreenConfig(system=system, step=step, out=str(Path(d) / "run"), model=model,
                           device=device, precision=precision, progress=False)
        t = time.perf_counter()
        plan = plan_screen(cfg)
        out = screen(plan)
        report_s = None
        if report:
            from gfascreen.screening.report import write_report

            t_report = time.perf_counter()
            write_report(out)
            report_s = time.perf_counter() - t_report
        whole = time.perf_counter() - t
        summary = json.loads((out / "_summary.json").read_text())
    plan = load_model(plan)  # the screen's own ensemble (cached), not a second load
    units = np.concatenate(list(plan.grid.units_chunks(10**9)))
    x = plan.ensemble.featurizer.from_amounts(units, plan.grid.elements)
    alone = network_alone(plan.ensemble, x, plan.batch_size)
    return {"system": system, "step": step, "points": len(plan.grid),
            "members": len(plan.ensemble.members), "device": str(plan.device),
            "precision_asked": precision, "precision": plan.precision,
            "batch": plan.batch_size, "chunk": plan.chunk_size, "threads": torch.get_num_threads(),
            "screen_whole_s": round(whole, 2), "screen_scoring_s": summary["wall_s"],
            "report_s": None if report_s is None else round(report_s, 2),
            "network_alone_s": round(alone, 2),
            "efficiency": round(alone / whole, 3),
            "points_per_s_whole": round(len(plan.grid) / whole, 1),
            "points_per_s_network": round(len(plan.grid) / alone, 1)}


def bench_screen_memory(model: str) -> dict:
    """Peak resident memory (MB) of a whole `screen` process at two grid sizes (La-Co-Al at
    5 and 1 at.%: 231 and 5,151 points), each in a fresh process."""
    import resource
    import subprocess
    import sys

    out = {}
    with tempfile.TemporaryDirectory() as d:
        for step in (5, 1):  # smaller first: RUSAGE_CHILDREN keeps the maximum so far
            subprocess.run([sys.executable, "-m", "gfascreen", "screen", "--system",
                            "La-Co-Al", "--step", str(step), "--model", model, "--device",
                            "cpu", "--quiet", "--out", str(Path(d) / f"s{step}")],
                           check=True, capture_output=True)
            peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
            out[f"La-Co-Al step {step}: peak MB"] = round(peak)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--model", default=None, help="ensemble for the end-to-end run")
    p.add_argument("--vocab", type=int, default=43)
    p.add_argument("--baseline-model", default=None,
                   help="a second ensemble timed end to end beside --model, same machine")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--stub-network", "--stub", dest="stub", action="store_true",
                   help="only the screening pipeline with zero-cost members (--model's "
                        "calibration and domain), La-Co-Al at 0.5 at.%%")
    p.add_argument("--screen", default=None, metavar="SYSTEM:STEP",
                   help="only one screen (in process) beside the network alone on its "
                        "images, e.g. La-Co-Al:2, once per --precision")
    p.add_argument("--precision", nargs="+", default=["fp32", "auto"],
                   choices=["auto", "fp32", "bf16"],
                   help="with --screen: the precisions to time (default fp32 auto)")
    p.add_argument("--device", default="cpu", help="with --screen: the device (default cpu)")
    p.add_argument("--report", action="store_true",
                   help="with --screen: write the HTML report too, inside the screen's time")
    p.add_argument("--json", default=None)
    a = p.parse_args()
    torch.set_num_threads(torch.get_num_threads())
    if a.screen:
        system, step = a.screen.split(":")
        r = {"threads": torch.get_num_threads(), "torch": torch.__version__,
             "screens": []}
        for prec in a.precision:
            row = bench_screen_vs_network(a.model or "default", system, float(step), prec,
                                          a.device, a.report)
            print(json.dumps(row), flush=True)
            r["screens"].append(row)
        if a.json:
            Path(a.json).write_text(json.dumps(r, indent=2))
        return
    if a.stub:
        r = {"threads": torch.get_num_threads(),
             "pipeline_stub": bench_pipeline_stub(a.model or "default")}
        print(json.dumps(r, indent=2))
        if a.json:
            Path(a.json).write_text(json.dumps(r, indent=2))
        return
    r = {"threads": torch.get_num_threads(), "torch": torch.__version__,
         "roofline_fp32": fp32_roofline(a.vocab), "grid": bench_grid(),
         "featurize": bench_featurize(a.vocab),
         "inference": bench_inference(a.vocab, 256, 2 if a.quick else 5),
         "training": bench_training(a.vocab, 64, 3 if a.quick else 10)}
    if a.model:
        r["end_to_end"] = bench_end_to_end(a.model)
        r["screen_memory"] = bench_screen_memory(a.model)
    if a.baseline_model:
        r["end_to_end_baseline"] = bench_end_to_end(a.baseline_model)
    text = json.dumps(r, indent=2)
    print(text)
    if a.json:
        Path(a.json).write_text(text)


if __name__ == "__main__":
    main()

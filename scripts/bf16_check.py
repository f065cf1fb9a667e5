"""Speed and accuracy of ``--precision bf16`` against fp32 on an ensemble (not a test).

Scores every in-domain composition of the training table with both precisions and prints
member-images/s and the largest change in log10(1+Dmax) and in mm.

Usage: python scripts/bf16_check.py [--model default] [--data train.parquet]
"""

from __future__ import annotations

import argparse
import time

import pandas as pd

from gfascreen.model.ensemble import Ensemble
from gfascreen.model.train import TrainConfig, prepare_table


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="default")
    p.add_argument("--data", default="train.parquet")
    a = p.parse_args()
    fp32 = Ensemble.load(a.model, device="cpu")
    bf16 = Ensemble.load(a.model, device="cpu", runtime="bf16")
    voc = fp32.manifest["vocabulary"]
    t, vocab = prepare_table(pd.read_parquet(a.data),
                             TrainConfig(min_count=voc["min_count"], order=voc["order"]))
    if tuple(vocab.elements) != tuple(fp32.vocabulary.elements):
        raise SystemExit(f"{a.data} is not the table {a.model} was trained on")
    x = fp32.featurizer.fractions(t)
    t0 = time.perf_counter()
    ref = fp32.predict_fractions(x)
    t1 = time.perf_counter()
    got = bf16.predict_fractions(x)
    t2 = time.perf_counter()
    n = len(x) * len(fp32.members)
    d = (ref["log_dmax"] - got["log_dmax"]).abs()
    dmm = (ref["dmax_mm"] - got["dmax_mm"]).abs()
    print(f"{len(x)} compositions x {len(fp32.members)} members: fp32 {n / (t1 - t0):.0f} "
          f"images/s, bf16 {n / (t2 - t1):.0f} images/s ({(t1 - t0) / (t2 - t1):.2f}x); "
          f"max |d log10(1+Dmax)| {d.max():.4f} (mean {d.mean():.5f}), max |d Dmax| "
          f"{dmm.max():.3f} mm")


if __name__ == "__main__":
    main()

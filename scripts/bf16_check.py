"""Speed and accuracy of ``--precision bf16`` against fp32 on an ensemble (not a test).

Scores every training alloy the model carries with both precisions
(:func:`gfascreen.model.training.pack.prediction_difference`, the check the packer runs) and prints
member-images/s and the largest change in log10(1+Dmax) and in mm.

Usage: python scripts/bf16_check.py [--model default] [--data train.parquet]
"""

from __future__ import annotations

import argparse

from gfascreen.model.ensemble import Ensemble
from gfascreen.model.training.pack import prediction_difference


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="default")
    a = p.parse_args()
    fp32 = Ensemble.load(a.model, device="cpu")
    d = prediction_difference(fp32, Ensemble.load(a.model, device="cpu", precision="bf16"))
    n = d["compositions"] * len(fp32.members)
    s32, s16 = d["seconds"]
    print(f"{d['compositions']} compositions x {len(fp32.members)} members: fp32 {n / s32:.0f} "
          f"images/s, bf16 {n / s16:.0f} images/s ({s32 / s16:.2f}x); max |d log10(1+Dmax)| "
          f"{d['max_abs_diff_log10_1p_dmax']:.4f} (mean {d['mean_abs_diff_log10_1p_dmax']:.5f}),"
          f" max |d Dmax| {d['max_abs_diff_mm']:.3f} mm")


if __name__ == "__main__":
    main()

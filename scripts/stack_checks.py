"""Checks of a model's calibrated statements that no fold measures: plateaus of the
probabilities over a ternary screen, pure metals, and the in-sample tail of thick glasses.

Usage: python scripts/stack_checks.py MODEL [--system La-Co-Al --step 1] [--parts stack]
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from gfascreen.model.ensemble import Ensemble
from gfascreen.screening.grid import CompositionGrid


def plateaus(ens: Ensemble, system: str, step: float) -> dict:
    """Largest share of the grid holding one value of p_glass / p_bmg (rounded to 1e-9)."""
    grid = CompositionGrid(system, step)
    at = np.concatenate(list(grid.chunks(100_000)))
    els = ens.vocabulary.elements
    amounts = np.zeros((len(at), len(els)))
    for j, e in enumerate(grid.elements):
        amounts[:, els.index(e)] = at[:, j]
    x = ens.featurizer.from_amounts(amounts)
    df = ens.predict_fractions(x)
    out = {"points": int(len(df))}
    for c in ("p_glass", "p_bmg"):
        _, counts = np.unique(np.round(df[c].to_numpy(), 9), return_counts=True)
        out[f"{c}_largest_share"] = float(counts.max() / len(df))
    return out


def pure_metals(ens: Ensemble) -> dict:
    x = torch.eye(len(ens.vocabulary.elements))
    p = ens.predict_fractions(x)["p_glass"].to_numpy()
    return {"max_p_glass": float(p.max()),
            "worst": ens.vocabulary.elements[int(p.argmax())]}


def tail(ens: Ensemble) -> dict:
    """Predicted / measured over the model's own bulk glasses >= 10 mm, and two icons."""
    known = ens.known_alloys
    thick = known[(known["gfa_class"] == "bmg") & (known["dmax_mm"] >= 10)]
    pred = ens.predict(thick["composition"].tolist())
    ratio = pred["dmax_mm"].to_numpy() / thick["dmax_mm"].to_numpy()
    ratio_bmg = pred["dmax_bmg_mm"].to_numpy() / thick["dmax_mm"].to_numpy()
    icons = ens.predict(["Zr41.2Ti13.8Cu12.5Ni10Be22.5", "Pd40Cu30Ni10P20"])
    return {"n": int(len(thick)), "median_ratio_dmax_mm": float(np.median(ratio)),
            "median_ratio_dmax_bmg_mm": float(np.median(ratio_bmg)),
            "icons": icons[["input", "dmax_mm", "dmax_bmg_mm", "p_bmg"]].to_dict("records")}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("model")
    p.add_argument("--system", default="La-Co-Al")
    p.add_argument("--step", type=float, default=1.0)
    p.add_argument("--parts", default="stack")
    a = p.parse_args()
    torch.set_num_threads(2)
    ens = Ensemble.load(a.model, device="cpu", parts=a.parts)
    print(json.dumps({"plateaus": plateaus(ens, a.system, a.step),
                      "pure_metals": pure_metals(ens), "tail": tail(ens)}, indent=1))


if __name__ == "__main__":
    main()

"""Do training alloys stand above their 0.5 at.% neighbours? (issue 35's smoothness goal)

Predicts the probe's four lines (``shared/checks/statements_probe.py``) and, for every known
alloy of the model on them, compares each column with its two neighbours: a spike is a
value above both neighbours by more than the neighbours differ from each other. Prints one
row per known alloy. Run: ``python scripts/spikes.py [--model default]``.
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

LINES = {
    "La-Co-Al": [f"La{a:g}Co20Al{80 - a:g}" for a in np.arange(40, 70.01, 0.5)],
    "Pd-Ni-P": [f"Pd{a:g}Ni{80 - a:g}P20" for a in np.arange(35, 45.01, 0.5)],
    "Cu-Zr-Al": [f"Cu{a:g}Zr{92 - a:g}Al8" for a in np.arange(36, 56.01, 0.5)],
    "Zr-Co-Al": [f"Zr{a:g}Co{84 - a:g}Al16" for a in np.arange(44, 64.01, 0.5)],
}
COLUMNS = ("dmax_mm", "p_bmg", "p_dmax_ge_5", "dmax_hi")


def main() -> None:
    from gfascreen.model.ensemble import Ensemble

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="default")
    a = ap.parse_args()
    ens = Ensemble.load(a.model, device="cpu")
    rows = []
    for line, comps in LINES.items():
        p = ens.predict(comps)
        for i in np.flatnonzero(p["measured_class"].fillna("").to_numpy() != ""):
            if i == 0 or i == len(p) - 1:
                continue
            row = {"line": line, "alloy": comps[i], "measured_mm": p["measured_dmax_mm"][i]}
            for c in COLUMNS:
                v = p[c].to_numpy(float)
                v = np.log10(1 + v) if c.startswith("dmax") else v
                above = v[i] - max(v[i - 1], v[i + 1])
                row[f"{c} spike"] = bool(above > abs(v[i - 1] - v[i + 1]) + 1e-9)
            rows.append(row)
    print(pd.DataFrame(rows).to_markdown(index=False))


if __name__ == "__main__":
    main()

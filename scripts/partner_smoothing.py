"""Does reading the partner as a local average cost accuracy on unseen systems?

Rebuilds the shipped model's leave-system-out stack twice from its carried predictions:
the partner's fold boosters read at each held-out alloy (as v3 was stacked) and read as
their average over the alloy's neighbourhood (``gfascreen.model.local_average``, steps
in at.%), each with the nested stack on identical folds, and prints the headline figures
of each. Run: ``python scripts/partner_smoothing.py [--steps 0.5,1,2]`` (minutes).
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from gfascreen.featurize.descriptors import DescriptorFeaturizer, ElementTable
from gfascreen.model.local_average import average, neighbours
from gfascreen.model.partner import predict_boosters
from gfascreen.model.saved import ModelDir
from gfascreen.model.training.attach_stack import (
    NET_COLUMNS,
    network_oof,
    pure_metal_network,
    side_by_side,
)
from gfascreen.model.training.partner import (
    PartnerConfig,
    fit_boosters,
    pure_metals_as_crystals,
    table_fractions,
    with_pure_metals,
)

GB = ["gb_log", "gb_p_crystal", "gb_p_ribbon", "gb_p_bmg", "gb_log_bmg"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="default")
    ap.add_argument("--steps", default="0.5,1,2")
    a = ap.parse_args()
    steps = [float(s) for s in a.steps.split(",")]
    md = ModelDir(a.model)
    elements = list(md.manifest.vocabulary["elements"])
    known = pure_metals_as_crystals(md.known_alloys(), elements)
    lso = md.lso_oof().set_index("composition").loc[known["composition"]].reset_index()
    full = with_pure_metals(known, elements)
    x = table_fractions(full, elements)
    table = ElementTable.from_matminer(elements)
    feat = DescriptorFeaturizer(table, elements)
    d = feat(x).numpy()
    around = {}  # step -> (descriptors of the neighbourhoods, the alloy each belongs to)
    for s in steps:
        xs, owner = neighbours(x, s)
        around[s] = (feat(xs).numpy(), owner)
    n_known = len(known)
    folds = np.r_[lso["fold"].to_numpy(), np.arange(len(full) - n_known) % lso["fold"].nunique()]
    net = network_oof(lso)
    pure = pure_metal_network(md, elements).loc[full["composition"].to_numpy()[n_known:]]
    outs = {s: np.full((len(full), 5), np.nan) for s in (0.0, *steps)}
    config = PartnerConfig()
    for k in np.unique(folds):
        tr, te = folds != k, folds == k
        b = fit_boosters(d[tr], full["gfa_class"].to_numpy()[tr],
                         full["dmax_mm"].to_numpy()[tr], config)
        outs[0.0][te] = _columns(predict_boosters(b, d[te]))
        for s, (ds, owner) in around.items():
            mine = te[owner]
            outs[s][te] = average(_columns(predict_boosters(b, ds[mine])), owner[mine],
                                  len(full))[te]
        print(f"fold {k} done", flush=True)
    rows = full[["composition", "system", "gfa_class", "dmax_mm"]].copy()
    rows["fold"], rows["scored"] = folds, np.arange(len(rows)) < n_known
    for c in NET_COLUMNS:
        rows[c] = np.r_[net[c].to_numpy(float), pure[c].to_numpy(float)]
    table_out = {}
    for s, o in outs.items():
        frame = rows.join(pd.DataFrame(o, columns=GB, index=rows.index))
        figures, _, _ = side_by_side(frame)
        table_out["partner at the point" if s == 0 else f"local average, {s:g} at.%"] = \
            figures["stack"]
    print(pd.DataFrame(table_out).T.round(3).to_markdown())


def _columns(o) -> np.ndarray:
    """The partner's outputs as the five ``GB`` columns."""
    return np.column_stack([o.log_dmax, o.proba, o.log_dmax_bmg])


if __name__ == "__main__":
    main()

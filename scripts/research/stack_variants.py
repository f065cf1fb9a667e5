"""Stack variants on the frames `gfascreen stack MODEL --frames DIR` keeps: each variant
fitted for each held-out fold on the other folds (nested), scored on the real alloys.

Usage: python scripts/research/stack_variants.py DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LinearRegression, LogisticRegression

from gfascreen.model.evaluation.markdown import headline_table
from gfascreen.model.evaluation.side_by_side import headline
from gfascreen.model.evaluation.stack_report import Headline
from gfascreen.model.stack import RIBBON_MM
from gfascreen.model.targets import to_target
from gfascreen.model.training.nested_stack import features_of

#: name: (class-model inputs, bulk-glass blend inputs, C, ranking Dmax) over
#: FEATURES = net_log, net_logit_glass, net_logit_bmg, gb_log, gb_logit_glass,
#: gb_logit_bmg, gb_log_bmg; ranking "bmg": the bulk-glass blend, (w,): w·net + (1-w)·gb.
VARIANTS = {
    "all 7 inputs, rank on bmg blend": ([0, 1, 2, 3, 4, 5, 6], [0, 3, 6], 1.0, "bmg"),
    "4 class scores, rank on bmg blend": ([1, 2, 4, 5], [0, 3, 6], 1.0, "bmg"),
    "all 7 inputs C=0.01, rank on bmg blend": ([0, 1, 2, 3, 4, 5, 6], [0, 3, 6], 0.01, "bmg"),
    "4 class scores, rank 0.3 net + 0.7 gb (the probe)": ([1, 2, 4, 5], [0, 3, 6], 1.0, 0.3),
    "4 class scores, rank 0.5 net + 0.5 gb": ([1, 2, 4, 5], [0, 3, 6], 1.0, 0.5),
    "4 class scores, rank 0.9 net + 0.1 gb": ([1, 2, 4, 5], [0, 3, 6], 1.0, 0.9),
}


def run(frame: pd.DataFrame, ccols, bcols, C, rank) -> pd.DataFrame:
    f = features_of(frame)
    y = to_target(frame["dmax_mm"].to_numpy(float))
    cls = frame["gfa_class"].map({"crystal": 0, "ribbon": 1, "bmg": 2}).to_numpy()
    out = pd.DataFrame(index=frame.index, columns=["pred_mm", "p_crystal", "p_bmg",
                                                   "pred_bmg_mm"], dtype=float)
    for k in np.unique(frame["fold"]):
        te = (frame["fold"] == k).to_numpy()
        tr = ~te
        mu, sd = f[tr][:, ccols].mean(0), f[tr][:, ccols].std(0)
        lr = LogisticRegression(C=C, max_iter=3000).fit((f[tr][:, ccols] - mu) / sd, cls[tr])
        p = lr.predict_proba((f[te][:, ccols] - mu) / sd)
        b = tr & (cls == 2) & np.isfinite(y)
        lb = LinearRegression().fit(f[b][:, bcols], y[b]).predict(f[te][:, bcols])
        lr_ = lb if rank == "bmg" else rank * f[te][:, 0] + (1 - rank) * f[te][:, 3]
        out.loc[te, "pred_mm"] = p[:, 2] * np.clip(10 ** lr_ - 1, 0, None) + p[:, 1] * RIBBON_MM
        out.loc[te, "p_crystal"], out.loc[te, "p_bmg"] = p[:, 0], p[:, 2]
        out.loc[te, "pred_bmg_mm"] = np.clip(10 ** lb - 1, 0, None)
    return frame[["composition", "system", "fold", "gfa_class", "dmax_mm"]].join(out)


def main() -> None:
    rows = {}
    for grouping in ("system", "random"):
        p = Path(sys.argv[1]) / f"{grouping}_frame.parquet"
        if not p.is_file():
            continue
        frame = pd.read_parquet(p)
        for name, v in VARIANTS.items():
            rows[f"{grouping}: {name}"] = Headline.from_dict(
                headline(run(frame, *v)[frame["scored"]]), name)
    print(headline_table(rows))


if __name__ == "__main__":
    main()

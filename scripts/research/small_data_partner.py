"""The descriptor partner alone in the small-data regime: bulk glasses with a measured
Dmax, random 5-fold on the folds `gfascreen train` (and scripts/research/small_data.py) use, so its
figures sit beside the network's and the baselines' there.

Usage: python scripts/research/small_data_partner.py [TABLE]   (default runs/train.parquet)
"""

from __future__ import annotations

import sys

import lightgbm as lgb
import numpy as np
import pandas as pd
from scipy.stats import spearmanr
from sklearn.metrics import r2_score

from gfascreen.featurize.descriptors import DescriptorFeaturizer, ElementTable
from gfascreen.model.targets import to_target
from gfascreen.model.training.folds import assign_folds
from gfascreen.model.training.partner import PartnerConfig, table_fractions
from gfascreen.model.training.train import TrainConfig, prepare_table


def main() -> None:
    table = pd.read_parquet(sys.argv[1] if len(sys.argv) > 1 else "runs/train.parquet")
    bmg = table[(table["gfa_class"] == "bmg") & table["dmax_mm"].notna()]
    t, vocab = prepare_table(bmg.reset_index(drop=True), TrainConfig(folds=5))
    els = list(vocab.elements)
    folds = assign_folds(t, 5, "random", 0)
    d = DescriptorFeaturizer(ElementTable.from_matminer(els), els)(
        table_fractions(t, els)).numpy()
    y = to_target(t["dmax_mm"].to_numpy(float))
    pred = np.zeros(len(t))
    for k in range(5):
        tr, te = folds != k, folds == k
        booster = lgb.train(PartnerConfig().params("regression"), lgb.Dataset(d[tr], y[tr]),
                            PartnerConfig().n_estimators)
        pred[te] = booster.predict(d[te])
    mm = 10.0 ** pred - 1.0
    print(f"{len(t)} bulk glasses: R² {r2_score(t['dmax_mm'], mm):.3f} (mm), Spearman "
          f"{spearmanr(t['dmax_mm'], mm).statistic:.3f}")


if __name__ == "__main__":
    main()

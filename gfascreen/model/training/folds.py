"""Cross-validation folds on deduplicated compositions (scikit-learn splitters)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupKFold, KFold

from gfascreen.errors import GfaError

GROUPINGS = ("random", "system")


def assign_folds(table: pd.DataFrame, k: int, grouping: str = "random", seed: int = 0
                 ) -> np.ndarray:
    """Fold index per row. ``random``: shuffled K-fold over unique compositions;
    ``system``: leave-alloy-system-out (all alloys of one system share a fold)."""
    if table["composition"].duplicated().any():
        raise GfaError("training table has duplicated compositions; rebuild it with "
                       "`gfascreen data build`")
    if k < 2 or k > len(table):
        raise GfaError(f"--folds must be between 2 and {len(table)}, got {k}")
    fold = np.full(len(table), -1, dtype=int)
    if grouping == "random":
        splitter = KFold(n_splits=k, shuffle=True, random_state=seed)
        splits = splitter.split(np.arange(len(table)))
    elif grouping == "system":
        groups = table["system"].to_numpy()
        if len(set(groups)) < k:
            raise GfaError(f"only {len(set(groups))} alloy systems, fewer than --folds {k}")
        splits = GroupKFold(n_splits=k).split(np.arange(len(table)), groups=groups)
    else:
        raise GfaError(f"unknown fold grouping {grouping!r}; choose {' or '.join(GROUPINGS)}")
    for i, (_, test) in enumerate(splits):
        fold[test] = i
    return fold

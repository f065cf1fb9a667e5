"""Baselines a metallurgist would try first, on the identical folds of a run.

Random forest and gradient boosting (scikit-learn) on raw fractions (at.% over the
model's vocabulary) and on Magpie composition features (matminer's ``ElementProperty``
"magpie" preset, Ward et al. 2016), predicting ``log10(1+Dmax)``; scores are computed in
mm after inverting the transform, exactly as for the network.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestRegressor

from gfascreen.model.metrics import regression_report
from gfascreen.model.targets import from_target, to_target


def magpie_features(table: pd.DataFrame, elements: list[str]) -> np.ndarray:
    """Magpie element-property statistics for each row (needs matminer)."""
    try:
        from matminer.featurizers.composition import ElementProperty
    except ImportError:
        return None
    from pymatgen.core import Composition

    ep = ElementProperty.from_preset("magpie", impute_nan=True)
    rows = []
    for _, r in table[elements].iterrows():
        comp = Composition({e: v for e, v in r.items() if v > 0})
        rows.append(ep.featurize(comp))
    return np.asarray(rows, dtype=float)


def _models(seed: int) -> dict:
    return {
        "random_forest": lambda: RandomForestRegressor(n_estimators=300, n_jobs=2,
                                                       random_state=seed, min_samples_leaf=1),
        "gradient_boosting": lambda: HistGradientBoostingRegressor(max_iter=500,
                                                                   learning_rate=0.05,
                                                                   random_state=seed),
    }


def cached_magpie(t: pd.DataFrame, elements: list[str], cache: Path | None) -> np.ndarray | None:
    """Magpie features, reusing ``cache`` (a Parquet file) when it holds the same rows."""
    if cache is not None and cache.is_file():
        c = pd.read_parquet(cache)
        if c["composition"].tolist() == t["composition"].tolist():
            return c.drop(columns="composition").to_numpy(dtype=float)
    m = magpie_features(t, elements)
    if m is not None and cache is not None:
        df = pd.DataFrame(m, columns=[f"magpie_{i}" for i in range(m.shape[1])])
        df.insert(0, "composition", t["composition"].to_numpy())
        df.to_parquet(cache, index=False)
    return m


def run_baselines(table: pd.DataFrame, folds: np.ndarray, elements: list[str],
                  seed: int = 0, magpie: bool = True, cache: Path | None = None,
                  test_folds: list[int] | None = None) -> dict:
    """Out-of-fold metrics of each baseline on the given folds (rows with a Dmax).

    ``test_folds`` restricts scoring to those folds (each still trained on all others), to
    compare with a run whose other folds are unfinished."""
    mask = table["dmax_mm"].notna().to_numpy()
    t = table[mask].reset_index(drop=True)
    f = folds[mask]
    y = to_target(t["dmax_mm"].to_numpy(dtype=float))
    feats = {"fractions": t[elements].to_numpy(dtype=float) / 100.0}
    if magpie:
        m = cached_magpie(t, [e for e in elements if (t[e] > 0).any()], cache)
        if m is not None:
            feats["magpie"] = m
    out = {}
    for fname, x in feats.items():
        for mname, make in _models(seed).items():
            pred = np.full(len(t), np.nan)
            for k in (np.unique(f) if test_folds is None else test_folds):
                tr, te = f != k, f == k
                model = make().fit(x[tr], y[tr])
                pred[te] = model.predict(x[te])
            oof = pd.DataFrame({"dmax_mm": t["dmax_mm"], "pred_mm": from_target(pred),
                                "gfa_class": t["gfa_class"].astype(str), "fold": f})
            oof = oof[np.isfinite(pred)]
            out[f"{mname}+{fname}"] = regression_report(oof)
    return out

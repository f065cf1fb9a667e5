"""Baselines a metallurgist would try first, on the identical folds of a run.

Random forest and gradient boosting (scikit-learn) on raw fractions (at.% over the
model's vocabulary) and on Magpie composition features (matminer's ``ElementProperty``
"magpie" preset, Ward et al. 2016), predicting ``log10(1+Dmax)``; scores are computed in
mm after inverting the transform, exactly as for the network. A classifier of the same
family (crystal / ribbon / bmg, all rows) gives the baselines' glass-vs-crystal scores.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestRegressor

from gfascreen.data.labels import CLASSES, DMAX_COLUMN
from gfascreen.model.evaluation.metrics import regression_report
from gfascreen.model.evaluation.screening_metrics import screening_report
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
    """Regressor and classifier of each baseline family."""
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier

    return {
        "random_forest": (
            lambda: RandomForestRegressor(n_estimators=300, n_jobs=2, random_state=seed,
                                          min_samples_leaf=1),
            lambda: RandomForestClassifier(n_estimators=300, n_jobs=2, random_state=seed)),
        "gradient_boosting": (
            lambda: HistGradientBoostingRegressor(max_iter=500, learning_rate=0.05,
                                                  random_state=seed),
            lambda: HistGradientBoostingClassifier(max_iter=300, learning_rate=0.05,
                                                   random_state=seed)),
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


def _oof_regression(make, x: np.ndarray, y: np.ndarray, f: np.ndarray, test_folds) -> np.ndarray:
    pred = np.full(len(y), np.nan)
    has_y = np.isfinite(y)
    for k in test_folds:
        tr, te = (f != k) & has_y, (f == k) & has_y
        pred[te] = make().fit(x[tr], y[tr]).predict(x[te])
    return pred


def _oof_classes(make, x: np.ndarray, cls: np.ndarray, f: np.ndarray, test_folds
                 ) -> np.ndarray:
    """Out-of-fold class probabilities (columns in :data:`CLASSES` order)."""
    prob = np.full((len(cls), len(CLASSES)), np.nan)
    for k in test_folds:
        tr, te = f != k, f == k
        m = make().fit(x[tr], cls[tr])
        prob[np.ix_(te, m.classes_)] = m.predict_proba(x[te])
    return np.nan_to_num(prob, nan=0.0)


def run_baselines(table: pd.DataFrame, folds: np.ndarray, elements: list[str],
                  seed: int = 0, magpie: bool = True, cache: Path | None = None,
                  test_folds: list[int] | None = None) -> dict:
    """Out-of-fold metrics of each baseline on the given folds: regression metrics on rows
    with a Dmax, screening metrics (within-system ranking; glass-vs-crystal AUCs from a
    classifier of the same family on all rows).

    ``test_folds`` restricts scoring to those folds (each still trained on all others), to
    compare with a run whose other folds are unfinished."""
    t = table.reset_index(drop=True)
    y = to_target(t[DMAX_COLUMN].to_numpy(dtype=float))
    cls = t["gfa_class"].astype(str).map({c: i for i, c in enumerate(CLASSES)}).to_numpy()
    feats = {"fractions": t[elements].to_numpy(dtype=float) / 100.0}
    if magpie:
        m = cached_magpie(t, [e for e in elements if (t[e] > 0).any()], cache)
        if m is not None:
            feats["magpie"] = m
    todo = np.unique(folds) if test_folds is None else test_folds
    scored = np.isin(folds, todo)
    several_classes = len(np.unique(cls)) > 1  # a bulk-glass-only table has one
    out = {}
    for fname, x in feats.items():
        for mname, (reg, clf) in _models(seed).items():
            pred = _oof_regression(reg, x, y, folds, todo)
            prob = _oof_classes(clf, x, cls, folds, todo) if several_classes else None
            oof = pd.DataFrame({"system": t["system"], DMAX_COLUMN: t[DMAX_COLUMN],
                                "pred_mm": from_target(pred),
                                "gfa_class": t["gfa_class"].astype(str), "fold": folds})
            for i, c in enumerate(CLASSES if prob is not None else []):
                oof[f"p_{c}"] = prob[:, i]
            oof = oof[scored]
            rep = regression_report(oof[np.isfinite(pred[scored])])
            rep["screening"] = screening_report(oof)
            out[f"{mname}+{fname}"] = rep
    return out

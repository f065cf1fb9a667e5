"""Train the descriptor partner (:mod:`gfascreen.model.partner`) with LightGBM.

Settings are fixed before any measurement (the baselines' gradient-boosting budget: 500
trees at learning rate 0.05, LightGBM's default leaves), not tuned on reported folds.
Pure metals are added as crystal rows (Dmax 0): a pure metal does not form a glass by
casting, a fact the training sources do not state.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from gfascreen.data.labels import DMAX_COLUMN
from gfascreen.errors import GfaError
from gfascreen.featurize.descriptors import DescriptorFeaturizer, ElementTable
from gfascreen.model.partner import Partner, predict_boosters
from gfascreen.model.targets import to_target

CLASS_ORDER = ("crystal", "ribbon", "bmg")


@dataclass
class PartnerConfig:
    """LightGBM settings shared by the three boosters."""

    n_estimators: int = 500
    learning_rate: float = 0.05
    num_leaves: int = 31
    min_child_samples: int = 10
    subsample: float = 0.8
    colsample_bytree: float = 0.8
    seed: int = 0
    threads: int = 2

    def params(self, objective: str, **kw) -> dict:
        return {"objective": objective, "learning_rate": self.learning_rate,
                "num_leaves": self.num_leaves, "min_data_in_leaf": self.min_child_samples,
                "bagging_fraction": self.subsample, "bagging_freq": 1,
                "feature_fraction": self.colsample_bytree, "seed": self.seed,
                "num_threads": self.threads, "verbose": -1, "deterministic": True, **kw}


def pure_metals_as_crystals(table: pd.DataFrame, elements: list[str]) -> pd.DataFrame:
    """``table`` with every single-element row labelled crystal, Dmax 0 mm (the rule of
    :data:`gfascreen.data.build.PURE_METAL`, for tables built before it)."""
    from gfascreen.data.build import PURE_METAL

    pure = ((table[elements] > 0).sum(1) == 1).to_numpy()
    return table.assign(
        gfa_class=np.where(pure, PURE_METAL["gfa_class"], table["gfa_class"].astype(str)),
        **{DMAX_COLUMN: np.where(pure, PURE_METAL[DMAX_COLUMN], table[DMAX_COLUMN])})


def with_pure_metals(table: pd.DataFrame, elements: list[str]) -> pd.DataFrame:
    """``table`` (its pure metals relabelled crystals) plus one crystal row (Dmax 0 mm,
    system = the element) per element it lacks."""
    rows = pd.DataFrame(0.0, index=range(len(elements)), columns=elements)
    for i, e in enumerate(elements):
        rows.loc[i, e] = 100.0
    rows["composition"] = elements
    rows["system"] = elements
    rows["gfa_class"] = "crystal"
    rows[DMAX_COLUMN] = 0.0
    keep = [c for c in table.columns if c in rows.columns]
    table = pure_metals_as_crystals(table, elements)
    out = pd.concat([table[keep], rows[keep]], ignore_index=True)
    pure = ~out["composition"].duplicated(keep="first")
    return out[pure].reset_index(drop=True)


def table_fractions(table: pd.DataFrame, elements: list[str]) -> torch.Tensor:
    a = table[elements].to_numpy(dtype=np.float64)
    return torch.as_tensor(a / a.sum(1, keepdims=True))


def fit_boosters(d: np.ndarray, gfa_class, dmax_mm, config: PartnerConfig) -> dict:
    """The three boosters on descriptors ``d`` (rows with a class; Dmax NaN allowed)."""
    import lightgbm as lgb

    cls = np.asarray(gfa_class).astype(str)
    y = to_target(np.asarray(dmax_mm, dtype=float))
    code = np.array([CLASS_ORDER.index(c) for c in cls])
    has_y, bmg = np.isfinite(y), np.isfinite(y) & (code == 2)
    if not bmg.any():
        raise GfaError("the descriptor partner's bulk-glass booster has no bulk glass with "
                       "a Dmax to learn from")
    n = config.n_estimators
    return {
        "log_dmax": lgb.train(config.params("regression"), lgb.Dataset(d[has_y], y[has_y]),
                              n),
        "classes": lgb.train(config.params("multiclass", num_class=3),
                             lgb.Dataset(d, code), n),
        "log_dmax_bmg": lgb.train(config.params("regression"), lgb.Dataset(d[bmg], y[bmg]),
                                  n),
    }


def fit_partner(table: pd.DataFrame, elements: list[str], config: PartnerConfig | None = None,
                element_table: ElementTable | None = None) -> Partner:
    """A partner trained on every row of ``table`` (at.% columns over ``elements``,
    ``gfa_class``, ``dmax_mm``), pure metals added; its element table covers every element
    it can describe (:meth:`~gfascreen.featurize.descriptors.ElementTable.for_partner`)
    unless ``element_table`` is given."""
    config = config or PartnerConfig()
    t = with_pure_metals(table, elements)
    table_ = element_table or ElementTable.for_partner(elements)
    d = DescriptorFeaturizer(table_, elements)(table_fractions(t, elements)).numpy()
    return Partner(table_, elements, fit_boosters(d, t["gfa_class"], t[DMAX_COLUMN], config))


def partner_oof(d: np.ndarray, table: pd.DataFrame, folds: np.ndarray,
                config: PartnerConfig | None = None) -> pd.DataFrame:
    """Out-of-fold partner predictions for each fold (trained on the other folds):
    ``gb_log``, ``gb_p_crystal``, ``gb_p_ribbon``, ``gb_p_bmg``, ``gb_log_bmg``."""
    config = config or PartnerConfig()
    out = np.full((len(table), 5), np.nan)
    for k in np.unique(folds):
        tr, te = folds != k, folds == k
        b = fit_boosters(d[tr], table["gfa_class"].to_numpy()[tr],
                         table[DMAX_COLUMN].to_numpy()[tr], config)
        o = predict_boosters(b, d[te])
        out[te] = np.column_stack([o.log_dmax, o.proba, o.log_dmax_bmg])
    return pd.DataFrame(out, columns=["gb_log", "gb_p_crystal", "gb_p_ribbon", "gb_p_bmg",
                                      "gb_log_bmg"], index=table.index)


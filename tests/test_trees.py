"""The partner's trees as torch tensors (gfascreen.model.trees) against LightGBM itself."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from gfascreen.errors import GfaError
from gfascreen.model.trees import Forest, ForestUnsupported, model_features, parse_model

lgb = pytest.importorskip("lightgbm")

#: Where values may differ: the GPU's parallel sums (gpu_check compares them).
TOL = 1e-6


def assert_same_as_lightgbm(booster, x: np.ndarray) -> None:
    """Raw scores and transformed predictions of the torch forest on the CPU are
    LightGBM's to the last bit."""
    f = Forest.from_booster(booster)
    for raw in (True, False):
        want = booster.predict(x, raw_score=raw)
        got = (f.raw(x) if raw else f.predict(x)).numpy()
        assert got.shape == want.shape
        assert np.array_equal(got, want), (raw, np.abs(got - want).max())


def random_compositions(n: int, vocabulary: int, seed: int = 0) -> torch.Tensor:
    """``n`` fractions over 1-5 random elements of the vocabulary."""
    rng = np.random.default_rng(seed)
    x = np.zeros((n, vocabulary))
    for i in range(n):
        k = rng.integers(1, 6)
        x[i, rng.choice(vocabulary, k, replace=False)] = rng.dirichlet(np.ones(k))
    return torch.as_tensor(x)


@pytest.fixture(scope="module")
def shipped():
    from gfascreen.model.partner import Partner
    from gfascreen.model.saved import ModelDir

    md = ModelDir("default")
    return md, Partner.load(md, "cpu", trees="lightgbm")


def test_shipped_boosters_equal_lightgbm(shipped):
    """Each shipped booster, on the descriptors of 3,000 random compositions (the partner's
    own featurizer): raw scores and outputs are LightGBM's to the last bit."""
    _, partner = shipped
    d = partner.descriptors(random_compositions(3000, len(partner.vocabulary)))
    assert np.isfinite(d).all()
    for text in partner.boosters.values():
        assert_same_as_lightgbm(lgb.Booster(model_str=text), d)


def test_partner_torch_path_equals_lightgbm_path(shipped, monkeypatch):
    """``Partner.load(trees="torch")`` parses the stored text without LightGBM, and its
    predictions (descriptors kept in torch) are LightGBM's."""
    from gfascreen.model.partner import Partner

    md, by_lightgbm = shipped
    monkeypatch.setitem(sys.modules, "lightgbm", None)  # importing it would fail
    by_torch = Partner.load(md, "cpu", trees="torch")
    assert (by_torch.trees, by_lightgbm.trees) == ("torch", "lightgbm")
    x = random_compositions(500, len(by_torch.vocabulary), seed=1)
    a, b = by_torch.predict(x), by_lightgbm.predict(x)
    for name in ("log_dmax", "proba", "log_dmax_bmg"):
        got, want = getattr(a, name), getattr(b, name)
        assert got.shape == want.shape and np.array_equal(got, want)


def test_auto_on_a_cpu_reads_small_batches_without_lightgbm(shipped, monkeypatch):
    """``trees="auto"`` on a CPU: batches up to CPU_TORCH_ROWS rows run in torch without
    importing LightGBM, larger ones in LightGBM; both give the LightGBM path's bits."""
    from gfascreen.model import partner as partner_module
    from gfascreen.model.partner import CPU_TORCH_ROWS, Partner

    md, by_lightgbm = shipped
    auto = Partner.load(md, "cpu")
    assert auto.engine_for(CPU_TORCH_ROWS) == "torch"
    assert auto.engine_for(CPU_TORCH_ROWS + 1) == "lightgbm"
    small = random_compositions(CPU_TORCH_ROWS // 32, len(auto.vocabulary), seed=2)
    with monkeypatch.context() as m:
        m.setitem(sys.modules, "lightgbm", None)  # importing it would fail
        got = auto.predict(small, around_at_pct=1.0)  # <= 21 rows a composition
    large = random_compositions(2 * CPU_TORCH_ROWS, len(auto.vocabulary), seed=3)
    for x, a in ((small, got), (large, auto.predict(large))):
        b = by_lightgbm.predict(x, around_at_pct=1.0 if x is small else 0.0)
        for name in ("log_dmax", "proba", "log_dmax_bmg"):
            assert np.array_equal(getattr(a, name), getattr(b, name)), name
    monkeypatch.setattr(partner_module, "CPU_TORCH_ROWS", 0)
    assert Partner.load(md, "cpu").engine_for(1) == "lightgbm"


def _missing_data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Six features: 0 with NaNs, 1 with many exact zeros, 2-5 plain; a target that reads
    the NaNs and the zeros."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6))
    x[rng.random(n) < 0.25, 0] = np.nan
    x[rng.random(n) < 0.4, 1] = 0.0
    y = (np.where(np.isnan(x[:, 0]), 1.5, x[:, 0]) + (x[:, 1] == 0) * 2.0 + x[:, 2] ** 2
         - x[:, 3] + 0.1 * rng.normal(size=n))
    return x, y


def _probe_rows(booster, x: np.ndarray, seed: int) -> np.ndarray:
    """Rows that reach every edge of LightGBM's decision rule: NaN, 0.0, -0.0, values
    within the zero threshold, infinities, and each split's threshold and its two
    neighbouring doubles."""
    rng = np.random.default_rng(seed)
    _, trees = parse_model(booster.model_to_string())
    feat, thr = trees.split_feature[trees.splits], trees.threshold[trees.splits]
    rows = x[rng.integers(len(x), size=3 * len(feat))].copy()
    at = np.concatenate([thr, np.nextafter(thr, -np.inf), np.nextafter(thr, np.inf)])
    rows[np.arange(len(rows)), np.tile(feat, 3)] = at  # at a threshold (goes left), beside
    edge = x[rng.integers(len(x), size=300)].copy()
    specials = np.array([np.nan, 0.0, -0.0, 1e-36, -1e-36, 1e-30, np.inf, -np.inf])
    pick = rng.random(edge.shape) < 0.3
    edge[pick] = rng.choice(specials, pick.sum())
    return np.concatenate([x, rows, edge])


@pytest.mark.parametrize("zero_as_missing", [False, True])
def test_tiny_boosters_with_missing_values_equal_lightgbm(zero_as_missing):
    """Boosters trained here on inputs with NaNs (missing type NaN; with
    ``zero_as_missing``, missing type Zero), regression (31 and 40 leaves), 3-class and
    binary: equal to LightGBM on NaN, signed zeros, near-zeros, infinities and at and
    beside every threshold."""
    x, y = _missing_data(600, seed=2)
    common = {"num_leaves": 15, "min_data_in_leaf": 5, "verbose": -1, "num_threads": 1,
              "deterministic": True, "zero_as_missing": zero_as_missing, "seed": 0}
    boosters = {
        "regression": lgb.train({**common, "objective": "regression"},
                                lgb.Dataset(x, y), 30),
        # more than 31 leaves: 64-bit leaf masks
        "regression, 40 leaves": lgb.train({**common, "objective": "regression",
                                            "num_leaves": 40}, lgb.Dataset(x, y), 10),
        "multiclass": lgb.train({**common, "objective": "multiclass", "num_class": 3},
                                lgb.Dataset(x, np.digitize(y, np.quantile(y, [1 / 3, 2 / 3]))),
                                20),
        "binary": lgb.train({**common, "objective": "binary"},
                            lgb.Dataset(x, (y > np.median(y)).astype(float)), 20),
    }
    seen = set()
    for name, booster in boosters.items():
        _, trees = parse_model(booster.model_to_string())
        seen |= set(((trees.decision_type[trees.splits] >> 2) & 3).tolist())
        assert name != "regression, 40 leaves" or trees.num_leaves.max() > 31
        assert_same_as_lightgbm(booster, _probe_rows(booster, x, seed=3))
    assert (2 if not zero_as_missing else 1) in seen  # the missing type under test is used


def test_refusals_and_malformed_text():
    """Categorical splits are refused (the partner keeps LightGBM for such a booster);
    text that is not a LightGBM model is an error."""
    rng = np.random.default_rng(0)
    x = np.column_stack([rng.integers(0, 6, 300), rng.normal(size=300)])
    y = np.isin(x[:, 0], [1, 4]) * 3.0 + x[:, 1]
    cat = lgb.train({"objective": "regression", "verbose": -1, "min_data_per_group": 5,
                     "cat_smooth": 1, "min_data_in_leaf": 5},
                    lgb.Dataset(x, y, categorical_feature=[0]), 5)
    with pytest.raises(ForestUnsupported):
        Forest.from_booster(cat)
    for bad in ("", "tree\nversion=v4\n", "hello\nTree=0\nend of trees"):
        with pytest.raises(GfaError):
            Forest(bad)
    assert model_features(cat.model_to_string()) == 2


def test_gpu_check_measures_the_partner_on_cpu(tmp_path):
    """scripts/gpu_check.py --only partner, rehearsed with --device cpu on the shipped
    model: the torch path's points/s beside LightGBM's, and their largest difference."""
    import importlib.util
    import json
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "scripts" / "gpu_check.py"
    spec = importlib.util.spec_from_file_location("gpu_check", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = tmp_path / "gpu.json"
    r = mod.main(["--device", "cpu", "--only", "partner", "--partner-compositions", "300",
                  "--json", str(out)])
    assert json.loads(out.read_text()) == r and r["screens"] == []
    p = r["partner_alone"]
    assert p["device"] == "cpu" and p["compositions"] == p["lightgbm_compositions"] == 300
    assert p["torch_points_per_s"] > 0 and p["lightgbm_points_per_s"] > 0
    assert p["torch_trees_s"] > 0 and p["lightgbm_trees_s"] > 0
    assert p["max_abs_diff"] <= TOL
    x = mod.random_compositions(50, 43)
    assert torch.allclose(x.sum(1), torch.ones(50, dtype=torch.float64))
    assert ((x > 0).sum(1) >= 1).all() and ((x > 0).sum(1) <= 5).all()


def test_single_leaf_trees_equal_lightgbm():
    """Trees without a split (a constant target; a class that never splits, beside trees
    that do) are read and evaluated as LightGBM does."""
    rng = np.random.default_rng(4)
    x = rng.normal(size=(200, 3))
    flat = lgb.train({"objective": "regression", "verbose": -1, "min_data_in_leaf": 5},
                     lgb.Dataset(x, np.full(200, 2.5)), 3)
    mixed = lgb.train({"objective": "multiclass", "num_class": 3, "verbose": -1,
                       "min_data_in_leaf": 40, "min_gain_to_split": 5},
                      lgb.Dataset(x, (x[:, 0] > 0) * 2), 5)
    leaves = parse_model(mixed.model_to_string())[1].num_leaves
    assert (parse_model(flat.model_to_string())[1].num_leaves == 1).all()
    assert (leaves == 1).any() and (leaves > 1).any()
    for booster in (flat, mixed):
        assert_same_as_lightgbm(booster, x)


def test_shipped_model_with_torch_trees_keeps_its_pinned_answers(monkeypatch):
    """The whole model with the partner's trees in torch (as on CUDA, here on the CPU):
    the stack's answers for the README alloys are the LightGBM path's, to the last bit."""
    from gfascreen.model import partner
    from gfascreen.model.ensemble import Ensemble

    alloys = ["Al25Co20La55", "Zr55Co29Al16"]
    monkeypatch.setattr(partner, "CPU_TORCH_ROWS", 0)  # every batch in LightGBM
    lgb_ens = Ensemble.load("default", device="cpu")
    by_lightgbm = lgb_ens.predict(alloys)
    assert lgb_ens.partner.engine_for(1) == "lightgbm"
    monkeypatch.setattr(partner, "TORCH_TREES", ("cpu", "cuda"))
    ens = Ensemble.load("default", device="cpu")
    assert ens.partner.trees == "torch"
    by_torch = ens.predict(alloys)
    assert by_torch["dmax_mm"].tolist() == pytest.approx([5.953, 6.537], abs=0.01)
    num = [c for c in by_torch.columns if by_torch[c].dtype.kind == "f"]
    np.testing.assert_array_equal(by_torch[num].to_numpy(), by_lightgbm[num].to_numpy())

"""LightGBM boosters evaluated as torch tensors, on any device (issue 37, item 5).

:class:`Forest` reads a LightGBM text model (the partner's stored format: parsed here with
numpy, no LightGBM needed, no code executed) and evaluates every tree at once with a
bitmask exit-leaf rule (QuickScorer's, Lucchese et al. 2015): number a tree's leaves left
to right; a node whose test sends the row *right* rules out every leaf of its left
subtree; the row's leaf is the leftmost leaf no node ruled out. Only one test per node and
row, no data-dependent branching, so CPU and CUDA run the same code.

LightGBM's decision rule, kept exactly: the value ``v`` of the node's feature is read as
float64, ``|v| <= kZeroThreshold`` (1e-35 as a float) as 0.0 (``c_api.cpp`` keeps only
larger values and NaN of a dense row); NaN counts as 0.0 unless the node's missing type is
NaN; a missing value (missing type NaN: ``v`` is NaN; missing type Zero: ``v`` is 0.0)
goes to the node's default side; else ``v <= threshold`` goes left
(``Tree::NumericalDecision``). Thresholds are not
compared as floats per node: each feature's distinct thresholds are sorted once and each
value replaced by how many of them lie below it (``searchsorted``), so that ``v <= t_k``
is ``rank(v) <= k`` on small integers, missing values taking a rank below or above all
(their default side). Categorical splits, linear trees and objectives other than those in
:data:`TRANSFORMS` are refused (:class:`ForestUnsupported`): the caller keeps LightGBM.

Raw scores are the sums of the trees' leaf values per class (tree ``t`` belongs to class
``t % num_tree_per_iteration``), in float64, added tree after tree as LightGBM adds them;
``predict`` applies the objective's output transform as LightGBM's ``Booster.predict``
does. On a CPU both are LightGBM's own to the last bit (``tests/test_trees.py`` checks
equality, edge cases included); on a GPU the sums and transforms run as parallel kernels
(equal to about 1e-15).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from gfascreen.errors import GfaError

#: LightGBM's ``kZeroThreshold`` (``1e-35f``: the float nearest 1e-35, as a double): an
#: input ``|v|`` at most this is read as 0.0.
ZERO_THRESHOLD = float(np.float32(1e-35))
#: ``decision_type`` bits (LightGBM ``tree.h``): categorical, default left, missing type.
CATEGORICAL_MASK, DEFAULT_LEFT_MASK = 1, 2
MISSING_NONE, MISSING_ZERO, MISSING_NAN = 0, 1, 2
#: Objectives whose output transform is evaluated here (the text model's first word).
TRANSFORMS = ("regression", "regression_l1", "huber", "fair", "quantile", "mape",
              "binary", "multiclass")
#: Rows and rows x node slots evaluated per step, by device kind: on a CPU 1,024 rows and
#: 4 MiB of int32 scratch (a step that stays in the cache was fastest, measured on the
#: shipped boosters); on a GPU 8,192 rows and 256 MiB.
STEP = {"cpu": (1024, 1 << 20), "cuda": (8192, 1 << 26)}
#: The rank of a missing value that goes right (above every threshold's rank).
_BIG = 2**31 - 1


class ForestUnsupported(GfaError):
    """A LightGBM model this evaluator does not reproduce (the caller keeps LightGBM)."""


@dataclass
class Trees:
    """A LightGBM model's trees as numpy arrays padded to ``(T, M)`` nodes (``M`` the most
    splits of a tree) and ``(T, L)`` leaves (``L`` the most leaves); children as LightGBM
    writes them (``c >= 0`` a node, ``c < 0`` leaf ``~c``)."""

    num_leaves: np.ndarray
    split_feature: np.ndarray
    threshold: np.ndarray
    decision_type: np.ndarray
    left_child: np.ndarray
    right_child: np.ndarray
    leaf_value: np.ndarray

    @property
    def splits(self) -> np.ndarray:
        """``(T, M)``: which node slots hold a split."""
        return np.arange(self.threshold.shape[1]) < (self.num_leaves - 1)[:, None]


def _padded(strings: list[str], counts: np.ndarray, dtype, what: str) -> np.ndarray:
    """One field of every tree (its lines' values, in tree order) as ``(T, max(counts))``."""
    # LightGBM writes doubles with 17 significant digits, read back as the same doubles
    # (numpy's text parse rounds correctly); a parse that stops early fails the count below
    flat = np.fromstring(" ".join(strings), dtype=dtype, sep=" ")
    if len(flat) != counts.sum():
        raise GfaError(f"LightGBM trees list {len(flat)} {what} values, not {counts.sum()}")
    out = np.zeros((len(counts), max(int(counts.max(initial=0)), 1)), dtype=dtype)
    rows = np.repeat(np.arange(len(counts)), counts)
    cols = np.arange(len(flat)) - np.repeat(np.cumsum(counts) - counts, counts)
    out[rows, cols] = flat
    return out


def parse_model(text: str) -> tuple[dict[str, str], Trees]:
    """The header fields and trees of a LightGBM text model (``model_to_string``)."""
    body, sep, _ = text.partition("\nend of trees")
    start = body.find("\nTree=")
    if not sep or not body.startswith("tree\n") or start < 0:
        raise GfaError("not a LightGBM text model (no 'tree' header, trees or 'end of trees')")
    header = dict(line.split("=", 1) for line in body[:start].splitlines() if "=" in line)
    trees = body[start:]
    fields: dict[str, list[str]] = {}
    for line in trees.split("\n"):
        key, _, value = line.partition("=")
        fields.setdefault(key, []).append(value)

    def field(key: str) -> list[str]:
        return fields.get(key, [])

    num_leaves = np.array(field("num_leaves"), dtype=np.int64)
    if len(num_leaves) != len(field("Tree")) or (num_leaves < 1).any():
        raise GfaError("LightGBM trees without a valid num_leaves each")
    if any(int(v) for v in field("num_cat")):
        raise ForestUnsupported("categorical splits are not evaluated in torch")
    if any(v.strip() not in ("", "0") for v in field("is_linear")):
        raise ForestUnsupported("linear trees are not evaluated in torch")
    inner = num_leaves - 1
    nodes = {k: _padded(field(k), inner, t, k) for k, t in (
        ("split_feature", np.int64), ("threshold", np.float64), ("decision_type", np.int64),
        ("left_child", np.int64), ("right_child", np.int64))}
    return header, Trees(num_leaves, leaf_value=_padded(field("leaf_value"), num_leaves,
                                                        np.float64, "leaf_value"), **nodes)


def _left_spans(t: Trees) -> tuple[np.ndarray, np.ndarray]:
    """Leaves numbered left to right in each tree: per node slot, the range
    ``[first, end)`` of the leaves of its left subtree (``(T, M, 2)``), and the leaf values
    in that order (``(T, L)``). Vectorised over the trees, one pass per node slot, on
    LightGBM's numbering: a node's children are leaves or nodes of a higher index."""
    n_t, m = t.threshold.shape
    rows, valid = np.arange(n_t), t.splits
    left, right = t.left_child, t.right_child
    slot = np.arange(m)[None, :]
    if (valid & (((left >= 0) & (left <= slot)) | ((right >= 0) & (right <= slot)))).any():
        raise ForestUnsupported("a LightGBM tree whose nodes are not numbered parent first")
    under = np.zeros((n_t, m), dtype=np.int64)  # leaves under each node

    def leaves_under(c: np.ndarray) -> np.ndarray:
        return np.where(c >= 0, under[rows, np.maximum(c, 0)], 1)

    for j in range(m - 1, -1, -1):  # children before parents
        under[:, j] = leaves_under(left[:, j]) + leaves_under(right[:, j])
    first = np.zeros((n_t, m), dtype=np.int64)  # each node's first leaf
    position = np.zeros(t.leaf_value.shape, dtype=np.int64)  # each leaf's place
    span = np.zeros((n_t, m, 2), dtype=np.int64)
    for j in range(m):  # parents before children
        v = valid[:, j]
        mid = first[:, j] + leaves_under(left[:, j])
        span[:, j, 0], span[:, j, 1] = first[:, j], mid
        for c, at in ((left[:, j], first[:, j]), (right[:, j], mid)):
            node, leaf = v & (c >= 0), v & (c < 0)
            first[rows[node], c[node]] = at[node]
            position[rows[leaf], ~c[leaf]] = at[leaf]
    leaves = np.arange(t.leaf_value.shape[1]) < t.num_leaves[:, None]
    seen = np.zeros(t.leaf_value.shape, dtype=np.int64)
    np.add.at(seen, (np.nonzero(leaves)[0], position[leaves]), 1)
    if (seen[leaves] != 1).any():
        raise GfaError("a LightGBM tree whose leaves are not reached once each")
    values = np.zeros(t.leaf_value.shape)
    values[np.nonzero(leaves)[0], position[leaves]] = t.leaf_value[leaves]
    return span, values


def _transform(header: str) -> tuple[str, float]:
    """The objective's name and its sigmoid scale (binary), refusing the others."""
    words = header.split()
    name = words[0] if words else ""
    if name not in TRANSFORMS or "sqrt" in words[1:]:
        raise ForestUnsupported(f"LightGBM objective {header!r} is not evaluated in torch")
    opts = dict(w.split(":", 1) for w in words[1:] if ":" in w)
    return name, float(opts.get("sigmoid", 1.0))


class Forest:
    """A LightGBM text model's trees as tensors on ``device``; ``raw(x)`` and ``predict(x)``
    on a ``(B, F)`` tensor or array, as LightGBM's ``predict(raw_score=True)`` and
    ``predict`` give them (``(B,)`` for one tree per iteration, else ``(B, K)``)."""

    def __init__(self, text: str, device: str | torch.device = "cpu"):
        header, trees = parse_model(text)
        if "average_output" in text.partition("\nTree=")[0].split("\n"):
            raise ForestUnsupported("random-forest averaging is not evaluated in torch")
        self.objective, self.sigmoid = _transform(header.get("objective", ""))
        self.num_class = int(header.get("num_tree_per_iteration", "1"))
        self.num_feature = int(header["max_feature_idx"]) + 1
        self.num_trees = len(trees.num_leaves)
        if self.num_trees % self.num_class:
            raise GfaError("a LightGBM model without whole iterations of trees")
        self.device = torch.device(device)
        self._build(trees)

    @classmethod
    def from_booster(cls, booster, device: str | torch.device = "cpu") -> Forest:
        """From a ``lightgbm.Booster`` (through its text form)."""
        return cls(booster.model_to_string(), device)

    def _build(self, t: Trees) -> None:
        leaves = t.leaf_value.shape[1]
        if leaves > 63:
            raise ForestUnsupported(f"trees of {leaves} leaves (at most 63 evaluated in torch)")
        self._mask_dtype = torch.int32 if leaves <= 31 else torch.int64
        n_t, m = t.threshold.shape
        width = 1 << (m - 1).bit_length()  # node slots per tree, a power of two
        valid = t.splits
        feat, dtype, thr = t.split_feature[valid], t.decision_type[valid], t.threshold[valid]
        if len(feat) and (feat.min() < 0 or feat.max() >= self.num_feature):
            raise GfaError("a LightGBM split reads a feature beyond max_feature_idx")
        if (dtype & CATEGORICAL_MASK).any():
            raise ForestUnsupported("categorical splits are not evaluated in torch")
        # every node reads a column: (feature, missing type, default left), where missing
        # type None ignores default left; a column's missing values rank below or above all
        missing = (dtype >> 2) & 3
        left = (missing != MISSING_NONE) & ((dtype & DEFAULT_LEFT_MASK) > 0)
        keys, col = np.unique(feat * 8 + missing * 2 + left, return_inverse=True)
        if not len(keys):  # no split at all: one column that no node reads
            keys = np.zeros(1, dtype=np.int64)
        # each feature's distinct thresholds in order; a node's rank is its threshold's place
        order = np.lexsort((thr, feat))
        fs, ts = feat[order], thr[order]
        new = np.ones(len(fs), dtype=bool)
        new[1:] = (fs[1:] != fs[:-1]) | (ts[1:] != ts[:-1])
        distinct = np.cumsum(new) - 1  # index among all distinct (feature, threshold)
        f_start = np.searchsorted(fs[new], fs)  # the feature's first distinct index
        rank = np.empty(len(thr), dtype=np.int64)
        rank[order] = distinct - f_start
        feats, counts = np.unique(fs[new], return_counts=True)
        table = np.full((max(len(feats), 1), max(int(counts.max(initial=0)), 1)), np.inf)
        table[np.repeat(np.arange(len(feats)), counts),
              np.arange(new.sum()) - np.repeat(np.cumsum(counts) - counts, counts)] = ts[new]
        key_feat = keys // 8
        # per tree, padded to ``width`` slots: column, rank, the left subtree's leaves
        span, values = _left_spans(t)
        node_col = np.zeros((n_t, width), dtype=np.int64)
        node_rank = np.full((n_t, width), _BIG, dtype=np.int64)  # a pad never goes right
        left_mask = np.zeros((n_t, width), dtype=np.int64)
        node_col[:, :m][valid], node_rank[:, :m][valid] = col, rank
        left_mask[:, :m] = np.where(valid, np.left_shift(1, span[..., 1])
                                    - np.left_shift(1, span[..., 0]), 0)
        dev, self._width = self.device, width
        self._col_feature = torch.as_tensor(key_feat, device=dev)
        self._col_missing = torch.as_tensor((keys // 2) % 4, device=dev)
        self._has_missing = bool((self._col_missing != MISSING_NONE).any())
        self._col_sentinel = torch.as_tensor(np.where(keys % 2 > 0, -1, _BIG),
                                             dtype=torch.int32, device=dev)
        self._sorted_thr = torch.as_tensor(table[np.searchsorted(feats, key_feat)
                                                 .clip(max=len(table) - 1)], device=dev)
        self._node_col = torch.as_tensor(node_col, device=dev)
        self._node_rank = torch.as_tensor(node_rank, dtype=torch.int32, device=dev)
        self._left_mask = torch.as_tensor(left_mask, device=dev).to(self._mask_dtype)
        # leaf values by tree and leaf; ``_exit_leaves`` indexes them flat
        self._values = torch.as_tensor(values, device=dev)
        self._leaf_base = (torch.arange(n_t, device=dev) * leaves - 127)[:, None]

    # -- evaluation ----------------------------------------------------------------------
    def _ranks(self, x: torch.Tensor) -> torch.Tensor:
        """``(C, B)`` int32: per column and row, how many of the column's thresholds lie
        below the value (LightGBM's ``v <= t_k`` is ``rank <= k``), or the column's
        sentinel (below or above every rank) for a missing value."""
        v = x.T.index_select(0, self._col_feature)
        nan = v.isnan()
        # LightGBM reads a row keeping only |v| > kZeroThreshold and NaN (the rest is 0.0),
        # and a node reads NaN as 0.0 unless its missing type is NaN (handled below)
        v = v.masked_fill(nan | (v.abs() <= ZERO_THRESHOLD), 0.0)
        r = torch.searchsorted(self._sorted_thr, v, out_int32=True)
        if self._has_missing:
            m = self._col_missing[:, None]
            missing = ((m == MISSING_ZERO) & (v == 0.0)) | ((m == MISSING_NAN) & nan)
            r = torch.where(missing, self._col_sentinel[:, None], r)
        return r

    def _exit_leaves(self, r: torch.Tensor, t0: int, t1: int, buf: torch.Tensor
                     ) -> torch.Tensor:
        """``(t1 - t0, B)`` flat indices into the leaf values: trees ``t0:t1``'s exit leaves
        for the rows whose ranks are ``r`` (``buf``: scratch of at least
        ``(t1 - t0) * width * B`` int32)."""
        n, w, b = t1 - t0, self._width, r.shape[1]
        s = buf[:n * w * b].view(n * w, b)
        torch.index_select(r, 0, self._node_col[t0:t1].reshape(-1), out=s)
        torch.sub(self._node_rank[t0:t1].reshape(-1, 1), s, out=s)  # < 0: goes right
        s.bitwise_right_shift_(31)  # -1 where the row goes right, else 0
        if self._mask_dtype == torch.int32:
            m = s.bitwise_and_(self._left_mask[t0:t1].reshape(-1, 1)).view(n, w, b)
        else:
            m = (s.to(torch.int64) & self._left_mask[t0:t1].reshape(-1, 1)).view(n, w, b)
        while w > 1:  # OR of each tree's ruled-out leaves, halving in place
            w //= 2
            m[:, :w].bitwise_or_(m[:, w:2 * w])
        free = ~m[:, 0]
        low = (free & -free).to(torch.float32)  # the lowest free leaf's bit, 2**leaf
        return (low.view(torch.int32) >> 23) + self._leaf_base[t0:t1]  # 127 + leaf + base

    def raw(self, x) -> torch.Tensor:
        """Raw scores (float64, on the forest's device)."""
        x = torch.as_tensor(x).to(self.device, torch.float64)
        if x.ndim != 2 or x.shape[1] != self.num_feature:
            raise GfaError(f"the trees read {self.num_feature} features; got shape "
                           f"{tuple(x.shape)}")
        k, w = self.num_class, self._width
        most_rows, budget = STEP.get(self.device.type, STEP["cpu"])
        rows = max(1, min(len(x), most_rows, budget // w))
        trees = max(1, min(self.num_trees, budget // (rows * w)) // k) * k
        buf = torch.empty(trees * w * rows, dtype=torch.int32, device=self.device)
        out = torch.zeros((k, len(x)), dtype=torch.float64, device=self.device)
        values = self._values.view(-1)
        for s in range(0, len(x), rows):
            r = self._ranks(x[s:s + rows])
            for t in range(0, self.num_trees, trees):
                t1 = min(t + trees, self.num_trees)
                v = values[self._exit_leaves(r, t, t1, buf)].view(-1, k, r.shape[1])
                # tree after tree, as LightGBM adds them (on a CPU a cumulative sum runs in
                # order, so the raw scores are LightGBM's to the last bit)
                out[:, s:s + rows] = torch.cat([out[None, :, s:s + rows], v]).cumsum(0)[-1]
        return out[0] if k == 1 else out.T

    def predict(self, x) -> torch.Tensor:
        """LightGBM's ``Booster.predict``: the raw score through the objective's transform
        (on a CPU computed as LightGBM computes it, :func:`lightgbm_transform`)."""
        raw = self.raw(x)
        if self.objective not in ("multiclass", "binary"):
            return raw
        if self.device.type == "cpu":
            return torch.from_numpy(lightgbm_transform(raw.numpy(), self.objective,
                                                       self.sigmoid))
        if self.objective == "multiclass":
            return torch.softmax(raw, 1)
        return torch.sigmoid(self.sigmoid * raw)


def _exp(a: np.ndarray) -> np.ndarray:
    """``exp`` of each value by the C library's ``exp`` (``math.exp``), the function
    LightGBM's ``std::exp`` calls; numpy's own SIMD ``exp`` may differ in the last bit."""
    return np.fromiter(map(math.exp, a.ravel().tolist()), float, a.size).reshape(a.shape)


def lightgbm_transform(raw: np.ndarray, objective: str, sigmoid: float = 1.0) -> np.ndarray:
    """LightGBM's output transform of raw scores, operation for operation (``multiclass``:
    ``Common::Softmax``, the largest score subtracted, the classes' exponentials summed in
    order; ``binary``: ``1 / (1 + exp(-sigmoid * raw))``), so the result is its own to the
    last bit."""
    if objective == "binary":
        return 1.0 / (1.0 + _exp(-sigmoid * raw))
    e = _exp(raw - raw.max(1, keepdims=True))
    total = e[:, 0].copy()
    for j in range(1, e.shape[1]):
        total += e[:, j]
    return e / total[:, None]


def model_features(text: str) -> int:
    """How many features a LightGBM text model reads (its header's ``max_feature_idx``)."""
    if not text.startswith("tree\n"):
        raise GfaError("no LightGBM 'tree' header")
    for line in text[:text.find("\nTree=")].splitlines():
        if line.startswith("max_feature_idx="):
            return int(line.split("=", 1)[1]) + 1
    raise GfaError("no max_feature_idx in the header")

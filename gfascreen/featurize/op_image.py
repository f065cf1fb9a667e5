"""Composition -> OP image: the one place where an alloy becomes a picture.

The outer-product (OP) image of a composition with fraction vector ``x`` (over an ordered
element vocabulary, summing to 1) is ``x xᵀ``: the diagonal holds ``x_i²``, the
off-diagonals the pairwise products ``x_i x_j``; the element order gives the image its
spatial structure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from gfascreen.errors import GfaError
from gfascreen.featurize.vocabulary import Vocabulary

CompositionLike = str | Mapping[str, float]


def image_channels(channels: int, coords: bool, n_pairs: int) -> int:
    """Channels of an OP image: ``channels`` copies of x xᵀ, two coordinate channels when
    ``coords``, one per physics pair channel."""
    return int(channels) + (2 if coords else 0) + int(n_pairs)


def _symbol(key) -> str:
    """An element's symbol from a mapping key: a str, or a pymatgen ``Element``/``Species``
    (whose ``symbol`` is the element's)."""
    return key if isinstance(key, str) else str(getattr(key, "symbol", key))


def mapping_amounts(c: Mapping) -> dict[str, float]:
    """``{symbol: amount}`` of a mapping input: a dict keyed by symbols, or a pymatgen
    ``Composition`` (keys ``Element``/``Species``, amounts in any units, fractions too);
    amounts of the same element add up."""
    out: dict[str, float] = {}
    for key, v in c.items():
        sym = _symbol(key)
        out[sym] = out[sym] + v if sym in out else v
    return out


def as_written(c) -> str:
    """The ``input`` column's text for one composition: a formula string as written; a
    mapping (dict, pymatgen ``Composition``) as a formula in its own order and amounts
    (``Composition("Cu0.46Zr0.46Al0.08")`` -> ``Cu0.46Zr0.46Al0.08``)."""
    if isinstance(c, Mapping):
        try:
            return "".join(f"{sym}{float(v):g}" for sym, v in mapping_amounts(c).items())
        except (TypeError, ValueError):
            return str(dict(c))
    return str(c)


class OPImageFeaturizer:
    """Render compositions as OP images, batched, straight into tensors on ``device``.

    Parameters
    ----------
    vocabulary:
        Ordered elements; the image is ``N x N`` with ``N = len(vocabulary)``.
    channels:
        Number of identical channels ``C`` (1 by default; 3 to feed an RGB network).
    device, dtype:
        Where and in which precision the images are made.
    coords:
        Append two coordinate channels (row and column position).
    pairs:
        Physics channels ``{name: (N, N) matrix}``: one channel ``x_i x_j f(i, j)`` each,
        after the others (:mod:`gfascreen.featurize.pairs` makes the matrices; a saved
        model carries them).
    """

    citations = (
        "Outer-product composition images: the at.% vector over an ordered element "
        "vocabulary times its transpose, an N x N image read by a ResNet50 regressing Dmax "
        "with FDS/LDS (the representation and recipe this featurizer follows; no "
        "bibliographic reference for that study is recorded here).",
        "G. Wei et al., A computer vision-based model for predicting the glass-forming "
        "ability of alloys without feature engineering, Physica B 713, 417352 (2025), "
        "doi:10.1016/j.physb.2025.417352 (outer-product images, a multi-scale ResNet18).",
        "Y. Yang et al., Delving into Deep Imbalanced Regression, ICML 2021.",
    )

    #: What the vocabulary is called in the reason an input is refused (an instance that
    #: parses over another element list names that list instead).
    known_as = "the model's vocabulary"

    def __init__(self, vocabulary: Vocabulary, channels: int = 1,
                 device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32,
                 coords: bool = False, pairs: Mapping[str, Sequence] | None = None):
        if channels < 1:
            raise GfaError(f"channels must be at least 1, got {channels}")
        self.vocabulary = vocabulary
        self.channels = channels
        self.coords = coords
        self.device = torch.device(device)
        self.dtype = dtype
        self.pair_names = list(pairs or {})
        n = len(vocabulary)
        self._pairs = (torch.stack([torch.as_tensor(np.asarray(pairs[k], dtype=np.float64))
                                    for k in self.pair_names]).to(self.device, dtype)
                       if self.pair_names else None)
        if self._pairs is not None and self._pairs.shape[1:] != (n, n):
            raise GfaError(f"pair matrices must be {n}x{n} (the vocabulary), got "
                           f"{tuple(self._pairs.shape[1:])}")

    def feature_labels(self) -> list[str]:
        """Pixel labels ``"El_i*El_j"`` in row-major order (one channel)."""
        els = self.vocabulary.elements
        return [f"{a}*{b}" for a in els for b in els]

    # -- fractions -------------------------------------------------------------
    # Every composition reaches the network through these converters: a user's formulas
    # and dicts, a training table's at.% columns, a screening grid's lattice units. They
    # all end in :meth:`from_amounts`, which normalises in float64 and casts once, so the
    # same composition gives the same tensor whichever way it came in.
    def fractions(self, compositions, elements: Sequence[str] | None = None) -> torch.Tensor:
        """``(B, N)`` fraction tensor (rows sum to 1, vocabulary order).

        Accepts formulas or ``{element: amount}`` dicts (any units), a table with at.%
        element columns, a ``(B, k)`` array of amounts over ``elements`` (e.g. a grid's
        lattice units), or a ``(B, N)`` tensor/array in vocabulary order. Raises
        :class:`GfaError` naming the first composition it cannot use."""
        if isinstance(compositions, pd.DataFrame):
            return self.from_table(compositions)
        if isinstance(compositions, torch.Tensor | np.ndarray):
            return self.from_amounts(compositions, elements)
        amounts, reasons = self.parse(compositions)
        bad = [r for r in reasons if r is not None]
        if bad:
            raise GfaError(bad[0])
        return self.from_amounts(amounts)

    def from_table(self, table: pd.DataFrame) -> torch.Tensor:
        """Fractions from a table's at.% element columns (training tables, screen output)."""
        from gfascreen.tableio import table_elements

        els = [e for e in table_elements(table) if (table[e] > 0).any()]
        return self.from_amounts(table[els].to_numpy(dtype=np.float64), els)

    def from_amounts(self, amounts, elements: Sequence[str] | None = None) -> torch.Tensor:
        """Fractions from a ``(B, k)`` array of non-negative amounts over ``elements``
        (default: the vocabulary, ``k = N``): normalised in float64, then cast."""
        n = len(self.vocabulary)
        if isinstance(amounts, torch.Tensor):
            amounts = amounts.detach().cpu().double().numpy()
        a = np.asarray(amounts, dtype=np.float64)
        if elements is None:
            if a.ndim != 2 or a.shape[1] != n:
                raise GfaError(f"fraction tensor must have shape (B, {n}), got {a.shape}")
            full = a
        else:
            if a.ndim != 2 or a.shape[1] != len(elements):
                raise GfaError(f"amounts must have shape (B, {len(elements)}) for elements "
                               f"{list(elements)}, got {a.shape}")
            full = np.zeros((len(a), n))
            for j, el in enumerate(elements):
                full[:, self.vocabulary.index(el)] += a[:, j]
        if np.any(full < 0) or not np.all(np.isfinite(full)):
            raise GfaError("compositions must be finite and non-negative")
        total = full.sum(axis=1, keepdims=True)
        if np.any(total <= 0):
            raise GfaError("every composition needs at least one element with a positive amount")
        return torch.as_tensor(full / total, dtype=self.dtype).to(self.device)

    def parse(self, compositions: Iterable[CompositionLike] | CompositionLike
              ) -> tuple[np.ndarray, list[str | None]]:
        """Amounts ``(B, N)`` in vocabulary order and, per input, ``None`` or the reason it
        cannot be scored (its row is then zero). Never raises for one bad row."""
        if isinstance(compositions, str | Mapping):
            compositions = [compositions]
        compositions = list(compositions)
        rows = np.zeros((len(compositions), len(self.vocabulary)))
        reasons: list[str | None] = []
        for i, c in enumerate(compositions):
            try:
                rows[i] = self._row(c)
                reasons.append(None)
            except GfaError as exc:
                reasons.append(str(exc))
        return rows, reasons

    def _row(self, c: CompositionLike) -> np.ndarray:
        from gfascreen.data.parse import parse_formula

        if isinstance(c, str):
            amounts = parse_formula(c)
        elif isinstance(c, Mapping):
            amounts = mapping_amounts(c)
        else:
            raise GfaError(f"cannot read a composition from {type(c).__name__} {c!r}; "
                           "give a formula such as Al25Co20La55")
        outside = [el for el in amounts if el not in self.vocabulary.elements]
        if outside:
            raise GfaError(
                f"{c}: element(s) {', '.join(repr(e) for e in outside)} outside "
                f"{self.known_as} ({' '.join(self.vocabulary.elements)})")
        row = np.zeros(len(self.vocabulary))
        for el, v in amounts.items():
            try:
                row[self.vocabulary.index(el)] += float(v)
            except (TypeError, ValueError):
                raise GfaError(f"{c}: amount {v!r} of {el} is not a number") from None
        if not np.all(np.isfinite(row)) or np.any(row < 0) or row.sum() <= 0 \
                or not np.isfinite(row.sum()):
            raise GfaError(f"{c}: amounts must be finite, non-negative and not all zero")
        return row

    # -- images ----------------------------------------------------------------
    def images(self, fractions: torch.Tensor) -> torch.Tensor:
        """OP images ``(B, C, N, N)`` from a ``(B, N)`` fraction tensor; pure batched torch."""
        img = fractions.unsqueeze(2) * fractions.unsqueeze(1)
        img = img.unsqueeze(1)
        if self.channels > 1:
            img = img.expand(-1, self.channels, -1, -1)
        if self.coords:
            img = torch.cat([img, self._coord_planes(len(img), img.device, img.dtype)], dim=1)
        if self._pairs is not None:
            pairs = self._pairs.to(img.device, img.dtype)
            img = torch.cat([img, img[:, :1] * pairs.unsqueeze(0)], dim=1)
        return img

    def _coord_planes(self, b: int, device, dtype) -> torch.Tensor:
        """Two constant channels (row and column position, 0..1) that tell a translation-
        equivariant network which element a pixel belongs to (CoordConv, Liu et al. 2018)."""
        n = len(self.vocabulary)
        r = torch.linspace(0, 1, n, device=device, dtype=dtype)
        planes = torch.stack([r.view(n, 1).expand(n, n), r.view(1, n).expand(n, n)])
        return planes.unsqueeze(0).expand(b, -1, -1, -1)

    @property
    def out_channels(self) -> int:
        """Channels of the images this featurizer makes."""
        return image_channels(self.channels, self.coords, len(self.pair_names))

    def transform(self, compositions) -> torch.Tensor:
        """OP images ``(B, C, N, N)`` on ``self.device`` for any accepted input."""
        return self.images(self.fractions(compositions))

    __call__ = transform

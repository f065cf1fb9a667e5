"""Composition -> OP image: the one place where an alloy becomes a picture.

The outer-product (OP) image of a composition with fraction vector ``x`` (over an ordered
element vocabulary, summing to 1) is ``x xᵀ``: the diagonal holds ``x_i²``, the
off-diagonals the pairwise products ``x_i x_j``; the element order gives the image its
spatial structure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd
import torch

from gfascreen.errors import GfaError
from gfascreen.featurize.vocabulary import Vocabulary

CompositionLike = str | Mapping[str, float]


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
    """

    citations = (
        "Outer-product composition images for Dmax regression with ResNet50 and FDS/LDS: "
        "the reference study of the gfascreen brief.",
        "Y. Yang et al., Delving into Deep Imbalanced Regression, ICML 2021.",
    )

    def __init__(self, vocabulary: Vocabulary, channels: int = 1,
                 device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32,
                 coords: bool = False):
        if channels < 1:
            raise GfaError(f"channels must be at least 1, got {channels}")
        self.vocabulary = vocabulary
        self.channels = channels
        self.coords = coords
        self.device = torch.device(device)
        self.dtype = dtype

    def feature_labels(self) -> list[str]:
        """Pixel labels ``"El_i*El_j"`` in row-major order (one channel)."""
        els = self.vocabulary.elements
        return [f"{a}*{b}" for a in els for b in els]

    # -- fractions -------------------------------------------------------------
    def fractions(self, compositions) -> torch.Tensor:
        """``(B, N)`` fraction tensor (rows sum to 1) from formulas, dicts, an at.% table,
        or a ``(B, N)`` tensor/array of amounts in vocabulary order."""
        n = len(self.vocabulary)
        if isinstance(compositions, torch.Tensor | np.ndarray):
            x = torch.as_tensor(compositions, dtype=self.dtype, device=self.device)
            if x.ndim != 2 or x.shape[1] != n:
                raise GfaError(f"fraction tensor must have shape (B, {n}), got {tuple(x.shape)}")
        elif isinstance(compositions, pd.DataFrame):
            from gfascreen.data.build import table_elements

            els = [e for e in table_elements(compositions)
                   if (compositions[e] > 0).any()]
            for e in els:
                self.vocabulary.index(e)
            x = torch.zeros(len(compositions), n, dtype=self.dtype)
            for e in els:
                x[:, self.vocabulary.index(e)] = torch.as_tensor(
                    compositions[e].to_numpy(dtype=np.float64), dtype=self.dtype)
            x = x.to(self.device)
        else:
            if isinstance(compositions, str | Mapping):
                compositions = [compositions]
            x = torch.as_tensor(self._rows(compositions), dtype=self.dtype, device=self.device)
        if torch.any(x < 0) or not torch.all(torch.isfinite(x)):
            raise GfaError("compositions must be finite and non-negative")
        total = x.sum(dim=1, keepdim=True)
        if torch.any(total <= 0):
            raise GfaError("every composition needs at least one element with a positive amount")
        return x / total

    def _rows(self, compositions: Iterable[CompositionLike]) -> np.ndarray:
        from gfascreen.data.parse import parse_formula

        rows = []
        for c in compositions:
            if isinstance(c, str):
                amounts = parse_formula(c)
            elif isinstance(c, Mapping):
                amounts = dict(c)
            else:
                raise GfaError(f"cannot read a composition from {type(c).__name__}: {c!r}")
            outside = [el for el in amounts if el not in self.vocabulary.elements]
            if outside:
                raise GfaError(
                    f"{c}: element(s) {', '.join(repr(e) for e in outside)} outside the "
                    f"model's vocabulary ({' '.join(self.vocabulary.elements)})")
            row = np.zeros(len(self.vocabulary))
            for el, v in amounts.items():
                row[self.vocabulary.index(el)] += float(v)
            rows.append(row)
        if not rows:
            return np.zeros((0, len(self.vocabulary)))
        return np.stack(rows)

    # -- images ----------------------------------------------------------------
    def images(self, fractions: torch.Tensor) -> torch.Tensor:
        """OP images ``(B, C, N, N)`` from a ``(B, N)`` fraction tensor; pure batched torch."""
        img = fractions.unsqueeze(2) * fractions.unsqueeze(1)
        img = img.unsqueeze(1)
        if self.channels > 1:
            img = img.expand(-1, self.channels, -1, -1)
        if self.coords:
            img = torch.cat([img, self._coord_planes(len(img), img.device, img.dtype)], dim=1)
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
        return self.channels + (2 if self.coords else 0)

    def transform(self, compositions) -> torch.Tensor:
        """OP images ``(B, C, N, N)`` on ``self.device`` for any accepted input."""
        return self.images(self.fractions(compositions))

    __call__ = transform

"""What an OP image is, as a saved model records it: the one object that builds the
featurizer (training, inference, fine-tuning and pre-training all read or write this)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import torch

from gfascreen.errors import GfaError
from gfascreen.featurize.op_image import OPImageFeaturizer, image_channels
from gfascreen.featurize.vocabulary import Vocabulary

KIND = "outer_product"


@dataclass(frozen=True)
class ImageSpec:
    """An OP image: the ordered element vocabulary, identical ``channels`` of x xᵀ,
    optional coordinate channels and physics pair channels ``{name: N x N matrix}``."""

    vocabulary: Vocabulary
    channels: int = 1
    coords: bool = False
    pairs: Mapping[str, list] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.vocabulary)
        if self.channels < 1:
            raise GfaError(f"image spec: channels must be at least 1, got {self.channels}")
        for name, m in self.pairs.items():
            if np.asarray(m).shape != (n, n):
                raise GfaError(f"image spec: pair channel {name!r} is not {n}x{n} "
                               "(one value per element pair of the vocabulary)")

    @property
    def size(self) -> int:
        """Image side in pixels (the vocabulary's length)."""
        return len(self.vocabulary)

    @property
    def in_channels(self) -> int:
        return image_channels(self.channels, self.coords, len(self.pairs))

    def featurizer(self, device: str | torch.device = "cpu",
                   dtype: torch.dtype = torch.float32) -> OPImageFeaturizer:
        """The :class:`~gfascreen.featurize.OPImageFeaturizer` making these images."""
        return OPImageFeaturizer(self.vocabulary, channels=self.channels, device=device,
                                 dtype=dtype, coords=self.coords,
                                 pairs=dict(self.pairs) or None)

    # -- the manifest's two entries ----------------------------------------------------
    @classmethod
    def from_manifest(cls, vocabulary: dict, image: dict, where: str = "manifest"
                      ) -> ImageSpec:
        """Type and check a manifest's ``vocabulary`` and ``image`` entries."""
        if image.get("kind", KIND) != KIND:
            raise GfaError(f"{where}: image kind {image.get('kind')!r} is not {KIND!r}")
        try:
            vocab = Vocabulary.from_dict(vocabulary)
        except (KeyError, TypeError, ValueError) as exc:
            raise GfaError(f"{where}: vocabulary is damaged ({exc})") from None
        spec = cls(vocab, int(image.get("channels", 1)), bool(image.get("coords", False)),
                   dict(image.get("pairs") or {}))
        if int(image.get("size", spec.size)) != spec.size:
            raise GfaError(f"{where}: image size {image.get('size')} does not match the "
                           f"{spec.size}-element vocabulary")
        return spec

    def to_manifest(self) -> tuple[dict, dict]:
        """``(vocabulary, image)`` entries of a manifest."""
        image = {"kind": KIND, "channels": self.channels, "size": self.size,
                 "coords": self.coords}
        if self.pairs:
            image["pairs"] = {k: np.asarray(v).tolist() for k, v in self.pairs.items()}
        return self.vocabulary.to_dict(), image

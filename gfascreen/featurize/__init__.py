"""Composition -> OP image (:class:`OPImageFeaturizer`) over a :class:`Vocabulary`."""

from gfascreen.featurize.op_image import OPImageFeaturizer
from gfascreen.featurize.vocabulary import MIN_COUNT, Vocabulary

__all__ = ["MIN_COUNT", "OPImageFeaturizer", "Vocabulary"]

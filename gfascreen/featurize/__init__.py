"""Composition -> OP image (:class:`OPImageFeaturizer`) over a :class:`Vocabulary`, as an
:class:`ImageSpec` describes it."""

from gfascreen.featurize.op_image import OPImageFeaturizer
from gfascreen.featurize.spec import ImageSpec
from gfascreen.featurize.vocabulary import MIN_COUNT, Vocabulary

__all__ = ["MIN_COUNT", "ImageSpec", "OPImageFeaturizer", "Vocabulary"]

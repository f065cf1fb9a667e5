"""The applicability domain: a composition is in it when enough of the model's known
alloys lie within a radius (L1 distance in at.%), and the measured spread of
log10(1 + Dmax/mm) among its nearest known alloys is part of the calibrated difficulty
(:mod:`gfascreen.model.difficulty`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from gfascreen.data.labels import DMAX_COLUMN
from gfascreen.model.difficulty import NEIGHBOURS, Neighbourhood, neighbourhood
from gfascreen.model.targets import to_target


@dataclass(frozen=True)
class Domain:
    """The known alloys as fractions ``reference`` ``(K, N)`` on the model's device (None:
    the model carries none, every composition is in the domain), their log10(1 + Dmax/mm)
    ``reference_y`` (NaN where unmeasured), the radius (at.%) and the neighbours needed."""

    reference: torch.Tensor | None
    reference_y: np.ndarray | None
    radius_at_pct: float
    min_neighbours: int
    device: torch.device

    @classmethod
    def of(cls, known, featurizer, manifest, device: torch.device) -> Domain:
        """The domain of a model's known alloys ``known`` (a table, or None), read as
        fractions by ``featurizer`` (an :class:`~gfascreen.featurize.OPImageFeaturizer`
        over the model's vocabulary)."""
        has = known is not None and len(known)
        ref = featurizer.from_table(known).float().to(device) if has else None
        y = to_target(known[DMAX_COLUMN].to_numpy(dtype=float)) if has else None
        return cls(ref, y, float(manifest.domain.radius_at_pct),
                   int(manifest.domain.min_neighbours), device)

    def neighbourhood(self, x: torch.Tensor, calibration=None) -> Neighbourhood:
        """Domain flag and the measured spread among the ``calibration``'s ``k`` nearest
        known alloys (one distance pass; zeros when the calibration does not use the
        spread)."""
        if self.reference is None:
            return Neighbourhood(np.ones(len(x), dtype=bool), np.zeros(len(x)))
        cal = calibration
        ref_y = self.reference_y if cal is not None and cal.needs_knn else None
        return neighbourhood(x.to(self.device), self.reference, ref_y, self.radius_at_pct,
                             self.min_neighbours, cal.k if cal is not None else NEIGHBOURS)

"""The stack's reading: what makes ``dmax_mm``, ``dmax_bmg_mm`` and the class scores of a
model that has a stack (:class:`gfascreen.model.stack.Stack`).

The stack reads the members' mean log10(1 + Dmax/mm) and class probabilities beside its
descriptor partner's (:class:`~gfascreen.model.partner.Partner`, LightGBM boosters on
composition descriptors), the partner averaged over the composition's neighbourhood
(:mod:`gfascreen.model.local_average`; the stack's ``partner_step_at_pct``, 0: at the
point). :class:`StackReading` owns the pair.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from gfascreen.model.partner import Partner
from gfascreen.model.stack import Stack


@dataclass(frozen=True)
class StackReading:
    """The descriptor partner and the stack of a saved model."""

    partner: Partner
    stack: Stack

    @classmethod
    def load(cls, md, device: torch.device) -> StackReading | None:
        """The partner and stack of the :class:`~gfascreen.model.saved.ModelDir` ``md``
        (None: the model has no stack; every file verified before it is read)."""
        stack = md.manifest.stack
        if stack is None:
            return None
        return cls(Partner.load(md, device), stack)

    @property
    def step_at_pct(self) -> float:
        """The partner's local-average step (at.%)."""
        return self.stack.partner_step_at_pct

    def read(self, x: torch.Tensor, reg: torch.Tensor, prob: torch.Tensor
             ) -> tuple[np.ndarray, np.ndarray, torch.Tensor]:
        """The stack's Dmax (mm), bulk-glass thickness (mm) and class probabilities at
        ``(B, N)`` fractions ``x``, from the members' log10(1 + Dmax/mm) ``reg`` ``(M, B)``
        and mean class probabilities ``prob`` ``(B, C)``."""
        from gfascreen.model.stack import stack_features

        gb = self.partner.predict(x, self.step_at_pct)
        top = (x / x.sum(1, keepdim=True)).amax(1).double().cpu().numpy()
        out = self.stack.predict(stack_features(
            reg.mean(0).numpy().astype(float), prob.numpy().astype(float), gb.log_dmax,
            gb.proba, gb.log_dmax_bmg), max_fraction=top)
        return out.dmax_mm, out.dmax_bmg_mm, torch.as_tensor(out.proba)

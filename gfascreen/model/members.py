"""The fold members' forward pass: a model's networks, read from their stored state.

:class:`Members` owns the members of a saved model (built on the meta device and given
their decoded weights, batch norms folded: :func:`~gfascreen.model.network.for_inference`),
the OP-image featurizer that feeds them and the images per forward pass. Its outputs are
the inputs of the stack that makes ``dmax_mm`` (:mod:`gfascreen.model.stack_reading`), or,
for a model without one (or ``parts="network"``), the prediction itself.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch

from gfascreen.errors import GfaError
from gfascreen.model.network import OPResNet, for_inference, forward_members
from gfascreen.model.precision import inference_batch_for
from gfascreen.model.targets import from_target, kind_of, to_target


@dataclass(frozen=True)
class Members:
    """The fold members ``nets`` on ``device`` in ``precision`` (``fp32``/``bf16``), the
    featurizer of their images, their training target (``manifest.target``), their class
    names (empty: no class head) and the images per forward pass."""

    nets: list[OPResNet]
    featurizer: object  # gfascreen.featurize.OPImageFeaturizer
    device: torch.device
    precision: str
    target: str
    classes: list[str]
    batch_size: int

    @classmethod
    def load(cls, md, device: torch.device, precision: str) -> Members:
        """The members of the :class:`~gfascreen.model.saved.ModelDir` ``md``, each file
        verified against its checksum before it is decoded."""
        # Built once on the meta device (no memory, no weights), copied per member and
        # given the decoded tensors themselves (assign=True): no second copy of the weights
        with torch.device("meta"):
            template = md.manifest.network_spec.build()
        nets = []
        for entry in md.manifest.members:
            net = copy.deepcopy(template)
            try:
                net.load_state_dict(md.member_state(entry), assign=True)
            except RuntimeError as exc:
                raise GfaError(f"model member {entry.file} does not fit the architecture "
                               f"in the manifest ({str(exc).splitlines()[0]})") from None
            nets.append(for_inference(net, bf16=precision == "bf16").to(device))
        return cls(nets, md.manifest.image_spec.featurizer(device), device, precision,
                   md.manifest.target, md.manifest.classes, inference_batch_for(device))

    @torch.inference_mode()
    def outputs(self, x: torch.Tensor, batch_size: int | None = None,
                members: list[int] | None = None
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Per-member regression outputs ``(M, B)`` in the training target, and mean class
        probabilities ``(B, C)`` (of every member, or of those at the indices
        ``members``; None without a class head) of ``(B, N)`` fractions ``x``."""
        batch_size = batch_size or self.batch_size
        chosen = [m for j, m in enumerate(self.nets) if members is None or j in members]
        reg, prob = forward_members(chosen, self.featurizer, x, batch_size,
                                    bf16=self.precision == "bf16")
        return reg, (prob.mean(0) if prob is not None and self.classes else None)

    def log_dmax(self, x: torch.Tensor, batch_size: int | None = None,
                 members: list[int] | None = None
                 ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """:meth:`outputs` with the regression as log10(1 + Dmax/mm) whatever the training
        target: the scale of every log column, spread and metric."""
        reg, prob = self.outputs(x, batch_size, members)
        kind = kind_of(self.target)
        return (reg if kind == "log1p" else to_target(from_target(reg, kind))), prob

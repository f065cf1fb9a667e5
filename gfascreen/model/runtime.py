"""Faster CPU inference: int8 static quantization of the ensemble members (torch FX).

Convolutions and linear layers run in int8 with per-channel weight scales (x86 backend);
activation ranges are calibrated on training compositions shipped with the model
(``domain.safetensors``). Use it through ``Ensemble.load(..., runtime="int8")``; the
difference from float32 is measured in ``scripts/benchmark.py`` and reported in the README.
"""

from __future__ import annotations

import copy
import warnings

import torch
from torch import nn

from gfascreen.featurize import OPImageFeaturizer
from gfascreen.model.network import OPResNet


class _Heads(nn.Module):
    """Trunk + heads as a plain graph (FDS is inactive at inference)."""

    def __init__(self, m: OPResNet):
        super().__init__()
        self.trunk, self.reg, self.cls = m.trunk, m.reg, m.cls

    def forward(self, x: torch.Tensor):
        f = self.trunk(x)
        r = self.reg(f).squeeze(1)
        if self.cls is None:
            return r, r
        return r, self.cls(f)


class QuantizedMember(nn.Module):
    """An int8 member with the float model's output dictionary."""

    def __init__(self, graph: nn.Module, has_cls: bool):
        super().__init__()
        self.graph, self.has_cls = graph, has_cls

    def forward(self, x: torch.Tensor, y=None) -> dict[str, torch.Tensor]:
        r, c = self.graph(x.contiguous())
        out = {"reg": r}
        if self.has_cls:
            out["logits"] = c
        return out


def quantize_member(member: OPResNet, featurizer: OPImageFeaturizer, calib: torch.Tensor
                    ) -> QuantizedMember:
    """int8 copy of ``member`` calibrated on the fraction rows ``calib``."""
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    model = _Heads(copy.deepcopy(member).float().eval().to(memory_format=torch.contiguous_format))
    imgs = featurizer.images(calib.cpu())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prepared = prepare_fx(model, get_default_qconfig_mapping("x86"),
                              example_inputs=(imgs[:2],))
        with torch.inference_mode():
            for i in range(0, len(imgs), 256):
                prepared(imgs[i:i + 256])
        q = convert_fx(prepared)
    return QuantizedMember(q, member.cls is not None).eval()

"""The network: torchvision's ResNet50 adapted to OP images (one builder function)."""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torchvision
from torch import nn

from gfascreen.errors import GfaError
from gfascreen.model.smoothing import FDS, target_bins

#: Classes of the class head unless a model's manifest says otherwise.
N_CLASSES = 3
#: ``resnet``: torchvision's stem (7x7 stride-2 convolution + max-pool); ``no-maxpool``
#: drops the max-pool (4x the pixels in every later stage, ~2.5x the cost).
STEMS = ("resnet", "no-maxpool")


class OPResNet(nn.Module):
    """ResNet50 trunk -> 2048 features -> Dmax head (the model's training target, e.g.
    log10(Dmax/mm + 0.01) for the shipped model; ``Manifest.target`` says which) and,
    optionally, a classification head over ``n_classes`` classes (crystal / ribbon / bmg)
    trained jointly; optional FDS on the features (bins over ``target``'s range)."""

    def __init__(self, in_channels: int = 1, class_head: bool = True, fds: bool = False,
                 stem: str = "resnet", n_classes: int = N_CLASSES, target: str = "log1p"):
        super().__init__()
        if stem not in STEMS:
            raise GfaError(f"--stem {stem!r}: choose {' or '.join(STEMS)}")
        trunk = torchvision.models.resnet50(weights=None)
        trunk.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
        if stem == "no-maxpool":  # a 43-px image reaches the first stage at 22 px, not 11
            trunk.maxpool = nn.Identity()
        trunk.fc = nn.Identity()
        self.trunk = trunk
        self.fds = FDS(2048, target_bins(target)) if fds else None
        self.reg = nn.Linear(2048, 1)
        self.cls = nn.Linear(2048, n_classes) if class_head else None

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        feats = self.trunk(x)
        out = {"features": feats}
        if self.fds is not None:
            feats = self.fds(feats, y)
        out["reg"] = self.reg(feats).squeeze(1)
        if self.cls is not None:
            out["logits"] = self.cls(feats)
        return out


def _imagenet_state() -> dict:
    w = torchvision.models.ResNet50_Weights.IMAGENET1K_V2
    cached = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(w.url)
    if not cached.exists():
        try:
            return w.get_state_dict(progress=False)
        except Exception:
            raise GfaError(
                f"ImageNet weights for ResNet50 are not in the torch cache ({cached}) and could "
                "not be downloaded; copy resnet50 weights there or use --init scratch"
            ) from None
    return torch.load(cached, map_location="cpu", weights_only=True)


def resnet50_op(in_channels: int = 1, class_head: bool = True, fds: bool = False,
                init: str = "scratch", stem: str = "resnet", n_classes: int = N_CLASSES,
                target: str = "log1p") -> OPResNet:
    """Return a ready ResNet50 for OP images.

    ``init`` is ``"scratch"`` (random), ``"imagenet"`` (torchvision's weights from the local
    torch cache; the RGB filters of ``conv1`` are averaged into ``in_channels``), or a
    path to a ``.safetensors`` file from a previous gfascreen model (trunk weights only).
    """
    model = OPResNet(in_channels, class_head, fds, stem, n_classes, target)
    if init == "scratch":
        return model
    if init == "imagenet":
        state = _imagenet_state()
        w = state["conv1.weight"].mean(dim=1, keepdim=True).repeat(1, in_channels, 1, 1)
        state["conv1.weight"] = w * 3 / in_channels
        state = {k: v for k, v in state.items() if not k.startswith("fc.")}
        model.trunk.load_state_dict(state, strict=False)
        return model
    path = Path(init)
    if not path.is_file():
        raise GfaError(f"--init {init}: not 'scratch', 'imagenet' or an existing weights file")
    from safetensors.torch import load_file

    state = load_file(str(path))
    trunk = {k[len("trunk."):]: v for k, v in state.items() if k.startswith("trunk.")}
    missing = model.trunk.load_state_dict(trunk, strict=False)
    if missing.missing_keys:
        raise GfaError(f"--init {init}: not a gfascreen ResNet50 weights file")
    return model

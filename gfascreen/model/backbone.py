"""The backbone: which torchvision ResNet a member's trunk is, its feature width and its
named layer groups, in one place.

:func:`build_trunk` returns a :class:`Trunk`: the torchvision network adapted to OP
images (input channels, stem, no classifier), the width of the features it hands the
heads, and its layer groups (stem, the four stages) as parameter-name prefixes. Everything
that names a layer (the packing's float16 layers, the update's trainable stage, a trunk
weights file, ImageNet initialisation) reads the names from here.

The table of backbones imports no torch, so the command line can list ``--backbone``.
"""

from __future__ import annotations

from dataclasses import dataclass

#: The attribute of a member network that holds its trunk: every trunk weight is named
#: ``trunk.<layer>...`` in a member's state dict and in a trunk weights file.
TRUNK = "trunk"
#: Named layer groups of a torchvision ResNet trunk, in forward order, as the module names
#: their parameters start with. ``fc`` (the ImageNet classifier) is not part of a trunk.
LAYER_GROUPS: dict[str, tuple[str, ...]] = {
    "stem": ("conv1", "bn1"), "stage1": ("layer1",), "stage2": ("layer2",),
    "stage3": ("layer3",), "stage4": ("layer4",)}
CLASSIFIER = "fc"
#: Layers the int8 packing keeps in float16 (module names), with what each one is: the
#: stem and the first stage carry most of the quantization error (measured layer by layer
#: on a trained ResNet50 member), under 1 % of the weights.
PACK_FLOAT16: dict[str, str] = {"conv1": "the stem", "layer1": "the first stage",
                                "layer2.0": "the first block of the second stage"}


@dataclass(frozen=True)
class Backbone:
    """One torchvision ResNet: its builder's name, feature width and ImageNet weights."""

    name: str
    title: str
    width: int
    weights: str  # the torchvision weights enum member, e.g. ResNet50_Weights.IMAGENET1K_V2


BACKBONES: dict[str, Backbone] = {b.name: b for b in (
    Backbone("resnet18", "ResNet18", 512, "ResNet18_Weights.IMAGENET1K_V1"),
    Backbone("resnet34", "ResNet34", 512, "ResNet34_Weights.IMAGENET1K_V1"),
    Backbone("resnet50", "ResNet50", 2048, "ResNet50_Weights.IMAGENET1K_V2"),
)}
#: The shipped model's backbone and ``train --backbone``'s default.
DEFAULT_BACKBONE = "resnet50"


def backbone(name: str) -> Backbone:
    """The backbone called ``name`` (ValueError naming the choices otherwise)."""
    if name not in BACKBONES:
        raise ValueError(f"backbone {name!r}: choose {', '.join(BACKBONES)}")
    return BACKBONES[name]


def prefixes(*groups: str, trunk: bool = True) -> tuple[str, ...]:
    """Parameter-name prefixes of layer ``groups`` (``trunk.layer4.``; without the
    ``trunk.`` part when ``trunk`` is False)."""
    head = f"{TRUNK}." if trunk else ""
    return tuple(f"{head}{m}." for g in groups for m in LAYER_GROUPS[g])


@dataclass
class Trunk:
    """What :func:`build_trunk` returns: the network, its feature width, its layer groups
    (parameter-name prefixes within the trunk) and its backbone."""

    module: object  # torch.nn.Module
    width: int
    groups: dict[str, tuple[str, ...]]
    backbone: Backbone


def build_trunk(name: str, in_channels: int = 1, maxpool: bool = True) -> Trunk:
    """A torchvision ResNet (random weights) for ``in_channels``-channel images: its first
    convolution reads them, ``maxpool`` False drops the stem's max-pool and the classifier
    is an identity, so the trunk returns ``width`` features per image."""
    import torchvision
    from torch import nn

    b = backbone(name)
    net = getattr(torchvision.models, b.name)(weights=None)
    net.conv1 = nn.Conv2d(in_channels, net.conv1.out_channels, kernel_size=7, stride=2,
                          padding=3, bias=False)
    if not maxpool:
        net.maxpool = nn.Identity()
    setattr(net, CLASSIFIER, nn.Identity())
    groups = {g: prefixes(g, trunk=False) for g in LAYER_GROUPS}
    return Trunk(net, b.width, groups, b)


#: (convolution, batch norm) attribute pairs of a torchvision ResNet block or stem, in
#: forward order; a block's ``downsample`` is ``Sequential(conv, bn)``.
CONV_BN_PAIRS = (("conv1", "bn1"), ("conv2", "bn2"), ("conv3", "bn3"))


def fold_batchnorm(trunk) -> int:
    """Fold every eval-mode batch norm of a torchvision ResNet ``trunk`` into the
    convolution before it, in place (inference only: the same function up to float
    rounding, one convolution instead of two passes over each activation). Returns how
    many were folded; the norms become identities."""
    from torch import nn

    folded = 0
    for mod in list(trunk.modules()):
        pairs = [(c, b) for c, b in CONV_BN_PAIRS
                 if isinstance(getattr(mod, b, None), nn.BatchNorm2d)]
        if isinstance(mod, nn.Sequential) and len(mod) == 2 \
                and isinstance(mod[1], nn.BatchNorm2d):
            pairs.append(("0", "1"))
        for c, b in pairs:
            _fold(getattr(mod, c), getattr(mod, b))
            setattr(mod, b, nn.Identity())
            folded += 1
    return folded


def _fold(conv, bn) -> None:
    """conv <- bn(conv(.)): weights scaled per output channel, the shift as its bias."""
    import torch

    with torch.no_grad():
        scale = bn.weight * torch.rsqrt(bn.running_var + bn.eps)
        conv.weight.mul_(scale.reshape(-1, 1, 1, 1))
        bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
        conv.bias = torch.nn.Parameter((bias - bn.running_mean) * scale + bn.bias,
                                       requires_grad=False)


def imagenet_weights(name: str):
    """torchvision's ImageNet weights enum member for backbone ``name``."""
    import torchvision

    enum, member = backbone(name).weights.split(".")
    return getattr(getattr(torchvision.models, enum), member)


__all__ = ["BACKBONES", "CLASSIFIER", "DEFAULT_BACKBONE", "LAYER_GROUPS", "PACK_FLOAT16",
           "TRUNK", "Backbone", "Trunk", "backbone", "build_trunk", "fold_batchnorm",
           "imagenet_weights",
           "prefixes"]

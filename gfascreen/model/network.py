"""The network: a torchvision ResNet (:mod:`gfascreen.model.backbone`; ResNet50 shipped)
adapted to OP images, described by a :class:`NetworkSpec` (what a saved model records) and
built by one builder function."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from gfascreen.data.labels import CLASSES, RIBBON_DMAX_MM
from gfascreen.errors import GfaError
from gfascreen.model.backbone import (
    BACKBONES,
    CLASSIFIER,
    DEFAULT_BACKBONE,
    TRUNK,
    build_trunk,
    imagenet_weights,
)
from gfascreen.model.smoothing import FDS, target_bins
from gfascreen.model.targets import TARGETS, kind_of, to_target

#: ``resnet``: torchvision's stem (7x7 stride-2 convolution + max-pool); ``no-maxpool``
#: drops the max-pool (4x the pixels in every later stage, ~2.5x the cost).
STEMS = ("resnet", "no-maxpool")
#: ``direct``: the Dmax head regresses the training target for every alloy. ``mixture``:
#: the head regresses log10(Dmax/mm) of bulk glasses only, and the network's Dmax is the
#: class-weighted mean P(bmg) x 10^head + P(ribbon) x 0.1 mm (crystals 0), in the target.
HEADS = ("direct", "mixture")
#: Bulk-glass log10(Dmax/mm) of the mixture head is clamped to this range (0.001-1,000 mm).
MIXTURE_LOG_RANGE = (-3.0, 3.0)


@dataclass(frozen=True)
class NetworkSpec:
    """Everything that builds a member network: input channels, stem, heads, classes, the
    regression target (a ``--target`` kind: ``floor`` or ``log1p``) and the backbone
    (``name``, one of :data:`~gfascreen.model.backbone.BACKBONES`)."""

    in_channels: int = 1
    stem: str = "resnet"
    class_head: bool = True
    fds: bool = False
    classes: tuple[str, ...] | None = CLASSES
    target: str = "floor"
    head: str = "direct"
    name: str = DEFAULT_BACKBONE

    def __post_init__(self) -> None:
        checks = [(self.name in BACKBONES, f"architecture {self.name!r}: choose "
                                           f"{', '.join(BACKBONES)}"),
                  (self.stem in STEMS, f"stem {self.stem!r}: choose {' or '.join(STEMS)}"),
                  (self.head in HEADS, f"head {self.head!r}: choose {' or '.join(HEADS)}"),
                  (self.target in TARGETS, f"target {self.target!r}: choose "
                                           f"{' or '.join(TARGETS)}"),
                  (self.in_channels >= 1, "a network needs at least one input channel"),
                  (not self.class_head or bool(self.classes),
                   "a class head needs its classes"),
                  (self.head != "mixture" or (self.class_head and self.classes == CLASSES),
                   f"the mixture head needs the class head over {', '.join(CLASSES)}")]
        for ok, why in checks:
            if not ok:
                raise GfaError(f"network spec: {why}")

    @property
    def n_classes(self) -> int:
        return len(self.classes) if self.class_head and self.classes else 0

    def build(self, init: str = "scratch") -> OPResNet:
        """A ready network (random weights unless ``init`` says otherwise)."""
        return build_network(self, init)

    @classmethod
    def from_manifest(cls, architecture: dict, classes: list[str] | None, target: str,
                      in_channels: int, where: str = "manifest") -> NetworkSpec:
        """Type and check a manifest's ``architecture``, ``classes`` and ``target``."""
        try:
            kind = kind_of(target)
        except ValueError:
            raise GfaError(f"{where}: unknown target {target!r}") from None
        for key in ("class_head", "fds"):
            if key not in architecture:
                raise GfaError(f"{where}: architecture needs {key}")
        try:
            return cls(in_channels, architecture.get("stem", "resnet"),
                       bool(architecture["class_head"]), bool(architecture["fds"]),
                       tuple(classes) if classes else None, kind,
                       architecture.get("head", "direct"),
                       architecture.get("name", DEFAULT_BACKBONE))
        except GfaError as exc:
            raise GfaError(f"{where}: {exc}") from None

    def to_manifest(self) -> dict:
        """``architecture``, ``classes`` and ``target`` entries of a manifest."""
        return {"architecture": {"name": self.name, "class_head": self.class_head,
                                 "fds": self.fds, "stem": self.stem, "head": self.head},
                "classes": list(self.classes) if self.class_head and self.classes else None,
                "target": TARGETS[self.target]}


class OPResNet(nn.Module):
    """ResNet trunk (the spec's backbone) -> its ``width`` features (2048 for ResNet50) ->
    Dmax head (in the spec's training target, e.g. log10(Dmax/mm + 0.01) for the shipped
    model) and, optionally, a classification head trained jointly; optional FDS on the
    features (bins over the target's range). With the mixture head, ``reg`` is the
    class-weighted Dmax in the target and ``bmg_log`` the bulk-glass head's log10(Dmax/mm)."""

    def __init__(self, spec: NetworkSpec):
        super().__init__()
        self.spec = spec
        # no-maxpool: a 43-px image reaches the first stage at 22 px, not 11
        built = build_trunk(spec.name, spec.in_channels, maxpool=spec.stem != "no-maxpool")
        self.trunk, self.width = built.module, built.width
        self.fds = FDS(self.width, target_bins(spec.target)) if spec.fds else None
        self.reg = nn.Linear(self.width, 1)
        self.cls = nn.Linear(self.width, spec.n_classes) if spec.n_classes else None
        #: The trunk's own dtype once :func:`for_inference` prepared the member (its
        #: input is cast to it and its features handed to the heads in float32); None
        #: while it trains (autocast decides).
        self.trunk_dtype: torch.dtype | None = None

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        if self.trunk_dtype is None:
            feats = self.trunk(x)
        else:
            feats = self.trunk(x.to(self.trunk_dtype)).float()
        out = {"features": feats}
        if self.fds is not None:
            feats = self.fds(feats, y)
        reg = self.reg(feats).squeeze(1)
        if self.cls is not None:
            out["logits"] = self.cls(feats)
        if self.spec.head == "mixture":
            out["bmg_log"] = reg
            out["reg"] = self._mixture(reg, out["logits"])
        else:
            out["reg"] = reg
        return out

    def _mixture(self, bmg_log: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        p = torch.softmax(logits.float(), 1)
        bmg_mm = 10.0 ** bmg_log.float().clamp(*MIXTURE_LOG_RANGE)
        mean_mm = (p[:, CLASSES.index("bmg")] * bmg_mm
                   + p[:, CLASSES.index("ribbon")] * RIBBON_DMAX_MM)
        return to_target(mean_mm, self.spec.target)


def for_inference(net: OPResNet, bf16: bool = False) -> OPResNet:
    """Prepare a loaded member for scoring, in place: eval mode, its batch norms folded
    into the convolutions (:func:`~gfascreen.model.backbone.fold_batchnorm`), channels-last
    and, with ``bf16``, its trunk's weights in bfloat16 (the heads stay float32 and read
    float32 features): no autocast and no weights cast on every batch. Measured on a
    shipped ResNet50 member, 2-core Xeon with AVX512-BF16/AMX, 128 images of 43 px: bf16
    autocast 809 images/s, this form 1,086; float32 357 and 393 (``scripts/benchmark.py``).
    The member can no longer train."""
    from gfascreen.model.backbone import fold_batchnorm

    net.eval()
    fold_batchnorm(net.trunk)
    net.trunk_dtype = torch.bfloat16 if bf16 else torch.float32
    net.trunk.to(net.trunk_dtype, memory_format=torch.channels_last)  # one pass
    return net


@torch.inference_mode()
def forward_members(models: list[nn.Module], featurizer, x: torch.Tensor,
                    batch_size: int = 256, bf16: bool = False
                    ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The one prediction loop: fractions ``x`` (B, N) -> OP images on the featurizer's
    device, made once per batch of ``batch_size`` -> every model of ``models`` on the same
    images (eval mode; bfloat16 where ``bf16``: a member's bf16 trunk from
    :func:`for_inference`, else autocast on CUDA or a CPU with native bf16; float32
    otherwise, on every device). The outputs stay on the device until one copy to the
    host at the end. Returns the regression outputs (M, B) in the models' target and the
    class probabilities (M, B, C) or None, float32 on the CPU."""
    dev = featurizer.device
    regs: list[list[torch.Tensor]] = [[] for _ in models]
    probs: list[list[torch.Tensor]] = [[] for _ in models]
    for m in models:
        m.eval()
    for i in range(0, len(x), batch_size):
        img = featurizer.images(x[i:i + batch_size].to(dev))
        img = img.contiguous(memory_format=torch.channels_last)
        for j, m in enumerate(models):
            reg, prob = forward_images(m, img, bf16)
            regs[j].append(reg)
            if prob is not None:
                probs[j].append(prob)
    if not len(x):
        return torch.zeros(len(models), 0), None
    reg = torch.stack([torch.cat(r) for r in regs]).cpu()
    return reg, (torch.stack([torch.cat(p) for p in probs]).cpu() if probs[0] else None)


def forward_images(model: nn.Module, img: torch.Tensor, bf16: bool = False
                   ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """One batch of images through one model in the precision rule of
    :func:`forward_members`: regression (B,) and class probabilities (B, C) or None,
    float32 on the images' device."""
    from gfascreen.model.precision import autocast

    cast = bf16 and getattr(model, "trunk_dtype", None) is None  # a bf16 trunk needs none
    with autocast(img.device, bf16=cast):
        out = model(img)
    prob = torch.softmax(out["logits"].float(), 1) if "logits" in out else None
    return out["reg"].float(), prob


def forward_batches(model: nn.Module, featurizer, x: torch.Tensor, batch_size: int = 256,
                    bf16: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
    """:func:`forward_members` for one model: regression (B,) and probabilities (B, C) or
    None."""
    reg, prob = forward_members([model], featurizer, x, batch_size, bf16)
    return reg[0], (prob[0] if prob is not None else None)


def _imagenet_state(name: str) -> dict:
    w = imagenet_weights(name)
    cached = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(w.url)
    if not cached.exists():
        try:
            return w.get_state_dict(progress=False)
        except Exception:
            raise GfaError(
                f"ImageNet weights for {BACKBONES[name].title} are not in the torch cache "
                f"({cached}) and could not be downloaded; copy {name} weights there or use "
                "--init scratch"
            ) from None
    return torch.load(cached, map_location="cpu", weights_only=True)


def build_network(spec: NetworkSpec | None = None, init: str = "scratch") -> OPResNet:
    """Return a ready network for OP images as ``spec`` describes it (default: ResNet50,
    one input channel, class head, floor target, direct head).

    ``init`` is ``"scratch"`` (random), ``"imagenet"`` (torchvision's weights from the local
    torch cache; the RGB filters of ``conv1`` are averaged into the input channels), or a
    path to a ``.safetensors`` file from a previous gfascreen model (trunk weights only).
    """
    spec = spec or NetworkSpec()
    in_channels = spec.in_channels
    model = OPResNet(spec)
    if init == "scratch":
        return model
    if init == "imagenet":
        state = _imagenet_state(spec.name)
        w = state["conv1.weight"].mean(dim=1, keepdim=True).repeat(1, in_channels, 1, 1)
        state["conv1.weight"] = w * 3 / in_channels
        state = {k: v for k, v in state.items() if not k.startswith(f"{CLASSIFIER}.")}
        model.trunk.load_state_dict(state, strict=False)
        return model
    path = Path(init)
    if not path.is_file():
        raise GfaError(f"--init {init}: not 'scratch', 'imagenet' or an existing weights file")
    from safetensors.torch import load_file

    state = load_file(str(path))
    head = f"{TRUNK}."
    trunk = {k[len(head):]: v for k, v in state.items() if k.startswith(head)}
    try:
        missing = model.trunk.load_state_dict(trunk, strict=False).missing_keys
    except RuntimeError:  # tensors of another backbone's shapes
        missing = True
    if missing:
        raise GfaError(f"--init {init}: not a gfascreen {BACKBONES[spec.name].title} "
                       "weights file")
    return model

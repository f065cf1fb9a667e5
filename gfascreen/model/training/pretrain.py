"""Label-free pre-training of a member's trunk (any backbone): the domain's ImageNet.

Random compositions (2-5 elements of the vocabulary, chosen uniformly, Dirichlet(1)
fractions; no measured alloy and no label is used) are rendered as OP images and the
network learns to predict descriptors computed from the composition alone: the
composition-weighted mean and spread of element properties (pymatgen), the mixing
enthalpy ΔH_mix = Σ_{i<j} 4 ΔH_ij x_i x_j (Takeuchi & Inoue 2005, matminer) and the
atomic-size mismatch δ = sqrt(Σ x_i (1 - r_i / r̄)²). The trunk's weights are saved as
``trunk.*`` (:data:`~gfascreen.model.backbone.TRUNK`) in a safetensors file that
``gfascreen train --init FILE`` starts from.

Training code: inference never imports it.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from gfascreen.featurize import OPImageFeaturizer, Vocabulary
from gfascreen.featurize.pairs import pair_matrices, parse_pairs, raw_pair_matrix
from gfascreen.model.backbone import DEFAULT_BACKBONE, TRUNK
from gfascreen.model.network import NetworkSpec, forward_batches
from gfascreen.model.training.trainer import Optimiser

#: Element properties whose composition-weighted mean and standard deviation are targets.
PROPERTIES = ("Z", "X", "atomic_radius", "mendeleev_no", "row", "group", "melting_point",
              "atomic_mass")


@dataclass
class PretrainConfig:
    """A pre-training run: ``n_compositions`` generated alloys, ``epochs`` passes."""

    n_compositions: int = 20000
    epochs: int = 3
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-4
    min_elements: int = 2
    max_elements: int = 5
    stem: str = "resnet"
    pairs: str = ""
    seed: int = 0
    backbone: str = DEFAULT_BACKBONE


def random_compositions(n_vocab: int, n: int, rng: np.random.Generator,
                        k_range: tuple[int, int] = (2, 5)) -> np.ndarray:
    """``(n, n_vocab)`` fractions: ``k`` elements (uniform in ``k_range``) chosen uniformly,
    Dirichlet(1) fractions over them."""
    x = np.zeros((n, n_vocab))
    ks = rng.integers(k_range[0], k_range[1] + 1, size=n)
    for i, k in enumerate(ks):
        idx = rng.choice(n_vocab, size=k, replace=False)
        x[i, idx] = rng.dirichlet(np.ones(k))
    return x


def element_table(elements: Sequence[str]) -> np.ndarray:
    """``(N, P)`` element properties in :data:`PROPERTIES` order (pymatgen)."""
    from pymatgen.core import Element

    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for e in elements:
            el = Element(e)
            rows.append([float(getattr(el, p)) for p in PROPERTIES])
    return np.array(rows)


def descriptors(x: np.ndarray, elements: Sequence[str]) -> np.ndarray:
    """``(n, 2P + 2)`` descriptors of fractions ``x``: mean and standard deviation of each
    property, ΔH_mix (kJ/mol) and δ (%)."""
    props = element_table(elements)
    mean = x @ props
    std = np.sqrt(np.clip(x @ props**2 - mean**2, 0, None))
    h = raw_pair_matrix("hmix", elements)
    hmix = 2.0 * np.einsum("bi,ij,bj->b", x, h, x)  # Σ_{i<j} 4 H_ij x_i x_j
    r = props[:, PROPERTIES.index("atomic_radius")]
    rbar = x @ r
    delta = 100 * np.sqrt(np.einsum("bi,bi->b", x, (1 - r[None, :] / rbar[:, None]) ** 2))
    return np.column_stack([mean, std, hmix, delta])


def _model(in_channels: int, n_out: int, stem: str, backbone: str) -> nn.Module:
    net = NetworkSpec(in_channels, stem, class_head=False, classes=None, name=backbone).build()
    net.reg = nn.Linear(net.width, n_out)
    return net


def pretrain(vocab: Vocabulary, out: str | Path, config: PretrainConfig,
             device: str = "cpu", progress: bool = True) -> dict:
    """Pre-train a trunk on generated compositions; write its weights to ``out``
    (safetensors, ``trunk.*``) and return the history (loss, held-out R² per descriptor)."""
    from safetensors.torch import save_file

    c, dev = config, torch.device(device)
    rng = np.random.default_rng(c.seed)
    n_val = max(256, c.n_compositions // 20)
    x = random_compositions(len(vocab), c.n_compositions + n_val, rng,
                            (c.min_elements, c.max_elements))
    y = descriptors(x, vocab.elements)
    mu, sd = y[:-n_val].mean(0), y[:-n_val].std(0) + 1e-9
    xt = torch.as_tensor(x, dtype=torch.float32)
    yt = torch.as_tensor((y - mu) / sd, dtype=torch.float32)
    feat = OPImageFeaturizer(vocab, device=dev,
                             pairs=pair_matrices(parse_pairs(c.pairs), vocab.elements))
    torch.manual_seed(c.seed)
    net = _model(feat.out_channels, y.shape[1], c.stem, c.backbone).to(dev).to(
        memory_format=torch.channels_last)
    steps = int(np.ceil(c.n_compositions / c.batch_size))
    optimiser = Optimiser(net.parameters(), c.lr, c.weight_decay, total_steps=c.epochs * steps,
                          what="pre-training")
    history = []
    for epoch in range(c.epochs):
        t0, net = time.perf_counter(), net.train()
        perm = torch.randperm(c.n_compositions)
        total = 0.0
        for s in range(steps):
            idx = perm[s * c.batch_size:(s + 1) * c.batch_size]
            img = feat.images(xt[idx].to(dev)).contiguous(memory_format=torch.channels_last)
            loss = nn.functional.mse_loss(net(img)["reg"], yt[idx].to(dev))
            optimiser.step(loss)
            total += float(loss.detach()) * len(idx)
        r2 = _held_out_r2(net, feat, xt[-n_val:], yt[-n_val:], dev)
        history.append({"epoch": epoch + 1, "loss": total / c.n_compositions,
                        "val_r2_mean": float(np.mean(r2)),
                        "seconds": round(time.perf_counter() - t0, 1)})
        if progress:
            print(history[-1], flush=True)
    state = {f"{TRUNK}.{k}": v.detach().cpu().contiguous()
             for k, v in net.trunk.state_dict().items()}
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(out), metadata={"pretrain": str(asdict(c)),
                                         "elements": " ".join(vocab.elements)})
    return {"config": asdict(c), "history": history, "descriptors": y.shape[1]}


@torch.inference_mode()
def _held_out_r2(net: nn.Module, feat: OPImageFeaturizer, x: torch.Tensor, y: torch.Tensor,
                 dev: torch.device) -> np.ndarray:
    pred, _ = forward_batches(net, feat, x)
    return (1 - ((pred - y) ** 2).sum(0) / ((y - y.mean(0)) ** 2).sum(0)).numpy()

"""Closing the loop: update a saved model with a few alloys a lab has cast.

Every member of the base model is fine-tuned on all the new alloys at once (too few for
folds), each step pairing them with a fresh sample of the base's own training alloys
(rehearsal, from the ``known_alloys.parquet`` it carries), so the network moves towards
the new measurements without forgetting the rest. Only the last stage of the trunk and
the heads learn (:data:`TRAINABLE`); the earlier stages and every batch-norm statistic stay
frozen (a handful of alloys cannot estimate them), which also makes a step cheap. The
new alloys join the model's known alloys, so the applicability domain, the neighbours'
spread in the intervals and the reports' overlay see them. The calibration is the base's,
carried unchanged and marked so.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd
import torch
from safetensors.torch import save_file

from gfascreen.errors import GfaError
from gfascreen.model.backbone import prefixes
from gfascreen.model.network import OPResNet
from gfascreen.model.recipe import TrainConfig, prepare_table
from gfascreen.model.saved import (
    KNOWN_ALLOYS,
    Manifest,
    ModelDir,
    known_alloys_table,
    sha256_file,
    write_manifest,
)
from gfascreen.model.training.train import FoldTrainer, table_tensors
from gfascreen.model.training.trainer import Batches, Trainer
from gfascreen.tableio import write_parquet_atomic

#: Up to this many alloys, ``train --init MODEL`` updates every member on all of them;
#: above it, it fine-tunes K-fold members with out-of-fold predictions as usual.
UPDATE_MAX_ROWS = 50
#: Parameters an update trains (name prefixes): the trunk's last stage and the heads.
TRAINABLE = (*prefixes("stage4"), "reg.", "cls.")


@dataclass
class UpdateConfig:
    """How a member is updated: ``steps`` AdamW steps at learning rate ``lr``, each on all
    new alloys plus ``replay`` rehearsal alloys, the two halves of the loss weighted
    equally. Adam moves every weight by about ``lr`` per step, so the Dmax head's weights
    (the backbone's feature width: 2,048 for ResNet50) move its output by up to ~2,048 x lr
    x the mean feature (~0.5) per step: at 1e-5 that is ~0.01 in log10 Dmax, ~0.4 over 40
    steps at most."""

    steps: int = 40
    lr: float = 1e-5
    replay: int = 32
    seed: int = 0


def batches(trainer: FoldTrainer, table: pd.DataFrame, target: str) -> Batches:
    """A table's alloys as training tensors (fractions, target, weights, classes)."""
    return trainer.batches(*table_tensors(table, trainer.vocab, target))


def _freeze_batch_norm(model: OPResNet) -> None:
    model.train()
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.eval()


def update_member(trainer: FoldTrainer, model: OPResNet, new: Batches, replay: Batches,
                  config: UpdateConfig) -> OPResNet:
    """Fine-tune ``model`` in place on ``new`` with rehearsal on ``replay`` (the run's
    loss and the one :class:`~gfascreen.model.training.trainer.Trainer`, at a constant
    ``lr``); returns it."""
    for n, p in model.named_parameters():
        p.requires_grad_(n.startswith(TRAINABLE))
    opt = Trainer([p for p in model.parameters() if p.requires_grad], config.lr,
                  trainer.c.weight_decay, what="update")
    g = torch.Generator().manual_seed(config.seed)
    _freeze_batch_norm(model)
    dev = trainer.device
    k = len(new.x)
    new = new.take(torch.arange(k), dev)
    for _ in range(config.steps):
        rehearse = replay.take(torch.randint(len(replay.x), (config.replay,), generator=g), dev)
        b = new.cat(rehearse)
        out = model(trainer.feat.images(b.x).contiguous(memory_format=torch.channels_last))
        # The two halves of the loss, each the training loss of its own rows.
        loss = (trainer.loss({n: v[:k] for n, v in out.items()}, new)
                + trainer.loss({n: v[k:] for n, v in out.items()}, rehearse))
        opt.step(loss)
    for p in model.parameters():
        p.requires_grad_(True)
    return model.eval()


def update_model(base_dir: str, table: pd.DataFrame, out: str | Path,
                 config: UpdateConfig | None = None, device: str = "cpu") -> dict:
    """Write ``out``: the base model with every member updated on ``table``'s alloys (a
    training table: composition, at.% columns, gfa_class, dmax_mm, system)."""
    config = config or UpdateConfig()
    base = ModelDir(base_dir)
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise GfaError(f"{out} is not empty; choose another --out")
    m = base.manifest
    tcfg = TrainConfig.from_dict(m.config)
    t, vocab = prepare_table(table, TrainConfig(init=str(base.path)))
    if t.empty:
        raise GfaError("none of the new alloys uses only elements the model knows "
                       f"({', '.join(vocab.elements)})")
    known = base.known_alloys()
    if known is None:
        raise GfaError(f"{base.path} carries no known alloys to rehearse on")
    trainer = FoldTrainer(tcfg, vocab, out, 0, torch.device(device), progress=False)
    new, replay = batches(trainer, t, tcfg.target), batches(trainer, known, tcfg.target)
    out.mkdir(parents=True, exist_ok=True)
    spec, t0, members = m.network_spec, time.time(), []
    for j, entry in enumerate(m.members):
        model = spec.build()
        model.load_state_dict(base.member_state(entry))
        model = model.to(device).to(memory_format=torch.channels_last)
        update_member(trainer, model, new, replay, replace(config, seed=config.seed + j))
        save_file({k: v.contiguous().cpu() for k, v in model.state_dict().items()},
                  str(out / entry["file"]))
        members.append({**entry, "sha256": sha256_file(out / entry["file"])})
    seconds = round(time.time() - t0, 1)
    _write_updated(base, out, t, known, members, config, seconds)
    return {"alloys": int(len(t)), "members": len(members), "seconds": seconds}


def _write_updated(base: ModelDir, out: Path, t: pd.DataFrame, known: pd.DataFrame,
                   members: list[dict], config: UpdateConfig, seconds: float) -> None:
    m = base.manifest
    elements = list(m.image_spec.vocabulary.elements)
    new_known = known_alloys_table(t, elements)
    merged = pd.concat([known[~known["composition"].isin(new_known["composition"])],
                        new_known], ignore_index=True).fillna({e: 0.0 for e in elements})
    write_parquet_atomic(merged, out / KNOWN_ALLOYS)
    for entry in (m.calibration, m.lso_oof):
        if entry is not None:
            shutil.copy2(base.path / entry["file"], out / entry["file"])
    updated = Manifest.from_dict({
        **m.to_dict(), "id": f"{m.id}+update", "members": members, "quant": "float32",
        "known_alloys": {"file": KNOWN_ALLOYS, "sha256": sha256_file(out / KNOWN_ALLOYS),
                         "rows": int(len(merged))},
        "update": {"base": m.id, "alloys": int(len(t)), "steps": config.steps,
                   "lr": config.lr, "replay": config.replay, "seconds": seconds,
                   "calibration": "the base model's, not re-measured after the update"}})
    write_manifest(out, updated)


__all__ = ["UPDATE_MAX_ROWS", "UpdateConfig", "update_member", "update_model"]

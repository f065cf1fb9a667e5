"""The one training loop's parts, used by K-fold training (:mod:`.train`), the update of a
saved model (:mod:`.update`) and label-free pre-training (:mod:`.pretrain`):

- :class:`Batches`: a set of training rows as tensors (fractions, target, weights, classes);
- :class:`DmaxLoss`: the members' loss (weighted squared error of the Dmax head, class
  cross-entropy, Mixup);
- :class:`Optimiser`: AdamW, the optional one-cycle schedule, and the step (a step with a
  non-finite gradient is skipped and counted, fatal once it is no longer rare);
- :class:`EarlyStopping`: the best validation score and the patience that ends a run.

Training code: inference never imports it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from gfascreen.data.labels import CLASSES
from gfascreen.errors import GfaError
from gfascreen.model.recipe import TrainConfig
from gfascreen.model.smoothing import lds_weights, target_bins
from gfascreen.model.targets import from_target


@dataclass
class Batches:
    """Training rows as tensors: fractions, target (NaN = class only), loss weights and
    class indices."""

    x: torch.Tensor
    y: torch.Tensor
    has_y: torch.Tensor
    w: torch.Tensor
    cls: torch.Tensor

    def __len__(self) -> int:
        return len(self.x)

    def _fields(self) -> tuple[torch.Tensor, ...]:
        return self.x, self.y, self.has_y, self.w, self.cls

    def take(self, idx: torch.Tensor, device: torch.device) -> Batches:
        """Rows ``idx``, on ``device``."""
        return Batches(*(t[idx].to(device) for t in self._fields()))

    def cat(self, other: Batches) -> Batches:
        """These rows, then ``other``'s."""
        return Batches(*(torch.cat([a, b]) for a, b in zip(self._fields(), other._fields(),
                                                           strict=True)))

    @classmethod
    def make(cls, config: TrainConfig, x: torch.Tensor, y: np.ndarray, classes: np.ndarray
             ) -> Batches:
        """Rows with their loss weights: LDS (``--lds``) on rows with a target, times
        ``--bmg-weight`` on bulk glasses."""
        w = np.ones(len(y))
        if config.lds:
            w[np.isfinite(y)] = lds_weights(y[np.isfinite(y)], target_bins(config.target))
        w[classes == CLASSES.index("bmg")] *= config.bmg_weight
        yt = torch.as_tensor(y, dtype=torch.float32)
        return cls(x, yt, torch.isfinite(yt), torch.as_tensor(w, dtype=torch.float32),
                   torch.as_tensor(classes, dtype=torch.long))


class DmaxLoss:
    """Weighted squared error of the Dmax head (+ ``class_weight`` x class cross-entropy),
    mixed by ``lam`` with the permuted rows ``j`` under Mixup. With the mixture head the
    Dmax head regresses log10(Dmax/mm) of bulk glasses with a measured Dmax; otherwise the
    training target of every row with a Dmax."""

    def __init__(self, head: str, target: str, class_weight: float):
        self.head, self.target, self.class_weight = head, target, class_weight

    def regression_target(self, b: Batches) -> tuple[torch.Tensor, torch.Tensor]:
        """What the Dmax head regresses, and on which rows."""
        if self.head != "mixture":
            return b.y, b.has_y
        dmax = from_target(torch.nan_to_num(b.y), self.target).clamp_min(1e-3)
        return torch.log10(dmax), b.has_y & (b.cls == CLASSES.index("bmg"))

    def __call__(self, out: dict, b: Batches, lam: float = 1.0,
                 j: torch.Tensor | None = None) -> torch.Tensor:
        reg = out["bmg_log" if self.head == "mixture" else "reg"].float()
        target, mask = self.regression_target(b)

        def reg_loss(target, mask, weight):
            m = mask.float() * weight
            err = (reg - torch.nan_to_num(target)) ** 2
            return (m * err).sum() / mask.float().sum().clamp_min(1.0)

        loss = reg_loss(target, mask, b.w)
        if j is not None:
            loss = lam * loss + (1 - lam) * reg_loss(target[j], mask[j], b.w[j])
        if "logits" in out:
            logits = out["logits"].float()
            ce = F.cross_entropy(logits, b.cls)
            if j is not None:
                ce = lam * ce + (1 - lam) * F.cross_entropy(logits, b.cls[j])
            loss = loss + self.class_weight * ce
        return loss


class Optimiser:
    """AdamW over ``params`` at ``lr``; with ``total_steps`` a one-cycle schedule (peak
    ``lr``, warm-up over ``pct_start`` of the steps, cosine decay), stepped after every
    optimiser step and held at its last value past its end."""

    def __init__(self, params: Iterable[torch.nn.Parameter], lr: float, weight_decay: float,
                 total_steps: int | None = None, pct_start: float = 0.3, what: str = "training"):
        self.opt = torch.optim.AdamW(list(params), lr=lr, weight_decay=weight_decay)
        self.sched = (torch.optim.lr_scheduler.OneCycleLR(
            self.opt, max_lr=lr, total_steps=total_steps, pct_start=pct_start)
            if total_steps else None)
        self.what = what
        self.skipped = 0  # optimiser steps skipped for non-finite gradients

    def _params(self) -> list[torch.nn.Parameter]:
        return [p for g in self.opt.param_groups for p in g["params"]]

    def step(self, loss: torch.Tensor, max_skipped: float = float("inf")) -> bool:
        """Backward and update; a step with a non-finite gradient is skipped (as torch's
        GradScaler does) and counted, and more than ``max_skipped`` of them is fatal.
        Returns whether the weights moved."""
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(self._params(), float("inf"))
        moved = bool(torch.isfinite(norm))
        if moved:
            self.opt.step()
        else:
            self.opt.zero_grad(set_to_none=True)
            self.skipped += 1
            if self.skipped > max_skipped:
                raise GfaError(
                    f"{self.what}: {self.skipped} training steps had non-finite gradients; "
                    "training diverged (try a lower --lr, or --no-amp)")
        if self.sched is not None and self.sched.last_epoch < self.sched.total_steps - 1:
            self.sched.step()
        return moved

    def state_dict(self) -> dict:
        return {"opt": self.opt.state_dict(),
                **({"sched": self.sched.state_dict()} if self.sched is not None else {})}

    def load_state_dict(self, state: dict) -> None:
        self.opt.load_state_dict(state["opt"])
        if self.sched is not None:
            self.sched.load_state_dict(state["sched"])


@dataclass
class EarlyStopping:
    """The best validation score so far and the validations since it improved; patience
    runs only after ``min_epochs`` (the first half of the budget, while the one-cycle
    schedule's high learning rate makes scores swing)."""

    patience: int
    min_epochs: int
    best: float = -float("inf")
    bad: int = 0

    def record(self, score: float, epoch: int) -> bool:
        """Record a validation after ``epoch`` epochs; True when it is the best so far."""
        if score > self.best:
            self.best, self.bad = score, 0
            return True
        if epoch > self.min_epochs:
            self.bad += 1
        return False

    def done(self, epoch: int) -> bool:
        """Whether training stops after ``epoch`` epochs."""
        return epoch >= self.min_epochs and self.bad >= self.patience


__all__ = ["Batches", "DmaxLoss", "EarlyStopping", "Optimiser"]

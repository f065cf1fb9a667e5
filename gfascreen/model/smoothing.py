"""Long-tail handling from Yang et al., "Delving into Deep Imbalanced Regression",
ICML 2021: label distribution smoothing (LDS) and feature distribution smoothing (FDS).

Both work on bins of the (transformed) target. Written from the paper's description.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


def gaussian_kernel(size: int = 5, sigma: float = 2.0) -> np.ndarray:
    half = size // 2
    k = np.exp(-(np.arange(-half, half + 1) ** 2) / (2 * sigma**2))
    return k / k.max()


class TargetBins:
    """Equal-width bins of the target on ``[lo, hi]``."""

    def __init__(self, lo: float = 0.0, hi: float = 2.0, n_bins: int = 50):
        self.lo, self.hi, self.n_bins = lo, hi, n_bins

    def index(self, y):
        w = (self.hi - self.lo) / self.n_bins
        if isinstance(y, torch.Tensor):
            return torch.clamp(((y - self.lo) / w).long(), 0, self.n_bins - 1)
        return np.clip(((np.asarray(y) - self.lo) / w).astype(int), 0, self.n_bins - 1)


def target_bins(target: str = "log1p") -> TargetBins:
    """Bins spanning a training target's range: log10(1 + Dmax/mm) lies in [0, ~1.9];
    the floor target log10(Dmax/mm + 0.01) in [-2, ~1.9] (crystals at -2)."""
    return TargetBins(-2.0, 2.0) if target in ("floor", "log10(dmax_mm+0.01)") \
        else TargetBins(0.0, 2.0)


def lds_weights(y: np.ndarray, bins: TargetBins, kernel_size: int = 5, sigma: float = 2.0,
                reweight: str = "sqrt_inv") -> np.ndarray:
    """Per-sample loss weights: inverse (square root) of the kernel-smoothed label density,
    normalised to mean 1."""
    idx = bins.index(y)
    counts = np.bincount(idx, minlength=bins.n_bins).astype(float)
    if reweight == "sqrt_inv":
        counts = np.sqrt(counts)
    smoothed = np.convolve(counts, gaussian_kernel(kernel_size, sigma), mode="same")
    w = 1.0 / np.maximum(smoothed[idx], 1e-6)
    return w * len(w) / w.sum()


class FDS(nn.Module):
    """Feature distribution smoothing: calibrate features with kernel-smoothed per-bin
    statistics.

    During training, features of a sample in bin ``b`` are whitened with the running
    statistics of bin ``b`` and re-coloured with the smoothed statistics. Statistics are
    gathered over each epoch (:meth:`accumulate`) and folded in with momentum at the end
    (:meth:`update`); calibration starts after ``start_epoch`` epochs.
    """

    def __init__(self, dim: int, bins: TargetBins, kernel_size: int = 5, sigma: float = 2.0,
                 momentum: float = 0.9, start_epoch: int = 1):
        super().__init__()
        self.bins = bins
        self.momentum = momentum
        self.start_epoch = start_epoch
        self.min_samples = 8
        k = torch.as_tensor(gaussian_kernel(kernel_size, sigma), dtype=torch.float32)
        self.register_buffer("kernel", k / k.sum())
        nb = bins.n_bins
        for name, init in [("running_mean", torch.zeros), ("running_var", torch.ones),
                           ("smoothed_mean", torch.zeros), ("smoothed_var", torch.ones)]:
            self.register_buffer(name, init(nb, dim))
        self.register_buffer("epoch", torch.zeros((), dtype=torch.long))
        self.register_buffer("_sum", torch.zeros(nb, dim))
        self.register_buffer("_sumsq", torch.zeros(nb, dim))
        self.register_buffer("_n", torch.zeros(nb))

    def _smooth(self, stats: torch.Tensor) -> torch.Tensor:
        half = self.kernel.numel() // 2
        padded = torch.nn.functional.pad(stats.T.unsqueeze(1), (half, half), mode="replicate")
        return torch.nn.functional.conv1d(padded, self.kernel.view(1, 1, -1)).squeeze(1).T

    @torch.no_grad()
    def accumulate(self, features: torch.Tensor, y: torch.Tensor) -> None:
        idx = self.bins.index(y)
        f = features.detach().float()
        self._sum.index_add_(0, idx, f)
        self._sumsq.index_add_(0, idx, f * f)
        self._n.index_add_(0, idx, torch.ones_like(idx, dtype=torch.float32))

    @torch.no_grad()
    def update(self) -> None:
        seen = self._n >= self.min_samples
        if seen.any():
            n = self._n[seen].unsqueeze(1)
            mean = self._sum[seen] / n
            var = (self._sumsq[seen] / n - mean**2).clamp_min(1e-6)
            m = self.momentum if self.epoch > 0 else 0.0
            self.running_mean[seen] = m * self.running_mean[seen] + (1 - m) * mean
            self.running_var[seen] = m * self.running_var[seen] + (1 - m) * var
        self.smoothed_mean.copy_(self._smooth(self.running_mean))
        self.smoothed_var.copy_(self._smooth(self.running_var))
        self._sum.zero_()
        self._sumsq.zero_()
        self._n.zero_()
        self.epoch += 1

    def forward(self, features: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        if not self.training or y is None or int(self.epoch) < self.start_epoch:
            return features
        known = torch.isfinite(y)
        idx = self.bins.index(torch.where(known, y, torch.zeros_like(y)))
        f = features.float()
        # Whiten with the bin's running statistics, re-colour with the smoothed ones; the
        # scale is bounded so that a sparsely populated bin cannot blow features up.
        scale = (self.smoothed_var[idx].clamp_min(1e-4) / self.running_var[idx].clamp_min(1e-4)
                 ).sqrt().clamp(0.2, 5.0)
        out = (f - self.running_mean[idx]) * scale + self.smoothed_mean[idx]
        # Samples without a Dmax (bulk glasses with no measured value) pass unchanged.
        return torch.where(known.unsqueeze(1), out, f).to(features.dtype)

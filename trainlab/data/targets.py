"""Standardized regression targets (``data.target_scale: zscore``, the default for regression).

Targets far from unit scale make the first gradients huge (the MSE's gradient is 2(ŷ − y)/n, and a
fresh network predicts ŷ ≈ 0), so the run trains on t = (y − μ)/σ with μ, σ per target column of the
training split; the loss is then in standardized units, every other metric in the targets' own units
(ŷ = t̂·σ + μ), and ``predict`` returns ŷ in those units from the μ, σ saved in each checkpoint
(tensors ``target.mean``, ``target.std``).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

PREFIX = "target."  # checkpoint tensor names: target.mean, target.std


@dataclass
class TargetScale:
    """t = (y − μ)/σ per target column (σ = 1 where the column is constant)."""

    mean: torch.Tensor
    std: torch.Tensor

    @classmethod
    def fit(cls, y: np.ndarray) -> TargetScale:
        y = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
        std = y.std(axis=0)
        return cls(torch.as_tensor(y.mean(axis=0)), torch.as_tensor(np.where(std > 0, std, 1.0)))

    def __call__(self, y: torch.Tensor) -> torch.Tensor:
        """Standardize targets y (n, k)."""
        return (y - self.mean.to(y.device, y.dtype)) / self.std.to(y.device, y.dtype)

    def invert(self, t: torch.Tensor) -> torch.Tensor:
        """Back to the targets' units: y = t·σ + μ."""
        return t * self.std.to(t.device, t.dtype) + self.mean.to(t.device, t.dtype)

    def unscaled(self, metric: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> Callable:
        """``metric`` computed in the targets' own units from standardized outputs and targets."""
        return lambda out, y: metric(self.invert(out), self.invert(y))

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {f"{PREFIX}mean": self.mean.double(), f"{PREFIX}std": self.std.double()}

    @classmethod
    def from_tensors(cls, tensors: dict[str, torch.Tensor]) -> TargetScale | None:
        """The scale saved in a checkpoint's tensors, or None if the run did not scale its targets."""
        if f"{PREFIX}mean" not in tensors:
            return None
        return cls(tensors[f"{PREFIX}mean"], tensors[f"{PREFIX}std"])

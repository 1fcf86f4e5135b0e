"""Input preprocessing by name, fitted on the training split only and saved with the model.

A preprocessor's fitted statistics are tensors (``state_dict``), stored in every checkpoint, so
prediction applies exactly the transform the model was trained with.
"""
from __future__ import annotations

import torch

from trainlab.registry import preprocessors


class Preprocessor:
    """Base: ``fit`` on training inputs, then ``__call__`` on any inputs of the same shape."""

    def __init__(self) -> None:
        self.stats: dict[str, torch.Tensor] = {}

    def fit(self, x: torch.Tensor) -> "Preprocessor":
        return self

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def state_dict(self) -> dict[str, torch.Tensor]:
        return dict(self.stats)

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.stats = dict(state)


@preprocessors.register("none")
class Identity(Preprocessor):
    """No preprocessing: x ↦ x."""


@preprocessors.register("zscore")
class ZScore(Preprocessor):
    """Standardize each feature: x ↦ (x − μ) / σ, with μ, σ of the training split (σ = 1 where 0)."""

    def fit(self, x: torch.Tensor) -> "ZScore":
        std = x.std(dim=0, unbiased=False)
        self.stats = {"mean": x.mean(dim=0), "std": torch.where(std > 0, std, torch.ones_like(std))}
        return self

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.stats["mean"].to(x.device)) / self.stats["std"].to(x.device)


@preprocessors.register("minmax")
class MinMax(Preprocessor):
    """Scale each feature to [low, high]: x ↦ low + (high − low)(x − min)/(max − min), training min/max."""

    def __init__(self, low: float = 0.0, high: float = 1.0):
        super().__init__()
        if not low < high:
            raise ValueError(f"minmax needs low < high, got low={low}, high={high}")
        self.low, self.high = low, high

    def fit(self, x: torch.Tensor) -> "MinMax":
        lo, hi = x.min(dim=0).values, x.max(dim=0).values
        span = torch.where(hi > lo, hi - lo, torch.ones_like(hi))
        self.stats = {"min": lo, "span": span}
        return self

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        unit = (x - self.stats["min"].to(x.device)) / self.stats["span"].to(x.device)
        return self.low + (self.high - self.low) * unit

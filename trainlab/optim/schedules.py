"""Learning-rate schedules by name: torch.optim.lr_scheduler behind recipe names.

A factory returns a torch scheduler, or None when the rate never changes (no work per step).
The Trainer steps it once per epoch or once per optimizer step, as the recipe's
``schedule.interval`` says; ``t`` below counts those intervals from 0.
"""
from __future__ import annotations

import torch
from torch.optim.lr_scheduler import LRScheduler, StepLR

from trainlab.registry import schedules


@schedules.register("constant")
def constant(optimizer: torch.optim.Optimizer) -> LRScheduler | None:
    """Constant rate: η_t = η₀."""
    return None


@schedules.register("step")
def step(optimizer: torch.optim.Optimizer, step_size: int = 10, gamma: float = 0.5) -> LRScheduler:
    """Step decay: η_t = η₀ · γ^⌊t/s⌋ with s = ``step_size`` (γ = 0.5 halves the rate every s)."""
    if step_size < 1:
        raise ValueError(f"step_size must be at least 1, got {step_size}")
    return StepLR(optimizer, step_size=step_size, gamma=gamma)

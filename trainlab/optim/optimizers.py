"""Optimizers by name: torch.optim's implementations behind names a recipe can use.

Weight decay is applied to weights only: biases and normalization parameters (every parameter
with fewer than two dimensions) go to a group with ``weight_decay=0``.
"""
from __future__ import annotations

import torch
from torch import nn

from trainlab.registry import optimizers


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Two groups: weights (decayed) and biases/normalization parameters (never decayed)."""
    weights = [p for p in model.parameters() if p.requires_grad and p.dim() >= 2]
    others = [p for p in model.parameters() if p.requires_grad and p.dim() < 2]
    return [{"params": weights, "weight_decay": weight_decay}, {"params": others, "weight_decay": 0.0}]


@optimizers.register("sgd")
def sgd(model: nn.Module, lr: float, momentum: float = 0.0, nesterov: bool = False,
        weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """Stochastic gradient descent: w ← w − η∇L; with momentum μ: v ← μv + ∇L, w ← w − ηv
    (Nesterov: w ← w − η(∇L + μv)). ``weight_decay`` adds λw to the gradient of weights only."""
    return torch.optim.SGD(param_groups(model, weight_decay), lr=lr, momentum=momentum, nesterov=nesterov)


@optimizers.register("adam")
def adam(model: nn.Module, lr: float, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
         weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """Adam: m ← β₁m + (1−β₁)g, v ← β₂v + (1−β₂)g², w ← w − η·m̂/(√v̂ + ε) with bias-corrected
    m̂ = m/(1−β₁ᵗ), v̂ = v/(1−β₂ᵗ). ``weight_decay`` adds λw to the gradient of weights only."""
    return torch.optim.Adam(param_groups(model, weight_decay), lr=lr, betas=betas, eps=eps)

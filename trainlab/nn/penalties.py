"""Penalties on weights by name: J = L + λ·R(W).

R sums over weight tensors only (parameters with two or more dimensions): biases and
batch-norm parameters are never penalized. torch has no built-in L1 penalty, hence these.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from trainlab.registry import penalties

Penalty = Callable[[list[torch.Tensor]], torch.Tensor]


def penalized_weights(model: nn.Module) -> list[torch.Tensor]:
    """The weight tensors a penalty applies to (never biases or normalization parameters)."""
    return [p for p in model.parameters() if p.requires_grad and p.dim() >= 2]


@penalties.register("l2")
def l2() -> Penalty:
    """L2 (ridge): R(W) = Σ W²; its gradient is 2λW."""
    return lambda weights: sum(w.square().sum() for w in weights)


@penalties.register("l1")
def l1() -> Penalty:
    """L1 (lasso): R(W) = Σ |W|; its (sub)gradient is λ·sign(W), which drives weights to exact zeros."""
    return lambda weights: sum(w.abs().sum() for w in weights)


def make_penalty(model: nn.Module, specs: list[tuple[str, float, dict]]) -> Callable[[], torch.Tensor] | None:
    """A function returning Σ λ_k R_k(W) for ``(name, λ, params)`` specs, or None for none."""
    if not specs:
        return None
    weights = penalized_weights(model)
    terms = [(penalties.get(name).factory(**params), weight) for name, weight, params in specs]
    return lambda: sum(weight * term(weights) for term, weight in terms)

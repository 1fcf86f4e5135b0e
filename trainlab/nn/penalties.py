"""Penalties on weights by name: J = L + Σ_k λ·m_k·R(W_k), added to the loss (coupled).

R sums over weight tensors only (parameters with two or more dimensions): biases, batch-norm
parameters and PReLU's α are never penalized. ``m_k`` is an optional per-layer multiplier of λ.
torch has no built-in L1 or elastic-net penalty (and its ``weight_decay`` is L2 only), so all
three are written here. Convention: L2 is R = ΣW², whose gradient is 2λW (not ½ΣW²).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from trainlab.registry import penalties

Penalty = Callable[[list[torch.Tensor]], torch.Tensor]  # R: the weight tensors → a scalar


def penalized_weights(model: nn.Module) -> list[torch.Tensor]:
    """The weight tensors a penalty applies to (never biases or normalization parameters), in
    ``model.parameters()`` order: the order of ``per_layer`` multipliers."""
    return [p for p in model.parameters() if p.requires_grad and p.dim() >= 2]


@penalties.register("l2")
def l2() -> Penalty:
    """L2 (ridge): R(W) = Σ W²; its gradient is 2λW (the convention here: no ½ in front).

    Coupled: the term is added to the loss, so adaptive optimizers rescale it like the loss
    gradient. For decoupled weight decay use the optimizer's ``weight_decay`` instead.
    """
    return lambda weights: sum(w.square().sum() for w in weights)


@penalties.register("l1")
def l1() -> Penalty:
    """L1 (lasso): R(W) = Σ |W|; its (sub)gradient is λ·sign(W) (0 at W = 0), driving weights to exact zeros."""
    return lambda weights: sum(w.abs().sum() for w in weights)


@penalties.register("elastic_net")
def elastic_net(beta: float = 1.0) -> Penalty:
    """Elastic net: R(W) = Σ (β·W² + |W|), β = ``beta``; its (sub)gradient is λ·(2βW + sign(W)).

    The lectures' form: the L1 part gives sparsity, the L2 part (weighted by β relative to it)
    spreads weight over correlated inputs.
    """
    if beta < 0:
        raise ValueError(f"elastic_net needs beta >= 0, got {beta}")
    return lambda weights: sum(beta * w.square().sum() + w.abs().sum() for w in weights)


PenaltySpec = tuple[str, float, dict[str, Any]] | tuple[str, float, dict[str, Any], Sequence[float] | None]


def make_penalty(model: nn.Module, specs: Sequence[PenaltySpec]) -> Callable[[], torch.Tensor] | None:
    """A function returning Σ_spec Σ_k λ·m_k·R(W_k) over :func:`penalized_weights`, or None for no specs.

    Each spec is ``(name, λ, params, per_layer)``: a registered penalty, its weight λ, its
    parameters (validated against the factory's signature) and ``per_layer``, None (every m_k = 1)
    or one multiplier (≥ 0) per penalized weight tensor. ``per_layer`` may be left out. Returns
    None too when no term remains (every coefficient λ·m_k is 0, or the model has no weights).

    Example::

        >>> model = nn.Sequential(nn.Linear(2, 3, bias=False), nn.Linear(3, 1))
        >>> _ = [nn.init.ones_(w) for w in penalized_weights(model)]
        >>> round(make_penalty(model, [("l2", 0.1, {}, [1.0, 10.0])])().item(), 4)  # 0.1·(6 + 10·3)
        3.6
    """
    if not specs:
        return None
    weights = penalized_weights(model)
    # Everything that does not change between steps is worked out once: (R, coefficient, tensors).
    terms: list[tuple[Penalty, float, list[torch.Tensor]]] = []
    for name, weight, params, *rest in specs:
        entry = penalties.get(name)
        penalty = entry.factory(**entry.validate(params))
        per_layer = rest[0] if rest else None
        if per_layer is None:
            terms.append((penalty, float(weight), weights))
            continue
        if len(per_layer) != len(weights):
            raise ValueError(f"penalty '{name}': per_layer has {len(per_layer)} multipliers "
                             f"for {len(weights)} penalized weight tensors")
        if any(m < 0 for m in per_layer):
            raise ValueError(f"penalty '{name}': per_layer multipliers must be >= 0, got {list(per_layer)}")
        terms += [(penalty, float(weight) * m, [w]) for m, w in zip(per_layer, weights)]
    terms = [term for term in terms if term[1] != 0 and term[2]]  # nothing to compute for these
    if not terms:
        return None
    return lambda: sum(coefficient * penalty(ws) for penalty, coefficient, ws in terms)

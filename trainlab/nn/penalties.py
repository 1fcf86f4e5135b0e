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

    This is Keras' ``l2(λ)`` and seed 001's λΣW². Seeds 000, 003 and 004 write the penalty with a
    ½ in front, (λ/2)‖W‖², whose gradient is λW: a λ taken from those notes is ``weight: λ/2`` here
    (and torch's ``weight_decay`` λ adds λW to the gradient, the same as ``weight: λ/2``).

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


class Proximal:
    """Marks a penalty applied as a proximal step after each optimizer step, not as a loss term."""

    def __init__(self, threshold: Callable[[torch.Tensor, float], None]):
        self.threshold = threshold  # (W, η·λ) → None, in place


@penalties.register("l1_proximal")
def l1_proximal() -> Proximal:
    """L1 by proximal gradient (ISTA): after each step W ← sign(W)·max(|W| − ηλ, 0), giving exact zeros.

    Minimizes the same J = L + λΣ|W| as ``l1``, but the soft-threshold sets small weights to exactly
    0 instead of letting the subgradient λ·sign(W) make them oscillate around 0. η is the rate of
    the weight's parameter group, so the step is the exact proximal operator for SGD; with adaptive
    optimizers it is the usual approximation. torch has no proximal step, hence written here.
    """

    def threshold(w: torch.Tensor, step: float) -> None:
        w.copy_(w.sign() * (w.abs() - step).clamp_min(0))

    return Proximal(threshold)


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
    terms = [(p, c, ws) for p, c, ws in _terms(model, specs) if not isinstance(p, Proximal)]
    if not terms:
        return None
    return lambda: sum(coefficient * penalty(ws) for penalty, coefficient, ws in terms)


def make_proximal_step(model: nn.Module, specs: Sequence[PenaltySpec],
                       optimizer: torch.optim.Optimizer) -> Callable[[], None] | None:
    """The step to run after every optimizer step for the proximal penalties in ``specs`` (None if none):
    each weight gets its penalty's threshold with step η·λ·m_k, η read from its parameter group."""
    terms = [(p, c, ws) for p, c, ws in _terms(model, specs) if isinstance(p, Proximal)]
    if not terms:
        return None
    group_of = {id(p): group for group in optimizer.param_groups for p in group["params"]}

    @torch.no_grad()
    def step() -> None:
        for penalty, coefficient, weights in terms:
            for w in weights:
                penalty.threshold(w, group_of[id(w)]["lr"] * coefficient)

    return step


def _terms(model: nn.Module, specs: Sequence[PenaltySpec]) -> list[tuple[Any, float, list[torch.Tensor]]]:
    """(R, coefficient λ·m_k, tensors) per term, worked out once; terms with nothing to do are dropped."""
    weights = penalized_weights(model)
    terms: list[tuple[Any, float, list[torch.Tensor]]] = []
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
    return [term for term in terms if term[1] != 0 and term[2]]

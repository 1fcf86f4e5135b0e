"""Activation functions by name: torch's own modules, and LeCun's scaled tanh written here.

The factories' keyword parameters are the recipe parameters (``{name: leaky_relu, alpha: 0.1}``).
Every call of :func:`make_activation` returns a new module, so learned parameters (PReLU's α)
are never shared between layers.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from trainlab.registry import activations

LECUN_SCALE = 1.7159  # LeCun's constant: f(±1) = ±1 for f(x) = 1.7159·tanh(2x/3)


class LeCunTanh(nn.Module):
    """f(x) = 1.7159·tanh(2x/3) + a·x (LeCun et al., Efficient BackProp, 1998).

    The constants make f(±1) ≈ ±1 and the gain at the origin ≈ 1.14, so unit-variance inputs keep
    roughly unit variance; the optional linear term ``a·x`` avoids flat spots far from the origin.
    """

    def __init__(self, a: float = 0.0):
        super().__init__()
        self.a = a

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = LECUN_SCALE * torch.tanh(x * (2.0 / 3.0))
        return y if self.a == 0 else y + self.a * x

    def extra_repr(self) -> str:
        return f"a={self.a}"


@activations.register("sigmoid", bounded=True, max_derivative=0.25)
def sigmoid() -> nn.Module:
    """Logistic sigmoid: σ(x) = 1 / (1 + e^-x), bounded in (0, 1); derivative at most 1/4."""
    return nn.Sigmoid()


@activations.register("tanh", bounded=True, max_derivative=1.0)
def tanh() -> nn.Module:
    """Hyperbolic tangent: tanh(x) = (e^x − e^-x) / (e^x + e^-x), bounded in (-1, 1)."""
    return nn.Tanh()


@activations.register("lecun_tanh", bounded=True, max_derivative=1.1439)  # 1.7159 · 2/3 at a = 0
def lecun_tanh(a: float = 0.0) -> nn.Module:
    """LeCun's scaled tanh: f(x) = 1.7159·tanh(2x/3) + a·x; bounded in (−1.7159, 1.7159) when a = 0.

    Hand-written (:class:`LeCunTanh`): torch has no such module. ``a`` is the slope of the optional
    linear term (LeCun suggests a small one, e.g. 0.01, to avoid flat spots).
    """
    return LeCunTanh(a)


@activations.register("relu", can_die=True)  # zero output and gradient for z ≤ 0
def relu() -> nn.Module:
    """ReLU: f(x) = max(0, x)."""
    return nn.ReLU()


@activations.register("leaky_relu")
def leaky_relu(alpha: float = 0.01) -> nn.Module:
    """Leaky ReLU: f(x) = x for x > 0, α·x otherwise (α = ``alpha``, typically in [0.01, 0.3]).

    The negative side keeps a gradient α, so units cannot die as ReLU units can.
    """
    return nn.LeakyReLU(negative_slope=alpha)


@activations.register("rrelu")
def rrelu(lower: float = 1 / 8, upper: float = 1 / 3) -> nn.Module:
    """Randomized leaky ReLU: f(x) = x for x > 0, α·x otherwise, α ~ U(lower, upper) per element in training.

    At evaluation α is fixed to (lower + upper) / 2 (torch's ``nn.RReLU``).
    """
    if not 0 <= lower <= upper:
        raise ValueError(f"rrelu needs 0 <= lower <= upper, got lower={lower}, upper={upper}")
    return nn.RReLU(lower=lower, upper=upper)


@activations.register("prelu")
def prelu(init: float = 0.25) -> nn.Module:
    """Parametric ReLU: f(x) = x for x > 0, α·x otherwise, with α learned (one per layer, starting at ``init``).

    α is a one-element parameter, so weight penalties (which act on tensors of two or more
    dimensions) leave it alone.
    """
    return nn.PReLU(num_parameters=1, init=init)


@activations.register("elu")
def elu(alpha: float = 1.0) -> nn.Module:
    """ELU: f(x) = x for x > 0, α·(e^x − 1) otherwise (α = ``alpha``); saturates at −α."""
    return nn.ELU(alpha=alpha)


@activations.register("selu")
def selu() -> nn.Module:
    """SELU: f(x) = λ·x for x > 0, λ·α·(e^x − 1) otherwise, λ ≈ 1.0507, α ≈ 1.6733 (self-normalizing)."""
    return nn.SELU()


def make_activation(spec: str | Mapping[str, Any]) -> nn.Module:
    """A new activation module from a registered name or a mapping ``{"name": ..., **params}``.

    The parameters are validated against the factory's signature (``pydantic.ValidationError``
    for an unknown or ill-typed one); an unknown name raises :class:`trainlab.registry.UnknownName`,
    a mapping without a ``name`` ``TypeError``.

    Example::

        >>> make_activation({"name": "leaky_relu", "alpha": 0.1})
        LeakyReLU(negative_slope=0.1)
    """
    return activations.make(spec)


def activation_bounds(module: nn.Module) -> tuple[float, float] | None:
    """The open output range (low, high) of a bounded activation module, or None if unbounded.

    sigmoid → (0, 1); tanh → (-1, 1); lecun_tanh with a = 0 → (-1.7159, 1.7159). Used to
    measure saturation (the fraction of outputs near a bound).
    """
    if isinstance(module, nn.Sigmoid):
        return (0.0, 1.0)
    if isinstance(module, nn.Tanh):
        return (-1.0, 1.0)
    if isinstance(module, LeCunTanh) and module.a == 0:
        return (-LECUN_SCALE, LECUN_SCALE)
    return None


_RELU_FAMILY = (nn.ReLU, nn.LeakyReLU, nn.RReLU, nn.PReLU, nn.ELU, nn.SELU)


def is_relu_family(module: nn.Module) -> bool:
    """Whether ``module`` is a rectifier: (a multiple of) the identity for x > 0.

    True for ReLU, Leaky ReLU, RReLU, PReLU, ELU and SELU; False for the saturating sigmoid,
    tanh and LeCun tanh. Of these only ReLU has zero gradient for every x < 0 (units can die).
    """
    return isinstance(module, _RELU_FAMILY)


def activation_fact(name: str | None, fact: str) -> Any:
    """What an activation's registration states (``bounded``, ``max_derivative``, ``can_die``), or
    None for an activation that does not state it or is not registered.

    >>> activation_fact("sigmoid", "max_derivative"), activation_fact("relu", "can_die"), activation_fact("elu", "can_die")
    (0.25, True, None)
    """
    return activations.get(name).facts.get(fact) if name and name in activations else None

"""Activation functions by name (torch's own modules, wrapped)."""
from __future__ import annotations

from torch import nn

from trainlab.registry import activations


@activations.register("relu")
def relu() -> nn.Module:
    """ReLU: max(0, x)."""
    return nn.ReLU()


@activations.register("tanh")
def tanh() -> nn.Module:
    """Hyperbolic tangent: (e^x - e^-x) / (e^x + e^-x), bounded in (-1, 1)."""
    return nn.Tanh()


@activations.register("sigmoid")
def sigmoid() -> nn.Module:
    """Logistic sigmoid: 1 / (1 + e^-x), bounded in (0, 1); derivative at most 1/4."""
    return nn.Sigmoid()


def make_activation(name: str) -> nn.Module:
    """A new activation module for the registered ``name``."""
    return activations.get(name).factory()

"""Weight initializers by name. Every initializer except ``default`` sets biases to zero.

Each works on the weight tensor ``W`` of a Linear or Conv layer, with ``n_in = fan_in`` and
``n_out = fan_out`` as torch computes them (for convolutions the kernel size multiplies the
channel counts). The scaled initializers (LeCun, Glorot/Xavier, He/Kaiming, truncated normal)
take ``mode``, the fan ``n`` their variance divides by::

    fan_in: n = n_in      fan_out: n = n_out      fan_avg: n = (n_in + n_out) / 2

With their default modes they draw exactly what torch's ``xavier_*_`` and ``kaiming_*_`` draw
(same formula, same random stream); torch's functions have no ``mode`` for Xavier, no
``fan_avg`` for He, and torch has no LeCun initializer, so all of them are written here once,
as variance scaling: Var(W) = scale / n, sampled with ``nn.init.normal_`` / ``uniform_``.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, Literal

import torch
from torch import nn

from trainlab.registry import initializers

Mode = Literal["fan_in", "fan_out", "fan_avg"]
Initializer = Callable[[torch.Tensor], Any]  # fills a weight tensor in place

_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
TRUNCATION = 2.0  # the truncated normal redraws values beyond this many σ


def fan(weight: torch.Tensor, mode: Mode) -> float:
    """The fan ``n`` of ``weight`` for ``mode`` (see the module docstring)."""
    fan_in, fan_out = nn.init._calculate_fan_in_and_fan_out(weight)
    return {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]


def variance_scaling(scale: float, mode: Mode, distribution: Literal["normal", "uniform"]) -> Initializer:
    """An initializer with Var(W) = scale / n: N(0, scale/n), or U(±√(3·scale/n)) for ``uniform``."""

    @torch.no_grad()
    def init(weight: torch.Tensor) -> None:
        std = math.sqrt(scale / fan(weight, mode))
        if distribution == "normal":
            nn.init.normal_(weight, 0.0, std)
        else:
            bound = math.sqrt(3.0) * std  # U(-b, b) has variance b²/3
            nn.init.uniform_(weight, -bound, bound)

    return init


def apply_init(model: nn.Module, spec: str | Mapping[str, Any]) -> None:
    """Initialise every Linear/Conv layer of ``model`` with an initializer, and zero its biases.

    ``spec`` is a registered name or a mapping ``{"name": ..., **params}``; the parameters are
    validated against the factory's signature (``pydantic.ValidationError`` if unknown or ill-typed;
    ``TypeError`` for a mapping without a ``name``).

    Example::

        >>> layer = nn.Linear(1000, 500)
        >>> apply_init(layer, {"name": "he_normal", "mode": "fan_in"})
        >>> round(layer.weight.var().item() * 1000, 1), layer.bias.abs().max().item()
        (2.0, 0.0)
    """
    init_weight = initializers.make(spec)
    if init_weight is None:  # torch's defaults
        return
    for layer in model.modules():
        if isinstance(layer, _LAYERS):
            init_weight(layer.weight)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)


@initializers.register("default")
def default() -> None:
    """torch's default: W, b ~ U(±1/√n_in) (Kaiming uniform with a=√5); biases are not zeroed.

    Returns None, which tells :func:`apply_init` to leave the layers as torch built them.
    """


@initializers.register("zeros")
def zeros() -> Initializer:
    """All zeros: W = 0. Every unit of a layer computes the same function forever (the symmetry problem)."""
    return nn.init.zeros_


@initializers.register("normal")
def normal(std: float = 0.01) -> Initializer:
    """Small Gaussian: W ~ N(0, std²), by default N(0, 0.01²) (activations shrink with depth)."""
    return lambda weight: nn.init.normal_(weight, 0.0, std)


@initializers.register("standard_normal")
def standard_normal() -> Initializer:
    """Standard Gaussian: W ~ N(0, 1) (tanh and sigmoid units saturate)."""
    return lambda weight: nn.init.normal_(weight, 0.0, 1.0)


@initializers.register("lecun_normal")
def lecun_normal(mode: Mode = "fan_in") -> Initializer:
    """LeCun normal: W ~ N(0, 1/n), n = n_in by default (keeps the variance through tanh-like units).

    Hand-written: torch has no LeCun initializer.
    """
    return variance_scaling(1.0, mode, "normal")


@initializers.register("xavier_normal")
def xavier_normal(mode: Mode = "fan_avg") -> Initializer:
    """Glorot/Xavier normal: W ~ N(0, 1/n), with the default n = (n_in+n_out)/2 that is N(0, 2/(n_in+n_out)).

    Same draws as torch's ``nn.init.xavier_normal_`` for ``fan_avg``.
    """
    return variance_scaling(1.0, mode, "normal")


@initializers.register("xavier_uniform")
def xavier_uniform(mode: Mode = "fan_avg") -> Initializer:
    """Glorot/Xavier uniform: W ~ U(±√(3/n)), with the default n = (n_in+n_out)/2 that is U(±√(6/(n_in+n_out))).

    Same draws as torch's ``nn.init.xavier_uniform_`` for ``fan_avg``.
    """
    return variance_scaling(1.0, mode, "uniform")


@initializers.register("he_normal")
def he_normal(mode: Mode = "fan_in") -> Initializer:
    """He/Kaiming normal: W ~ N(0, 2/n), n = n_in by default (keeps the variance through ReLUs).

    Same draws as torch's ``nn.init.kaiming_normal_(nonlinearity="relu")`` for ``fan_in``/``fan_out``.
    """
    return variance_scaling(2.0, mode, "normal")


@initializers.register("he_uniform")
def he_uniform(mode: Mode = "fan_in") -> Initializer:
    """He/Kaiming uniform: W ~ U(±√(6/n)), n = n_in by default; variance 2/n as for he_normal.

    Same draws as torch's ``nn.init.kaiming_uniform_(nonlinearity="relu")`` for ``fan_in``/``fan_out``.
    """
    return variance_scaling(2.0, mode, "uniform")


@initializers.register("truncated_normal")
def truncated_normal(std: float | None = None, mode: Mode = "fan_in") -> Initializer:
    """Truncated normal: W ~ N(0, σ²) with values beyond ±2σ redrawn; σ = ``std``, or √(1/n) if not given.

    ``mode`` picks n only when ``std`` is not given. Truncation shrinks the variance to
    ≈ 0.774·σ². Uses torch's ``nn.init.trunc_normal_`` with a = −2σ, b = 2σ.
    """

    @torch.no_grad()
    def init(weight: torch.Tensor) -> None:
        sigma = std if std is not None else math.sqrt(1.0 / fan(weight, mode))
        nn.init.trunc_normal_(weight, 0.0, sigma, -TRUNCATION * sigma, TRUNCATION * sigma)

    return init


@initializers.register("xavier")
def xavier(mode: Mode = "fan_avg") -> Initializer:
    """Alias of ``xavier_normal``: W ~ N(0, 2/(n_in+n_out)) (kept for existing recipes)."""
    return xavier_normal(mode)


@initializers.register("he")
def he(mode: Mode = "fan_in") -> Initializer:
    """Alias of ``he_normal``: W ~ N(0, 2/n_in) (kept for existing recipes)."""
    return he_normal(mode)

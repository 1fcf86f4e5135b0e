"""Model builders by name: MLP, the MNIST-1D 1-D CNN and a small 2-D CNN.

Every builder takes the data's ``input_shape`` (one example, without the batch axis) and
``n_outputs`` (classes, or regression targets) from the run, and its own parameters from the
recipe's ``model`` section.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from trainlab.nn.activations import make_activation
from trainlab.registry import models


def _rates(dropout: float | list[float], n_layers: int) -> list[float]:
    rates = [dropout] * n_layers if isinstance(dropout, (int, float)) else list(dropout)
    if len(rates) != n_layers:
        raise ValueError(f"dropout has {len(rates)} rates for {n_layers} hidden layers")
    if any(not 0 <= p < 1 for p in rates):
        raise ValueError(f"dropout rates must lie in [0, 1), got {rates}")
    return rates


@models.register("mlp")
def mlp(
    input_shape: tuple[int, ...],
    n_outputs: int,
    hidden: list[int] = [100, 100],  # noqa: B006  (read-only default shown in `trainlab list`)
    activation: str = "relu",
    dropout: float | list[float] = 0.0,
    batchnorm: bool = False,
) -> nn.Module:
    """Multilayer perceptron: [Linear → (BatchNorm) → activation → (Dropout)] × len(hidden) → Linear.

    With ``batchnorm`` the Linear layer before each BN has no bias (BN's β replaces it).
    ``dropout`` is one rate for every hidden layer or a list with one rate per layer
    (inverted dropout: h ⊙ η / p_keep, η ~ Bernoulli(p_keep), off at evaluation).
    """
    rates = _rates(dropout, len(hidden))
    layers: list[nn.Module] = [nn.Flatten()]
    width = math.prod(input_shape)
    for units, rate in zip(hidden, rates):
        layers.append(nn.Linear(width, units, bias=not batchnorm))
        if batchnorm:
            layers.append(nn.BatchNorm1d(units))
        layers.append(make_activation(activation))
        if rate > 0:
            layers.append(nn.Dropout(rate))
        width = units
    layers.append(nn.Linear(width, n_outputs))
    return nn.Sequential(*layers)


class _Channels(nn.Module):
    """Adds a channel axis to inputs without one: (batch, *spatial) → (batch, 1, *spatial)."""

    def __init__(self, spatial_dims: int):
        super().__init__()
        self.spatial_dims = spatial_dims

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.unsqueeze(1) if x.dim() == self.spatial_dims + 1 else x


@models.register("cnn1d")
def cnn1d(
    input_shape: tuple[int, ...],
    n_outputs: int,
    channels: int = 25,
    activation: str = "relu",
    dropout: float = 0.0,
) -> nn.Module:
    """The MNIST-1D paper's small 1-D CNN: conv(5, stride 2) → conv(3, s2) → conv(3, s2) → Linear.

    Greydanus (2020), "Scaling down deep learning": 3 convolutions of ``channels`` filters each.
    """
    length = input_shape[-1]
    in_channels = input_shape[0] if len(input_shape) == 2 else 1
    layers: list[nn.Module] = [_Channels(1)]
    for kernel in (5, 3, 3):
        layers += [nn.Conv1d(in_channels, channels, kernel, stride=2, padding=1), make_activation(activation)]
        in_channels = channels
        length = (length + 2 - kernel) // 2 + 1
    layers.append(nn.Flatten())
    if dropout > 0:
        layers.append(nn.Dropout(dropout))
    layers.append(nn.Linear(channels * length, n_outputs))
    return nn.Sequential(*layers)


@models.register("cnn2d")
def cnn2d(
    input_shape: tuple[int, ...],
    n_outputs: int,
    channels: list[int] = [32, 64],  # noqa: B006
    activation: str = "relu",
    dropout: float = 0.0,
    batchnorm: bool = False,
) -> nn.Module:
    """Small 2-D CNN: [conv 3×3 → (BN) → activation → max-pool 2] per entry of ``channels`` →
    global average pool → (Dropout) → Linear. Inputs are (channels, height, width) or (height, width)."""
    in_channels = input_shape[0] if len(input_shape) == 3 else 1
    layers: list[nn.Module] = [] if len(input_shape) == 3 else [_Channels(2)]
    for out_channels in channels:
        layers.append(nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=not batchnorm))
        if batchnorm:
            layers.append(nn.BatchNorm2d(out_channels))
        layers += [make_activation(activation), nn.MaxPool2d(2, ceil_mode=True)]
        in_channels = out_channels
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    if dropout > 0:
        layers.append(nn.Dropout(dropout))
    layers.append(nn.Linear(in_channels, n_outputs))
    return nn.Sequential(*layers)

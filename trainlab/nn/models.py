"""Model builders by name: MLP, the MNIST-1D 1-D CNN and a small 2-D CNN.

Every builder takes the data's ``input_shape`` (one example, without the batch axis) and
``n_outputs`` (classes, or regression targets) from the run, and its own parameters from the
recipe's ``model`` section.

Regularizers shared by the builders, each inserted only when switched on (a default model has
none of these layers):

- **Batch normalization** (``batchnorm``): x̂ = (x − μ_B)/√(σ_B² + ε), y = γx̂ + β; evaluation
  uses moving averages μ̂_t = α μ̂_{t-1} + (1 − α) μ_t (and likewise σ̂²). ``bn_momentum`` is
  torch's ``momentum``, the weight of the *current* batch: ``bn_momentum = 1 − α`` (0.1 ↔ α = 0.9;
  Keras' ``momentum`` is α itself). The layer before BN has no bias (BN's β replaces it).
- **Inverted dropout** (``dropout``): h ⊙ η / p_keep, η ~ Bernoulli(p_keep), p_keep = 1 − rate;
  off at evaluation (torch's ``nn.Dropout``).
- **Gaussian noise** (``input_noise``, ``hidden_noise``): x + ε, ε ~ N(0, σ²), in training only
  (:class:`trainlab.nn.noise.GaussianNoise`).
- **Augmentation** (``augment``): random flips, shifts and rotations in training only
  (:class:`trainlab.nn.augment.Augment`).
"""
from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from trainlab.nn.activations import make_activation
from trainlab.nn.augment import ImageAugmentSpec, SignalAugmentSpec, make_augment
from trainlab.nn.noise import noise_layers
from trainlab.registry import models

Activation = str | dict[str, Any]  # a registered name or {"name": ..., **params}, for make_activation


def _per_layer(value: float | list[float], n_layers: int, what: str, noun: str) -> list[float]:
    values = [value] * n_layers if isinstance(value, (int, float)) else list(value)
    if len(values) != n_layers:
        raise ValueError(f"{what} has {len(values)} {noun} for {n_layers} hidden layers")
    return values


def _rates(dropout: float | list[float], n_layers: int) -> list[float]:
    rates = _per_layer(dropout, n_layers, "dropout", "rates")
    if any(not 0 <= p < 1 for p in rates):
        raise ValueError(f"dropout rates must lie in [0, 1), got {rates}")
    return rates


def _batchnorm(kind: type[nn.Module], features: int, momentum: float) -> nn.Module:
    if not 0 < momentum <= 1:
        raise ValueError(f"bn_momentum (torch's momentum, 1 − α) must lie in (0, 1], got {momentum}")
    return kind(features, momentum=momentum)


@models.register("mlp")
def mlp(
    input_shape: tuple[int, ...],
    n_outputs: int,
    hidden: list[int] = [100, 100],  # noqa: B006  (read-only default shown in `trainlab list`)
    activation: Activation = "relu",
    dropout: float | list[float] = 0.0,
    batchnorm: bool = False,
    bn_momentum: float = 0.1,
    input_noise: float = 0.0,
    hidden_noise: float | list[float] = 0.0,
) -> nn.Module:
    """Multilayer perceptron: (Noise) → [Linear → (BN) → activation → (Noise) → (Dropout)] × len(hidden) → Linear.

    With ``batchnorm`` the Linear layer before each BN has no bias (BN's β replaces it); BN's
    moving averages follow μ̂_t = α μ̂_{t-1} + (1 − α) μ_t with ``bn_momentum`` = 1 − α (torch's
    ``momentum``: 0.1 means α = 0.9). ``dropout`` is one rate for every hidden layer or a list
    with one rate per layer (inverted dropout: h ⊙ η / p_keep, η ~ Bernoulli(p_keep), off at
    evaluation). ``input_noise`` and ``hidden_noise`` (one σ, or one per hidden layer) add
    N(0, σ²) noise to the inputs and to each hidden activation, in training only.
    """
    rates = _rates(dropout, len(hidden))
    noises = _per_layer(hidden_noise, len(hidden), "hidden_noise", "standard deviations")
    layers: list[nn.Module] = [*noise_layers(input_noise), nn.Flatten()]
    width = math.prod(input_shape)
    for units, rate, std in zip(hidden, rates, noises):
        layers.append(nn.Linear(width, units, bias=not batchnorm))
        if batchnorm:
            layers.append(_batchnorm(nn.BatchNorm1d, units, bn_momentum))
        layers += [make_activation(activation), *noise_layers(std)]
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
    activation: Activation = "relu",
    dropout: float = 0.0,
    batchnorm: bool = False,
    bn_momentum: float = 0.1,
    input_noise: float = 0.0,
    augment: SignalAugmentSpec | None = None,
) -> nn.Module:
    """The MNIST-1D paper's small 1-D CNN: conv(5, stride 2) → conv(3, s2) → conv(3, s2) → Linear.

    Greydanus (2020), "Scaling down deep learning": 3 convolutions of ``channels`` filters each.
    Options (all off by default, as in the paper): ``batchnorm`` after each convolution (which then
    has no bias; ``bn_momentum`` = 1 − α as for ``mlp``), N(0, σ²) ``input_noise`` and
    ``augment: {shift: k}``, random translations by up to k samples (zeros fill in), both in
    training only.
    """
    length = input_shape[-1]
    in_channels = input_shape[0] if len(input_shape) == 2 else 1
    layers: list[nn.Module] = [_Channels(1), *make_augment(augment, 1), *noise_layers(input_noise)]
    for kernel in (5, 3, 3):
        layers.append(nn.Conv1d(in_channels, channels, kernel, stride=2, padding=1, bias=not batchnorm))
        if batchnorm:
            layers.append(_batchnorm(nn.BatchNorm1d, channels, bn_momentum))
        layers.append(make_activation(activation))
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
    activation: Activation = "relu",
    dropout: float = 0.0,
    batchnorm: bool = False,
    bn_momentum: float = 0.1,
    input_noise: float = 0.0,
    augment: ImageAugmentSpec | None = None,
) -> nn.Module:
    """Small 2-D CNN: (Augment) → (Noise) → [conv 3×3 → (BN) → activation → max-pool 2] per entry of
    ``channels`` → global average pool → (Dropout) → Linear. Inputs are (channels, height, width) or
    (height, width).

    ``bn_momentum`` = 1 − α in BN's moving averages μ̂_t = α μ̂_{t-1} + (1 − α) μ_t (torch's
    ``momentum``). ``augment`` is e.g. ``{flip: 0.5, shift: 2, rotate: 10}``: left-right flips with
    probability 0.5, shifts by up to 2 pixels, rotations by up to 10 degrees, drawn per example on
    the device; ``input_noise`` adds N(0, σ²) to the (augmented) pixels. Both act in training only.
    """
    in_channels = input_shape[0] if len(input_shape) == 3 else 1
    layers: list[nn.Module] = [] if len(input_shape) == 3 else [_Channels(2)]
    layers += [*make_augment(augment, 2), *noise_layers(input_noise)]
    for out_channels in channels:
        layers.append(nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=not batchnorm))
        if batchnorm:
            layers.append(_batchnorm(nn.BatchNorm2d, out_channels, bn_momentum))
        layers += [make_activation(activation), nn.MaxPool2d(2, ceil_mode=True)]
        in_channels = out_channels
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    if dropout > 0:
        layers.append(nn.Dropout(dropout))
    layers.append(nn.Linear(in_channels, n_outputs))
    return nn.Sequential(*layers)


@models.register("python", import_path="factory")
def python(input_shape: tuple[int, ...], n_outputs: int, factory: str, activation: Activation = "relu",
           **params: Any) -> nn.Module:
    """Your own model by import path: ``factory: "mypkg.models:make_net"`` (a function or an
    ``nn.Module`` class) plus its own parameters. It receives ``input_shape`` (one example's shape),
    ``n_outputs`` (classes or targets) and ``activation`` only if it declares them, and must return an
    ``nn.Module`` mapping a batch (n, *input_shape) to (n, n_outputs)."""
    _, (entry, _) = models.resolve("python", {"factory": factory})
    if not entry.declares("activation") and activation != "relu":
        raise ValueError(f"model.activation: '{factory}' does not take an activation; remove the key or add an "
                         "`activation` parameter to the factory")
    model = entry.build({"input_shape": input_shape, "n_outputs": n_outputs, "activation": activation}, params)
    if not isinstance(model, nn.Module):
        raise ValueError(f"model.factory '{factory}' returned {type(model).__name__}, not a torch nn.Module")
    return model


@models.register("instance")
def instance(input_shape: tuple[int, ...], n_outputs: int, activation: Activation = "relu") -> nn.Module:
    """A module handed over from Python (``trainlab.fit(x, y, model=net)``, ``run_recipe(…, model=net)``);
    it is trained in place, with its own activations (``activation`` must stay unset). A recipe file
    cannot build it: pass the module again to ``resume_run`` and ``load_model``."""
    raise ValueError("model 'instance' is a module given from Python; pass it again: "
                     "trainlab.resume_run(run_dir, model=net) or trainlab.load_model(run_dir, model=net)")

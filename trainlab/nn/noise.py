"""Gaussian noise injection, a regularizer, in training only: on inputs and hidden units
(:class:`GaussianNoise`, x ↦ x + ε) and on the weights (:func:`add_weight_noise`, W ↦ W + ε),
ε ~ N(0, σ²). Seed 004 lists all three.

Written here because torch has no noise layer. The noise is drawn with ``torch.randn_like``, so it
comes from torch's global generator of the tensor's device (seeded by ``torch.manual_seed``, hence by
the recipe's ``seed``) and is saved and restored with the run's RNG state.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class GaussianNoise(nn.Module):
    """Adds independent N(0, σ²) noise to every element in training mode; the identity in eval mode.

    .. math::

        y = x + σ ε, \\quad ε \\sim N(0, 1) \\text{ elementwise}

    Args:
        std: σ, the noise's standard deviation in the units of the input (≥ 0; 0 is the identity).

    Example::

        >>> _ = torch.manual_seed(0)
        >>> noise = GaussianNoise(0.5)
        >>> round((noise(torch.zeros(100_000))).std().item(), 2)
        0.5
        >>> noise.eval()(torch.ones(3))
        tensor([1., 1., 1.])
    """

    def __init__(self, std: float):
        super().__init__()
        if not std >= 0:
            raise ValueError(f"noise std must be >= 0, got {std}")
        self.std = float(std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.std == 0:
            return x
        return x + self.std * torch.randn_like(x)

    def extra_repr(self) -> str:
        return f"std={self.std}"


def noise_layers(std: float) -> list[nn.Module]:
    """``[GaussianNoise(std)]``, or ``[]`` for ``std == 0`` so that no noise costs nothing."""
    return [GaussianNoise(std)] if std else []


def perturbed(weight: torch.Tensor, std: float, training: bool) -> torch.Tensor:
    """W + σε, ε ~ N(0, 1) elementwise, in training; W itself otherwise. The gradient flows to W
    unchanged (∂(W + σε)/∂W = I), so each step's gradient is the loss's at the perturbed weights."""
    return weight + std * torch.randn_like(weight) if training and std > 0 else weight


class WeightNoise:
    """Marks a layer whose weights are perturbed in training forward passes (:func:`add_weight_noise`)."""

    weight_std: float = 0.0


class NoisyLinear(nn.Linear, WeightNoise):
    """nn.Linear computing y = x(W + σε)ᵀ + b in training (ε ~ N(0, 1), drawn anew per forward pass);
    y = xWᵀ + b in evaluation. The bias is not perturbed."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, perturbed(self.weight, self.weight_std, self.training), self.bias)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, weight_std={self.weight_std}"


class NoisyConv1d(nn.Conv1d, WeightNoise):
    """nn.Conv1d convolving with W + σε in training (ε ~ N(0, 1) per forward pass), with W in evaluation."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, perturbed(self.weight, self.weight_std, self.training), self.bias)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, weight_std={self.weight_std}"


class NoisyConv2d(nn.Conv2d, WeightNoise):
    """nn.Conv2d convolving with W + σε in training (ε ~ N(0, 1) per forward pass), with W in evaluation."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, perturbed(self.weight, self.weight_std, self.training), self.bias)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, weight_std={self.weight_std}"


def _noisy_twin(layer: nn.Module) -> nn.Module | None:
    """The noisy class's layer with ``layer``'s settings, built on the meta device (no memory, no
    random numbers drawn), or None for a layer without weights to perturb."""
    if type(layer) is nn.Linear:
        return NoisyLinear(layer.in_features, layer.out_features, bias=layer.bias is not None, device="meta")
    kind = {nn.Conv1d: NoisyConv1d, nn.Conv2d: NoisyConv2d}.get(type(layer))
    if kind is None:
        return None
    return kind(layer.in_channels, layer.out_channels, layer.kernel_size, stride=layer.stride, padding=layer.padding,
                dilation=layer.dilation, groups=layer.groups, bias=layer.bias is not None,
                padding_mode=layer.padding_mode, device="meta")


def add_weight_noise(model: nn.Module, std: float) -> int:
    """Weight noise: every Linear, Conv1d and Conv2d layer of ``model`` computes with W + ε,
    ε ~ N(0, σ²) drawn anew at every training forward pass and shared by the batch's examples
    (evaluation uses W). Returns the number
    of layers changed; ``std == 0`` changes nothing.

    .. math::

        \\tilde W = W + σ ε, \\quad ε \\sim N(0, 1), \\qquad
        \\nabla_W L(\\tilde W) = \\nabla_{\\tilde W} L

    Each layer is replaced in place by a noisy twin holding the *same* parameter objects, so the
    state dict's keys, the initialization, penalties, probes and the optimizer see the plain W and
    a checkpoint loads into a model built without noise. The noise comes from torch's global
    generator (the recipe's seed). torch has no weight-noise layer, hence written here.

    Example::

        >>> _ = torch.manual_seed(0)
        >>> net = nn.Sequential(nn.Linear(1, 20_000, bias=False))
        >>> add_weight_noise(net, 0.5)
        1
        >>> _ = nn.init.zeros_(net[0].weight)
        >>> round(net(torch.ones(1, 1)).std().item(), 2), net.eval()(torch.ones(1, 1)).abs().max().item()
        (0.5, 0.0)
    """
    if not std >= 0:
        raise ValueError(f"weight_noise must be a standard deviation >= 0, got {std}")
    if std == 0:
        return 0
    changed = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            twin = _noisy_twin(child)
            if twin is None:
                continue
            twin.weight, twin.bias = child.weight, child.bias  # the same Parameters: nothing copied
            twin.weight_std = float(std)
            twin.train(child.training)
            setattr(parent, name, twin)
            changed += 1
    if not changed:
        raise ValueError(f"weight_noise {std}: the model has no Linear, Conv1d or Conv2d layer to perturb")
    return changed

"""Gaussian noise injection, a regularizer: x ↦ x + ε, ε ~ N(0, σ²), in training only.

Written here because torch has no noise layer. The noise is drawn with ``torch.randn_like``, so it
comes from torch's global generator of the tensor's device (seeded by ``torch.manual_seed``, hence by
the recipe's ``seed``) and is saved and restored with the run's RNG state.
"""
from __future__ import annotations

import torch
from torch import nn


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

"""The notes' initialization experiment (seed 001, after CS231n), shared by labs C1–C4.

A plain MLP of ``DEPTH`` hidden layers × ``WIDTH`` units, biases 0, weights from a named
initializer; ``EXAMPLES`` inputs x ~ N(0, 1) of ``WIDTH`` features go through it once, and
:func:`~trainlab.diagnose.forward_stats.activation_statistics` measures every hidden layer.
"""
from __future__ import annotations

from typing import Any

import torch

from trainlab import registry
from trainlab.diagnose.forward_stats import LayerActivations, activation_statistics
from trainlab.nn.init import apply_init

DEPTH, WIDTH, EXAMPLES = 10, 500, 1000  # "10 capas, 500 neuronas por capa"; 1000 examples as in CS231n
QUICK_SEEDS, FULL_SEEDS = (0,), tuple(range(10))


def deep_activations(activation: str | dict[str, Any], init: str | dict[str, Any], seed: int = 0,
                     keep_values: bool = False) -> list[LayerActivations]:
    """Per-hidden-layer statistics of one forward pass of N(0, 1) inputs through the notes' deep MLP."""
    torch.manual_seed(seed)
    model = registry.models.make({"name": "mlp", "hidden": [WIDTH] * DEPTH, "activation": activation},
                                 input_shape=(WIDTH,), n_outputs=10)
    apply_init(model, init)
    x = torch.randn(EXAMPLES, WIDTH)
    return [s for s in activation_statistics(model, x, keep_values) if s.activation]


def mean_over_seeds(activation: str | dict[str, Any], init: str | dict[str, Any], seeds: tuple[int, ...],
                    field: str = "std") -> list[float]:
    """``field`` per hidden layer, averaged over ``seeds`` (one network and input draw per seed)."""
    runs = [[getattr(s, field) for s in deep_activations(activation, init, seed)] for seed in seeds]
    return [sum(layer) / len(layer) for layer in zip(*runs)]

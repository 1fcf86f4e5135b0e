"""The notes' initialization experiment (seed 001, after CS231n), shared by labs C1–C4.

A plain MLP of ``DEPTH`` hidden layers × ``WIDTH`` units, biases 0, weights from a named
initializer; ``EXAMPLES`` inputs x ~ N(0, 1) of ``WIDTH`` features go through it once, and
:func:`~trainlab.diagnose.forward_stats.activation_statistics` measures every hidden layer.
One seed draws one network and one input batch; the labs judge per-seed quantities.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

import torch

from trainlab import registry
from trainlab.diagnose.forward_stats import LayerActivations, activation_statistics
from trainlab.nn.init import apply_init

DEPTH, WIDTH, EXAMPLES = 10, 500, 1000  # "10 capas, 500 neuronas por capa"; 1000 examples as in CS231n


def deep_activations(activation: str | dict[str, Any], init: str | dict[str, Any], seed: int = 0,
                     keep_values: bool = False) -> list[LayerActivations]:
    """Per-hidden-layer statistics of one forward pass of N(0, 1) inputs through the notes' deep MLP."""
    torch.manual_seed(seed)
    model = registry.models.make({"name": "mlp", "hidden": [WIDTH] * DEPTH, "activation": activation},
                                 input_shape=(WIDTH,), n_outputs=10)
    apply_init(model, init)
    x = torch.randn(EXAMPLES, WIDTH)
    return [s for s in activation_statistics(model, x, keep_values) if s.activation]


@dataclass
class SeedRuns:
    """One network per seed: ``per_seed[field][i][l]`` is layer l+1's statistic for ``seeds[i]``;
    ``first`` keeps the first seed's layers with their values (for the histograms)."""

    seeds: tuple[int, ...]
    per_seed: dict[str, list[list[float]]]
    first: list[LayerActivations]

    def median(self, field: str = "std") -> list[float]:
        """``field`` per layer, the median over seeds."""
        return [statistics.median(layer) for layer in zip(*self.per_seed[field])]


def over_seeds(activation: str | dict[str, Any], init: str | dict[str, Any], seeds: tuple[int, ...],
               fields: tuple[str, ...] = ("std",)) -> SeedRuns:
    """The notes' network once per seed; the statistics ``fields`` of every hidden layer."""
    runs = [deep_activations(activation, init, seed, keep_values=(i == 0)) for i, seed in enumerate(seeds)]
    return SeedRuns(seeds, {f: [[getattr(s, f) for s in run] for run in runs] for f in fields}, runs[0])

"""Per-layer activation statistics of one forward pass: the lectures' "activations per layer" experiment.

For each Linear/Conv layer l (numbered 1..L in ``model.modules()`` order) with pre-activation
z = W·h_{l-1} + b and activation output h = f(z) — f the first activation module after the layer,
as :func:`trainlab.diagnose.probes.find_layers` pairs them; h = z for a layer with none, such as
the output layer — over all examples, units and positions:

.. math::

    \\text{mean} = \\bar h, \\quad \\text{std} = \\sqrt{\\overline{(h - \\bar h)^2}}, \\quad
    \\text{pre\\_std} = \\sqrt{\\overline{(z - \\bar z)^2}}

    \\text{saturated} = \\tfrac{1}{n}\\#\\{|h - c| > r - 0.01\\max(|lo|, |hi|)\\}, \\quad
    c = \\tfrac{lo + hi}{2},\\ r = \\tfrac{hi - lo}{2}

    \\text{dead} = \\tfrac{1}{U}\\#\\{u : h_u \\le 0 \\text{ on every example and position}\\}

with (lo, hi) a bounded activation's range (tanh: |h| > 0.99; NaN for unbounded activations) and
u the U units (features of a Linear layer, channels of a Conv layer; NaN unless the activation is
ReLU-family). These are the definitions the training-time probes use (the same function computes
them), measured here on a whole data set in evaluation mode, without gradients, after which the
model is back in the mode it was in.

Example::

    >>> import torch
    >>> from torch import nn
    >>> _ = torch.manual_seed(0)
    >>> model = nn.Sequential(nn.Linear(500, 500), nn.Tanh(), nn.Linear(500, 2))
    >>> _ = nn.init.normal_(model[0].weight, 0.0, 0.01)
    >>> _ = nn.init.zeros_(model[0].bias)
    >>> stats = activation_statistics(model, torch.randn(1000, 500))
    >>> [(s.layer, s.activation, round(s.std, 2)) for s in stats][:1]
    [(1, 'tanh', 0.21)]
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from trainlab.diagnose.probes import activation_stats, find_layers


@dataclass
class LayerActivations:
    """Statistics of one layer's activations h (and pre-activations z) on a data set."""

    layer: int  # 1-based
    name: str  # e.g. "Linear 500→500"
    activation: str  # registry name of the activation after the layer; "" for none
    mean: float
    std: float
    saturated: float  # fraction of h within 1 % of a bound; NaN for unbounded activations
    dead: float  # fraction of units with h <= 0 on every example; NaN unless ReLU-family
    pre_mean: float
    pre_std: float
    values: torch.Tensor | None = None  # h itself (examples, …) on the CPU, when asked for

    def to_dict(self) -> dict[str, float | int | str]:
        """The numbers (not the values), NaN as None, ready for JSON."""
        numbers = {"mean": self.mean, "std": self.std, "saturated": self.saturated, "dead": self.dead,
                   "pre_mean": self.pre_mean, "pre_std": self.pre_std}
        return {"layer": self.layer, "name": self.name, "activation": self.activation,
                **{k: None if math.isnan(v) else v for k, v in numbers.items()}}


@torch.no_grad()
def activation_statistics(model: nn.Module, x: torch.Tensor, keep_values: bool = False) -> list[LayerActivations]:
    """One forward pass of ``x`` (examples, …) through ``model`` in evaluation mode; per Linear/Conv
    layer the statistics in the module docstring, and with ``keep_values`` the activations themselves
    (for histograms). Hooks are removed and the training mode restored whatever happens."""
    layers = find_layers(model)
    outputs: dict[int, torch.Tensor] = {}  # id(module) → its output
    hooks = []
    for layer in layers:
        for module in (layer.module, layer.activation):
            if module is not None:
                # cloned: an in-place activation (ReLU(inplace=True)) would overwrite the layer's output
                hooks.append(module.register_forward_hook(
                    lambda m, _inputs, out: outputs.__setitem__(id(m), out.detach().clone())))
    was_training = model.training
    model.eval()
    try:
        model(x)
    finally:
        for hook in hooks:
            hook.remove()
        model.train(was_training)
    result = []
    for layer in layers:
        z = outputs.get(id(layer.module))
        if z is None:  # a layer the forward pass did not reach
            continue
        h = outputs.get(id(layer.activation), z) if layer.activation is not None else z
        if layer.activation is not None:
            mean, std, saturated, dead = (float(v) for v in activation_stats(h, layer.activation, layer.unit_dim))
        else:
            std_t, mean_t = torch.std_mean(h.float(), correction=0)
            mean, std, saturated, dead = mean_t.item(), std_t.item(), math.nan, math.nan
        pre_std, pre_mean = (v.item() for v in torch.std_mean(z.float(), correction=0))
        result.append(LayerActivations(layer.index, layer.name, layer.activation_name, mean, std, saturated, dead,
                                       pre_mean, pre_std, h.float().cpu() if keep_values else None))
    return result

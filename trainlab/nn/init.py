"""Weight initializers by name. Every initializer sets biases to zero.

Each works on the weight matrix ``W`` of a Linear or Conv layer, with
``n_in = fan_in`` and ``n_out = fan_out`` as torch computes them (for convolutions the kernel
size multiplies the channel counts).
"""
from __future__ import annotations

from torch import nn

from trainlab.registry import initializers

_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d)


def apply_init(model: nn.Module, name: str) -> None:
    """Initialise every Linear/Conv layer of ``model`` with the registered initializer ``name``."""
    init_weight = initializers.get(name).factory()
    if init_weight is None:  # torch's defaults
        return
    for layer in model.modules():
        if isinstance(layer, _LAYERS):
            init_weight(layer.weight)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)


@initializers.register("default")
def default():
    """torch's default: U(±1/√n_in) for weights and biases (Kaiming uniform with a=√5)."""
    return None


@initializers.register("xavier")
def xavier():
    """Glorot/Xavier normal: W ~ N(0, 2/(n_in+n_out)); biases 0."""
    return nn.init.xavier_normal_


@initializers.register("he")
def he():
    """He/Kaiming normal: W ~ N(0, 2/n_in); biases 0."""
    return lambda w: nn.init.kaiming_normal_(w, mode="fan_in", nonlinearity="relu")

"""Learning-rate schedules by name: torch.optim.lr_scheduler behind recipe names.

A factory takes the optimizer and the recipe's parameters and returns a torch scheduler, or None
when the rate never changes (no work per step). The Trainer steps it once per epoch or once per
optimizer step, as the recipe's ``schedule.interval`` says; ``t`` in the formulas counts those
intervals from 0 and η₀ is ``optim.lr``. Metric-driven schedules (:func:`needs_metric`) are
stepped once per epoch with the monitored value. Every scheduler's ``state_dict()`` is plain
JSON-able data, and loading it into a freshly built scheduler (after the optimizer's state)
continues the same rates.

The schedules live in four modules: decay (a fixed function of t), cyclic, adaptive (metric-driven)
and warm-up; this module imports them, which registers every name.
"""
from __future__ import annotations

# Imported in catalogue order, which is the registration order that `trainlab list` and the docs show.
from trainlab.optim.schedules_decay import (
    constant,
    darken_moody,
    exponential,
    piecewise,
    power,
    step,
    stochastic_approx,
    time_decay,
)

# isort: split
from trainlab.optim.schedules_cyclic import cyclic, one_cycle, sgdr

# isort: split
from trainlab.optim.schedules_adaptive import HintonAdaptive, hinton_adaptive, plateau

# isort: split
from trainlab.optim.schedules_base import needs_metric
from trainlab.optim.schedules_warmup import Warmup, warmup, with_warmup

__all__ = [
    "HintonAdaptive", "Warmup", "constant", "cyclic", "darken_moody", "exponential", "hinton_adaptive",
    "needs_metric", "one_cycle", "piecewise", "plateau", "power", "sgdr", "step", "stochastic_approx",
    "time_decay", "warmup", "with_warmup",
]

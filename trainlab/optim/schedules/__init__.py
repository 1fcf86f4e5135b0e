"""Learning-rate schedules by name: torch.optim.lr_scheduler behind recipe names.

A factory takes the optimizer and the recipe's parameters and returns a torch scheduler, or None
when the rate never changes (no work per step). The Trainer steps it once per epoch or once per
optimizer step, as the recipe's ``schedule.interval`` says; ``t`` in the formulas counts those
intervals from 0 and η₀ is ``optim.lr``. Metric-driven schedules (:func:`needs_metric`) are
stepped once per epoch with the monitored value. Every scheduler's ``state_dict()`` is plain
JSON-able data, and loading it into a freshly built scheduler (after the optimizer's state)
continues the same rates.

The schedules live in four modules of this package — decay (a fixed function of t), cyclic,
adaptive (metric-driven) and warm-up — beside base (what they share). :data:`CATALOGUE` lists them
in the order their names are registered, which is the order `trainlab list` and the docs show.
"""
from __future__ import annotations

import importlib

CATALOGUE = ("decay", "cyclic", "adaptive", "warmup")  # registration order: the catalogue's order
for _module in CATALOGUE:
    importlib.import_module(f"{__name__}.{_module}")

from trainlab.optim.schedules.adaptive import HintonAdaptive, hinton_adaptive, plateau  # noqa: E402
from trainlab.optim.schedules.base import monitored, needs_metric  # noqa: E402
from trainlab.optim.schedules.cyclic import cyclic, one_cycle, sgdr  # noqa: E402
from trainlab.optim.schedules.decay import (  # noqa: E402
    constant,
    darken_moody,
    exponential,
    linear_decay,
    piecewise,
    power,
    step,
    stochastic_approx,
    time_decay,
)
from trainlab.optim.schedules.warmup import Warmup, warmup, with_warmup  # noqa: E402

__all__ = [
    "CATALOGUE", "HintonAdaptive", "Warmup", "constant", "cyclic", "darken_moody", "exponential", "hinton_adaptive",
    "linear_decay",
    "monitored", "needs_metric", "one_cycle", "piecewise", "plateau", "power", "sgdr", "step", "stochastic_approx",
    "time_decay", "warmup", "with_warmup",
]

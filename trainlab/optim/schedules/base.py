"""Shared pieces of the learning-rate schedules: parameter checks, per-group scales, the metric contract.

Rates that a schedule takes as absolute values (piecewise ``rates``, cyclic bounds, the 1cycle peak,
floors and ceilings) are rates for the optimizer's base rate η₀ = ``optim.lr``. A parameter group
with a rate of its own (``lr_fan_in``: η/√fan_in per layer) gets them times its scale
``group_lr / η₀``, so every schedule keeps the ratios between layers.
"""
from __future__ import annotations

import torch
from torch.optim.lr_scheduler import LRScheduler


def require(ok: bool, name: str, value: object, what: str) -> None:
    """Raise ``ValueError("<name> must be <what>, got <value>")`` unless ``ok``."""
    if not ok:
        raise ValueError(f"schedule parameter {name} must be {what}, got {value!r}")


def base_rate(optimizer: torch.optim.Optimizer) -> float:
    """η₀: the rate the optimizer was built with (``optim.lr``)."""
    return float(optimizer.defaults.get("lr", optimizer.param_groups[0]["lr"]))


def group_scales(optimizer: torch.optim.Optimizer) -> list[float]:
    """Each parameter group's initial rate divided by η₀ (1.0 unless layers have rates of their own)."""
    eta0 = base_rate(optimizer)
    return [float(group.get("initial_lr", group["lr"])) / eta0 for group in optimizer.param_groups]


def monitored(scheduler: LRScheduler | None) -> str | None:
    """The key of the epoch logs a metric-driven schedule (``plateau``, ``hinton_adaptive``, or one
    warmed up by :func:`~trainlab.optim.schedules.with_warmup`) is stepped with —
    ``scheduler.step(logs[monitor])`` once per epoch, after validation — or None for the others."""
    return getattr(scheduler, "monitor", None)


def needs_metric(scheduler: LRScheduler | None) -> bool:
    """True for a metric-driven schedule (see :func:`monitored`)."""
    return monitored(scheduler) is not None

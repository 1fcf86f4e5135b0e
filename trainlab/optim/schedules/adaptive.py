"""Metric-driven learning-rate schedules: the rate reacts to a logged value, once per epoch.

Each has ``monitor``, a key of the epoch logs (loss, accuracy, val_loss, val_accuracy, …); the
Trainer calls ``scheduler.step(logs[monitor])`` at the end of every epoch, after validation, so
these schedules need ``interval: epoch``. ``mode: auto`` minimizes losses and maximizes
accuracy-like metrics, as early stopping does. ``plateau`` is torch's ReduceLROnPlateau; torch has
no Hinton-style adaptive global rate, so :class:`HintonAdaptive` is written here.
"""
from __future__ import annotations

import itertools
import math
from typing import Literal

import torch
from torch.optim.lr_scheduler import LRScheduler, ReduceLROnPlateau

from trainlab.optim.schedules.base import group_scales, require
from trainlab.registry import schedules
from trainlab.train.metrics import resolve_mode


@schedules.register("plateau")
def plateau(optimizer: torch.optim.Optimizer, monitor: str = "val_loss", mode: Literal["auto", "min", "max"] = "auto",
            factor: float = 0.1, patience: int = 10, min_delta: float = 1e-4,
            delta_mode: Literal["rel", "abs"] = "rel", cooldown: int = 0, min_lr: float = 0.0) -> LRScheduler:
    """Performance scheduling: multiply the rate by ``factor`` when ``monitor`` stops improving.

    An epoch improves on the best value b when v < b(1 − δ) (``delta_mode: rel``) or v < b − δ
    (``abs``), with δ = ``min_delta`` (mirrored for mode max). After more than ``patience`` epochs
    without improvement: η ← max(factor · η, min_lr), then ``cooldown`` epochs in which nothing is
    counted. torch's ReduceLROnPlateau (threshold = min_delta, threshold_mode = delta_mode).

    Parameters:

    - ``monitor``: the logged value to watch.
    - ``mode``: auto, min or max.
    - ``factor``: the cut (0 < factor < 1).
    - ``patience``: epochs without improvement tolerated (≥ 0).
    - ``min_delta``: δ, the smallest change that counts as improvement (≥ 0).
    - ``delta_mode``: rel or abs.
    - ``cooldown``: epochs to wait after a cut before counting again (≥ 0).
    - ``min_lr``: floor on the rate (for η₀; scaled per layer like the rate).
    """
    require(0 < factor < 1, "factor", factor, "in (0, 1)")
    require(patience >= 0, "patience", patience, "non-negative")
    require(min_delta >= 0, "min_delta", min_delta, "non-negative")
    require(cooldown >= 0, "cooldown", cooldown, "non-negative")
    require(min_lr >= 0, "min_lr", min_lr, "non-negative")
    scheduler = ReduceLROnPlateau(optimizer, mode=resolve_mode(monitor, mode), factor=factor, patience=patience,
                                  threshold=min_delta, threshold_mode=delta_mode, cooldown=cooldown,
                                  min_lr=[min_lr * s for s in group_scales(optimizer)])
    scheduler.monitor = monitor  # part of state_dict, a plain string
    return scheduler


class HintonAdaptive(LRScheduler):
    """Hinton's adaptive global rate: grow it while the error falls steadily, cut it when it rises.

    With v_t the monitored value (negated for mode max) and d_t = v_t − v_{t−1}, after each epoch:
    η ← max(cut · η, min_lr) if d_t > δ (it rose, which includes every up-swing of an oscillation);
    η ← min(grow · η, max_lr) if each of the last ``window`` changes is below −δ (steady fall);
    η unchanged otherwise. Every parameter group is scaled by the same factor.

    Like ReduceLROnPlateau it moves only when ``step(value)`` is called, so ``__init__`` does not
    take LRScheduler's initial step.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, monitor: str, mode: str, grow: float, cut: float,
                 window: int, min_delta: float, min_lrs: list[float], max_lrs: list[float]):
        self.optimizer = optimizer
        self.monitor, self.mode = monitor, resolve_mode(monitor, mode)
        self.grow, self.cut, self.window, self.min_delta = grow, cut, window, min_delta
        self.min_lrs, self.max_lrs = min_lrs, max_lrs
        self.recent: list[float] = []  # the last window + 1 values, in mode-min orientation
        self.last_epoch = 0
        self.base_lrs = [float(group["lr"]) for group in optimizer.param_groups]
        self._last_lr = list(self.base_lrs)

    def step(self, metrics: float) -> None:  # type: ignore[override]
        """Take the epoch's monitored value and adjust the rate."""
        value = float(metrics) if self.mode == "min" else -float(metrics)
        self.recent = (self.recent + [value])[-(self.window + 1):]
        self.last_epoch += 1
        changes = [b - a for a, b in itertools.pairwise(self.recent)]
        if changes and changes[-1] > self.min_delta:
            factor = self.cut
        elif len(changes) == self.window and all(d < -self.min_delta for d in changes):
            factor = self.grow
        else:
            factor = 1.0
        for group, low, high in zip(self.optimizer.param_groups, self.min_lrs, self.max_lrs):
            group["lr"] = min(max(float(group["lr"]) * factor, low), high)
        self._last_lr = [float(group["lr"]) for group in self.optimizer.param_groups]


@schedules.register("hinton_adaptive")
def hinton_adaptive(optimizer: torch.optim.Optimizer, monitor: str = "loss",
                    mode: Literal["auto", "min", "max"] = "auto", grow: float = 1.05, cut: float = 0.5,
                    window: int = 3, min_delta: float = 0.0, min_lr: float = 0.0,
                    max_lr: float | None = None) -> LRScheduler:
    """Hinton's adaptive global rate: ×grow while ``monitor`` falls steadily, ×cut when it rises.

    After each epoch, with d_t the change of the monitored value (sign flipped for mode max):
    η ← cut · η if d_t > δ; η ← grow · η if the last ``window`` changes were all below −δ;
    otherwise η stays. So an oscillating value is cut at each rise and never grows. The rate stays
    within [min_lr, max_lr].

    Parameters:

    - ``monitor``: the logged value to watch (default the training loss, as in Hinton's lecture 6).
    - ``mode``: auto, min or max.
    - ``grow``: factor while the value falls steadily (≥ 1).
    - ``cut``: factor when it rises (0 < cut < 1).
    - ``window``: epochs of steady fall needed before each growth (≥ 1).
    - ``min_delta``: δ, changes within ±δ count as neither fall nor rise (≥ 0).
    - ``min_lr``, ``max_lr``: bounds on the rate (for η₀, scaled per layer; max_lr default unbounded).
    """
    require(grow >= 1, "grow", grow, "at least 1")
    require(0 < cut < 1, "cut", cut, "in (0, 1)")
    require(window >= 1, "window", window, "at least 1")
    require(min_delta >= 0, "min_delta", min_delta, "non-negative")
    require(min_lr >= 0, "min_lr", min_lr, "non-negative")
    require(max_lr is None or max_lr > min_lr, "max_lr", max_lr, f"above min_lr ({min_lr:g})")
    require(mode in ("auto", "min", "max"), "mode", mode, "auto, min or max")
    scales = group_scales(optimizer)
    high = math.inf if max_lr is None else max_lr
    return HintonAdaptive(optimizer, monitor, mode, grow, cut, window, min_delta,
                          min_lrs=[min_lr * s for s in scales], max_lrs=[high * s for s in scales])

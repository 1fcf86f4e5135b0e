"""Linear warm-up, alone (``warmup``) or in front of any other schedule (:func:`with_warmup`).

``warmup`` is torch's LinearLR. :class:`Warmup` is written here instead of using SequentialLR,
which refuses ReduceLROnPlateau, cannot pass a metric on, and ramps towards η₀ rather than to the
wrapped schedule's own first rate (η₀ for most, but base_lr for cyclic, κ for stochastic_approx).
"""
from __future__ import annotations

from typing import Any

import torch
from torch.optim.lr_scheduler import LinearLR, LRScheduler

from trainlab.optim.schedules.base import needs_metric, require
from trainlab.registry import schedules


def _check(steps: int, start_factor: float) -> None:
    require(steps >= 1, "steps", steps, "at least 1")
    require(0 < start_factor <= 1, "start_factor", start_factor, "in (0, 1]")


@schedules.register("warmup")
def warmup(optimizer: torch.optim.Optimizer, steps: int = 5, start_factor: float = 0.1) -> LRScheduler:
    """Linear warm-up, then constant: η_t = η₀ · (f + (1 − f) · min(t, S)/S).

    Parameters:

    - ``steps``: S, intervals of warm-up (≥ 1); η_S = η₀.
    - ``start_factor``: f, the first rate as a fraction of η₀ (0 < f ≤ 1).
    """
    _check(steps, start_factor)
    return LinearLR(optimizer, start_factor=start_factor, end_factor=1.0, total_iters=steps)


class Warmup(LRScheduler):
    """Ramp linearly up to a wrapped schedule's first rate, then run that schedule from its start.

    With S = ``steps``, f = ``start_factor`` and η^in the wrapped schedule:
    η_t = η^in_0 · (f + (1 − f) t/S) for t < S, and η_t = η^in_{t−S} for t ≥ S.
    A metric-driven wrapped schedule (``monitor``) gets the values of epochs S, S+1, … only, as if
    it had started after the warm-up; values passed during the warm-up are ignored.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, inner: LRScheduler, steps: int, start_factor: float):
        _check(steps, start_factor)
        self.optimizer, self.inner = optimizer, inner
        self.steps, self.start_factor = steps, start_factor
        self.monitor = getattr(inner, "monitor", None)  # the Trainer's contract: None unless metric-driven
        self.target_lrs = [float(lr) for lr in inner.get_last_lr()]  # η^in_0, set by the inner's construction
        self.base_lrs = list(self.target_lrs)
        self.last_epoch = -1
        self.step()

    def step(self, metrics: float | None = None) -> None:  # type: ignore[override]
        """Advance one interval; ``metrics`` is passed on to a metric-driven wrapped schedule."""
        self.last_epoch += 1
        t = self.last_epoch
        if t <= self.steps:  # at t = S this hands over at η^in_0, where the inner schedule stands
            fraction = self.start_factor + (1.0 - self.start_factor) * t / self.steps
            for group, target in zip(self.optimizer.param_groups, self.target_lrs):
                group["lr"] = target * fraction
        elif needs_metric(self.inner):
            if metrics is None:
                raise ValueError(f"this schedule monitors '{self.monitor}': call step(logs['{self.monitor}'])")
            self.inner.step(metrics)
        else:
            self.inner.step()
        self._last_lr = [float(group["lr"]) for group in self.optimizer.param_groups]

    def state_dict(self) -> dict[str, Any]:
        """This wrapper's counters and the wrapped schedule's own state under ``inner``."""
        state = {key: value for key, value in self.__dict__.items() if key not in ("optimizer", "inner")}
        return {**state, "inner": self.inner.state_dict()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state = dict(state_dict)
        self.inner.load_state_dict(state.pop("inner"))
        self.__dict__.update(state)


def with_warmup(optimizer: torch.optim.Optimizer, scheduler: LRScheduler | None, steps: int,
                start_factor: float = 0.1) -> LRScheduler | None:
    """``scheduler`` preceded by ``steps`` intervals of linear warm-up from ``start_factor``.

    Returns ``scheduler`` itself when ``steps`` is 0, the ``warmup`` schedule when ``scheduler`` is
    None (constant), and a :class:`Warmup` otherwise; the wrapped schedule starts at t = S (its
    t − S). Build ``scheduler`` on ``optimizer`` just before calling this.

    Example::

        >>> import torch
        >>> from trainlab.optim.schedules import step, with_warmup
        >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        >>> sched = with_warmup(opt, step(opt, step_size=2, gamma=0.5), steps=4, start_factor=0.2)
        >>> rates = []
        >>> for _ in range(8):
        ...     rates.append(round(opt.param_groups[0]["lr"], 3)); opt.step(); sched.step()
        >>> rates
        [0.2, 0.4, 0.6, 0.8, 1.0, 1.0, 0.5, 0.5]
    """
    require(steps >= 0, "steps", steps, "non-negative")
    if steps == 0:
        return scheduler
    if scheduler is None:
        return warmup(optimizer, steps=steps, start_factor=start_factor)
    require(scheduler.optimizer is optimizer, "scheduler", type(scheduler).__name__, "built on the same optimizer")
    return Warmup(optimizer, scheduler, steps, start_factor)

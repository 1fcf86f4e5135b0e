"""The loop's optional parts, as callbacks the run adds only when a recipe needs them.

The Trainer itself only steps, sums and evaluates. Everything a recipe may switch on around the
step is one of these, each with its place in :class:`~trainlab.train.callbacks.Order`:

- :class:`FullBatch`: epochs on the whole training set as one batch (L-BFGS, BFGS, Rprop, or a
  chain's stage that asks for it);
- :class:`ResumeWithinEpoch`: continue an epoch that a checkpoint interrupted;
- :class:`ClipGradients`: clip the gradients by value and/or by norm after every backward pass;
- :class:`ProximalStep`: a step applied after each optimizer step (the L1 proximal step);
- :class:`RecordLosses`: hand each batch's per-example losses to a sampler (hard examples);
- :func:`schedule_step`: step a learning-rate schedule per epoch (with a logged value when it
  monitors one) or per step;
- :class:`ChainAdvance`: tell an optimizer chain that an epoch ended (it may switch stage).

Each takes plain callables, so train/ knows nothing of optimizer, schedule or sampler classes.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch.nn.utils import clip_grad_norm_, clip_grad_value_

from trainlab.errors import TrainlabError
from trainlab.train.callbacks import Callback, LoopState, Order
from trainlab.train.metrics import LossFn, per_example_loss


class FullBatch(Callback):
    """At each epoch's start, ``wanted()`` says whether the epoch is one full batch (a chain's
    answer changes at its switch); the epoch's step count is then 1."""

    order = Order.BATCH_MODE

    def __init__(self, wanted: Callable[[], bool]):
        self.wanted = wanted

    def on_epoch_start(self, state: LoopState) -> None:
        state.full_batch = self.wanted()
        if state.full_batch:
            state.steps_per_epoch = 1


class ResumeWithinEpoch(Callback):
    """Once, at the next epoch's start: skip ``batch`` batches (``seen`` examples) and carry on with
    the loss and metric ``sums`` and the rate ``lr`` the epoch started with. ``replay()`` makes a
    sampler draw the epoch's order from the same source again (hard examples); a full-batch epoch
    has no order to replay."""

    order = Order.RESUME

    def __init__(self, batch: int, seen: int, sums: Sequence[float], lr: float,
                 replay: Callable[[], None] | None = None):
        self.position: dict[str, Any] | None = {"batch": batch, "seen": seen, "sums": list(sums), "lr": lr}
        self.replay = replay

    def on_epoch_start(self, state: LoopState) -> None:
        position, self.position = self.position, None
        if position is None:
            return
        if len(position["sums"]) != len(state.sums):
            raise ValueError(f"expected {len(state.sums)} sums (loss and metrics), got {len(position['sums'])}")
        state.batch, state.seen, state.lr = position["batch"], position["seen"], position["lr"]
        for total, value in zip(state.sums, position["sums"]):
            total.fill_(value)
        if self.replay is not None and not state.full_batch:
            self.replay()


class ClipGradients(Callback):
    """Gradient clipping after every backward pass, before the optimizer (or a probe) reads the
    gradients; with a line search (L-BFGS, BFGS) after every loss evaluation of the step, so the
    step and its line search see the same clipped gradients. torch's clip_grad_value_/clip_grad_norm_:

    - by value (``max_value`` c): g_i ← min(max(g_i, −c), c) for every component;
    - by norm (``max_norm`` τ): g ← g · min(1, τ/‖g‖₂), ‖g‖₂ over all parameters together, so the
      direction is kept and only the length is capped.

    With both, the value clip comes first. Nothing is read back to the host.
    """

    order = Order.CLIP

    def __init__(self, max_norm: float | None = None, max_value: float | None = None):
        if max_norm is None and max_value is None:
            raise ValueError("gradient clipping needs max_norm, max_value or both")
        for name, limit in (("max_norm", max_norm), ("max_value", max_value)):
            if limit is not None and not limit > 0:
                raise ValueError(f"gradient clipping: {name} must be positive, got {limit}")
        self.max_norm, self.max_value = max_norm, max_value

    def after_backward(self, state: LoopState) -> None:
        parameters = [p for p in state.model.parameters() if p.grad is not None]
        if self.max_value is not None:
            clip_grad_value_(parameters, self.max_value)
        if self.max_norm is not None:
            clip_grad_norm_(parameters, self.max_norm)


class ProximalStep(Callback):
    """``apply()`` right after every optimizer step, before anything reads the weights or the
    schedule moves the rate (the proximal L1 step uses the step's own η)."""

    order = Order.STEP

    def __init__(self, apply: Callable[[], None]):
        self.apply = apply

    def after_step(self, state: LoopState) -> None:
        self.apply()


class RecordLosses(Callback):
    """``record(index, losses)`` after every batch: the per-example losses ℓ(out_i, y_i) of the
    examples ``last_index()`` of the batch just trained (what a hard-example sampler draws from)."""

    order = Order.RECORD

    def __init__(self, record: Callable[[torch.Tensor, torch.Tensor], None],
                 last_index: Callable[[], torch.Tensor | None], loss_fn: LossFn):
        self.record, self.last_index, self.loss_fn = record, last_index, loss_fn

    def on_batch_end(self, state: LoopState, loss: torch.Tensor) -> None:
        self.record(self.last_index(), per_example_loss(self.loss_fn, state.out, state.y))


class ScheduleStep(Callback):
    """Steps ``scheduler`` at every epoch's end — with the epoch's logged ``monitor`` value when the
    schedule is metric-driven (plateau, Hinton's adaptive rate). The scheduler's state is saved
    with the run's checkpoints. :class:`ScheduleStepEachBatch` is the per-step variant."""

    order = Order.SCHEDULE

    def __init__(self, scheduler: Any, monitor: str | None = None):
        self.scheduler, self.monitor = scheduler, monitor

    def on_epoch_end(self, state: LoopState) -> None:
        if self.monitor is None:
            self.scheduler.step()
            return
        if self.monitor not in state.logs:
            logged = ", ".join(k for k in state.logs if k not in ("epoch", "lr", "seconds"))
            raise TrainlabError(f"schedule monitors '{self.monitor}', which this run does not log; logged: {logged}")
        self.scheduler.step(state.logs[self.monitor])


class ScheduleStepEachBatch(Callback):
    """Steps ``scheduler`` after every optimizer step (``schedule.interval: step``)."""

    order = Order.SCHEDULE

    def __init__(self, scheduler: Any):
        self.scheduler = scheduler

    def on_batch_end(self, state: LoopState, loss: torch.Tensor) -> None:
        self.scheduler.step()


def schedule_step(scheduler: Any, interval: str = "epoch", monitor: str | None = None) -> Callback:
    """The callback that steps ``scheduler`` per ``interval`` ("epoch" or "step")."""
    if interval not in ("epoch", "step"):
        raise ValueError(f"schedule interval must be 'epoch' or 'step', got {interval!r}")
    if interval == "step":
        if monitor is not None:
            raise ValueError(f"a schedule that monitors '{monitor}' steps once per epoch, not per step")
        return ScheduleStepEachBatch(scheduler)
    return ScheduleStep(scheduler, monitor)


class ChainAdvance(Callback):
    """``advance(epoch, logs)`` at every epoch's end (epoch counted from 1), after the schedule: an
    optimizer chain switches stage there."""

    order = Order.CHAIN

    def __init__(self, advance: Callable[[int, dict[str, float]], None]):
        self.advance = advance

    def on_epoch_end(self, state: LoopState) -> None:
        self.advance(len(state.history), state.logs)

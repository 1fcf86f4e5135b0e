"""The callback protocol: a small set of events the Trainer fires, in one place.

Events, in order: ``on_fit_start`` → (``on_epoch_start`` → per step [``after_backward`` (once per
loss evaluation: a line search evaluates several times) → ``after_step`` → ``on_batch_end``] →
``on_epoch_end``) per epoch → ``on_fit_end``. Every hook receives the :class:`LoopState`.
A callback stops training by setting ``state.should_stop = True``; the Trainer checks the flag
after every batch and every epoch. The per-step events cost nothing unless a callback overrides
them. Callbacks run in ascending ``order`` (an :class:`Order`); ``state_dict``/``load_state_dict``
let a callback's own state travel in checkpoints.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

import torch
from torch import nn

EVENTS = ("on_fit_start", "on_epoch_start", "after_backward", "after_step", "on_batch_end", "on_epoch_end",
          "on_fit_end")


class Order(IntEnum):
    """Where a callback runs among the others at the same event (lowest first). The loop's own
    parts come first, so every later callback sees the step, the rate and the stage they leave."""

    BATCH_MODE = -50  # decides, before anything else at epoch start, whether this epoch is one full batch
    RESUME = -45  # a checkpoint taken inside this epoch: position, sums and rate, before anyone reads them
    CLIP = -42  # clips the gradients right after backward, before a probe or the optimizer reads them
    STEP = -40  # completes the optimizer step (the proximal L1 step) before anything reads the weights
    RECORD = -35  # records the batch's per-example losses for the hard-example sampler
    SCHEDULE = -30  # steps the learning-rate schedule: per step, or per epoch with the epoch's logs
    CHAIN = -20  # moves an optimizer chain to its next stage at the end of an epoch
    DEFAULT = 0
    PROBES = 2  # training-time probes: before the doctor reads their latest rows
    DOCTOR = 3  # the live doctor
    EARLY_STOPPING = 5  # before the checkpointers, so the final checkpoint holds restored weights
    CSV = 10  # metrics.csv
    LINE_SEARCH = 15  # tallies L-BFGS stops before a checkpoint includes the step just taken
    CHECKPOINT = 20  # epoch and in-epoch checkpoints
    BEST = 25  # checkpoints/best
    SNAPSHOTS = 26  # snapshot ensembles: after the checkpointers, never in the way of a resume point
    EVENTS = 30  # events.jsonl
    SEARCH = 50  # a search trial's pruning report


@dataclass
class LoopState:
    """What the loop knows, passed explicitly to every hook."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    epochs: int
    epoch: int = 0  # 0-based index of the current epoch
    step: int = 0  # optimizer steps taken so far
    steps_per_epoch: int = 0
    batch: int = 0  # batches finished in the current epoch
    lr: float = 0.0  # the rate the current epoch started with (its row's lr)
    seen: int = 0  # examples seen in the current epoch
    sums: list[torch.Tensor] = field(default_factory=list)  # the current epoch's loss and metric sums (device)
    logs: dict[str, float] = field(default_factory=dict)  # the last finished epoch's row
    history: list[dict[str, float]] = field(default_factory=list)
    should_stop: bool = False
    stop_reason: str = ""
    full_batch: bool = False  # this epoch trains on the whole training set as one batch (set at epoch start)
    out: torch.Tensor | None = None  # the last batch's outputs (detached) and targets, for on_batch_end
    y: torch.Tensor | None = None


class Callback:
    """Base class; override only the events you need."""

    order: int = Order.DEFAULT

    def on_fit_start(self, state: LoopState) -> None: ...

    def on_epoch_start(self, state: LoopState) -> None: ...

    def after_backward(self, state: LoopState) -> None: ...

    def after_step(self, state: LoopState) -> None: ...

    def on_batch_end(self, state: LoopState, loss: torch.Tensor) -> None: ...

    def on_epoch_end(self, state: LoopState) -> None: ...

    def on_fit_end(self, state: LoopState) -> None: ...

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class LoopAware:
    """Declares that an optimizer needs parts of the loop around its steps (full-batch epochs, a
    chain's switch at an epoch's end). The Trainer adds ``loop_parts()`` to its callbacks, so a
    Trainer built by hand trains such an optimizer exactly as a run built from a recipe does."""

    def loop_parts(self) -> list[Callback]:
        raise NotImplementedError


def overrides(callback: Callback, event: str) -> bool:
    """Whether ``callback`` implements ``event`` (so idle hooks are never called)."""
    return getattr(type(callback), event) is not getattr(Callback, event)


def describe_loop(callbacks: list[Callback]) -> str:
    """The events in firing order, each with the callbacks that handle it."""
    lines = []
    for event in EVENTS:
        names = [type(c).__name__ for c in sorted(callbacks, key=lambda c: c.order) if overrides(c, event)]
        lines.append(f"{event}: {', '.join(names) or '-'}")
    return "\n".join(lines)

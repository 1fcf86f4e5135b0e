"""The callback protocol: a small set of events the Trainer fires, in one place.

Events, in order: ``on_fit_start`` → (``on_epoch_start`` → ``on_batch_end`` per step →
``on_epoch_end``) per epoch → ``on_fit_end``. Every hook receives the :class:`LoopState`.
A callback stops training by setting ``state.should_stop = True``; the Trainer checks the flag
after every batch and every epoch. ``on_batch_end`` costs nothing unless a callback overrides
it. Callbacks run in ascending ``order``; ``state_dict``/``load_state_dict`` let a callback's
own state travel in checkpoints.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

EVENTS = ("on_fit_start", "on_epoch_start", "on_batch_end", "on_epoch_end", "on_fit_end")


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


class Callback:
    """Base class; override only the events you need."""

    order: int = 0

    def on_fit_start(self, state: LoopState) -> None: ...

    def on_epoch_start(self, state: LoopState) -> None: ...

    def on_batch_end(self, state: LoopState, loss: torch.Tensor) -> None: ...

    def on_epoch_end(self, state: LoopState) -> None: ...

    def on_fit_end(self, state: LoopState) -> None: ...

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


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

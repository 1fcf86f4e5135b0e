"""Early stopping and "keep the best checkpoint", as callbacks.

Both watch one logged value per epoch (``val_loss``, ``val_accuracy``, ``loss``, … any column of
``metrics.csv``). An epoch *improves* when the value beats the best so far by more than
``min_delta``: v < best − δ (mode min) or v > best + δ (mode max).
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from trainlab.errors import TrainlabError
from trainlab.train.callbacks import Callback, LoopState, Order
from trainlab.train.metrics import resolve_mode


class _Monitor:
    def __init__(self, monitor: str, mode: str, min_delta: float):
        self.monitor, self.mode, self.min_delta = monitor, resolve_mode(monitor, mode), min_delta
        self.best: float | None = None
        self.best_epoch = 0

    def value(self, state: LoopState) -> float:
        if self.monitor not in state.logs:
            logged = ", ".join(k for k in state.logs if k not in ("epoch", "lr", "seconds"))
            raise TrainlabError(f"'{self.monitor}' is not logged by this run (no validation split?); logged: {logged}")
        return state.logs[self.monitor]

    def improved(self, value: float) -> bool:
        if self.best is None:
            return True
        return value < self.best - self.min_delta if self.mode == "min" else value > self.best + self.min_delta

    def state(self) -> dict[str, Any]:
        return {"best": self.best, "best_epoch": self.best_epoch}

    def load(self, state: dict[str, Any]) -> None:
        self.best, self.best_epoch = state.get("best"), state.get("best_epoch", 0)


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved for ``patience`` epochs (Keras' semantics).

    Counting: an epoch that improves on the best by more than ``min_delta`` resets the wait to 0;
    every other epoch adds 1; training stops at the epoch where the wait reaches ``patience`` — the
    ``patience``-th epoch in a row without improvement (``patience: 0`` stops at the first, as in
    Keras, where 0 and 1 behave alike). The notes (seed 004) use Keras' default ``patience=0``;
    trainlab's default is 10, since a noisy validation curve rarely improves every single epoch.

    With ``restore_best_weights`` the model ends with the weights of the best epoch — whether
    training stopped early or ran all its epochs — before the final checkpoint is written.
    """

    order = Order.EARLY_STOPPING  # before the checkpointers, so the final checkpoint holds the restored weights

    def __init__(self, monitor: str = "val_loss", mode: str = "auto", min_delta: float = 0.0, patience: int = 10,
                 restore_best_weights: bool = False):
        self.watch = _Monitor(monitor, mode, min_delta)
        self.patience, self.restore_best_weights = patience, restore_best_weights
        self.wait = 0
        self.best_weights: dict[str, torch.Tensor] | None = None

    def on_epoch_end(self, state: LoopState) -> None:
        value, watch = self.watch.value(state), self.watch
        if watch.improved(value):
            watch.best, watch.best_epoch, self.wait = value, len(state.history), 0
            if self.restore_best_weights:
                self.best_weights = {k: v.detach().clone() for k, v in state.model.state_dict().items()}
        else:
            self.wait += 1
            if self.wait >= self.patience:
                state.should_stop = True
                state.stop_reason = (f"early stopping: {watch.monitor} did not improve for {self.patience} epochs "
                                     f"after epoch {watch.best_epoch} ({watch.best:.4g})")
        last = state.should_stop or len(state.history) >= state.epochs
        if last and self.best_weights is not None:
            state.model.load_state_dict(self.best_weights)

    def state_dict(self) -> dict[str, Any]:
        tensors = self.best_weights or {}
        return {**self.watch.state(), "wait": self.wait, "tensors": tensors}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.watch.load(state)
        self.wait = state.get("wait", 0)
        self.best_weights = dict(state["tensors"]) if state.get("tensors") else None


class BestCheckpoint(Callback):
    """Keep ``checkpoints/best``: the epoch with the best ``monitor`` value so far; never stops."""

    order = Order.BEST

    def __init__(self, monitor: str, save: Callable[[LoopState], Path], mode: str = "auto", min_delta: float = 0.0):
        self.watch, self.save = _Monitor(monitor, mode, min_delta), save

    def on_epoch_end(self, state: LoopState) -> None:
        value = self.watch.value(state)
        if self.watch.improved(value):
            self.watch.best, self.watch.best_epoch = value, len(state.history)
            self.save(state)

    def state_dict(self) -> dict[str, Any]:
        return self.watch.state()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.watch.load(state)

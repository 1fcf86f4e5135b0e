"""The training loop.

Per step: ``optimizer.step(closure)``, the closure being zero_grad → forward → loss (+ penalty) →
backward → ``after_backward`` callbacks; then ``after_step`` callbacks; then the loss and metric
sums on the device; then ``on_batch_end`` callbacks. Every torch optimizer takes a closure, so
first-order methods and line searches (L-BFGS, BFGS) share one step: the closure runs once, or as
often as the line search asks, and the step logs the loss at the point it started from.

Everything optional around the step is a callback (:mod:`trainlab.train.loop_parts`): full-batch
epochs, schedules, an optimizer chain's switch, the proximal L1 step, hard-example recording,
resuming inside an epoch. Nothing is read back to the host until the epoch ends, when all sums
are read in one transfer; a non-finite loss anywhere in the epoch makes the epoch's loss sum
non-finite, so it is caught there at no per-step cost.
"""
from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Protocol

import torch
from torch import nn

from trainlab.errors import TrainlabError
from trainlab.train.callbacks import EVENTS, Callback, LoopAware, LoopState, overrides
from trainlab.train.loop_parts import ResumeWithinEpoch
from trainlab.train.metrics import LossFn

Batch = tuple[torch.Tensor, torch.Tensor]


class Batches(Protocol):
    """What the Trainer trains and evaluates on (``TensorBatches``, ``LoaderBatches``)."""

    @property
    def n_examples(self) -> int: ...

    def __len__(self) -> int: ...  # batches per epoch

    def epoch(self, epoch: int) -> Iterator[Batch]: ...  # epoch ``epoch``'s batches, in its seeded order

    def whole(self) -> Iterator[Batch]: ...  # the whole set as one batch


class NonFiniteLoss(TrainlabError):
    """The training loss became NaN or infinite."""


class Trainer:
    """Trains ``model`` with ``optimizer`` on batches (``TensorBatches`` or ``LoaderBatches``).

    Example::

        >>> import torch
        >>> from torch import nn
        >>> from trainlab.data.batching import TensorBatches
        >>> from trainlab.train.trainer import Trainer
        >>> from torch.nn import functional as F
        >>> _ = torch.manual_seed(0)
        >>> x = torch.randn(256, 2); y = (x[:, 0] > 0).long()
        >>> model = nn.Linear(2, 2)
        >>> trainer = Trainer(model, torch.optim.SGD(model.parameters(), lr=0.5), F.cross_entropy,
        ...                   metrics={"accuracy": lambda out, y: (out.argmax(1) == y).sum()})
        >>> history = trainer.fit(TensorBatches(x, y, batch_size=32), epochs=5)
        >>> history[-1]["accuracy"] > 0.9
        True
    """

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer, loss_fn: LossFn, *,
                 metrics: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] | None = None,
                 penalty: Callable[[], torch.Tensor] | None = None, callbacks: Sequence[Callback] = ()):
        self.model, self.optimizer, self.loss_fn = model, optimizer, loss_fn
        self.metrics, self.penalty = dict(metrics or {}), penalty
        given = list(callbacks)
        if isinstance(optimizer, LoopAware):  # full batches, a chain's switch: declared by the optimizer
            given += [part for part in optimizer.loop_parts() if type(part) not in {type(c) for c in given}]
        self.callbacks = sorted(given, key=lambda c: c.order)
        self.state = LoopState(model, optimizer, epochs=0)
        self._handlers: dict[str, list[Callback]] = {}

    def resume_within_epoch(self, batch: int, seen: int, sums: Sequence[float], lr: float,
                            replay: Callable[[], None] | None = None) -> None:
        """Make the next :meth:`fit` start its first epoch after ``batch`` batches (``seen``
        examples) with these loss and metric ``sums``; ``lr`` is the rate the epoch started with;
        ``replay`` makes the sampler draw that epoch's order again."""
        if len(sums) != 1 + len(self.metrics):
            raise ValueError(f"expected {1 + len(self.metrics)} sums (loss and metrics), got {len(sums)}")
        others = [c for c in self.callbacks if not isinstance(c, ResumeWithinEpoch)]  # a later restore wins
        self.callbacks = sorted([*others, ResumeWithinEpoch(batch, seen, sums, lr, replay)], key=lambda c: c.order)

    def _resolve(self) -> None:
        """Sort the callbacks (a run may have added some) and list each event's handlers once."""
        self.callbacks.sort(key=lambda c: c.order)
        self._handlers = {event: [c for c in self.callbacks if overrides(c, event)] for event in EVENTS}

    def _fire(self, event: str) -> None:
        for callback in self._handlers[event]:
            getattr(callback, event)(self.state)

    def fit(self, train: Batches, val: Batches | None = None, epochs: int = 1) -> list[dict[str, float]]:
        """Train until ``epochs`` epochs are done (counting those already in ``state.history``)
        or a callback stops; return the history, one dict of logs per epoch."""
        state = self.state
        state.epochs, state.should_stop = epochs, False
        self._resolve()
        self._fire("on_fit_start")
        for epoch in range(len(state.history), epochs):
            self._start_epoch(epoch, len(train))
            batches = train.whole() if state.full_batch else train.epoch(epoch)
            if state.batch:  # resumed inside this epoch: the same seeded order, from the next batch
                batches = itertools.islice(batches, state.batch, None)
            started = time.perf_counter()
            self.model.train()
            self._train_epoch(batches)
            state.logs = self._epoch_logs(epoch, val, started)
            state.history.append(state.logs)
            self._fire("on_epoch_end")
            if state.should_stop:
                break
        self._fire("on_fit_end")
        return state.history

    def _start_epoch(self, epoch: int, steps: int) -> None:
        state, weight = self.state, next(self.model.parameters())
        state.epoch, state.batch, state.seen, state.full_batch, state.steps_per_epoch = epoch, 0, 0, False, steps
        # the sums keep the model's precision (float64 runs sum in float64)
        state.sums = [torch.zeros((), device=weight.device, dtype=weight.dtype) for _ in range(1 + len(self.metrics))]
        self._fire("on_epoch_start")
        if state.batch == 0:  # the epoch's rate, after any callback set it; a resumed epoch keeps its own
            state.lr = self.optimizer.param_groups[0]["lr"]

    def _train_epoch(self, batches: Iterator[Batch]) -> None:
        state, step, metric_fns = self.state, self.step, list(self.metrics.values())
        loss_sum, *metric_sums = state.sums
        batch_end = self._handlers["on_batch_end"]
        for x, y in batches:
            out, loss = step(x, y)
            loss_sum.add_(loss, alpha=len(y))
            for total, metric in zip(metric_sums, metric_fns):
                total.add_(metric(out, y))
            state.step, state.batch, state.seen = state.step + 1, state.batch + 1, state.seen + len(y)
            if batch_end:
                state.out, state.y = out, y
                for callback in batch_end:
                    callback.on_batch_end(state, loss)
            if state.should_stop:
                break

    def _epoch_logs(self, epoch: int, val: Batches | None, started: float) -> dict[str, float]:
        state = self.state
        logs = {"epoch": epoch + 1, "lr": state.lr}
        means = torch.stack(state.sums).div_(max(state.seen, 1)).tolist()
        logs.update(zip(["loss", *self.metrics], means))
        if not math.isfinite(logs["loss"]):
            raise NonFiniteLoss(f"the training loss became {logs['loss']} in epoch {epoch + 1}; "
                                f"lower optim.lr (now {state.lr:g}) or check the inputs for NaN/inf")
        if val is not None:
            logs.update({f"val_{k}": v for k, v in self.evaluate(val).items()})
        logs["seconds"] = time.perf_counter() - started
        return logs

    def step(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One optimizer step on a batch: ``optimizer.step(closure)`` then the ``after_step``
        callbacks. Returns the outputs and the data loss (detached) at the parameters the step
        started from — the closure's first evaluation."""
        if not self._handlers:
            self._resolve()
        model, loss_fn, penalty, state = self.model, self.loss_fn, self.penalty, self.state
        after_backward, first = self._handlers["after_backward"], []

        def closure() -> torch.Tensor:
            self.optimizer.zero_grad(set_to_none=True)
            out = model(x)
            loss = loss_fn(out, y)
            total = loss if penalty is None else loss + penalty()
            total.backward()
            for callback in after_backward:
                callback.after_backward(state)
            if not first:
                first.append((out.detach(), loss.detach()))
            return total  # line searches need the value of the function they differentiate

        self.optimizer.step(closure)
        for callback in self._handlers["after_step"]:
            callback.after_step(state)
        return first[0]

    @torch.no_grad()
    def evaluate(self, batches: Batches) -> dict[str, float]:
        """Mean loss and metrics over ``batches`` in evaluation mode (dropout off, BN frozen)."""
        model = self.model
        was_training = model.training
        model.eval()
        weight = next(model.parameters())
        loss_sum = torch.zeros((), device=weight.device, dtype=weight.dtype)
        metric_sums = [torch.zeros((), device=weight.device, dtype=weight.dtype) for _ in self.metrics]
        for x, y in batches.epoch(0):
            out = model(x)
            loss_sum.add_(self.loss_fn(out, y), alpha=len(y))
            for total, metric in zip(metric_sums, self.metrics.values()):
                total.add_(metric(out, y))
        model.train(was_training)
        means = torch.stack([loss_sum, *metric_sums]).div_(batches.n_examples).tolist()
        return dict(zip(["loss", *self.metrics], means))

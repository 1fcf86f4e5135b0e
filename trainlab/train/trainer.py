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

Options, each free when off (the default step is the one above): ``precision`` bf16/fp16 runs the
forward pass and loss under autocast, fp16 with a gradient scaler (:mod:`trainlab.train.precision`);
``accumulate`` N sums the gradients of N consecutive batches before one optimizer step (the loop
state's ``batch`` and ``steps_per_epoch`` then count such groups);
``compile`` sends the training forward through torch.compile (:mod:`trainlab.train.compiled`);
``forward`` (a DistributedDataParallel wrapper) and ``all_reduce`` (summing epoch totals over
processes) are what multi-process training needs (:mod:`trainlab.train.distributed`).
"""
from __future__ import annotations

import contextlib
import itertools
import math
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Protocol

import torch
from torch import nn

from trainlab.errors import TrainlabError
from trainlab.train.callbacks import EVENTS, Callback, LoopAware, LoopState, overrides
from trainlab.train.compiled import compile_forward
from trainlab.train.loop_parts import ResumeWithinEpoch
from trainlab.train.metrics import LossFn
from trainlab.train.precision import GradScaling, autocast_dtype

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


def micro_batch_groups(batches: Iterator[Batch], size: int) -> Iterator[tuple[tuple[torch.Tensor, ...], torch.Tensor]]:
    """Consecutive batches in groups of ``size`` (the epoch's last group may be smaller), each as
    (the inputs of every batch, all the targets concatenated): one optimizer step's worth."""
    while True:
        group = list(itertools.islice(batches, size))
        if not group:
            return
        yield tuple(x for x, _ in group), torch.cat([y for _, y in group])


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
                 penalty: Callable[[], torch.Tensor] | None = None, callbacks: Sequence[Callback] = (),
                 precision: str = "float32", accumulate: int = 1, compile: bool | str | Callable = False,
                 forward: Callable[[torch.Tensor], torch.Tensor] | None = None,
                 all_reduce: Callable[[torch.Tensor], torch.Tensor] | None = None):
        """``precision``: float32/float64 (the model's own dtype, nothing added) or bf16/fp16
        (autocast; fp16 with a gradient scaler). ``accumulate``: batches per optimizer step.
        ``compile``: True (Inductor) or a torch.compile backend. ``forward``: what the training step
        calls instead of ``model`` (a DistributedDataParallel wrapper of it). ``all_reduce``: sums a
        tensor over processes in place of the epoch's local totals."""
        if accumulate < 1:
            raise ValueError(f"accumulate must be at least 1 (batches per optimizer step), got {accumulate}")
        self.model, self.optimizer, self.loss_fn = model, optimizer, loss_fn
        self.metrics, self.penalty = dict(metrics or {}), penalty
        self.accumulate, self.all_reduce = accumulate, all_reduce
        given = list(callbacks)
        if isinstance(optimizer, LoopAware):  # full batches, a chain's switch: declared by the optimizer
            given += [part for part in optimizer.loop_parts() if type(part) not in {type(c) for c in given}]
        device_type = next(model.parameters()).device.type
        dtype = autocast_dtype(precision)
        self.autocast = None if dtype is None else (lambda: torch.autocast(device_type, dtype=dtype))
        self.scaling = GradScaling(device_type) if precision == "fp16" else None
        if self.scaling is not None:  # its scale travels in checkpoints like any callback's state
            given.append(self.scaling)
        self.forward = forward if forward is not None else model
        if compile:
            self.forward = compile_forward(self.forward, "inductor" if compile is True else compile)
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
            self._start_epoch(epoch, -(-len(train) // self.accumulate))
            batches = train.whole() if state.full_batch else train.epoch(epoch)
            if state.batch:  # resumed inside this epoch: the same seeded order, from the next batch
                grouped = self.accumulate > 1 and not state.full_batch  # then state.batch counts groups
                batches = itertools.islice(batches, state.batch * self.accumulate if grouped else state.batch, None)
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
        grouped = self.accumulate > 1 and not state.full_batch
        if grouped:  # x: the group's inputs, y: its targets; a step (and state.batch) per group
            batches, step = micro_batch_groups(batches, self.accumulate), self.accumulated_step
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
        sums, seen = torch.stack(state.sums), state.seen
        if self.all_reduce is not None:  # every process's sums and counts, added up
            totals = self.all_reduce(torch.cat([sums.double(), sums.new_tensor([seen], dtype=torch.float64)]))
            sums, seen = totals[:-1], round(totals[-1].item())
        means = sums.div_(max(seen, 1)).tolist()
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
        if self.scaling is not None:
            return self.accumulated_step((x,), y)  # fp16's scaler steps without a closure
        forward, loss_fn, penalty, state, autocast = self.forward, self.loss_fn, self.penalty, self.state, self.autocast
        after_backward, first = self._handlers["after_backward"], []

        def closure() -> torch.Tensor:
            self.optimizer.zero_grad(set_to_none=True)
            if autocast is None:
                out = forward(x)
                loss = loss_fn(out, y)
            else:
                with autocast():
                    out = forward(x)
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

    def accumulated_step(self, xs: Sequence[torch.Tensor], y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One optimizer step on the batches ``xs`` (targets ``y``, concatenated): gradients summed
        over them, each batch's mean loss weighted by its share of the examples, so the step follows
        the gradient of the mean loss over all of them,

            ∇L = Σ_i (n_i / n) ∇L_i,  L_i the mean loss of batch i (n_i examples), n = Σ_i n_i,

        which is the gradient of one batch of n examples (equal up to float rounding, without batch
        norm or dropout, whose statistics and masks are per batch). The penalty's gradient is added
        once. Without a closure, so not for line searches (the recipe refuses that). Returns the
        outputs and the mean data loss over all the examples (detached)."""
        if not self._handlers:
            self._resolve()
        forward, loss_fn, state, autocast = self.forward, self.loss_fn, self.state, self.autocast
        scaler = self.scaling.scaler if self.scaling is not None else None
        self.optimizer.zero_grad(set_to_none=True)
        weight = next(self.model.parameters())
        outs, loss_sum, n = [], torch.zeros((), device=weight.device, dtype=weight.dtype), len(y)
        for i, (x, y_i) in enumerate(zip(xs, y.split([len(x) for x in xs]))):
            with autocast() if autocast is not None else contextlib.nullcontext():
                out = forward(x)
                loss = loss_fn(out, y_i)
            total = loss * (len(y_i) / n)
            if i == 0 and self.penalty is not None:
                total = total + self.penalty()
            (total if scaler is None else scaler.scale(total)).backward()
            outs.append(out.detach())
            loss_sum = loss_sum + loss.detach().to(weight.dtype) * len(y_i)
        if scaler is not None:
            scaler.unscale_(self.optimizer)  # callbacks (probes, clipping) see the true gradients
        for callback in self._handlers["after_backward"]:
            callback.after_backward(state)
        if scaler is None:
            self.optimizer.step()
        else:
            scaler.step(self.optimizer)  # skipped when a gradient is inf/NaN; then S is halved
            scaler.update()
        for callback in self._handlers["after_step"]:
            callback.after_step(state)
        return torch.cat(outs), loss_sum / n

    @torch.no_grad()
    def evaluate(self, batches: Batches) -> dict[str, float]:
        """Mean loss and metrics over ``batches`` in evaluation mode (dropout off, BN frozen)."""
        model = self.model
        was_training = model.training
        model.eval()
        weight = next(model.parameters())
        loss_sum = torch.zeros((), device=weight.device, dtype=weight.dtype)
        metric_sums = [torch.zeros((), device=weight.device, dtype=weight.dtype) for _ in self.metrics]
        autocast = self.autocast or contextlib.nullcontext
        for x, y in batches.epoch(0):
            with autocast():
                out = model(x)
                loss = self.loss_fn(out, y)
            loss_sum.add_(loss, alpha=len(y))
            for total, metric in zip(metric_sums, self.metrics.values()):
                total.add_(metric(out, y))
        model.train(was_training)
        totals = torch.stack([loss_sum, *metric_sums])
        if self.all_reduce is not None:  # each process evaluated its shard of every batch
            totals = self.all_reduce(totals.double())
        means = totals.div_(batches.n_examples).tolist()
        return dict(zip(["loss", *self.metrics], means))

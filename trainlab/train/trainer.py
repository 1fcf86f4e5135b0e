"""The training loop.

Per step: forward → loss (+ penalty) → zero_grad → backward → step → (proximal step) → (per-step
schedule) → add the loss and metric sums on the device. Optimizers that need a closure (L-BFGS, BFGS) get one that recomputes the
batch's loss; those marked ``full_batch`` get the whole training set as one batch; an optimizer with
``advance(epoch, logs)`` (a chain) hears about every finished epoch; a schedule with a ``monitor``
(plateau, Hinton's adaptive rate) is stepped with that epoch log value. Nothing is read back to the host until the epoch ends, when all sums
are read in one transfer; a non-finite loss anywhere in the epoch makes the epoch's loss sum
non-finite, so it is caught there at no per-step cost.

A run can also be checkpointed inside an epoch: ``state.batch``, ``state.seen`` and ``state.sums``
hold the epoch's position and running sums, and :meth:`Trainer.resume_within_epoch` makes the next
``fit`` skip the batches already done (the epoch's order is drawn again from its seed) and carry on
with those sums, so the epoch ends exactly as if it had never stopped.
"""
from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Sequence

import torch
from torch import nn
from torch.optim.lr_scheduler import LRScheduler

from trainlab.errors import TrainlabError
from trainlab.train.callbacks import Callback, LoopState, overrides
from trainlab.train.metrics import LossFn, per_example_loss


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

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        loss_fn: LossFn,
        *,
        metrics: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] | None = None,
        scheduler: LRScheduler | None = None,
        schedule_interval: str = "epoch",
        penalty: Callable[[], torch.Tensor] | None = None,
        after_step: Callable[[], None] | None = None,
        callbacks: Sequence[Callback] = (),
    ):
        if schedule_interval not in ("epoch", "step"):
            raise ValueError(f"schedule_interval must be 'epoch' or 'step', got {schedule_interval!r}")
        self.model, self.optimizer, self.loss_fn = model, optimizer, loss_fn
        self.metrics = dict(metrics or {})
        self.scheduler, self.schedule_interval = scheduler, schedule_interval
        self.penalty, self.after_step = penalty, after_step
        self.callbacks = sorted(callbacks, key=lambda c: c.order)
        self.state = LoopState(model, optimizer, epochs=0)
        self._resume: dict | None = None

    def resume_within_epoch(self, batch: int, seen: int, sums: Sequence[float], lr: float) -> None:
        """Make the next :meth:`fit` start its first epoch after ``batch`` batches (``seen``
        examples) with these loss and metric ``sums``; ``lr`` is the rate the epoch started with."""
        if len(sums) != 1 + len(self.metrics):
            raise ValueError(f"expected {1 + len(self.metrics)} sums (loss and metrics), got {len(sums)}")
        self._resume = {"batch": batch, "seen": seen, "sums": list(sums), "lr": lr}

    def _fire(self, event: str) -> None:
        for callback in self.callbacks:
            if overrides(callback, event):
                getattr(callback, event)(self.state)

    def fit(self, train, val=None, epochs: int = 1) -> list[dict[str, float]]:
        """Train until ``epochs`` epochs are done (counting those already in ``state.history``)
        or a callback stops; return the history, one dict of logs per epoch."""
        state, model, optimizer, loss_fn = self.state, self.model, self.optimizer, self.loss_fn
        state.epochs, state.steps_per_epoch, state.should_stop = epochs, len(train), False
        step_scheduler = self.scheduler if self.schedule_interval == "step" else None
        monitor = getattr(self.scheduler, "monitor", None)
        batch_callbacks = [c for c in self.callbacks if overrides(c, "on_batch_end")]
        metric_fns, penalty, after_step = list(self.metrics.values()), self.penalty, self.after_step
        sampler = getattr(train, "sampler", None)
        record = sampler.record if sampler is not None and sampler.wants_losses else None
        weight = next(model.parameters())
        device, dtype = weight.device, weight.dtype  # the sums keep the model's precision
        self._fire("on_fit_start")
        for epoch in range(len(state.history), epochs):
            state.epoch = epoch
            resume, self._resume = self._resume, None  # set when a checkpoint was taken inside this epoch
            state.batch, seen = (resume["batch"], resume["seen"]) if resume else (0, 0)
            full_batch = getattr(optimizer, "full_batch", False)  # a chain's stage may change it
            state.steps_per_epoch = 1 if full_batch else len(train)
            self._fire("on_epoch_start")
            lr = state.lr = resume["lr"] if resume else optimizer.param_groups[0]["lr"]
            needs_closure = getattr(optimizer, "needs_closure", False)
            batches = train.whole() if full_batch else train.epoch(epoch)
            if resume:
                if sampler is not None and not full_batch:
                    sampler.replay()
                batches = itertools.islice(batches, state.batch, None)  # the same order, from its seed
            started = time.perf_counter()
            model.train()
            loss_sum, *metric_sums = state.sums = [torch.zeros((), device=device, dtype=dtype)
                                                   for _ in range(1 + len(metric_fns))]
            if resume:
                for total, value in zip(state.sums, resume["sums"]):
                    total.fill_(value)
            for x, y in batches:
                if needs_closure:
                    out, loss = self._closure_step(x, y)
                else:
                    out = model(x)
                    loss = loss_fn(out, y)
                    optimizer.zero_grad(set_to_none=True)
                    (loss if penalty is None else loss + penalty()).backward()
                    optimizer.step()
                if after_step is not None:
                    after_step()
                if step_scheduler is not None:
                    step_scheduler.step()
                seen += len(y)
                loss_sum.add_(loss.detach(), alpha=len(y))
                if metric_fns:
                    detached = out.detach()
                    for total, metric in zip(metric_sums, metric_fns):
                        total.add_(metric(detached, y))
                if record is not None:
                    record(train.last_index, per_example_loss(loss_fn, out.detach(), y))
                state.step += 1
                state.batch += 1
                state.seen = seen
                for callback in batch_callbacks:
                    callback.on_batch_end(state, loss)
                if state.should_stop:
                    break
            logs = {"epoch": epoch + 1, "lr": lr}
            means = torch.stack([loss_sum, *metric_sums]).div_(max(seen, 1)).tolist()
            logs.update(zip(["loss", *self.metrics], means))
            if not math.isfinite(logs["loss"]):
                raise NonFiniteLoss(
                    f"the training loss became {logs['loss']} in epoch {epoch + 1}; "
                    f"lower optim.lr (now {lr:g}) or check the inputs for NaN/inf"
                )
            if val is not None:
                logs.update({f"val_{k}": v for k, v in self.evaluate(val).items()})
            if monitor is not None:
                if monitor not in logs:
                    raise TrainlabError(f"schedule monitors '{monitor}', which this run does not log; "
                                        f"logged: {', '.join(k for k in logs if k not in ('epoch', 'lr'))}")
                self.scheduler.step(logs[monitor])
            elif self.scheduler is not None and step_scheduler is None:
                self.scheduler.step()
            if hasattr(optimizer, "advance"):
                optimizer.advance(epoch + 1, logs)
            logs["seconds"] = time.perf_counter() - started
            state.logs = logs
            state.history.append(logs)
            self._fire("on_epoch_end")
            if state.should_stop:
                break
        self._fire("on_fit_end")
        return state.history

    def _closure_step(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One step of an optimizer that re-evaluates the loss (L-BFGS line search, BFGS);
        returns the outputs and loss at the parameters the step started from."""
        model, loss_fn, penalty, first = self.model, self.loss_fn, self.penalty, []

        def closure() -> torch.Tensor:
            self.optimizer.zero_grad(set_to_none=True)
            out = model(x)
            loss = loss_fn(out, y)
            total = loss if penalty is None else loss + penalty()
            total.backward()
            if not first:  # log the data loss at the starting point, as the plain step does
                first.append((out.detach(), loss.detach()))
            return total  # line searches need the value of the function they differentiate

        self.optimizer.step(closure)
        return first[0]

    @torch.no_grad()
    def evaluate(self, batches) -> dict[str, float]:
        """Mean loss and metrics over ``batches`` in evaluation mode (dropout off, BN frozen)."""
        model = self.model
        was_training = model.training
        model.eval()
        weight = next(model.parameters())
        device, dtype = weight.device, weight.dtype
        loss_sum = torch.zeros((), device=device, dtype=dtype)
        metric_sums = [torch.zeros((), device=device, dtype=dtype) for _ in self.metrics]
        for x, y in batches.epoch(0):
            out = model(x)
            loss_sum.add_(self.loss_fn(out, y), alpha=len(y))
            for total, metric in zip(metric_sums, self.metrics.values()):
                total.add_(metric(out, y))
        model.train(was_training)
        means = torch.stack([loss_sum, *metric_sums]).div_(batches.n_examples).tolist()
        return dict(zip(["loss", *self.metrics], means))

"""The training loop.

Per step: forward → loss (+ penalty) → zero_grad → backward → step → (per-step schedule) → add the loss and
metric sums on the device. Nothing is read back to the host until the epoch ends, when all sums
are read in one transfer; a non-finite loss anywhere in the epoch makes the epoch's loss sum
non-finite, so it is caught there at no per-step cost.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

import torch
from torch import nn
from torch.optim.lr_scheduler import LRScheduler

from trainlab.errors import TrainlabError
from trainlab.train.callbacks import Callback, LoopState, overrides
from trainlab.train.metrics import LossFn


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
        callbacks: Sequence[Callback] = (),
    ):
        if schedule_interval not in ("epoch", "step"):
            raise ValueError(f"schedule_interval must be 'epoch' or 'step', got {schedule_interval!r}")
        self.model, self.optimizer, self.loss_fn = model, optimizer, loss_fn
        self.metrics = dict(metrics or {})
        self.scheduler, self.schedule_interval = scheduler, schedule_interval
        self.penalty = penalty
        self.callbacks = sorted(callbacks, key=lambda c: c.order)
        self.state = LoopState(model, optimizer, epochs=0)

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
        batch_callbacks = [c for c in self.callbacks if overrides(c, "on_batch_end")]
        metric_fns, penalty = list(self.metrics.values()), self.penalty
        device = next(model.parameters()).device
        self._fire("on_fit_start")
        for epoch in range(len(state.history), epochs):
            state.epoch = epoch
            self._fire("on_epoch_start")
            lr = optimizer.param_groups[0]["lr"]
            started = time.perf_counter()
            model.train()
            loss_sum = torch.zeros((), device=device)
            metric_sums = [torch.zeros((), device=device) for _ in metric_fns]
            seen = 0
            for x, y in train.epoch(epoch):
                out = model(x)
                loss = loss_fn(out, y)
                optimizer.zero_grad(set_to_none=True)
                (loss if penalty is None else loss + penalty()).backward()
                optimizer.step()
                if step_scheduler is not None:
                    step_scheduler.step()
                seen += len(y)
                loss_sum.add_(loss.detach(), alpha=len(y))
                if metric_fns:
                    detached = out.detach()
                    for total, metric in zip(metric_sums, metric_fns):
                        total.add_(metric(detached, y))
                state.step += 1
                for callback in batch_callbacks:
                    callback.on_batch_end(state, loss)
                if state.should_stop:
                    break
            if self.scheduler is not None and step_scheduler is None:
                self.scheduler.step()
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
            logs["seconds"] = time.perf_counter() - started
            state.logs = logs
            state.history.append(logs)
            self._fire("on_epoch_end")
            if state.should_stop:
                break
        self._fire("on_fit_end")
        return state.history

    @torch.no_grad()
    def evaluate(self, batches) -> dict[str, float]:
        """Mean loss and metrics over ``batches`` in evaluation mode (dropout off, BN frozen)."""
        model = self.model
        was_training = model.training
        model.eval()
        device = next(model.parameters()).device
        loss_sum = torch.zeros((), device=device)
        metric_sums = [torch.zeros((), device=device) for _ in self.metrics]
        for x, y in batches.epoch(0):
            out = model(x)
            loss_sum.add_(self.loss_fn(out, y), alpha=len(y))
            for total, metric in zip(metric_sums, self.metrics.values()):
                total.add_(metric(out, y))
        model.train(was_training)
        means = torch.stack([loss_sum, *metric_sums]).div_(batches.n_examples).tolist()
        return dict(zip(["loss", *self.metrics], means))

"""Two optimizers in sequence on the same parameters, e.g. Adam then L-BFGS.

First-order steps get close to a minimum cheaply; a quasi-Newton method then finishes with far
fewer, more precise steps. This is the standard recipe for physics-informed networks.

A run steps the chain like any optimizer (``step(closure)`` goes to the stage now running), asks
:mod:`trainlab.optim.stages` whether that stage wants full batches, and calls ``advance(epoch,
logs)`` at the end of every epoch (:class:`~trainlab.train.loop_parts.ChainAdvance`): that is where
the chain switches.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from trainlab.optim.quasi_newton import FullBatchOptimizer
from trainlab.train.callbacks import Callback, LoopAware
from trainlab.train.loop_parts import ChainAdvance, FullBatch

META = -1  # state_dict["state"] key of the chain's own record (stage, switched_at, plateau counters)


def _count(optimizer: torch.optim.Optimizer) -> int:
    return sum(len(g["params"]) for g in optimizer.param_groups)


class Chain(torch.optim.Optimizer, LoopAware):
    """Run ``first`` until the switch, then ``then``, on the same parameters.

    The switch happens at the end of epoch ``switch_epoch`` (so ``first`` runs exactly that many
    epochs), or earlier when the training loss has not fallen below its best by more than
    ``min_delta`` for ``plateau_patience`` epochs in a row; ``switched_at`` records the epoch.

    Learning-rate schedules drive the first stage only. ``param_groups`` are the first stage's
    groups while it runs, so a torch ``LRScheduler`` works on them as on any optimizer. After the
    switch, ``param_groups`` returns fresh copies of those groups showing the second stage's rate:
    the logged ``lr`` is the rate in use, and a schedule's further writes reach no optimizer.

    ``state_dict()`` holds both stages: the first stage's parameter ids as they are, the second's
    shifted by the number of parameters ``n`` (each group tagged with its ``stage``), and the
    chain's own record under the id ``-1``; all of it is tensors or JSON scalars.
    """

    def __init__(self, first: torch.optim.Optimizer, then: torch.optim.Optimizer, *,
                 switch_epoch: int | None = None, plateau_patience: int | None = None, min_delta: float = 0.0):
        if switch_epoch is None and plateau_patience is None:
            raise ValueError("chain: give switch_epoch, plateau_patience or both, or the second stage never runs")
        for name, value in (("switch_epoch", switch_epoch), ("plateau_patience", plateau_patience)):
            if value is not None and value < 1:
                raise ValueError(f"chain: {name} must be at least 1, got {value}")
        self.stages = (first, then)
        self.switch_epoch, self.plateau_patience, self.min_delta = switch_epoch, plateau_patience, min_delta
        self.stage = 0
        self.switched_at: int | None = None
        self.best_loss: float | None = None
        self.bad_epochs = 0
        # Optimizer's bookkeeping (hook registries, profiled step) without groups of its own:
        # Optimizer.__init__ would claim parameters that the stages already hold.
        self.__setstate__({"defaults": dict(first.defaults)})

    # ---- what the Trainer and LR schedulers read ----

    @property
    def current(self) -> torch.optim.Optimizer:
        """The stage now running."""
        return self.stages[self.stage]

    def loop_parts(self) -> list[Callback]:
        """Switch at an epoch's end; full batches while a stage that wants them runs."""
        wants = any(isinstance(stage, FullBatchOptimizer) and stage.full_batch for stage in self.stages)
        return [*([FullBatch(lambda: self.full_batch)] if wants else []), ChainAdvance(self.advance)]

    @property
    def needs_closure(self) -> bool:
        return bool(getattr(self.current, "needs_closure", False))

    @property
    def full_batch(self) -> bool:
        return isinstance(self.current, FullBatchOptimizer) and self.current.full_batch

    @property
    def param_groups(self) -> list[dict[str, Any]]:
        first, then = self.stages
        if self.stage == 0:
            return first.param_groups
        return [{**group, "lr": then.param_groups[0]["lr"]} for group in first.param_groups]

    @property
    def state(self) -> dict:
        return self.current.state

    # ---- stepping and switching ----

    def step(self, closure: Callable[[], torch.Tensor] | None = None) -> torch.Tensor | None:
        return self.current.step(closure)

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.current.zero_grad(set_to_none=set_to_none)

    def advance(self, epoch: int, logs: dict[str, float]) -> None:
        """End of epoch ``epoch`` (counted from 1): switch to the second stage when it is due."""
        if self.stage == 1:
            return
        loss = logs["loss"]
        if self.best_loss is None or loss < self.best_loss - self.min_delta:
            self.best_loss, self.bad_epochs = loss, 0
        else:
            self.bad_epochs += 1
        due = self.switch_epoch is not None and epoch >= self.switch_epoch
        stalled = self.plateau_patience is not None and self.bad_epochs >= self.plateau_patience
        if due or stalled:
            self.stage, self.switched_at = 1, epoch

    # ---- checkpoints ----

    def state_dict(self) -> dict[str, Any]:
        offset = max(_count(s) for s in self.stages)
        state: dict[int, dict[str, Any]] = {}
        groups: list[dict[str, Any]] = []
        for k, stage in enumerate(self.stages):
            packed = stage.state_dict()
            state.update({pid + k * offset: entries for pid, entries in packed["state"].items()})
            groups += [{**g, "stage": k, "params": [p + k * offset for p in g["params"]]}
                       for g in packed["param_groups"]]
        state[META] = {"stage": self.stage, "switched_at": self.switched_at,
                       "best_loss": self.best_loss, "bad_epochs": self.bad_epochs}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        offset = max(_count(s) for s in self.stages)
        state = {int(pid): entries for pid, entries in state_dict["state"].items()}
        for k, stage in enumerate(self.stages):
            low = k * offset
            groups = [{key: v for key, v in g.items() if key != "stage"} | {"params": [p - low for p in g["params"]]}
                      for g in state_dict["param_groups"] if g["stage"] == k]
            own = {pid - low: entries for pid, entries in state.items() if low <= pid < low + offset}
            stage.load_state_dict({"state": own, "param_groups": groups})
        meta = state[META]
        self.stage, self.switched_at = int(meta["stage"]), meta["switched_at"]
        self.best_loss, self.bad_epochs = meta["best_loss"], int(meta["bad_epochs"])

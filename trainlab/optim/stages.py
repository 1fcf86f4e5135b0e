"""What a run asks of an optimizer — or, for a chain, of its stages.

- :func:`uses_line_search`: L-BFGS and BFGS evaluate the loss several times per step (the recipe
  check against random layers, the LR finder's refusal);
- :func:`wants_full_batch`: whether the stage now running trains on the whole set as one batch
  (its ``full_batch``, declared by :class:`~trainlab.optim.quasi_newton.FullBatchOptimizer`);
- :func:`line_search_stop`: why the last L-BFGS step ended (torch does not say; our
  :class:`~trainlab.optim.quasi_newton.LBFGS` records it), for the run's tally.

The loop parts an optimizer needs (full-batch epochs, a chain's switch) it declares itself
(:class:`~trainlab.train.callbacks.LoopAware`); the Trainer adds them.
"""
from __future__ import annotations

from typing import Any

import torch

from trainlab.optim.chain import Chain
from trainlab.optim.quasi_newton import BFGS, LBFGS, FullBatchOptimizer


def stages(optimizer: torch.optim.Optimizer) -> tuple[torch.optim.Optimizer, ...]:
    """A chain's stages, or the optimizer alone."""
    return optimizer.stages if isinstance(optimizer, Chain) else (optimizer,)


def current(optimizer: torch.optim.Optimizer) -> torch.optim.Optimizer:
    """The optimizer whose steps are being taken now."""
    return optimizer.current if isinstance(optimizer, Chain) else optimizer


def uses_line_search(optimizer: torch.optim.Optimizer) -> bool:
    """Whether any stage runs a line search (L-BFGS, BFGS)."""
    return any(isinstance(stage, (LBFGS, BFGS)) for stage in stages(optimizer))


def wants_full_batch(optimizer: torch.optim.Optimizer) -> bool:
    """Whether the optimizer (a chain: its current stage) trains on the whole set as one batch."""
    now = current(optimizer)
    return isinstance(now, FullBatchOptimizer) and now.full_batch


def has_line_search_stops(optimizer: torch.optim.Optimizer) -> bool:
    """Whether any stage is an L-BFGS that records why its steps end."""
    return any(isinstance(stage, LBFGS) for stage in stages(optimizer))


def line_search_stop(optimizer: torch.optim.Optimizer) -> dict[str, Any] | None:
    """Why the last step of the L-BFGS stage now running ended, or None (another stage, or no step yet)."""
    now = current(optimizer)
    return now.last_stop or None if isinstance(now, LBFGS) else None

"""What a run asks of an optimizer — or, for a chain, of the stage now running.

- :func:`wants_full_batch`: line searches (L-BFGS, BFGS) and Rprop's sign rule assume the same
  function at every evaluation, so their factories take ``full_batch`` (default true) and the
  optimizer carries it; the run then trains those epochs on the whole training set as one batch.
- :func:`line_search_stop`: why the last L-BFGS step ended (torch does not say; our
  :class:`~trainlab.optim.quasi_newton.LBFGS` records it), for the run's tally.
- :func:`optimizer_parts`: the Trainer callbacks an optimizer declares (full-batch epochs, a
  chain's switch); the Trainer adds them itself.
"""
from __future__ import annotations

from typing import Any

import torch

from trainlab.optim.chain import Chain
from trainlab.optim.optimizers import Rprop
from trainlab.optim.quasi_newton import BFGS, LBFGS
from trainlab.train.callbacks import Callback, LoopAware


def stages(optimizer: torch.optim.Optimizer) -> tuple[torch.optim.Optimizer, ...]:
    """A chain's stages, or the optimizer alone."""
    return optimizer.stages if isinstance(optimizer, Chain) else (optimizer,)


def current(optimizer: torch.optim.Optimizer) -> torch.optim.Optimizer:
    """The optimizer whose steps are being taken now."""
    return optimizer.current if isinstance(optimizer, Chain) else optimizer


def wants_full_batch(optimizer: torch.optim.Optimizer) -> bool:
    """Whether the optimizer (a chain: its current stage) trains on the whole set as one batch."""
    now = current(optimizer)
    return isinstance(now, (LBFGS, BFGS, Rprop)) and now.full_batch


def has_line_search_stops(optimizer: torch.optim.Optimizer) -> bool:
    """Whether any stage is an L-BFGS that records why its steps end."""
    return any(isinstance(stage, LBFGS) for stage in stages(optimizer))


def line_search_stop(optimizer: torch.optim.Optimizer) -> dict[str, Any] | None:
    """Why the last step of the L-BFGS stage now running ended, or None (another stage, or no step yet)."""
    now = current(optimizer)
    return now.last_stop or None if isinstance(now, LBFGS) else None


def optimizer_parts(optimizer: torch.optim.Optimizer) -> list[Callback]:
    """The loop parts ``optimizer`` declares (:class:`~trainlab.train.callbacks.LoopAware`): full-batch
    epochs, a chain's switch. The Trainer adds them itself; this says what they are.

    Example::

        >>> import torch
        >>> from trainlab.optim.quasi_newton import LBFGS
        >>> from trainlab.optim.stages import optimizer_parts
        >>> [type(p).__name__ for p in optimizer_parts(LBFGS([torch.nn.Parameter(torch.zeros(2))]))]
        ['FullBatch']
    """
    return optimizer.loop_parts() if isinstance(optimizer, LoopAware) else []

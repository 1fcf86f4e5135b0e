"""Gradual unfreezing as a loop part: at each epoch's start, freeze exactly what the plan says.

The plan (:class:`trainlab.nn.transfer.FreezePlan`, built from ``model.freeze`` and
``model.unfreeze_at``) is a function of the epoch alone, so the callback keeps no state of its own:
a run resumed in any epoch freezes the same parameters as the uninterrupted run.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable

from trainlab.train.callbacks import Callback, LoopState, Order


class FreezeSchedule(Callback):
    """At the start of each epoch sets ``requires_grad`` of the ``controlled`` parameters: False for the
    names in ``frozen_at(epoch)`` (epoch 1-based), True for the rest of them; other parameters are left
    alone. Frozen parameters get no gradient, so torch's optimizers leave them unchanged."""

    order = Order.BATCH_MODE + 1  # before anything at epoch start reads or steps the parameters

    def __init__(self, frozen_at: Callable[[int], set[str]], controlled: Iterable[str]):
        self.frozen_at, self.controlled = frozen_at, set(controlled)

    def on_epoch_start(self, state: LoopState) -> None:
        frozen = self.frozen_at(state.epoch + 1)
        for name, parameter in state.model.named_parameters():
            if name in self.controlled:
                parameter.requires_grad_(name not in frozen)

"""The doctor during training: warn once, as it happens, when a severe finding appears."""
from __future__ import annotations

import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from trainlab.diagnose.evidence import RunEvidence
from trainlab.diagnose.rules import RULES, run_rules, symmetric_units
from trainlab.train.callbacks import Callback, LoopState, Order

_LAYERS = (torch.nn.Linear, torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Conv3d)


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class DoctorCallback(Callback):
    """Checks the loss every ``every`` steps (one device read) and runs the doctor's rules on the
    history (and probe rows, when probing) at each epoch end; each error-level finding is reported
    once through ``warn``. A non-finite loss stops training at once, naming the step and the layer
    whose gradient blew up first."""

    order = Order.DOCTOR

    def __init__(self, recipe: dict[str, Any], data_info: dict[str, Any], every: int = 25,
                 probes: Callable[[], list[dict[str, Any]]] | None = None, warn: Callable[[str], None] = _stderr):
        self.recipe, self.data_info, self.every, self.probes, self.warn = recipe, data_info, every, probes, warn
        self.reported: set[str] = set()

    def on_batch_end(self, state: LoopState, loss: torch.Tensor) -> None:
        if state.step % self.every or "non_finite_loss" in self.reported:
            return
        value = loss.item()
        if math.isfinite(value):
            return
        self.reported.add("non_finite_loss")
        self.warn(f"doctor: the loss became {value} at step {state.step} (epoch {state.epoch + 1}): "
                  f"{_blown_layer(state.model)}; stopping. Try a 10× smaller optim.lr.")
        state.should_stop = True

    def on_epoch_end(self, state: LoopState) -> None:
        run = RunEvidence(Path("."), self.recipe, {"data": self.data_info}, list(state.history),
                          self.probes() if self.probes else [])
        rules = [rule for rule in RULES if rule is not symmetric_units]  # that one needs the saved weights
        for finding in run_rules(run, rules):
            if finding.severity == "error" and finding.name not in self.reported:
                self.reported.add(finding.name)
                fix = " ".join(finding.remedies[0].as_overrides()) if finding.remedies else ""
                self.warn(f"doctor (epoch {len(state.history)}): {finding.summary}" + (f"; try --set {fix}" if fix else ""))

    def state_dict(self) -> dict[str, Any]:
        return {"reported": sorted(self.reported)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.reported = set(state.get("reported", []))


def _blown_layer(model: torch.nn.Module) -> str:
    """The first layer (input side) whose weight gradient is non-finite, else the largest one."""
    norms = []
    for index, layer in enumerate((m for m in model.modules() if isinstance(m, _LAYERS)), start=1):
        if layer.weight.grad is not None:
            norms.append((index, type(layer).__name__, layer.weight.grad.norm().item()))
    if not norms:
        return "no gradients to inspect"
    broken = [n for n in norms if not math.isfinite(n[2])]
    index, kind, norm = broken[0] if broken else max(norms, key=lambda n: n[2])
    return f"exploding gradients in layer {index} ({kind}, gradient norm {norm:.3g})"

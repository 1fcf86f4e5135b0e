"""The doctor during training: warn once, as it happens, when a severe finding appears."""
from __future__ import annotations

import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from trainlab.diagnose import rules as builtin
from trainlab.diagnose.evidence import RunEvidence
from trainlab.diagnose.findings import new_remedies
from trainlab.diagnose.rules import RULES
from trainlab.train.callbacks import Callback, LoopState, Order

_LAYERS = (torch.nn.Linear, torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Conv3d)


# The live doctor reports error-level findings only, so it leaves out the built-in rules whose findings
# are never errors (tests/test_run_fixed_costs.py checks that none of them can give one), and
# symmetric_units, which needs the saved weights: its 50 epoch ends in the benchmark run took ~11 ms of
# CPU, now ~2.5. Rules added with trainlab.diagnose.rules.rule() run, whatever they give.
NEVER_ERRORS = frozenset({
    builtin.learning_rate_too_low, builtin.loss_plateau, builtin.overfitting, builtin.underfitting,
    builtin.vanishing_gradients, builtin.saturated_units, builtin.unnormalized_inputs, builtin.class_imbalance,
    builtin.unscaled_targets, builtin.symmetric_units,
})


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
        for check in [rule for rule in RULES if rule not in NEVER_ERRORS]:
            for finding in check(run):
                if finding.severity == "error" and finding.name not in self.reported:
                    self.reported.add(finding.name)
                    finding = new_remedies(finding, self.recipe)  # as the doctor's run_rules gives it
                    fix = " ".join(finding.remedies[0].as_overrides()) if finding.remedies else ""
                    self.warn(f"doctor (epoch {len(state.history)}): {finding.summary}"
                              + (f"; try --set {fix}" if fix else ""))

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

"""Probes: per-layer activation and gradient statistics, measured on the real training batch.

A *layer* is each ``Linear``/``Conv`` module in ``model.modules()`` order, numbered 1..L; its
activation is the first activation module after it (before the next Linear/Conv); the output
layer has none. At every ``every``-th optimizer step (steps 0, every, 2·every, … counted from 0
over the whole run; also the first step of each epoch when epochs have fewer than ``every``
steps, so that every epoch is probed, and of each epoch with a histogram snapshot), forward
hooks on those activation modules see the batch the optimizer trains on, and after the
optimizer step the weights and their gradients are measured. For layer l at probe step s, with
h its activation output on the batch (all examples, units and positions), W_s its weight after
step s and g = ∇_W J the gradient that step used:

.. math::

    \\text{act\\_mean} = \\bar h, \\quad \\text{act\\_std} = \\sqrt{\\overline{(h - \\bar h)^2}}

    \\text{act\\_saturated} = \\frac{1}{n}\\#\\{\\, |h - c| > r - m \\,\\}, \\quad
    c = \\tfrac{lo + hi}{2},\\ r = \\tfrac{hi - lo}{2},\\ m = 0.01 \\max(|lo|, |hi|)

    \\text{act\\_dead} = \\frac{1}{U}\\#\\{\\, u : h_u \\le 0 \\text{ on every example and position} \\,\\}

    \\text{grad\\_norm} = \\|g\\|_2, \\quad \\text{weight\\_norm} = \\|W_s\\|_2, \\quad
    \\text{update\\_ratio} = \\frac{\\|W_s - W_{s-1}\\|_2}{\\|W_{s-1}\\|_2}

where (lo, hi) is a bounded activation's range (tanh: |h| > 0.99; sigmoid: h < 0.01 or
h > 0.99; NaN for unbounded activations), u runs over the U units (features of a Linear layer,
channels of a Conv layer; NaN unless the activation is ReLU-family) and norms are Frobenius
norms. At the first step of a few epochs (``histograms``) the layer's activations and weight
gradient are also binned.

No extra forward pass runs and no random number is drawn, so a probed run ends with the same
weights, bit for bit, as an unprobed one. Values stay on the device and are read back in one
transfer per epoch; :mod:`trainlab.diagnose.probe_files` writes them to the run directory
(``probes.csv``, ``probe_histograms.json``) and reads them back (:func:`read_probes`,
:func:`read_histograms`).

Example::

    >>> import torch
    >>> from torch import nn
    >>> from torch.nn import functional as F
    >>> from trainlab.data.batching import TensorBatches
    >>> from trainlab.train.trainer import Trainer
    >>> _ = torch.manual_seed(0)
    >>> model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2))
    >>> probes = Probes(every=2)
    >>> trainer = Trainer(model, torch.optim.SGD(model.parameters(), lr=0.1), F.cross_entropy, callbacks=[probes])
    >>> _ = trainer.fit(TensorBatches(torch.randn(64, 4), torch.randint(0, 2, (64,)), batch_size=16), epochs=1)
    >>> [(row["step"], row["layer"], row["name"], row["activation"]) for row in probes.latest]
    [(2, 1, 'Linear 4→8', 'tanh'), (2, 2, 'Linear 8→2', '')]
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from trainlab import registry
from trainlab.diagnose.probe_files import (
    COLUMNS,
    HISTOGRAMS_FILE,
    PROBES_FILE,
    STATS,
    ProbeFiles,
    histogram_fields,
    read_histograms,
    read_probes,
)
from trainlab.nn.activations import activation_bounds, is_relu_family
from trainlab.train.callbacks import Callback, LoopState, Order

__all__ = ["COLUMNS", "HISTOGRAMS_FILE", "PROBES_FILE", "STATS", "ProbedLayer", "Probes", "activation_name",
           "activation_stats", "binned_counts", "find_layers", "histogram_epochs", "read_histograms", "read_probes"]
# (the file format and its readers live in probe_files and are part of this module's API too)

SATURATION_MARGIN = 0.01  # within 1 % of the bound's magnitude: |tanh| > 0.99, sigmoid < 0.01 or > 0.99
_LAYER_TYPES = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
_NOT_ACTIVATIONS = (nn.MultiheadAttention, nn.Softmax, nn.Softmin, nn.LogSoftmax, nn.Softmax2d)


# ---- which modules are probed ----


@cache
def _registered_activations() -> dict[type, str]:
    names: dict[type, str] = {}
    for entry in registry.activations:
        names.setdefault(type(registry.activations.make(entry.name)), entry.name)
    return names


def activation_name(module: nn.Module) -> str | None:
    """The registry name of an activation module (``nn.Tanh()`` → "tanh"), torch's class name in lower
    case for other torch activations (``nn.GELU()`` → "gelu"), None for a module that is no activation."""
    known = _registered_activations()
    if type(module) in known:
        return known[type(module)]
    if type(module).__module__ == "torch.nn.modules.activation" and not isinstance(module, _NOT_ACTIVATIONS):
        return type(module).__name__.lower()
    return None


@dataclass
class ProbedLayer:
    """One Linear/Conv layer and the activation module after it (None for the output layer)."""

    index: int  # 1-based
    module: nn.Module
    activation: nn.Module | None
    activation_name: str  # "" when there is no activation

    @property
    def name(self) -> str:
        m = self.module
        if isinstance(m, nn.Linear):
            return f"Linear {m.in_features}→{m.out_features}"
        kernel = "×".join(map(str, m.kernel_size))
        return f"{type(m).__name__} {m.in_channels}→{m.out_channels} k{kernel}"

    @property
    def unit_dim(self) -> int:
        """The axis of the units: features are last for Linear, channels second for Conv."""
        return -1 if isinstance(self.module, nn.Linear) else 1


def find_layers(model: nn.Module) -> list[ProbedLayer]:
    """The model's Linear/Conv layers in ``modules()`` order, each with the activation that follows it."""
    layers: list[ProbedLayer] = []
    for module in model.modules():
        if isinstance(module, _LAYER_TYPES):
            layers.append(ProbedLayer(len(layers) + 1, module, None, ""))
        elif layers and layers[-1].activation is None and (name := activation_name(module)) is not None:
            layers[-1].activation, layers[-1].activation_name = module, name
    return layers


# ---- measurements (tensors on the device; nothing is read back here) ----

RAW = 8  # device values per layer and probe step; _finish turns them into the STATS columns on the host


def activation_stats(h: torch.Tensor, activation: nn.Module, unit_dim: int) -> list[torch.Tensor]:
    """[act_mean, act_std, act_saturated, act_dead] of activations ``h`` (batch, …) after ``activation``,
    as 0-dim float32 tensors on h's device (NaN where a statistic does not apply); see the module docstring."""
    parts, values, units = _activation_parts(h, activation, unit_dim)
    mean, deviation, saturated, dead = parts.unbind()
    return [mean, deviation / math.sqrt(max(values, 1)), saturated / max(values, 1), dead / max(units, 1)]


def _activation_parts(h: torch.Tensor, activation: nn.Module, unit_dim: int) -> tuple[torch.Tensor, int, int]:
    """What :func:`activation_stats` needs from the device, with the divisions left to the host (fewer
    launches per probe step): [h̄, ‖h − h̄‖, #saturated values, #dead units], #values, #units."""
    h = h.detach().float()
    nan = torch.full((), math.nan, device=h.device)
    # Two passes (mean, then the norm of the deviations): several times faster than torch.std_mean
    # on CPU, and without the cancellation of E[h²] − E[h]².
    mean = h.mean()
    saturated = dead = nan
    bounds = activation_bounds(activation)
    if bounds is not None:
        low, high = bounds
        limit = (high - low) / 2 - SATURATION_MARGIN * max(abs(low), abs(high))
        centred = h if low == -high else h - (low + high) / 2
        saturated = (centred.abs() > limit).sum(dtype=torch.float32)
    units = h.shape[unit_dim] if h.dim() >= 2 else 0
    if is_relu_family(activation) and units:
        others = [d for d in range(h.dim()) if d != unit_dim % h.dim()]
        dead = (h.amax(dim=others) <= 0).sum(dtype=torch.float32)  # units never positive in the batch
    return torch.stack([mean, torch.linalg.vector_norm(h - mean), saturated, dead]), h.numel(), units


def binned_counts(x: torch.Tensor, low: torch.Tensor, high: torch.Tensor, bins: int) -> torch.Tensor:
    """[low, high, fraction of ``x`` in each of ``bins`` equal bins over [low, high]], shape (bins + 2,).

    Bin i holds low + i·w ≤ x < low + (i + 1)·w, w = (high − low)/bins, the last bin also x = high.
    The range stays a tensor (``torch.histc`` wants Python numbers, a read-back), and the counts
    come from ``index_put_(accumulate=True)``, deterministic on every device. An empty range
    becomes [low − 1, low + 1].
    """
    x = x.detach().flatten().float()
    low, high = low.float().reshape(1), high.float().reshape(1)
    empty = high <= low
    low, high = torch.where(empty, low - 1, low), torch.where(empty, high + 1, high)
    index = ((x - low) * (bins / (high - low))).long().clamp_(0, bins - 1)  # (n,): the bin of each value
    ones = torch.ones((), device=x.device).expand(len(index))
    counts = torch.zeros(bins, device=x.device).index_put_((index,), ones, accumulate=True)
    return torch.cat([low, high, counts / max(x.numel(), 1)])


def _activation_histogram(h: torch.Tensor, activation: nn.Module, bins: int) -> torch.Tensor:
    bounds = activation_bounds(activation)
    if bounds is not None:
        low, high = (torch.tensor(b, device=h.device) for b in bounds)
    else:
        low, high = torch.aminmax(h.detach().float())
    return binned_counts(h, low, high, bins)


def _gradient_histogram(g: torch.Tensor, bins: int) -> torch.Tensor:
    largest = g.detach().abs().amax()
    return binned_counts(g, -largest, largest, bins)


def _norms(tensors: list[torch.Tensor]) -> list[torch.Tensor]:
    # One fused call per list instead of one norm per layer: the probe step's cost is mostly launches.
    # Norms in float32 (half-precision sums overflow), float64 for float64 runs (torch refuses to narrow).
    if not tensors:
        return []
    dtype = torch.float64 if any(t.dtype == torch.float64 for t in tensors) else torch.float32
    return list(torch._foreach_norm(tensors, 2, dtype=dtype))


def _finish(raw: list[float], values: int, units: int) -> dict[str, float]:
    """The STATS columns of one layer from its RAW device values (see _activation_parts, Probes._measure)."""
    mean, deviation, saturated, dead, grad, weight, update, previous = raw
    ratio = update / previous if previous else (math.nan if update == 0 else math.inf)
    return {"act_mean": mean, "act_std": deviation / math.sqrt(values) if values else math.nan,
            "act_saturated": saturated / values if values else math.nan,
            "act_dead": dead / units if units else math.nan,
            "grad_norm": grad, "weight_norm": weight, "update_ratio": ratio}


# ---- the callback ----


class Probes(Callback):
    """Records per-layer statistics at every ``every``-th step (see the module docstring for the
    formulas, the steps and the files); histograms at the first step of ``histograms`` epochs (a count
    spread over training, or a list of 1-based epochs), ``bins`` bins each.

    With ``run_dir`` the rows go to ``probes.csv`` and the histograms to ``probe_histograms.json``;
    without, they accumulate in ``rows`` and ``snapshots`` (as :func:`read_probes` and
    :func:`read_histograms` return them). ``latest`` holds the last probe step's rows (Python
    numbers) once its epoch has ended.
    """

    order = Order.PROBES  # before the doctor reads ``latest`` and before the checkpointer commits the epoch

    # The defaults are the recipe's (DiagnoseSpec), which builds Probes with its own values.
    def __init__(self, every: int = 20, histograms: int | list[int] = 5, bins: int = 50,
                 run_dir: str | Path | None = None):
        if every < 1 or bins < 2:
            raise ValueError(f"every must be >= 1 and bins >= 2, got every={every}, bins={bins}")
        self.every, self.histograms, self.bins = every, histograms, bins
        self.run_dir = None if run_dir is None else Path(run_dir)
        self.latest: list[dict[str, Any]] = []
        self.rows: list[dict[str, Any]] = []
        self.snapshots: list[dict[str, Any]] = []
        self._layers: list[ProbedLayer] = []
        self._previous: list[torch.Tensor] = []  # each layer's weight at the end of the step before a probe step
        self._handles: list[torch.utils.hooks.RemovableHandle] = []
        self._armed = self._snapshot = False
        self._captured: list[tuple[torch.Tensor, int, int] | None] = []  # per layer: _activation_parts
        self._act_hists: list[torch.Tensor | None] = []
        self._pending: list[tuple[str, dict[str, Any], torch.Tensor]] = []  # ("rows" | "snapshot", meta, values)
        self._files: ProbeFiles | None = None

    # -- events --

    def on_fit_start(self, state: LoopState) -> None:
        self._layers = find_layers(state.model)
        self._previous = [layer.module.weight.detach().clone() for layer in self._layers]
        self._nan = torch.full((), math.nan, device=self._previous[0].device) if self._layers else None
        self._snapshot_epochs = histogram_epochs(self.histograms, state.epochs)
        self._pending.clear()
        self._files = None
        if self.run_dir is not None:
            layers = [{"layer": layer.index, "name": layer.name, "activation": layer.activation_name}
                      for layer in self._layers]
            self._files = ProbeFiles(self.run_dir, layers, self.bins)
            self._files.restart(state.step)

    def on_epoch_start(self, state: LoopState) -> None:
        # a run resumed inside an epoch took that epoch's snapshot before its checkpoint
        snapshot = state.epoch + 1 in self._snapshot_epochs and state.batch == 0
        # Step 0 and a resumed run's first step have no previous step end to arm them; short epochs get one probe each.
        short_epoch = state.steps_per_epoch < self.every and state.batch == 0
        if snapshot or state.step % self.every == 0 or short_epoch:
            self._arm(state, snapshot)

    def on_batch_end(self, state: LoopState, loss: torch.Tensor) -> None:
        if self._armed:
            self._measure(state)
        if state.step % self.every == 0:  # the next step, number state.step (0-based), is a probe step
            self._arm(state, snapshot=False)

    def on_epoch_end(self, state: LoopState) -> None:
        self.flush()

    def on_fit_end(self, state: LoopState) -> None:
        self.close()

    def close(self) -> None:
        """Write what is pending and remove the hooks (also after a failed fit)."""
        self._disarm()
        self.flush()

    # -- one probe step --

    def _arm(self, state: LoopState, snapshot: bool) -> None:
        """Hook the activations of the coming step and keep the weights it starts from."""
        self._lr = float(state.optimizer.param_groups[0]["lr"])  # the rate the coming step uses
        if self._armed or not self._layers:  # armed by the previous step's end; this epoch's start may add a snapshot
            self._snapshot = self._snapshot or snapshot
            return
        self._armed, self._snapshot = True, snapshot
        self._captured, self._act_hists = [None] * len(self._layers), [None] * len(self._layers)
        torch._foreach_copy_(self._previous, [layer.module.weight.detach() for layer in self._layers])
        for layer in self._layers:
            if layer.activation is not None:
                self._handles.append(layer.activation.register_forward_hook(self._hook(layer)))

    def _hook(self, layer: ProbedLayer) -> Callable[[nn.Module, Any, torch.Tensor], None]:
        i = layer.index - 1

        def record(module: nn.Module, inputs: Any, output: torch.Tensor) -> None:
            # Training forwards only (not validation), and only the first (line searches evaluate again).
            if module.training and self._captured[i] is None:
                self._captured[i] = _activation_parts(output, module, layer.unit_dim)
                if self._snapshot:
                    self._act_hists[i] = _activation_histogram(output, module, self.bins)

        return record

    def _disarm(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        self._armed = False

    def _measure(self, state: LoopState) -> None:
        """After the probe step: per layer [activation parts ×4, ‖g‖, ‖W_s‖, ‖W_s − W_{s−1}‖, ‖W_{s−1}‖]."""
        self._disarm()
        nan, weights = self._nan, [layer.module.weight.detach() for layer in self._layers]
        grads = [layer.module.weight.grad for layer in self._layers]
        present = iter(_norms([g for g in grads if g is not None]))
        grad_norms = [nan if g is None else next(present) for g in grads]
        weight_norms, previous_norms = _norms(weights), _norms(self._previous)
        torch._foreach_sub_(self._previous, weights)  # now W_{s−1} − W_s; refilled when next armed
        update_norms = _norms(self._previous)
        values, sizes = [], []
        for i, captured in enumerate(self._captured):
            parts, n, units = captured or (nan.expand(4), 0, 0)
            values += [parts, torch.stack([grad_norms[i], weight_norms[i], update_norms[i], previous_norms[i]])]
            sizes.append((n, units))
        meta = {"step": state.step - 1, "epoch": state.epoch + 1, "lr": self._lr, "sizes": sizes}
        self._pending.append(("rows", meta, torch.cat(values)))  # (layers · RAW,)
        if self._snapshot:
            blank, hists = nan.expand(self.bins + 2), []
            for act, grad in zip(self._act_hists, grads):
                hists += [blank if act is None else act, blank if grad is None else _gradient_histogram(grad, self.bins)]
            self._pending.append(("snapshot", meta, torch.cat(hists)))  # (layers · 2 · (bins + 2),)
        self._snapshot = False

    # -- reading back, once per epoch --

    def flush(self) -> None:
        """Read the pending probe steps back in one transfer and write them out."""
        if not self._pending:
            return
        values = torch.cat([t for _, _, t in self._pending]).tolist()
        rows, snapshots, at = [], [], 0
        for kind, meta, tensor in self._pending:
            chunk, at = values[at:at + tensor.numel()], at + tensor.numel()
            if kind == "rows":
                rows.append(self._rows(meta, chunk))
            else:
                snapshots.append(self._snapshot_record(meta, chunk))
        self._pending.clear()
        self.latest = rows[-1] if rows else self.latest
        flat = [row for step_rows in rows for row in step_rows]
        if self._files is None:
            self.rows += flat
            self.snapshots += snapshots
        else:
            self._files.append(flat, snapshots)

    def _rows(self, meta: dict[str, Any], values: list[float]) -> list[dict[str, Any]]:
        return [{"step": meta["step"], "epoch": meta["epoch"], "layer": layer.index, "name": layer.name,
                 "activation": layer.activation_name, "lr": meta["lr"],
                 **_finish(values[RAW * i:RAW * (i + 1)], *meta["sizes"][i])} for i, layer in enumerate(self._layers)]

    def _snapshot_record(self, meta: dict[str, Any], values: list[float]) -> dict[str, Any]:
        size, layers = self.bins + 2, []
        for i, layer in enumerate(self._layers):
            act, grad = values[2 * size * i:2 * size * i + size], values[2 * size * i + size:2 * size * (i + 1)]
            layers.append({"layer": layer.index, **histogram_fields("act", act), **histogram_fields("grad", grad)})
        return {"step": meta["step"], "epoch": meta["epoch"], "layers": layers}


def histogram_epochs(histograms: int | list[int], epochs: int) -> set[int]:
    """The 1-based epochs whose first step is binned: the list as given, or ``histograms`` epochs
    spread evenly from the first to the last (``5`` of 20 epochs → 1, 6, 10, 15, 20)."""
    if isinstance(histograms, list):
        return set(histograms)
    if histograms <= 0 or epochs <= 0:
        return set()
    if histograms == 1:
        return {1}
    return {int(e) for e in np.rint(np.linspace(1, epochs, min(histograms, epochs)))}

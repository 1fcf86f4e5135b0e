"""Snapshot ensembles (Huang et al. 2017, "Snapshot Ensembles: Train 1, get M for free").

A cyclic or SGDR schedule restarts the rate M times in one run; the weights at the end of each
cycle, where the rate is lowest, are a snapshot. The ensemble averages the *predictions* of the
last M snapshots, never their weights:

    p̄(y | x) = (1/M) Σ_{m=1}^{M} softmax(f_m(x))   (classification),   ȳ(x) = (1/M) Σ_m f_m(x)   (regression).

Snapshots are safetensors checkpoints (``snapshots/cycle-NNN``) holding the model's weights and
the run's preprocessing, so :class:`trainlab.predict.Predictor` loads any of them. This module is what a run
needs (the callback, the cycle ends, the evaluation); :mod:`trainlab.tools.snapshots` adds
evaluating a run directory, and :mod:`trainlab.report.snapshots` the report's section.
"""
from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
from torch.optim.lr_scheduler import CosineAnnealingWarmRestarts, CyclicLR, LRScheduler

from trainlab.errors import TrainlabError
from trainlab.optim.schedules.warmup import Warmup
from trainlab.recipe import Recipe
from trainlab.rundir import SNAPSHOTS, snapshot_files
from trainlab.train.callbacks import Callback, LoopState, Order
from trainlab.train.checkpoint import load_checkpoint, save_checkpoint, split_prefix
from trainlab.train.trainer import Trainer

__all__ = ["SNAPSHOT_DIR", "BuiltRun", "SnapshotCallback", "SnapshotTable", "StepSnapshotCallback", "cycle_ends",
           "evaluate_ensemble", "format_table", "snapshot_callback", "snapshot_ends", "snapshot_files", "table_rows"]


class BuiltRun(Protocol):
    """What these functions read of a built run (:class:`trainlab.run.Setup` has it all)."""

    recipe: Recipe
    task: str
    model: torch.nn.Module
    trainer: Trainer
    preprocessor: Any
    scheduler: Any
    train: Any
    val: Any
    test: Any


SNAPSHOT_DIR = SNAPSHOTS


def cycle_ends(scheduler: LRScheduler | None, total: int) -> list[int]:
    """The interval counts (from 1) at which a cycle of ``scheduler`` ends, up to ``total`` intervals.

    SGDR (T_0 = first_cycle, m = cycle_mult): ends at S + T_0 (1 + m + … + m^{k−1}), k = 1, 2, …;
    cyclic (step sizes s_up, s_down): ends at S + k (s_up + s_down). S is the warm-up length
    (0 without warm-up); these are the intervals after which the rate jumps back up.

    >>> import torch
    >>> from trainlab.optim.schedules import sgdr
    >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    >>> cycle_ends(sgdr(opt, first_cycle=2, cycle_mult=2), total=20)
    [2, 6, 14]
    """
    offset = 0
    if isinstance(scheduler, Warmup):
        offset, scheduler = scheduler.steps, scheduler.inner
    if isinstance(scheduler, CosineAnnealingWarmRestarts):
        ends, end, length = [], offset + scheduler.T_0, scheduler.T_0
        while end <= total:
            ends.append(end)
            length *= scheduler.T_mult
            end += length
        return ends
    if isinstance(scheduler, CyclicLR):
        length = round(scheduler.total_size)
        return list(range(offset + length, total + 1, length))
    name = "constant" if scheduler is None else type(scheduler).__name__
    raise ValueError(f"needs a schedule with restarts (schedule.name 'sgdr' or 'cyclic'), got {name}")


class SnapshotCallback(Callback):
    """Saves ``directory/cycle-NNN`` when epoch ``e`` (1-based) in ``ends`` finishes.

    Each snapshot holds ``model.*`` tensors plus ``extra_tensors`` (e.g. ``preprocess.*``) and a JSON
    body {cycle, epoch, step}. With ``keep`` only the newest ``keep`` snapshots stay on disk.
    :func:`snapshot_callback` builds the right kind for a run (per-epoch or per-step schedule).
    """

    order = Order.SNAPSHOTS  # after the checkpointers: a snapshot is an extra, never in the way of a resume point

    def __init__(self, directory: str | Path, ends: Sequence[int], keep: int | None = None,
                 extra_tensors: Mapping[str, torch.Tensor] | None = None):
        self.directory, self.ends = Path(directory), list(ends)
        self.keep, self.extra_tensors = keep, dict(extra_tensors or {})
        self._cycle = {end: k for k, end in enumerate(self.ends, start=1)}

    def on_epoch_end(self, state: LoopState) -> None:
        cycle = self._cycle.get(len(state.history))
        if cycle is not None:
            self.save(state, cycle)

    def save(self, state: LoopState, cycle: int) -> Path:
        tensors = {f"model.{k}": v for k, v in state.model.state_dict().items()}
        tensors.update(self.extra_tensors)
        body = {"cycle": cycle, "epoch": state.epoch + 1, "step": state.step}
        path = save_checkpoint(self.directory / f"cycle-{cycle:03d}", tensors, body)
        if self.keep is not None and cycle > self.keep:
            old = self.directory / f"cycle-{cycle - self.keep:03d}"
            old.with_suffix(".json").unlink(missing_ok=True)  # the commit record first
            old.with_suffix(".safetensors").unlink(missing_ok=True)
        return path


class StepSnapshotCallback(SnapshotCallback):
    """:class:`SnapshotCallback` for per-step schedules: ``ends`` count optimizer steps, so a
    snapshot may fall inside an epoch."""

    def on_epoch_end(self, state: LoopState) -> None:
        return None

    def on_batch_end(self, state: LoopState, loss: torch.Tensor) -> None:
        cycle = self._cycle.get(state.step)
        if cycle is not None:
            self.save(state, cycle)


def snapshot_ends(setup: BuiltRun) -> list[int]:
    """The cycle ends of a built run (in its schedule's intervals); a clear error if there are none."""
    recipe, scheduler = setup.recipe, setup.scheduler
    per_epoch = recipe.schedule.interval == "epoch"
    total = recipe.stopping.epochs * (1 if per_epoch else len(setup.train))
    try:
        ends = cycle_ends(scheduler, total)
    except ValueError:
        raise TrainlabError(f"snapshots: schedule.name '{recipe.schedule.name}' has no cycles to snapshot at the end "
                            "of; use 'sgdr' or 'cyclic'") from None
    if not ends:
        unit = "epochs" if per_epoch else "steps"
        raise TrainlabError(f"snapshots: schedule '{recipe.schedule.name}' ends no cycle within the run's {total} "
                            f"{unit}; shorten the cycles or raise stopping.epochs")
    return ends


def snapshot_callback(run_dir: str | Path, setup: BuiltRun, keep: int | None = None) -> SnapshotCallback:
    """The snapshot callback for a run: cycle ends from its schedule, files under run_dir/snapshots/."""
    ends = snapshot_ends(setup)
    extra = {f"preprocess.{k}": v for k, v in setup.preprocessor.state_dict().items()}
    kind = SnapshotCallback if setup.recipe.schedule.interval == "epoch" else StepSnapshotCallback
    return kind(Path(run_dir) / SNAPSHOT_DIR, ends, keep, extra)


# ---- evaluation ----


@dataclass
class SnapshotTable:
    """Each member's metrics, their mean, and the ensemble's, on one split."""

    split: str
    members: list[dict[str, Any]]  # {"snapshot", "epoch", "step", metric: value, …}
    mean_member: dict[str, float]
    ensemble: dict[str, float]
    metrics: list[str]
    prediction: torch.Tensor | None = field(default=None, repr=False)  # the ensemble's p̄ (or ȳ), (n, k)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for run.json."""
        return {"split": self.split, "metrics": self.metrics, "members": self.members,
                "mean_member": self.mean_member, "ensemble": self.ensemble}

    def format(self) -> str:
        return format_table(self.to_dict())


def table_rows(summary: Mapping[str, Any], single: Mapping[str, float] | None) -> list[tuple[str, dict]]:
    rows = [(f"{m['snapshot']} (epoch {m['epoch']})", m) for m in summary["members"]]
    rows += [("mean of members", summary["mean_member"]), (f"ensemble of {len(summary['members'])}",
                                                            summary["ensemble"])]
    if single:
        split = summary["split"]
        rows.insert(0, ("final model", {k.removeprefix(f"{split}_"): v for k, v in single.items()}))
    return rows


def format_table(summary: Mapping[str, Any], single: Mapping[str, float] | None = None) -> str:
    """A text table of :meth:`SnapshotTable.to_dict` data (``single``: the final model's test metrics)."""
    metrics = summary["metrics"]
    lines = [f"{'on ' + summary['split']:<24}" + "".join(f"{m:>12}" for m in metrics)]
    for label, row in table_rows(summary, single):
        lines.append(f"{label:<24}" + "".join(f"{row.get(m, float('nan')):>12.4f}" for m in metrics))
    return "\n".join(lines)


@torch.no_grad()
def _outputs(model: torch.nn.Module, batches) -> tuple[torch.Tensor, torch.Tensor]:
    model.eval()
    outs, ys = zip(*((model(x), y) for x, y in batches.epoch(0)))
    return torch.cat(outs), torch.cat(ys)


def _scores(setup: BuiltRun, out: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    trainer = setup.trainer
    scores = {"loss": float(trainer.loss_fn(out, y))}
    scores.update({name: float(fn(out, y)) / len(y) for name, fn in trainer.metrics.items()})
    return scores


def _snapshot_dir(setup: BuiltRun) -> Path:
    for callback in setup.trainer.callbacks:
        if isinstance(callback, SnapshotCallback):
            return callback.directory
    raise TrainlabError("evaluate_snapshots: this setup has no SnapshotCallback; pass the run directory instead")


def evaluate_ensemble(setup: BuiltRun, last_m: int | None = None, directory: str | Path | None = None) -> SnapshotTable:
    """Evaluate each of the last ``last_m`` snapshots (default: all kept) and their ensemble.

    ``setup`` is a built run (its data split and model); the snapshots are read from ``directory``,
    by default that of its :class:`SnapshotCallback`. The split is test, or val when the run has no
    test split. For classification the ensemble's logits are log p̄, so its loss is
    −(1/n) Σ log p̄(y_i | x_i) and its accuracy is that of arg max p̄; by Jensen's inequality that
    loss is never above the members' mean loss. For regression the ensemble predicts ȳ.
    """
    directory = _snapshot_dir(setup) if directory is None else Path(directory)
    files = snapshot_files(directory)
    if not files:
        raise TrainlabError(f"evaluate_snapshots: no snapshots in {directory}; train with a cyclic or sgdr "
                            "schedule and snapshots switched on")
    if last_m is not None and not 1 <= last_m <= len(files):
        raise TrainlabError(f"evaluate_snapshots last_m: {last_m} is not valid; this run kept {len(files)} "
                            f"snapshots, so use 1 … {len(files)}")
    split, batches = ("test", setup.test) if setup.test is not None else ("val", setup.val)
    if batches is None:
        raise TrainlabError("evaluate_snapshots: the run has no test or validation split; "
                            "set data.test_fraction or data.val_fraction above 0")
    model = copy.deepcopy(setup.model)
    classify = setup.task == "classification"
    members, total = [], None
    for path in files[-(last_m or len(files)):]:
        tensors, body = load_checkpoint(path)
        model.load_state_dict(split_prefix(tensors, "model"))
        out, y = _outputs(model, batches)
        members.append({"snapshot": path.stem, "epoch": body["epoch"], "step": body["step"],
                        **_scores(setup, out, y)})
        prediction = out.softmax(dim=1) if classify else out
        total = prediction if total is None else total + prediction
    mean = total / len(members)
    names = ["loss", *setup.trainer.metrics]
    ensemble = _scores(setup, mean.log() if classify else mean, y)
    mean_member = {m: sum(row[m] for row in members) / len(members) for m in names}
    return SnapshotTable(split, members, mean_member, ensemble, names, mean)

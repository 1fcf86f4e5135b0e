"""Snapshot ensembles as a tool: evaluate the snapshots of a run directory or of a built run.

The pieces a run needs (the callback at the cycle ends, the evaluation) live in
:mod:`trainlab.ensemble`, the report's section in :mod:`trainlab.report.snapshots`; this module
re-exports them beside :func:`evaluate_snapshots`, which also takes a run directory.
"""
from __future__ import annotations

from pathlib import Path

import torch

from trainlab import ensemble
from trainlab.ensemble import (
    SNAPSHOT_DIR,
    BuiltRun,
    SnapshotCallback,
    SnapshotTable,
    StepSnapshotCallback,
    cycle_ends,
    format_table,
    snapshot_callback,
    snapshot_ends,
    snapshot_files,
)
from trainlab.errors import TrainlabError
from trainlab.report.snapshots import snapshots_html
from trainlab.run import build
from trainlab.rundir import RECIPE, RunDir

__all__ = ["SNAPSHOT_DIR", "SnapshotCallback", "SnapshotTable", "StepSnapshotCallback", "cycle_ends",
           "evaluate_snapshots", "format_table", "snapshot_callback", "snapshot_ends", "snapshot_files",
           "snapshots_html"]


def evaluate_snapshots(source: str | Path | BuiltRun, last_m: int | None = None) -> SnapshotTable:
    """Evaluate each of the last ``last_m`` snapshots (default: all kept) and their ensemble
    (:func:`trainlab.ensemble.evaluate_ensemble`).

    ``source`` is a run directory (its recipe is rebuilt to get the same data split; torch's random
    state is left as it was) or the :class:`~trainlab.run.Setup` that trained with a
    :class:`SnapshotCallback`.
    """
    if not isinstance(source, (str, Path)):
        return ensemble.evaluate_ensemble(source, last_m)
    run = RunDir(source)
    if not (run.path / RECIPE).is_file():
        raise TrainlabError(f"evaluate_snapshots: {run.path} is not a trainlab run directory (no recipe.yaml)")
    with torch.random.fork_rng(devices=[]):
        setup = build(run.recipe())
    return ensemble.evaluate_ensemble(setup, last_m, run.snapshots)

"""TensorBoard: event files under ``RUN_DIR/tb/``, written with torch's ``SummaryWriter``.

Scalars: every column of metrics.csv (``loss``, ``val_loss``, ``accuracy``, ``lr``, ``seconds`` …)
under its own name at step = the 1-based epoch; with probes on, ``probes/<layer>/<statistic>`` at
step = the optimizer step of each probe and ``probes/<layer>/act`` and ``…/grad`` histograms;
the resolved recipe as text (``recipe``); the recipe's values as hparams with the final metrics
(``final/<metric>``: the last epoch's, the test split's and the eval-mode training metrics).
A resumed run purges the events written after its checkpoint, so every epoch appears once.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from trainlab.diagnose.probe_files import STATS, read_histograms, read_probes
from trainlab.rundir import RunDir
from trainlab.tracking.base import Tracker, flatten, require
from trainlab.train.callbacks import LoopState

TB_DIR = "tb"


class TensorBoardTracker(Tracker):
    """Mirrors a run to TensorBoard (see the module docstring for the tags)."""

    def __init__(self, run: RunDir):
        require("tensorboard", "tensorboard")
        self.run, self.writer = run, None
        self.log_dir = run.path / TB_DIR

    def on_fit_start(self, state: LoopState) -> None:
        from torch.utils.tensorboard import SummaryWriter

        done = len(state.history)
        self.writer = SummaryWriter(str(self.log_dir), purge_step=done + 1 if done else None)
        if not done:
            text = self.run.recipe_text()
            self.writer.add_text("recipe", "\n".join("    " + line for line in text.splitlines()), 0)

    def on_epoch_end(self, state: LoopState) -> None:
        epoch = len(state.history)
        for key, value in state.logs.items():
            if key != "epoch":
                self.writer.add_scalar(key, value, epoch)
        self.writer.flush()

    def on_fit_end(self, state: LoopState) -> None:
        """Probe statistics and histograms, read once from probes.csv and probe_histograms.json."""
        for row in read_probes(self.run.path):
            layer = f"probes/{row['layer']:02d} {row['name']}"
            for stat in STATS:
                if math.isfinite(row[stat]):
                    self.writer.add_scalar(f"{layer}/{stat}", row[stat], row["step"])
        histograms = read_histograms(self.run.path)
        names = {layer["layer"]: layer["name"] for layer in histograms.get("layers", [])}
        for snapshot in histograms.get("snapshots", []):
            for layer in snapshot["layers"]:
                for kind in ("act", "grad"):
                    tag = f"probes/{layer['layer']:02d} {names.get(layer['layer'], '')}/{kind}"
                    _histogram(self.writer, tag, layer[f"{kind}_range"], layer[f"{kind}_hist"], snapshot["step"])

    def end(self, run: RunDir, status: str) -> None:
        if self.writer is None:  # training never started
            return
        from torch.utils.tensorboard.summary import hparams

        record = run.status()
        final = {f"final/{k}": v for k, v in {**record.get("final", {}), **record.get("test", {})}.items()
                 if k not in ("epoch", "seconds") and isinstance(v, (int, float)) and math.isfinite(v)}
        params = {k: v for k, v in flatten(run.recipe_data()).items()}
        params["status"] = status
        for summary in hparams(params, final):
            self.writer.file_writer.add_summary(summary)
        epochs = record.get("epochs", 0)
        for key, value in final.items():
            self.writer.add_scalar(key, value, epochs)
        self.writer.close()


def _histogram(writer: Any, tag: str, value_range: list[float] | None, fractions: list[float | None] | None,
               step: int) -> None:
    """One stored histogram (equal bins over ``value_range``, fractions summing to 1) as TensorBoard's."""
    if value_range is None or fractions is None or None in value_range or None in fractions:
        return
    low, high = value_range
    counts = np.asarray(fractions, dtype=float)
    edges = np.linspace(low, high, len(counts) + 1)
    centers = (edges[:-1] + edges[1:]) / 2
    writer.add_histogram_raw(tag, min=low, max=high, num=float(counts.sum()), sum=float((counts * centers).sum()),
                             sum_squares=float((counts * centers**2).sum()), bucket_limits=edges[1:].tolist(),
                             bucket_counts=counts.tolist(), global_step=step)


def log_dir(run_dir: str | Path) -> Path:
    """Where a run's event files are."""
    return Path(run_dir) / TB_DIR

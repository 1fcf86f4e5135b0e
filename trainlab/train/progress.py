"""Progress output: a live rich bar on a terminal, one plain line per epoch otherwise."""
from __future__ import annotations

import sys
from typing import TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from trainlab.train.callbacks import Callback, LoopState


def format_logs(logs: dict[str, float]) -> str:
    """``epoch 3/20  loss 0.412  accuracy 0.871  …`` for one row of metrics."""
    parts = []
    for key, value in logs.items():
        if key in ("epoch", "seconds"):
            continue
        parts.append(f"{key} {value:.3g}" if key == "lr" else f"{key} {value:.4f}")
    return "  ".join(parts) + f"  ({logs.get('seconds', 0.0):.2f}s)"


class EpochLines(Callback):
    """One line per epoch, for log files and ``--quiet`` runs that still want a trace."""

    def __init__(self, stream: TextIO | None = None):
        self.stream = stream or sys.stdout

    def on_epoch_end(self, state: LoopState) -> None:
        print(f"epoch {state.logs['epoch']}/{state.epochs}  {format_logs(state.logs)}", file=self.stream, flush=True)


class ProgressBar(Callback):
    """A live bar over all steps of the run, with the last epoch's metrics beside it."""

    def __init__(self, console: Console | None = None, refresh_steps: int = 10):
        self.console = console or Console()
        self.refresh_steps = refresh_steps
        self.progress: Progress | None = None

    def on_fit_start(self, state: LoopState) -> None:
        self.progress = Progress(
            TextColumn("epoch {task.fields[epoch]}/{task.fields[epochs]}"), BarColumn(), MofNCompleteColumn(),
            TimeRemainingColumn(), TextColumn("{task.fields[metrics]}"), console=self.console, transient=False,
        )
        self.progress.start()
        total = state.epochs * state.steps_per_epoch
        self.task = self.progress.add_task("train", total=total, completed=state.step, epoch=state.epoch + 1,
                                           epochs=state.epochs, metrics="")

    def on_batch_end(self, state: LoopState, loss) -> None:
        if state.step % self.refresh_steps == 0:
            self.progress.update(self.task, completed=state.step)

    def on_epoch_end(self, state: LoopState) -> None:
        logs = state.logs
        shown = "  ".join(f"{k} {v:.4f}" for k, v in logs.items() if k in ("loss", "val_loss", "accuracy", "val_accuracy"))
        self.progress.update(self.task, completed=state.step, epoch=logs["epoch"], metrics=shown)

    def on_fit_end(self, state: LoopState) -> None:
        if self.progress is not None:
            self.progress.stop()

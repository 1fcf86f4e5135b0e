"""Callbacks that write a run directory: metrics.csv, events.jsonl and checkpoints."""
from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from trainlab.train.background import BackgroundWriter
from trainlab.train.callbacks import Callback, LoopState, Order


class CSVLogger(Callback):
    """``metrics.csv``: a header, then one row per epoch, written as each epoch ends.

    On resume the file is rewritten from the checkpoint's history, so rows of epochs that a
    killed run finished after its last checkpoint do not appear twice. With a ``writer`` (the
    run's :class:`~trainlab.train.background.BackgroundWriter`) the rows are appended by the
    writer's thread, in order, with the next checkpoint or at the latest half a second later
    (:data:`~trainlab.train.background.LAZY_S`), several rows in one write.
    """

    order = Order.CSV

    def __init__(self, path: Path, columns: list[str], writer: BackgroundWriter | None = None):
        self.path, self.columns, self.writer = Path(path), columns, writer

    def _rows(self, rows: list[dict[str, Any]], header: bool = False) -> str:
        text = io.StringIO(newline="")
        writer = csv.writer(text)
        if header:
            writer.writerow(self.columns)
        writer.writerows([row.get(column, "") for column in self.columns] for row in rows)  # as csv.DictWriter
        return text.getvalue()

    def on_fit_start(self, state: LoopState) -> None:
        text = self._rows(state.history, header=True)

        def write() -> None:
            with open(self.path, "w", newline="") as f:
                f.write(text)

        if self.writer is None:
            write()
        else:
            self.writer.submit(write, wake=False)

    def on_epoch_end(self, state: LoopState) -> None:
        text = self._rows([state.logs])
        if self.writer is None:
            with open(self.path, "a", newline="") as f:
                f.write(text)
        else:
            self.writer.append(self.path, text)


class EventLog(Callback):
    """``events.jsonl``: one JSON object per notable event (start, checkpoint, stop, end).

    With a ``writer`` (the run's :class:`~trainlab.train.background.BackgroundWriter`) each line is
    appended by the writer's thread, after the checkpoint files queued before it: a ``checkpoint``
    event is logged only once its files are on disk, and the lines keep the order of the events (each
    within half a second, :data:`~trainlab.train.background.LAZY_S`; a line's ``time`` is its event's)."""

    order = Order.EVENTS

    def __init__(self, path: Path, writer: BackgroundWriter | None = None):
        self.path, self.writer = Path(path), writer

    def write(self, event: str, **fields: Any) -> None:
        line = json.dumps({"time": time.time(), "event": event, **fields}) + "\n"
        if self.writer is None:
            self._append(line)
        else:
            self.writer.append(self.path, line, newline=None)

    def _append(self, line: str) -> None:
        with open(self.path, "a") as f:
            f.write(line)

    def on_fit_start(self, state: LoopState) -> None:
        self.write("fit_start", epoch=state.epoch if state.history else 0, step=state.step)

    def on_fit_end(self, state: LoopState) -> None:
        self.write("fit_end", epochs=len(state.history), step=state.step, stop_reason=state.stop_reason)


class Checkpointer(Callback):
    """Saves a checkpoint every ``every`` epochs and when training ends.

    ``save(state)`` is the run's own function that gathers model, optimizer, schedule, RNG and
    callback states; it returns the written file.
    """

    order = Order.CHECKPOINT

    def __init__(self, every: int, save: Callable[[LoopState], Path], events: EventLog | None = None):
        self.every, self.save, self.events = every, save, events
        self.saved_epoch = -1

    def _save(self, state: LoopState) -> None:
        path = self.save(state)
        self.saved_epoch = len(state.history)
        if self.events:
            self.events.write("checkpoint", epoch=self.saved_epoch, file=str(path.name))

    def on_epoch_end(self, state: LoopState) -> None:
        done = len(state.history)
        if done % self.every == 0 or done == state.epochs:
            self._save(state)

    def on_fit_end(self, state: LoopState) -> None:
        if self.saved_epoch != len(state.history) and state.history:
            self._save(state)


class StepCheckpointer(Callback):
    """Saves a checkpoint every ``every`` optimizer steps inside an epoch (never at its last batch,
    which the epoch's own checkpoint covers): a long epoch killed midway resumes from the batch
    after the newest one, with the epoch's position, running sums and every RNG state."""

    order = Order.CHECKPOINT

    def __init__(self, every: int, save: Callable[[LoopState], Path], events: EventLog | None = None):
        self.every, self.save, self.events = every, save, events

    def on_batch_end(self, state: LoopState, loss: Any) -> None:
        if state.step % self.every or state.batch >= state.steps_per_epoch:
            return
        # Never let a NaN replace the last good checkpoint: the epoch's loss sum holds every step's
        # loss, and a step can still have blown the weights up after its loss was computed.
        if not (torch.stack(state.sums).isfinite().all() and all(p.isfinite().all() for p in state.model.parameters())):
            if self.events:
                self.events.write("checkpoint_skipped", epoch=len(state.history), batch=state.batch,
                                  reason="non-finite loss or weights")
            return
        path = self.save(state)
        if self.events:
            self.events.write("checkpoint", epoch=len(state.history), batch=state.batch, file=str(path.name))


class LineSearchStops(Callback):
    """Tallies why each step of an L-BFGS optimizer (alone or as a chain's stage) ended, so a run can
    report it: ``{"steps", "iterations", "reasons": {reason: count}}``. ``read()`` gives the last
    step's ``{"reason", "iterations", …}`` or None (trainlab.optim.stages.line_search_stop). Added
    only to runs that use L-BFGS; other runs pay nothing."""

    order = Order.LINE_SEARCH  # before the checkpointers, so a checkpoint includes the step just taken

    def __init__(self, read: Callable[[], dict[str, Any] | None]) -> None:
        self.read = read
        self.steps, self.iterations, self.reasons = 0, 0, {}

    def on_batch_end(self, state: LoopState, loss: Any) -> None:
        stop = self.read()
        if stop:
            self.steps += 1
            self.iterations += stop["iterations"]
            self.reasons[stop["reason"]] = self.reasons.get(stop["reason"], 0) + 1

    def summary(self) -> dict[str, Any]:
        return {"steps": self.steps, "iterations": self.iterations, "reasons": dict(self.reasons)}

    def state_dict(self) -> dict[str, Any]:
        return self.summary()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state:
            self.steps, self.iterations, self.reasons = state["steps"], state["iterations"], dict(state["reasons"])

"""The run directory's layout, in one place: every module reads and writes a run's files here.

A run directory holds ``recipe.yaml`` (resolved, with versions), ``run.json`` (status, data shape,
final metrics), ``metrics.csv`` (one row per epoch), ``events.jsonl``, ``checkpoints/``,
``findings.json`` (the doctor's), ``report.html``, and, when switched on, ``snapshots/``,
``probes.csv`` and ``probe_histograms.json``. :func:`stamped_dir` is the one place that makes a new
time-stamped directory (runs, comparisons, LR finder outputs).

>>> import tempfile
>>> run = RunDir.create(tempfile.mkdtemp(), "demo")
>>> run.path.name.startswith("demo-"), run.latest_checkpoint(), run.findings()
(True, None, None)
"""
from __future__ import annotations

import csv
import functools
import hashlib
import io
import json
import math
import os
import platform
import secrets
import sys
import time
from contextlib import AbstractContextManager
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from trainlab.errors import CheckpointError, RecipeError, TrainlabError
from trainlab.recipe import Recipe, apply_overrides, load_recipe, validate_recipe
from trainlab.safety.atomic import atomic_write, fsync_dir, readable_json
from trainlab.safety.locks import exclusive
from trainlab.safety.redaction import redact_argv
from trainlab.safety.strict_yaml import load_yaml, read_json, read_text

RUN_JSON, RECIPE, METRICS, EVENTS = "run.json", "recipe.yaml", "metrics.csv", "events.jsonl"
FINDINGS, REPORT, CHECKPOINTS, SNAPSHOTS = "findings.json", "report.html", "checkpoints", "snapshots"
SOLUTION = "solution.npz"  # a pde run's u, u* and residual on its test grid (trainlab.pde)


def versions() -> dict[str, str]:
    """The versions a run records (recipe.yaml's header, run.json)."""
    return dict(_versions())


@functools.lru_cache(maxsize=1)
def _versions() -> tuple[tuple[str, str], ...]:  # once per process: the package metadata lookup takes ~0.3 ms
    try:
        own = version("trainlab")
    except PackageNotFoundError:  # a source tree that was never installed
        own = "0+unknown"
    import torch  # here, not at the top: reading run directories (trainlab runs) needs no torch

    return ("trainlab", own), ("torch", torch.__version__), ("python", platform.python_version())


STAMP_TRIES = 100  # numbered names tried before a random suffix


def stamped_dir(parent: str | Path, name: str) -> Path:
    """Make and return ``parent/NAME-YYYYmmdd-HHMMSS`` (``-2``, ``-3`` … when that one exists).

    ``mkdir`` either creates the directory or fails because it exists, atomically, so processes
    starting at the same second each get their own; after :data:`STAMP_TRIES` taken names a random
    suffix ends the search."""
    parent, stamp = Path(parent), time.strftime("%Y%m%d-%H%M%S")
    parent.mkdir(parents=True, exist_ok=True)
    suffixes = ["", *(f"-{n}" for n in range(2, STAMP_TRIES + 1))]
    while True:
        suffix = suffixes.pop(0) if suffixes else f"-{os.getpid()}-{secrets.token_hex(3)}"
        candidate = parent / f"{name}-{stamp}{suffix}"
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            continue


def _float(value: str | None) -> float:
    try:
        return float(value) if value not in (None, "") else math.nan
    except ValueError:
        return math.nan


def read_table(path: Path, text_columns: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """The rows of a CSV file, every column a float (NaN if empty) except ``text_columns``; [] if absent."""
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as f:  # probes.csv layer names hold "→"
        return [{k: (v if k in text_columns else _float(v)) for k, v in row.items()} for row in csv.DictReader(f)]


class RunDir:
    """A run directory at ``path`` (which may not exist yet)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    @classmethod
    def create(cls, parent: str | Path, name: str) -> RunDir:
        """A new, empty, time-stamped run directory under ``parent``."""
        return cls(stamped_dir(parent, name))

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    def file(self, name: str) -> Path:
        return self.path / name

    # ---- identity ----

    def is_run(self) -> bool:
        """Whether it holds run.json and recipe.yaml."""
        return (self.path / RUN_JSON).is_file() and (self.path / RECIPE).is_file()

    def require(self, prefix: str = "") -> RunDir:
        """Itself, or a clear error if it is not a run directory."""
        if not self.is_run():
            raise TrainlabError(f"{prefix}{self.path} is not a trainlab run directory (no run.json / recipe.yaml)")
        return self

    def start(self, recipe: Recipe, writer: str = "trainlab", status: dict[str, Any] | bytes | None = None) -> None:
        """Write ``recipe.yaml`` (resolved, with versions) and ``run.json``: ``status`` (or its bytes), by default
        :func:`created_status` (status ``created``, the command line with passwords hidden, the
        resolved recipe and its fingerprint for ``--resume``). Both renames are made durable by one
        fsync of the directory, after both."""
        self.write_recipe(recipe, f"written by {writer}", sync_dir=False)
        self.write_status(created_status(recipe) if status is None else status)

    def lock(self, purpose: str = "training", wait_s: float = 0.0) -> AbstractContextManager[None]:
        """The run directory's exclusive lock (:func:`trainlab.safety.locks.exclusive`)."""
        return exclusive(self.path, purpose, wait_s)

    # ---- run.json, recipe.yaml ----

    def status(self) -> dict[str, Any]:
        """run.json; a truncated or damaged file is a one-line error naming it."""
        status = read_json(self.path / RUN_JSON, "run.json")
        if not isinstance(status, dict):
            raise TrainlabError(f"run.json {self.path / RUN_JSON} is damaged (not a JSON object)")
        return status

    def write_status(self, status: dict[str, Any] | bytes, sync_dir: bool = True) -> None:
        """Write run.json: ``status``, or its bytes from :func:`status_bytes`. ``sync_dir=False``: the
        caller fsyncs the directory later (:meth:`fsync`), after more renames in it."""
        data = status if isinstance(status, bytes) else status_bytes(status)
        atomic_write(self.path / RUN_JSON, data, sync_dir)

    def write_recipe(self, recipe: Recipe, note: str, sync_dir: bool = True) -> None:
        header = "".join(f"# {k} {v}\n" for k, v in versions().items())
        atomic_write(self.path / RECIPE, f"# resolved recipe, {note}\n{header}{recipe_yaml(recipe)}".encode(), sync_dir)

    def fsync(self) -> None:
        """Make the renames in the directory durable (after writes with ``sync_dir=False``)."""
        fsync_dir(self.path)

    def recipe_text(self) -> str:
        return read_text(self.path / RECIPE, "recipe.yaml")

    def recipe_data(self) -> dict[str, Any]:
        """recipe.yaml as plain data, not validated (the doctor reads old recipes too)."""
        data = load_yaml(self.recipe_text(), str(self.path / RECIPE))
        return data if isinstance(data, dict) else {}

    def recipe(self) -> Recipe:
        return load_recipe(self.path / RECIPE)

    # ---- metrics.csv, events.jsonl ----

    @property
    def metrics_file(self) -> Path:
        return self.path / METRICS

    @property
    def events_file(self) -> Path:
        return self.path / EVENTS

    def metrics(self) -> list[dict[str, float]]:
        """metrics.csv's rows, every value a float (NaN if empty); [] before the first epoch."""
        return read_table(self.metrics_file)

    def metric_columns(self) -> dict[str, list[float]]:
        """metrics.csv as columns of floats (the History-style dict the figures use)."""
        columns: dict[str, list[float]] = {}
        for row in self.metrics():
            for key, value in row.items():
                columns.setdefault(key, []).append(value)
        return columns

    def events(self) -> list[dict[str, Any]]:
        """events.jsonl's events; a line torn by a crash mid-write is left out."""
        if not self.events_file.is_file():
            return []
        events = []
        for line in self.events_file.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict):
                events.append(event)
        return events

    def log_event(self, event: str, **fields: Any) -> None:
        """Append one event to events.jsonl (as the training loop's EventLog does)."""
        with open(self.events_file, "a", encoding="utf-8") as f:
            f.write(json.dumps({"time": time.time(), "event": event, **fields}) + "\n")

    # ---- findings.json ----

    def findings(self) -> dict[str, Any] | None:
        """``findings.json``: ``{"format": 1, "findings": [finding, …]}`` most severe first, with
        ``"error"`` when the doctor could not read the run; None if the doctor never wrote it."""
        path = self.path / FINDINGS
        return read_json(path, "findings.json") if path.is_file() else None

    def write_findings(self, findings: list[dict[str, Any]], error: str | None = None, sync_dir: bool = True) -> Path:
        path = self.path / FINDINGS
        atomic_write(path, readable_json(findings_record(findings, error), depth=3).encode(), sync_dir)
        return path

    # ---- solution.npz (pde runs) ----

    def solution(self) -> dict[str, Any] | None:
        """A pde run's ``solution.npz`` as arrays: ``points`` (n, d), ``u``, ``residual`` and, where the
        exact solution is known, ``exact`` (each (n,)); None for other runs."""
        path = self.path / SOLUTION
        if not path.is_file():
            return None
        with np.load(path, allow_pickle=False) as arrays:
            return dict(arrays)

    def write_solution(self, arrays: dict[str, Any]) -> Path:
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        atomic_write(self.path / SOLUTION, buffer.getvalue())
        return self.path / SOLUTION

    # ---- checkpoints and snapshots ----

    @property
    def checkpoints(self) -> Path:
        return self.path / CHECKPOINTS

    @property
    def snapshots(self) -> Path:
        return self.path / SNAPSHOTS

    def checkpoint(self, name: str) -> Path:
        """The base path (no suffix) of checkpoint ``name``, e.g. ``epoch-0003`` or ``best``."""
        return self.checkpoints / name

    def latest_checkpoint(self) -> Path | None:
        """The newest committed checkpoint (its JSON file), or None. Names sort by progress:
        ``epoch-0003`` < ``epoch-0003-batch-000040`` (inside epoch 4) < ``epoch-0004``."""
        found = sorted(self.checkpoints.glob("epoch-[0-9][0-9][0-9][0-9]*.json"), key=lambda p: p.stem)
        return found[-1] if found else None

    def within_epoch_checkpoints(self) -> list[Path]:
        """The JSON files of the checkpoints taken inside an epoch."""
        return list(self.checkpoints.glob("epoch-*-batch-*.json"))

    def newest_valid_checkpoint(self) -> tuple[Path | None, list[str]]:
        """The newest checkpoint that loads and passes its checksums, and one line per newer one that
        did not (a crash or a full disk can damage the newest). Damaged checkpoints are renamed
        ``*.damaged`` (kept for inspection, never resumed from again); the caller holds the lock."""
        from trainlab.train.checkpoint import load_checkpoint  # here: reading run files otherwise needs no torch

        skipped = []
        found = sorted(self.checkpoints.glob("epoch-[0-9][0-9][0-9][0-9]*.json"), key=lambda p: p.stem)
        for path in reversed(found):
            try:
                load_checkpoint(path)
            except CheckpointError as e:
                skipped.append(f"{path.name}: {e}")
                for part in (path, path.with_suffix(".safetensors")):
                    try:
                        part.rename(part.with_name(part.name + ".damaged"))
                    except FileNotFoundError:  # absent, or renamed by another reader meanwhile
                        pass
                continue
            return path, skipped
        return None, skipped

    def remove_temp_files(self) -> list[Path]:
        """Delete the temporary files of writes a crash interrupted (``.NAME.PID.tmp``, see
        :func:`trainlab.train.checkpoint.atomic_write`); only while holding the lock."""
        removed = [p for folder in (self.path, self.checkpoints, self.snapshots) if folder.is_dir()
                   for p in folder.glob(".*.tmp") if p.is_file()]
        for path in removed:
            path.unlink(missing_ok=True)
        return removed

    # ---- resuming safely ----

    def resumable_recipe(self, changes: list[str] = (), epochs_done: int = 0) -> Recipe:
        """recipe.yaml, checked against the fingerprint run.json recorded when the run started, with
        ``changes`` (``--set KEY=VALUE``) applied when every key is in :data:`RESUME_SAFE`. A changed
        recipe.yaml is refused with the differences; accepted changes are written to recipe.yaml and
        run.json and logged in events.jsonl as ``recipe_changed``."""
        recipe, status = self.recipe(), self.status()
        recorded = status.get("recipe")
        if "recipe_sha256" in status and recipe_fingerprint(recipe) != status["recipe_sha256"]:
            diff = recipe_differences(recorded, recipe.to_dict()) if isinstance(recorded, dict) else []
            raise RecipeError([(f"--resume {self.path}: recipe.yaml changed since the run started "
                               f"({'; '.join(diff[:6]) or 'content differs'}); restore it, or start a new run. "
                               "Safe changes go on the command line: --resume DIR --set stopping.epochs=N")])
        if not changes:
            return recipe
        unsafe = sorted({c.partition("=")[0] for c in changes} - set(RESUME_SAFE))
        if unsafe:
            raise RecipeError([(f"--resume --set {', '.join(unsafe)}: not safe to change in the middle of a run "
                               f"(it would change the data split, the model, the optimizer state or the past); "
                               f"accepted: {', '.join(RESUME_SAFE)}")])
        changed = validate_recipe(apply_overrides(recipe.to_dict(), list(changes)))
        _check_epochs(recipe, changed, epochs_done)
        diff = recipe_differences(recipe.to_dict(), changed.to_dict())
        if diff:
            self.write_recipe(changed, "changed on --resume: " + "; ".join(diff))
            self.write_status({**status, **recipe_record(changed), "recipe_changes": [
                *status.get("recipe_changes", []), {"time": time.time(), "changes": diff}]})
            self.log_event("recipe_changed", epoch=epochs_done, changes=diff)
        return changed


# Keys --resume accepts with --set: they change neither the data split, the model, the optimizer
# state nor anything already trained. More (or fewer, but not fewer than done) epochs; more patience;
# checkpoint cadence.
RESUME_SAFE = {
    "stopping.epochs": "train to this many epochs (not fewer than the epochs done)",
    "stopping.early.patience": "epochs without improvement before early stopping",
    "checkpoint.every": "checkpoint cadence in epochs",
    "checkpoint.every_steps": "checkpoint cadence in steps",
}


def recipe_yaml(recipe: Recipe) -> str:
    """``recipe.to_yaml()``, through libyaml's emitter when PyYAML has it (~0.4 ms instead of ~1.5 ms for
    a typical recipe; the same text, tests/test_run_fixed_costs.py checks the examples)."""
    dumper = getattr(yaml, "CSafeDumper", None)
    if dumper is None:
        return recipe.to_yaml()
    return yaml.dump(recipe.to_dict(), Dumper=dumper, sort_keys=False)


def created_status(recipe: Recipe) -> dict[str, Any]:
    """run.json of a run directory just created for ``recipe`` (status ``created``, see :meth:`RunDir.start`)."""
    return {"status": "created", "created": time.time(), "versions": versions(), "command": redact_argv(sys.argv),
            **recipe_record(recipe)}


def status_bytes(status: dict[str, Any]) -> bytes:
    """run.json's bytes: one key per line, and one per line inside the recipe and data sections."""
    return readable_json(status, depth=2).encode()


def findings_record(findings: list[dict[str, Any]], error: str | None = None) -> dict[str, Any]:
    """findings.json's content: ``{"format": 1, "findings": [...]}``, with ``"error"`` when the doctor failed."""
    return {"format": 1, "findings": findings, **({"error": error} if error else {})}


def recipe_fingerprint(recipe: Recipe) -> str:
    """SHA-256 of the resolved recipe as canonical JSON (sorted keys)."""
    return hashlib.sha256(json.dumps(recipe.to_dict(), sort_keys=True).encode()).hexdigest()


def recipe_record(recipe: Recipe) -> dict[str, Any]:
    """What run.json keeps of the recipe to check ``--resume`` against: the data and its fingerprint."""
    return {"recipe": recipe.to_dict(), "recipe_sha256": recipe_fingerprint(recipe)}


def _flat(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, dict) and data:
        return {k: v for key, value in data.items() for k, v in _flat(value, f"{prefix}{key}.").items()}
    return {prefix.rstrip("."): data}


def recipe_differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """``key: old → new`` for every recipe key whose value differs (``(none)`` where absent).

    >>> recipe_differences({"seed": 3, "optim": {"lr": 0.1}}, {"seed": 4, "optim": {"lr": 0.1}})
    ['seed: 3 → 4']
    """
    a, b = _flat(old), _flat(new)
    return [f"{key}: {a.get(key, '(none)')} → {b.get(key, '(none)')}" for key in sorted(set(a) | set(b))
            if a.get(key, "(none)") != b.get(key, "(none)")]


def _check_epochs(old: Recipe, recipe: Recipe, epochs_done: int) -> None:
    if recipe.stopping.epochs == old.stopping.epochs:
        return
    if recipe.stopping.epochs < epochs_done:
        raise RecipeError([(f"--resume --set stopping.epochs={recipe.stopping.epochs}: {epochs_done} epochs are done "
                           "already; accepted: that many or more")])
    schedule = recipe.schedule
    if schedule.name in schedule.table and "total" in schedule.table.get(schedule.name).recipe_parameters() \
            and schedule.params().get("total") is None:
        raise RecipeError([(f"--resume --set stopping.epochs: schedule '{schedule.name}' takes its length from "
                           "stopping.epochs, so changing it would change the rates already used; "
                           "set schedule.total in a new run instead")])


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    """The newest committed checkpoint of ``run_dir`` (see :meth:`RunDir.latest_checkpoint`)."""
    return RunDir(run_dir).latest_checkpoint()


def snapshot_files(directory: str | Path) -> list[Path]:
    """The committed snapshots in ``directory`` (their JSON files), oldest first."""
    return sorted(Path(directory).glob("cycle-[0-9][0-9][0-9].json"))

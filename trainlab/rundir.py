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
import json
import math
import platform
import sys
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import torch
import yaml

from trainlab.errors import TrainlabError
from trainlab.recipe import Recipe, load_recipe
from trainlab.train.checkpoint import atomic_write

RUN_JSON, RECIPE, METRICS, EVENTS = "run.json", "recipe.yaml", "metrics.csv", "events.jsonl"
FINDINGS, REPORT, CHECKPOINTS, SNAPSHOTS = "findings.json", "report.html", "checkpoints", "snapshots"


def versions() -> dict[str, str]:
    """The versions a run records (recipe.yaml's header, run.json)."""
    try:
        own = version("trainlab")
    except PackageNotFoundError:  # a source tree that was never installed
        own = "0+unknown"
    return {"trainlab": own, "torch": torch.__version__, "python": platform.python_version()}


def stamped_dir(parent: str | Path, name: str) -> Path:
    """Make and return ``parent/NAME-YYYYmmdd-HHMMSS`` (``-2``, ``-3`` … when that one exists)."""
    parent, stamp, n = Path(parent), time.strftime("%Y%m%d-%H%M%S"), 1
    parent.mkdir(parents=True, exist_ok=True)
    while True:
        candidate = parent / (f"{name}-{stamp}" if n == 1 else f"{name}-{stamp}-{n}")
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            n += 1


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

    def start(self, recipe: Recipe, writer: str = "trainlab") -> None:
        """Write ``recipe.yaml`` (resolved, with versions) and ``run.json`` (status ``created``)."""
        header = "".join(f"# {k} {v}\n" for k, v in versions().items())
        (self.path / RECIPE).write_text(f"# resolved recipe, written by {writer}\n{header}{recipe.to_yaml()}")
        self.write_status({"status": "created", "created": time.time(), "versions": versions(), "command": sys.argv})

    # ---- run.json, recipe.yaml ----

    def status(self) -> dict[str, Any]:
        return json.loads((self.path / RUN_JSON).read_text())

    def write_status(self, status: dict[str, Any]) -> None:
        atomic_write(self.path / RUN_JSON, json.dumps(status, indent=1).encode())

    def recipe_text(self) -> str:
        return (self.path / RECIPE).read_text()

    def recipe_data(self) -> dict[str, Any]:
        """recipe.yaml as plain data, not validated (the doctor reads old recipes too)."""
        return yaml.safe_load(self.recipe_text()) or {}

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
        if not self.events_file.is_file():
            return []
        return [json.loads(line) for line in self.events_file.read_text().splitlines() if line.strip()]

    # ---- findings.json ----

    def findings(self) -> dict[str, Any] | None:
        """``findings.json``: ``{"format": 1, "findings": [finding, …]}`` most severe first, with
        ``"error"`` when the doctor could not read the run; None if the doctor never wrote it."""
        path = self.path / FINDINGS
        return json.loads(path.read_text()) if path.is_file() else None

    def write_findings(self, findings: list[dict[str, Any]], error: str | None = None) -> Path:
        path = self.path / FINDINGS
        record = {"format": 1, "findings": findings, **({"error": error} if error else {})}
        atomic_write(path, json.dumps(record, indent=1).encode())
        return path

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


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    """The newest committed checkpoint of ``run_dir`` (see :meth:`RunDir.latest_checkpoint`)."""
    return RunDir(run_dir).latest_checkpoint()


def snapshot_files(directory: str | Path) -> list[Path]:
    """The committed snapshots in ``directory`` (their JSON files), oldest first."""
    return sorted(Path(directory).glob("cycle-[0-9][0-9][0-9].json"))

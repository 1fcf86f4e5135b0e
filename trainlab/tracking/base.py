"""What every tracker shares: the callback with an ``end`` after the report, optional imports with
the pip command, the recipe as flat ``key: value`` pairs, and the MLflow tracking URI."""
from __future__ import annotations

import hashlib
import importlib
import json
import os
from pathlib import Path
from types import ModuleType
from typing import Any

from trainlab.errors import TrainlabError
from trainlab.rundir import RunDir
from trainlab.train.callbacks import Callback, Order

PACKAGES = {"tensorboard": "tensorboard", "mlflow": "mlflow"}  # tracker → the package it needs
INSTALL = 'pip install "trainlab[tracking]"'


class Tracker(Callback):
    """A callback that mirrors a run to a tracker. After training, the doctor and the report,
    the run calls ``end`` with the finished run directory (status ``finished`` or ``failed``)."""

    order = Order.EVENTS  # after metrics.csv and the checkpoints of the epoch: logs are final

    def end(self, run: RunDir, status: str) -> None:
        raise NotImplementedError


def require(tracker: str, module: str) -> ModuleType:
    """Import ``module`` for ``tracker``, or a one-line error with the pip command."""
    try:
        return importlib.import_module(module)
    except ImportError:
        package = PACKAGES[tracker]
        raise TrainlabError(f"tracking: '{tracker}' needs the {package} package, which is not installed; "
                            f"install it with: {INSTALL} (or: pip install {package})") from None


def check_installed(names: list[str]) -> None:
    """The packages of the trackers ``names``, or the one-line error with the pip command, before any work."""
    for name in names:
        require(name, name)


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, str | int | float | bool]:
    """Nested recipe data as ``{"optim.lr": 0.01, …}``; lists as JSON text, None as ``"null"``.

    >>> flatten({"optim": {"name": "sgd", "lr": 0.1}, "model": {"hidden": [64, 64]}, "diagnose": None})
    {'optim.name': 'sgd', 'optim.lr': 0.1, 'model.hidden': '[64, 64]', 'diagnose': 'null'}
    """
    flat: dict[str, str | int | float | bool] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{name}."))
        elif isinstance(value, (bool, int, float, str)):
            flat[name] = value
        else:
            flat[name] = json.dumps(value)
    return flat


def tracking_uri(uri: str | None, runs_dir: Path) -> str:
    """The MLflow tracking URI: the recipe's, else ``$MLFLOW_TRACKING_URI``, else a SQLite file
    ``mlflow.db`` in ``runs_dir`` (the folder that holds the run directories)."""
    return uri or os.environ.get("MLFLOW_TRACKING_URI") or default_uri(runs_dir)


def default_uri(runs_dir: Path) -> str:
    return f"sqlite:///{(Path(runs_dir) / 'mlflow.db').resolve()}"


def key_of(text: str) -> str:
    """A short, filter-safe tag value that identifies a directory or a study (its SHA-1)."""
    return hashlib.sha1(text.encode()).hexdigest()

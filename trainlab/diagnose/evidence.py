"""Everything the doctor looks at, read once from a run directory."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from trainlab.diagnose.probe_files import PROBES_FILE
from trainlab.rundir import RunDir, read_table
from trainlab.train.checkpoint import load_checkpoint, split_prefix
from trainlab.train.metrics import resolve_mode


@dataclass
class RunEvidence:
    """A run's recipe, status, per-epoch metrics, probe rows (if probed) and final weights."""

    run_dir: Path
    recipe: dict[str, Any]
    status: dict[str, Any]
    history: list[dict[str, float]]
    probes: list[dict[str, Any]] = field(default_factory=list)
    bayes_error: float = 0.0
    _weights: dict[str, torch.Tensor] | None = None

    @classmethod
    def load(cls, run_dir: str | Path, bayes_error: float = 0.0, recipe: dict[str, Any] | None = None,
             status: dict[str, Any] | None = None, weights: dict[str, torch.Tensor] | None = None) -> RunEvidence:
        """The run's evidence from its files; ``recipe``, ``status`` (run.json) and the newest checkpoint's
        model ``weights`` from memory instead, where a run ending now already holds them."""
        run = RunDir(run_dir).require() if status is None else RunDir(run_dir)
        probes = read_table(run.file(PROBES_FILE), text_columns=("name", "activation"))
        return cls(run.path, run.recipe_data() if recipe is None else recipe, run.status() if status is None else status,
                   run.metrics(), probes, bayes_error, weights)

    # ---- metrics ----

    def column(self, name: str) -> list[float]:
        return [row.get(name, math.nan) for row in self.history]

    @property
    def task(self) -> str:
        return self.status.get("data", {}).get("task", "classification")

    @property
    def n_val(self) -> int:
        """Validation examples (0 when the run has no validation split or does not say)."""
        return int(self.status.get("data", {}).get("n_val") or 0)

    @property
    def n_train(self) -> int:
        return int(self.status.get("data", {}).get("n_train") or 0)

    def train_eval(self, metric: str) -> tuple[float, bool]:
        """The final weights' ``metric`` on the training split in evaluation mode (dropout and noise
        off, batch norm frozen), as run.json records it (``final.train_eval_<metric>``), and True.
        Older runs lack it: then the last epoch's train-mode running average, and False."""
        final = self.status.get("final") or {}
        value = final.get(f"train_eval_{metric}")
        if value is not None and math.isfinite(value):
            return float(value), True
        column = self.column(metric)
        return (column[-1] if column else math.nan), False

    def final_weights_epoch(self) -> int:
        """The 0-based epoch whose weights the run ended with: the last, or with early stopping's
        ``restore_best_weights`` the best epoch of its monitor (replaying its rule: an improvement
        beats the best by more than ``min_delta``; ``auto`` maximizes a metric registered as higher-is-better, minimizes the rest)."""
        last = len(self.history) - 1
        early = (self.recipe.get("stopping") or {}).get("early") or {}
        if not early.get("restore_best_weights"):
            return last
        monitor = early.get("monitor", "val_loss")
        mode = resolve_mode(monitor, early.get("mode", "auto"))
        delta, best, best_epoch = float(early.get("min_delta") or 0.0), None, last
        for epoch, value in enumerate(self.column(monitor)):
            if not math.isfinite(value):
                continue
            if best is None or (value < best - delta if mode == "min" else value > best + delta):
                best, best_epoch = value, epoch
        return best_epoch

    @property
    def lr(self) -> float:
        return float(self.recipe.get("optim", {}).get("lr", 1e-3))

    @property
    def activation(self) -> str:
        act = self.recipe.get("model", {}).get("activation", "relu")
        return act if isinstance(act, str) else act.get("name", "relu")

    @property
    def model_name(self) -> str:
        return self.recipe.get("model", {}).get("name", "mlp")

    # ---- probes, per layer ----

    def layers(self) -> list[int]:
        return sorted({int(row["layer"]) for row in self.probes})

    def probe_series(self, layer: int, key: str) -> list[float]:
        return [row[key] for row in self.probes if int(row["layer"]) == layer]

    def layer_name(self, layer: int) -> str:
        for row in self.probes:
            if int(row["layer"]) == layer:
                return f"layer {layer} ({row.get('name', '')})".replace(" ()", "")
        return f"layer {layer}"

    def layer_activation(self, layer: int) -> str:
        """The activation after ``layer`` as the probes recorded it ("" for the output layer)."""
        return next((str(row.get("activation") or "") for row in self.probes if int(row["layer"]) == layer), "")

    # ---- final weights ----

    def weights(self) -> dict[str, torch.Tensor]:
        """The model weights of the newest checkpoint (empty if there is none)."""
        if self._weights is None:
            newest = RunDir(self.run_dir).latest_checkpoint()
            self._weights = split_prefix(load_checkpoint(newest)[0], "model") if newest else {}
        return self._weights

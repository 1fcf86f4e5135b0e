"""Prediction from a finished run: the trained model with its saved preprocessing."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from trainlab import registry
from trainlab.errors import CheckpointError
from trainlab.recipe import load_recipe
from trainlab.run import latest_checkpoint
from trainlab.train.checkpoint import load_checkpoint, split_prefix


class Predictor:
    """A trained model with its preprocessing, loaded from a run directory.

    ``predict(x)`` applies the training split's preprocessing, then the model in evaluation
    mode, and returns class probabilities (classification) or predicted values (regression).
    """

    def __init__(self, run_dir: str | Path, checkpoint: str | Path | None = None):
        run_dir = Path(run_dir)
        status = json.loads((run_dir / "run.json").read_text())
        recipe = load_recipe(run_dir / "recipe.yaml")
        checkpoint = Path(checkpoint) if checkpoint else latest_checkpoint(run_dir)
        if checkpoint is None:
            raise CheckpointError(f"{run_dir} has no checkpoint to load")
        tensors, _ = load_checkpoint(checkpoint)
        info = status["data"]
        self.task, self.class_names = info["task"], info["class_names"]
        entry = registry.models.get(recipe.model.name)
        shape = info.get("model_input_shape", info["input_shape"])
        self.model = entry.factory(input_shape=tuple(shape), n_outputs=info["n_outputs"],
                                   **entry.validate(recipe.model.params()))
        self.model.load_state_dict(split_prefix(tensors, "model"))
        self.model.eval()
        spec = recipe.data.preprocess
        prep_entry = registry.preprocessors.get(spec.name)
        self.preprocessor = prep_entry.factory(**prep_entry.validate(spec.params()))
        self.preprocessor.load_state_dict(split_prefix(tensors, "preprocess"))

    @torch.no_grad()
    def predict(self, x: np.ndarray | torch.Tensor) -> np.ndarray:
        out = self.model(self.preprocessor(torch.as_tensor(x, dtype=torch.float32)))
        return (out.softmax(dim=1) if self.task == "classification" else out).numpy()

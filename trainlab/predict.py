"""Prediction from a finished run: the trained model with its saved preprocessing, and MC dropout."""
from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from trainlab import registry
from trainlab.errors import CheckpointError, TrainlabError
from trainlab.rundir import RunDir
from trainlab.train.checkpoint import load_checkpoint, split_prefix

DROPOUT_LAYERS = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout, nn.FeatureAlphaDropout)


class MCPrediction(NamedTuple):
    """Mean and standard deviation over T stochastic passes, each shaped like a plain prediction."""

    mean: np.ndarray
    std: np.ndarray


def dropout_layers(model: nn.Module) -> list[nn.Module]:
    """The model's dropout layers with a non-zero rate."""
    return [m for m in model.modules() if isinstance(m, DROPOUT_LAYERS) and m.p > 0]


@contextmanager
def mc_dropout(model: nn.Module) -> Iterator[nn.Module]:
    """Evaluation mode with only the dropout layers switched to training mode (MC dropout).

    Batch norm keeps its moving averages (eval), and noise, augmentation and RReLU stay off:
    only dropout samples. Every module's previous mode is restored on exit.
    """
    modes = {m: m.training for m in model.modules()}
    model.eval()
    for layer in dropout_layers(model):
        layer.train()
    try:
        yield model
    finally:
        for module, training in modes.items():
            module.training = training


class Predictor:
    """A trained model with its preprocessing, loaded from a run directory.

    ``predict(x)`` applies the training split's preprocessing, then the model in evaluation
    mode, and returns class probabilities (classification) or predicted values (regression).
    ``checkpoint`` picks another checkpoint of the run (e.g. ``checkpoints/best.json`` or a
    snapshot ``snapshots/cycle-003.json``) instead of the newest.
    """

    def __init__(self, run_dir: str | Path, checkpoint: str | Path | None = None):
        run = RunDir(run_dir).require()
        status = run.status()
        if "data" not in status:
            raise CheckpointError(f"{run.path} has not started training yet; nothing to predict with")
        recipe = run.recipe()
        checkpoint = Path(checkpoint) if checkpoint else run.latest_checkpoint()
        if checkpoint is None:
            raise CheckpointError(f"{run.path} has no checkpoint to load")
        tensors, _ = load_checkpoint(checkpoint)
        info = status["data"]
        self.task, self.class_names, self.model_name = info["task"], info["class_names"], recipe.model.name
        self.input_shape = tuple(info["input_shape"])
        entry = registry.models.get(recipe.model.name)
        shape = info.get("model_input_shape", info["input_shape"])
        self.model = entry.factory(input_shape=tuple(shape), n_outputs=info["n_outputs"],
                                   **entry.validate(recipe.model.params()))
        self.dtype = getattr(torch, recipe.precision)
        self.model.to(self.dtype).load_state_dict(split_prefix(tensors, "model"))
        self.model.eval()
        spec = recipe.data.preprocess
        prep_entry = registry.preprocessors.get(spec.name)
        self.preprocessor = prep_entry.factory(**prep_entry.validate(spec.params()))
        self.preprocessor.load_state_dict(split_prefix(tensors, "preprocess"))

    def _inputs(self, x: np.ndarray | torch.Tensor) -> torch.Tensor:
        x = torch.as_tensor(x, dtype=torch.float32)
        if tuple(x.shape[1:]) != self.input_shape:
            if x.dim() >= 1 and math.prod(x.shape[1:]) == math.prod(self.input_shape):
                return x.reshape(len(x), *self.input_shape)  # flat rows (a CSV) of image-shaped examples
            raise TrainlabError(f"predict: inputs of shape {tuple(x.shape)} do not fit this run, whose examples "
                                f"have shape {self.input_shape}; give an array of shape (n, "
                                f"{', '.join(map(str, self.input_shape))})")
        return x

    def _forward(self, inputs: torch.Tensor) -> torch.Tensor:
        out = self.model(inputs)
        return out.softmax(dim=1) if self.task == "classification" else out

    @torch.no_grad()
    def predict(self, x: np.ndarray | torch.Tensor, mc_samples: int | None = None,
                seed: int = 0) -> np.ndarray | MCPrediction:
        """Predictions for ``x`` (raw features, shape (n, *input_shape)).

        Without ``mc_samples`` (None or 0): one deterministic pass, a numpy array (n, k) of
        probabilities or values. With ``mc_samples`` = T > 0 (MC dropout, Gal & Ghahramani 2016):
        T passes with dropout on and everything else in evaluation mode (batch norm uses its moving
        averages), seeded by ``seed`` without touching torch's global random state; returns
        :class:`MCPrediction` with ȳ = (1/T) Σ_t ŷ_t and σ = √((1/T) Σ_t (ŷ_t − ȳ)²), where ŷ_t are
        softmax probabilities (classification) or outputs (regression).
        """
        inputs = self.preprocessor(self._inputs(x)).to(self.dtype)
        if not mc_samples:
            return self._forward(inputs).numpy()
        if isinstance(mc_samples, bool) or not isinstance(mc_samples, int) or mc_samples < 0:
            raise TrainlabError(f"mc_samples: {mc_samples!r} is not valid; give a whole number of passes ≥ 1 "
                                "(50 is typical) or 0 for one deterministic pass")
        if not dropout_layers(self.model):
            raise TrainlabError(f"mc_samples: {mc_samples} needs dropout in the model, and this run's "
                                f"model '{self.model_name}' has none; train with model.dropout > 0 or predict "
                                "without MC dropout")
        device = next(self.model.parameters()).device
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []), mc_dropout(self.model):
            torch.manual_seed(seed)
            samples = torch.stack([self._forward(inputs) for _ in range(mc_samples)])  # (T, n, k)
        return MCPrediction(samples.mean(dim=0).numpy(), samples.std(dim=0, correction=0).numpy())

"""Prediction from a finished run: the trained model with its saved preprocessing, and MC dropout."""
from __future__ import annotations

import csv
import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from trainlab import registry
from trainlab.data.inputs import Columns, read_chunks
from trainlab.data.readers import HeaderMode, describe_nonfinite, nonfinite_rows, require_file
from trainlab.data.targets import TargetScale
from trainlab.errors import CheckpointError, TrainlabError
from trainlab.nn.autoencoder import make_network
from trainlab.rundir import RunDir
from trainlab.train.checkpoint import load_checkpoint, split_prefix
from trainlab.train.precision import weight_dtype

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
    mode, and returns class probabilities (classification) or predicted values (regression, in the
    targets' own units when the run standardized them: y = t·σ + μ with the checkpoint's
    ``target.mean`` μ and ``target.std`` σ). ``checkpoint`` picks another checkpoint of the run (e.g.
    ``checkpoints/best.json`` or a snapshot ``snapshots/cycle-003.json``) instead of the newest.
    ``columns`` are the table columns the run was trained on (:class:`trainlab.data.inputs.Columns`).
    """

    def __init__(self, run_dir: str | Path, checkpoint: str | Path | None = None, model: nn.Module | None = None):
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
        self.input_shape, self.n_outputs = tuple(info["input_shape"]), int(info["n_outputs"])
        shape = info.get("model_input_shape", info["input_shape"])
        if model is None and recipe.model.name == "instance":
            raise CheckpointError(f"{run.path} trained a module given from Python; pass it: "
                                  "trainlab.load_model(run_dir, model=YourNet(...)) (its weights are loaded into it)")
        self.model = model if model is not None else make_network(
            recipe.model.name, recipe.model.params(), tuple(shape), info["n_outputs"],
            **recipe.network_options())  # the modules build() made (decoder, pretrained part)
        self.dtype = weight_dtype(recipe.precision)  # bf16/fp16 runs keep float32 weights
        spec = recipe.data.preprocess
        prep_entry = registry.preprocessors.get(spec.name)
        self.preprocessor = prep_entry.factory(**prep_entry.validate(spec.params()))
        self._load(checkpoint, run.path, tensors)
        self.target_scale = TargetScale.from_tensors(tensors) if self.task == "regression" else None
        params = recipe.data.params()
        table = recipe.data.name in ("csv", "parquet")
        features = info.get("feature_columns") or params.get("features")
        self.columns = Columns([str(f) for f in features] if table and features else None,
                               str(params["target"]) if table and "target" in params else None)
        self.delimiter = str(params.get("delimiter", ",")) if recipe.data.name == "csv" else ","

    def _load(self, checkpoint: Path, run_path: Path, tensors: dict[str, torch.Tensor]) -> None:
        """Load weights and preprocessing, then pass one example through: a checkpoint of another
        run's model (other layers or sizes) is a one-line error instead of a traceback."""
        try:
            self.model.to(self.dtype).load_state_dict(split_prefix(tensors, "model"))
            self.preprocessor.load_state_dict(split_prefix(tensors, "preprocess"))
            self.model.eval()
            with torch.no_grad():
                self.model(self.preprocessor(torch.zeros(1, *self.input_shape)).to(self.dtype))
        except (RuntimeError, KeyError, ValueError) as e:
            detail = next((line.strip() for line in str(e).splitlines() if line.strip() and "Error(s)" not in line), "")
            raise CheckpointError(f"checkpoint {checkpoint}: its model does not fit run {run_path} ({detail[:160]}); "
                                  "give a checkpoint of this run (its checkpoints/ or snapshots/)") from None

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
            return self._units(self._forward(inputs)).numpy()
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
        mean, std = samples.mean(dim=0), samples.std(dim=0, correction=0)
        if self.target_scale is not None:  # y = t·σ + μ, so mean(y) = mean(t)·σ + μ and std(y) = std(t)·σ
            mean, std = self.target_scale.invert(mean), std * self.target_scale.std.to(std.dtype)
        return MCPrediction(mean.numpy(), std.numpy())

    def _units(self, out: torch.Tensor) -> torch.Tensor:
        """Regression outputs in the targets' units (y = t·σ + μ) when the run standardized them."""
        return out if self.target_scale is None else self.target_scale.invert(out)


# ---- predictions for a whole file, streamed ----


NONFINITE_NOTE = "nonfinite input"


class FileResult(NamedTuple):
    """What :func:`predict_file` wrote: rows, rows left empty for NaN/inf inputs, the output file."""

    rows: int
    nonfinite: int
    out: Path


def prediction_header(predictor: Predictor, mc: bool) -> list[str]:
    """CSV columns: p_<class> (mean_p_/std_p_ with MC dropout) and ``predicted`` for classification;
    one column per target (y, or y0, y1, …; mean_/std_ with MC dropout) for regression."""
    n_outputs = predictor.n_outputs
    if predictor.task == "classification":
        names = [f"p_{n}" for n in predictor.class_names]
    else:
        names = ["y"] if n_outputs == 1 else [f"y{i}" for i in range(n_outputs)]
    header = [f"mean_{n}" for n in names] + [f"std_{n}" for n in names] if mc else names
    return header + (["predicted"] if predictor.task == "classification" else [])


def prediction_rows(predictor: Predictor, result: np.ndarray | MCPrediction) -> list[list[str]]:
    """One row of text cells per example, in :func:`prediction_header`'s order (without ``note``)."""
    mc = isinstance(result, MCPrediction)
    values = result.mean if mc else result
    columns = np.concatenate([result.mean, result.std], axis=1) if mc else values
    rows = [[f"{v:.6g}" for v in row] for row in columns.tolist()]
    if predictor.task == "classification":
        for row, index in zip(rows, values.argmax(axis=1).tolist()):
            row.append(predictor.class_names[index])
    return rows


def check_output(out: Path, data: Path, force: bool = False) -> None:
    """Refuse an output that is the input, lies inside a run directory (it would corrupt the run) or
    exists (unless ``force``)."""
    target = out.resolve()
    if target == data.resolve():
        raise TrainlabError(f"--out {out}: that is the input file; choose another name")
    for folder in target.parents:
        if RunDir(folder).is_run():
            raise TrainlabError(f"--out {out}: inside run directory {folder}, whose files belong to the run; "
                                "write predictions elsewhere")
    if target.is_dir():
        raise TrainlabError(f"--out {out}: is a directory; give a file name")
    if not target.parent.is_dir():
        raise TrainlabError(f"--out {out}: folder {target.parent} does not exist")
    if target.exists() and not force:
        raise TrainlabError(f"--out {out}: exists; give --force to replace it, or another --out")


@contextmanager
def _atomic_text(path: Path) -> Iterator:
    """A text file written under a temporary name, fsync'd and renamed to ``path`` only on success."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", newline="", encoding="utf-8") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)  # the rename itself reaches the disk
        finally:
            os.close(folder)
    finally:
        tmp.unlink(missing_ok=True)


def _check_shape(predictor: Predictor, data: Path, x: np.ndarray) -> None:
    """Examples of another size than the run's are an error naming the file (and the run's columns)."""
    if math.prod(x.shape[1:]) == math.prod(predictor.input_shape):
        return
    wanted = predictor.columns.features
    columns = f" (the feature columns {', '.join(wanted)})" if wanted else ""
    raise TrainlabError(f"{data}: its examples have shape {tuple(x.shape[1:])} but this run takes examples of shape "
                        f"{predictor.input_shape}{columns}")


def predict_file(predictor: Predictor, data: str | Path, out: str | Path, *, chunk_size: int = 10_000,
                 mc_samples: int = 0, seed: int = 0, allow_nonfinite: bool = False, header: HeaderMode = "auto",
                 delimiter: str | None = None, key: str | None = None, force: bool = False) -> FileResult:
    """Predict every example of ``data`` (.csv, .npy, .npz, .parquet) into the CSV file ``out``.

    Reads and predicts ``chunk_size`` examples at a time, so memory is bounded by the chunk; the
    output is written to a temporary file and renamed at the end (an error leaves no partial file).
    Tables give the run's feature columns by name (:class:`trainlab.data.inputs.Columns`). NaN/inf
    inputs are an error naming the first rows and columns, unless ``allow_nonfinite``: then those
    rows get empty predictions and the note ``nonfinite input``. With MC dropout, chunk k's dropout
    masks come from seed + k (reproducible for the same seed and chunk size)."""
    data, out = require_file(data, "DATA"), Path(out)
    check_output(out, data, force)
    chunks = read_chunks(data, chunk_size, header=header, delimiter=delimiter or predictor.delimiter, key=key,
                         columns=predictor.columns)
    total = nonfinite = 0
    names = prediction_header(predictor, bool(mc_samples))
    blank = [""] * len(names)
    with _atomic_text(out) as handle:
        writer = csv.writer(handle)
        writer.writerow(names + (["note"] if allow_nonfinite else []))
        for index, chunk in enumerate(chunks):
            if index == 0:
                _check_shape(predictor, data, chunk.x)
            bad = nonfinite_rows(chunk.x)
            if len(bad) and not allow_nonfinite:
                where = describe_nonfinite(chunk.x[bad], chunk.rows[bad], chunk.place, chunk.columns)
                raise TrainlabError(f"{data}: NaN or inf in the inputs ({where}); a prediction for them would "
                                    "mean nothing: fix those rows, or give --allow-nonfinite to write them with "
                                    "empty predictions")
            good = np.ones(len(chunk.x), dtype=bool)
            good[bad] = False
            result = predictor.predict(chunk.x[good], mc_samples=mc_samples, seed=seed + index) if good.any() else None
            rows = iter(prediction_rows(predictor, result) if result is not None else [])
            for ok in good.tolist():
                if allow_nonfinite:
                    writer.writerow([*next(rows), ""] if ok else [*blank, NONFINITE_NOTE])
                else:
                    writer.writerow(next(rows))
            total, nonfinite = total + len(chunk.x), nonfinite + len(bad)
    return FileResult(total, nonfinite, out)

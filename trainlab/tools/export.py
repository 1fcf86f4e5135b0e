"""Export a trained run so it can leave trainlab: ONNX, TorchScript or a torch.export program.

The exported module is :class:`Deployable`: the run's saved preprocessing, the network in
evaluation mode, then softmax (classification) or, when the run standardized its targets, the
inverse scaling ŷ = t·σ + μ (regression), so it returns exactly what ``trainlab predict`` (and
:meth:`trainlab.predict.Predictor.predict`) returns for the same raw inputs:

* input ``input``: float32, shape (batch, *input_shape), the raw features (batch is dynamic);
* output ``probabilities`` (batch, classes) for classification, ``prediction`` (batch, targets)
  for regression.

Beside the model, ``<file>.json`` records these names and shapes, the class names, the task, the
run and checkpoint it came from and the versions. torch does the exporting (``torch.onnx.export``
with its torch.export-based exporter, ``torch.jit.trace``, ``torch.export.export``); this module
only builds the wrapper and describes the file.
"""
from __future__ import annotations

import importlib.util
import json
import logging
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from trainlab.errors import TrainlabError
from trainlab.predict import Predictor
from trainlab.rundir import RunDir, versions

FORMATS = {"onnx": ".onnx", "torchscript": ".pt", "pt2": ".pt2"}  # format → file suffix
INPUT = "input"


def output_name(task: str) -> str:
    return "probabilities" if task == "classification" else "prediction"


class Deployable(nn.Module):
    """Raw inputs → the run's preprocessing → the network → softmax or the targets' units."""

    def __init__(self, predictor: Predictor):
        super().__init__()
        self.network, self.preprocessor = predictor.model, predictor.preprocessor
        self.classify, self.dtype = predictor.task == "classification", predictor.dtype
        scale = predictor.target_scale
        # the inverse target scaling in float32, the dtype of the outputs (predict casts the same way)
        self.register_buffer("target_mean", None if scale is None else scale.mean.float())
        self.register_buffer("target_std", None if scale is None else scale.std.float())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.network(self.preprocessor(x).to(self.dtype)).float()
        if self.classify:
            return out.softmax(dim=1)
        if self.target_std is not None:
            return out * self.target_std + self.target_mean
        return out


def default_path(run_dir: Path, fmt: str) -> Path:
    """``<run name>.<suffix>`` in the current folder."""
    return Path(f"{Path(run_dir).resolve().name}{FORMATS[fmt]}")


def _check_out(out: Path, force: bool) -> None:
    target = out.resolve()
    for folder in target.parents:
        if RunDir(folder).is_run():
            raise TrainlabError(f"--out {out}: inside run directory {folder}, whose files belong to the run; "
                                "export elsewhere")
    if not target.parent.is_dir():
        raise TrainlabError(f"--out {out}: folder {target.parent} does not exist")
    if target.exists() and not force:
        raise TrainlabError(f"--out {out}: exists; give --force to replace it, or another --out")


def export_run(run_dir: str | Path, fmt: str = "onnx", out: str | Path | None = None,
               checkpoint: str | Path | None = None, force: bool = False) -> Path:
    """Export the run's newest (or the given) checkpoint as ``fmt``; returns the model file; writes
    ``<file>.json`` beside it."""
    if fmt not in FORMATS:
        raise TrainlabError(f"--format: '{fmt}' is not known; accepted: {', '.join(FORMATS)}")
    predictor = Predictor(run_dir, checkpoint)
    out = Path(out) if out is not None else default_path(Path(run_dir), fmt)
    _check_out(out, force)
    module = Deployable(predictor).eval()
    example = torch.zeros(2, *predictor.input_shape)
    name = output_name(predictor.task)
    with torch.no_grad():
        if fmt == "onnx":
            _onnx(module, example, out, name)
        elif fmt == "torchscript":
            torch.jit.trace(module, example).save(str(out))
        else:
            batch = torch.export.Dim("batch", min=1)
            program = torch.export.export(module, (example,), dynamic_shapes={"x": {0: batch}})
            torch.export.save(program, str(out))
    out.with_name(out.name + ".json").write_text(json.dumps(_description(predictor, run_dir, checkpoint, fmt),
                                                            indent=1))
    return out


def _onnx(module: nn.Module, example: torch.Tensor, out: Path, name: str) -> None:
    missing = [package for package in ("onnx", "onnxscript") if importlib.util.find_spec(package) is None]
    if missing:  # torch.onnx's exporter needs both
        raise TrainlabError(f"--format onnx needs the {' and '.join(missing)} package; install it with: "
                            'pip install "trainlab[export]"')
    logger = logging.getLogger("torch.onnx")  # quiet its notes on operators of packages that are not installed
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # torch's own deprecations inside the exporter
            torch.onnx.export(module, (example,), str(out), input_names=[INPUT], output_names=[name],
                              dynamic_shapes={"x": {0: torch.export.Dim("batch", min=1)}}, dynamo=True,
                              verbose=False)
    finally:
        logger.setLevel(level)


def _description(predictor: Predictor, run_dir: str | Path, checkpoint: str | Path | None, fmt: str) -> dict[str, Any]:
    run = RunDir(run_dir)
    used = Path(checkpoint) if checkpoint else run.latest_checkpoint()
    recipe = run.recipe_data()
    n_outputs = predictor.n_outputs
    return {"format": fmt, "task": predictor.task,
            "input": {"name": INPUT, "dtype": "float32", "shape": ["batch", *predictor.input_shape]},
            "output": {"name": output_name(predictor.task), "dtype": "float32", "shape": ["batch", n_outputs]},
            "class_names": predictor.class_names,
            "folded": {"preprocessing": recipe.get("data", {}).get("preprocess"),
                       "softmax": predictor.task == "classification",
                       "target_scale": predictor.target_scale is not None},
            "run": str(run.path.resolve()), "checkpoint": str(used), "versions": versions()}


def onnx_predict(model_file: str | Path, x: np.ndarray) -> np.ndarray:
    """Run an exported ONNX model with onnxruntime on raw inputs ``x``."""
    try:
        import onnxruntime
    except ImportError:
        raise TrainlabError('onnxruntime is not installed; install it with: pip install "trainlab[export]"') from None
    session = onnxruntime.InferenceSession(str(model_file), providers=["CPUExecutionProvider"])
    return session.run(None, {INPUT: np.asarray(x, dtype=np.float32)})[0]

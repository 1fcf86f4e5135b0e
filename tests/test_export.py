"""``trainlab export``: ONNX, TorchScript and torch.export files that return what ``predict`` returns."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from trainlab.cli import main
from trainlab.commands import export as export_command
from trainlab.predict import Predictor
from trainlab.recipe import load_recipe
from trainlab.run import run_recipe
from trainlab.tools import export as export_tool
from trainlab.tools.export import export_run

onnxruntime = pytest.importorskip("onnxruntime", reason="the export extra (onnxruntime) is not installed")
pytest.importorskip("onnx", reason="the export extra (onnx) is not installed")

# float32 end to end on both sides; the kernels differ (onnxruntime vs torch), so sums of products
# round differently by a few ulps of values of order 1: 1e-5 absolute is the bound the issue asks for.
TOL = 1e-5


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Three tiny trained runs: an MLP (zscore inputs), the 1-D CNN on MNIST-1D and a regression MLP
    with standardized targets."""
    root = tmp_path_factory.mktemp("runs")
    recipes = {
        "mlp": {"name": "mlp", "data": {"name": "moons", "n_samples": 200, "preprocess": "zscore"},
                "model": {"name": "mlp", "hidden": [16, 16]}, "stopping": {"epochs": 2}},
        "cnn": {"name": "cnn", "data": {"name": "mnist1d", "num_samples": 600, "batch_size": 100,
                                        "preprocess": "zscore"},
                "model": {"name": "cnn1d", "channels": 8}, "stopping": {"epochs": 1}},
        "regression": {"name": "sine", "data": {"name": "sine", "n_samples": 200, "target_scale": "zscore"},
                       "model": {"name": "mlp", "hidden": [16], "activation": "tanh"}, "stopping": {"epochs": 2}},
    }
    return {key: run_recipe(load_recipe(recipe), root).run_dir for key, recipe in recipes.items()}


def _inputs(predictor: Predictor, n: int = 33) -> np.ndarray:
    """Raw inputs well outside the unit scale, so the folded preprocessing matters."""
    return (np.random.default_rng(1).normal(size=(n, *predictor.input_shape)) * 3 + 1).astype(np.float32)


@pytest.mark.parametrize("kind", ["mlp", "cnn", "regression"])
def test_onnx_matches_predict(runs, tmp_path, kind):
    predictor = Predictor(runs[kind])
    x = _inputs(predictor)
    out = export_run(runs[kind], "onnx", tmp_path / "model.onnx")
    expected = predictor.predict(x)
    got = export_tool.onnx_predict(out, x)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=0, atol=TOL)
    session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    description = json.loads((tmp_path / "model.onnx.json").read_text())
    assert [i.name for i in session.get_inputs()] == [description["input"]["name"]] == ["input"]
    name = "prediction" if kind == "regression" else "probabilities"
    assert [o.name for o in session.get_outputs()] == [description["output"]["name"]] == [name]
    assert description["folded"]["target_scale"] == (kind == "regression")
    if kind == "regression":  # the folded inverse scaling: predictions in the targets' units, not standardized
        assert predictor.target_scale is not None
        assert np.abs(got.mean() - float(predictor.target_scale.mean)) < 3 * float(predictor.target_scale.std)


@pytest.mark.parametrize("fmt", ["torchscript", "pt2"])
def test_torchscript_and_pt2_match_predict(runs, tmp_path, fmt):
    predictor = Predictor(runs["cnn"])
    x = _inputs(predictor, 5)
    out = export_run(runs["cnn"], fmt, tmp_path / f"model.{fmt}")
    module = torch.jit.load(str(out)) if fmt == "torchscript" else torch.export.load(str(out)).module()
    with torch.no_grad():
        got = module(torch.as_tensor(x)).numpy()
    np.testing.assert_allclose(got, predictor.predict(x), rtol=0, atol=1e-6)  # the same torch kernels


def test_cli_writes_files_and_refuses_bad_targets(runs, tmp_path, capsys):
    out = tmp_path / "m.pt"
    assert main(["export", str(runs["mlp"]), "--format", "torchscript", "--out", str(out)]) == 0
    assert out.is_file() and json.loads((tmp_path / "m.pt.json").read_text())["format"] == "torchscript"
    assert f"model: {out}" in capsys.readouterr().out
    assert main(["export", str(runs["mlp"]), "--format", "torchscript", "--out", str(out)]) != 0  # no --force
    assert "exists; give --force" in capsys.readouterr().err
    assert main(["export", str(runs["mlp"]), "--out", str(runs["mlp"] / "m.onnx")]) != 0
    assert "inside run directory" in capsys.readouterr().err
    assert main(["export", str(tmp_path), "--format", "pt2"]) != 0
    assert "not a trainlab run directory" in capsys.readouterr().err
    assert export_command.FORMATS == tuple(export_tool.FORMATS)

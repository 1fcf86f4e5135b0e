"""Runs: the run directory, its report, prediction through the saved preprocessing."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch

from trainlab import registry
from trainlab.data.split import split_dataset
from trainlab.errors import RecipeError, TrainlabError
from trainlab.recipe import load_recipe
from trainlab.run import build, load_model, resume_run, run_recipe


def test_run_directory_contents(tiny_recipe, tmp_path):
    result = run_recipe(load_recipe(tiny_recipe), tmp_path)
    run_dir = result.run_dir
    assert run_dir.parent == tmp_path and run_dir.name.startswith("tiny-")
    assert load_recipe(run_dir / "recipe.yaml") == load_recipe(tiny_recipe)
    assert "# torch " in (run_dir / "recipe.yaml").read_text()
    with open(run_dir / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["epoch", "lr", "loss", "accuracy", "val_loss", "val_accuracy", "seconds"]
    assert [r["epoch"] for r in rows] == ["1", "2", "3"]
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == [
        "epoch-0002.json", "epoch-0002.safetensors", "epoch-0003.json", "epoch-0003.safetensors"]
    status = json.loads((run_dir / "run.json").read_text())
    assert status["status"] == "finished" and set(status["test"]) == {"test_loss", "test_accuracy"}
    events = [json.loads(line)["event"] for line in (run_dir / "events.jsonl").read_text().splitlines()]
    assert events == ["fit_start", "checkpoint", "checkpoint", "fit_end"]
    page = (run_dir / "report.html").read_text()
    assert page.count("<svg") == 2 and "<script" not in page and "Learning curves" in page


def test_report_escapes_user_text(tiny_recipe, tmp_path):
    tiny_recipe["data"]["noise"] = 0.25
    result = run_recipe(load_recipe(tiny_recipe), tmp_path)
    recipe_file = result.run_dir / "recipe.yaml"
    recipe_file.write_text(recipe_file.read_text() + "# <script>alert(1)</script>\n")
    from trainlab.report.html import write_report

    assert "<script>alert" not in write_report(result.run_dir).read_text()


def test_predictor_applies_the_training_preprocessing(tiny_recipe, tmp_path):
    tiny_recipe["data"]["preprocess"] = {"name": "minmax", "low": -1, "high": 1}
    recipe = load_recipe(tiny_recipe)
    result = run_recipe(recipe, tmp_path)
    setup = build(recipe)
    data = registry.datasets.get("moons").factory(seed=0, n_samples=200)
    x_test = split_dataset(data, 0.1, 0.2, 0).test[0]
    predictor = load_model(result.run_dir)
    probabilities = predictor.predict(x_test)
    assert probabilities.shape == (40, 2) and np.allclose(probabilities.sum(axis=1), 1, atol=1e-6)
    # The same numbers as the trained model on inputs preprocessed with training statistics:
    setup.model.load_state_dict(predictor.model.state_dict())
    setup.model.eval()
    with torch.no_grad():
        expected = setup.model(setup.preprocessor(torch.as_tensor(x_test))).softmax(1).numpy()
    np.testing.assert_allclose(probabilities, expected, rtol=1e-6)
    accuracy = (probabilities.argmax(1) == split_dataset(data, 0.1, 0.2, 0).test[1]).mean()
    assert accuracy == pytest.approx(json.loads((result.run_dir / "run.json").read_text())["test"]["test_accuracy"])


def test_regression_run_and_metric_task_check(tmp_path):
    recipe = {"data": {"name": "sine", "n_samples": 200}, "model": {"name": "mlp", "hidden": [16]},
              "stopping": {"epochs": 2}}
    result = run_recipe(load_recipe(recipe), tmp_path)
    assert set(result.test) == {"test_loss", "test_mae"}
    with pytest.raises(RecipeError, match=r"metrics: \['accuracy'\] do not apply to regression data 'sine'"):
        build(load_recipe({**recipe, "metrics": ["accuracy"]}))


def test_nan_in_data_is_a_clear_error(tmp_path, monkeypatch):
    from trainlab.data.datasets import _classification

    # register into a copy, so the set does not leak into later tests (docs/techniques.md lists the registry)
    monkeypatch.setattr(registry.datasets, "_entries", dict(registry.datasets._entries))

    @registry.datasets.register("test_nan_set")
    def nan_set(seed: int):
        """A set with one NaN, for this test."""
        x = np.zeros((20, 2))
        x[7, 1] = np.nan
        return _classification(x, np.arange(20) % 2)

    with pytest.raises(TrainlabError, match="the inputs contain NaN or inf \\(first at example 7\\)"):
        build(load_recipe({"data": {"name": "test_nan_set"}}))


def test_unavailable_device_is_a_clear_error(tiny_recipe):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(TrainlabError, match="device: 'cuda' is not available on this machine"):
        build(load_recipe({**tiny_recipe, "device": "cuda"}))


def test_resume_refuses_finished_runs_and_other_dirs(tiny_recipe, tmp_path):
    result = run_recipe(load_recipe(tiny_recipe), tmp_path)
    with pytest.raises(TrainlabError, match="already finished"):
        resume_run(result.run_dir)
    with pytest.raises(TrainlabError, match="not a trainlab run directory"):
        resume_run(tmp_path)


def test_model_that_cannot_take_the_data_shape_is_a_recipe_error(tiny_recipe):
    tiny_recipe["model"] = "cnn2d"
    with pytest.raises(RecipeError) as caught:
        build(load_recipe(tiny_recipe))
    assert caught.value.problems[0].startswith("model: 'cnn2d' cannot take inputs of shape (2,) from data 'moons'")


def test_float64_precision_lets_lbfgs_refine_below_float32(tmp_path):
    # Adam → L-BFGS on a linear regression: how close do the weights get to the least-squares
    # solution of the training split (computed in float64)? float32 weights carry 6e-8 relative
    # rounding, so float32 cannot get much below 1e-7 (measured 2.6e-7); float64 L-BFGS goes on
    # until its line search finds no descent in float64 rounding (measured 3.0e-11).
    def distance(precision: str) -> float:
        recipe = load_recipe({
            "name": f"p-{precision}", "seed": 0, "precision": precision,
            "data": {"name": "linear", "noise": 0.1, "preprocess": "none", "batch_size": 50},
            "model": {"name": "mlp", "hidden": []},
            "optim": {"name": "chain", "lr": 0.05, "first": "adam", "switch_epoch": 5,
                      "then": {"name": "lbfgs", "tolerance_change": 0.0, "tolerance_grad": 0.0}},
            "stopping": {"epochs": 8}})
        result = run_recipe(recipe, tmp_path)
        stops = json.loads((result.run_dir / "run.json").read_text())["lbfgs"]  # epochs 6–8: one step each
        assert stops["steps"] == 3 and sum(stops["reasons"].values()) == 3 and stops["iterations"] >= 3
        model = load_model(result.run_dir)
        assert {p.dtype for p in model.model.parameters()} == {getattr(torch, precision)}
        assert model.predict(np.zeros((2, 3), dtype=np.float32)).dtype == np.dtype(precision)
        train = build(recipe).train
        design = torch.cat([train.x.double(), torch.ones(len(train.x), 1, dtype=torch.float64)], dim=1)
        exact = torch.linalg.lstsq(design, train.y.double()).solution.flatten()
        linear = model.model[-1]
        fitted = torch.cat([linear.weight.flatten(), linear.bias]).detach().double()
        return float((fitted - exact).norm() / exact.norm())

    d32, d64 = distance("float32"), distance("float64")
    assert d32 > 6e-8 and d64 < 1e-3 * d32, (d32, d64)  # three decades beyond float32's reach

"""README's quick start on your own CSV files, as a new user types it (issue 13's acceptance): a three-line
recipe, `trainlab run`, `trainlab predict` in a new process, `trainlab doctor`, `trainlab compare --vary`,
`trainlab search`, for a classification CSV (with a header) and a regression CSV."""
from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import make_classification, make_regression

from trainlab.cli import main
from trainlab.rundir import RunDir


def _write_csv(path: Path, x: np.ndarray, y: np.ndarray) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([f"f{i}" for i in range(x.shape[1])] + ["label"])
        writer.writerows([[f"{v:.6g}" for v in row] + [target] for row, target in zip(x, y)])


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_quick_start_on_your_own_csv(task, tmp_path, monkeypatch, capsys):
    if task == "classification":
        x, y = make_classification(n_samples=400, n_features=20, n_informative=8, random_state=0)
    else:
        x, y = make_regression(n_samples=400, n_features=20, n_informative=8, noise=10, random_state=0)
        y = [f"{v:.6g}" for v in y]
    _write_csv(tmp_path / "train.csv", x, y)
    # The README's three lines.
    (tmp_path / "recipe.yaml").write_text("data: {name: csv, path: train.csv, target: label, preprocess: zscore}\n"
                                          "optim: {name: adam, lr: 0.003}\n"
                                          "stopping: {epochs: 30, early: {patience: 10, restore_best_weights: true}}\n")
    (tmp_path / "space.yaml").write_text("optim.lr: {loguniform: [0.001, 0.03]}\n")
    monkeypatch.chdir(tmp_path)
    assert main(["run", "recipe.yaml", "--quiet"]) == 0
    run_dir = next(Path("runs").iterdir())
    status = RunDir(run_dir).status()
    assert status["status"] == "finished" and status["data"]["task"] == task
    assert status["data"]["files"][0]["path"] == str((tmp_path / "train.csv").resolve())  # recorded for --resume
    if task == "classification":  # 20 features, 8 informative: an MLP beats chance (0.5) clearly
        assert status["test"]["test_accuracy"] > 0.8
    else:  # a linear target with noise 10 (std ≈ 160): standardized, the error ends far below the spread
        assert status["test"]["test_mae"] < 0.25 * np.std(np.asarray(y, dtype=float))

    # predict in a new process, from a file with the same header (the label column is ignored)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "trainlab", "predict", str(run_dir), "train.csv", "--out", "p.csv"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    predictions = list(csv.DictReader(open("p.csv")))
    assert len(predictions) == 400
    assert ("predicted" in predictions[0]) == (task == "classification")

    assert main(["doctor", str(run_dir)]) == 0
    assert main(["compare", "recipe.yaml", "--vary", "optim.lr=0.001,0.01", "--seeds", "1", "--workers", "2",
                 "--out", "cmp", "--quiet"]) == 0
    assert len(list(Path("cmp").rglob("metrics.csv"))) == 2
    assert main(["search", "recipe.yaml", "--space", "space.yaml", "--trials", "2", "--out", "srch",
                 "--set", "stopping.epochs=3"]) == 0
    assert (Path("srch") / "best.yaml").is_file()

"""TensorBoard and MLflow trackers: a run, a comparison and a search mirrored where users look.

The acceptance tests read the event files back with TensorBoard's own EventAccumulator and the
MLflow runs with ``mlflow.search_runs``. Both packages are the ``tracking`` extra; without them
these tests skip (the missing-package error is tested without them).
"""
from __future__ import annotations

import math
import os
import re
from pathlib import Path

import pytest
import yaml

from trainlab.cli import main
from trainlab.errors import TrainlabError
from trainlab.recipe import load_recipe
from trainlab.run import build, resume_run, run_recipe, start_run
from trainlab.rundir import RunDir
from trainlab.tracking import track_overrides
from trainlab.tracking.base import flatten, require, tracking_uri

tensorboard = pytest.importorskip("tensorboard", reason="the tracking extra (tensorboard) is not installed")
mlflow = pytest.importorskip("mlflow", reason="the tracking extra (mlflow) is not installed")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

EPOCHS = 2
TINY = {"name": "tracked", "seed": 0,
        "data": {"name": "moons", "n_samples": 200, "batch_size": 50},
        "model": {"name": "mlp", "hidden": [8]}, "optim": {"name": "adam", "lr": 0.01},
        "stopping": {"epochs": EPOCHS}, "checkpoint": {"every": 1}}


def _scalars(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    events = EventAccumulator(str(run_dir / "tb"), size_guidance={"scalars": 0, "histograms": 0, "tensors": 0})
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def _assert_every_epoch(run_dir: Path) -> None:
    """Every metrics.csv column (but ``epoch``) at steps 1…epochs, equal to the CSV's values (float32 in
    the event file, so rel 1e-6)."""
    scalars, rows = _scalars(run_dir), RunDir(run_dir).metrics()
    assert len(rows) == EPOCHS
    for column in rows[0]:
        if column == "epoch":
            continue
        assert [step for step, _ in scalars[column]] == list(range(1, EPOCHS + 1)), column
        assert [v for _, v in scalars[column]] == pytest.approx([row[column] for row in rows], rel=1e-6)


@pytest.fixture(autouse=True)
def _no_tracking_uri(monkeypatch):
    """No MLFLOW_TRACKING_URI from outside; ``mlflow.set_tracking_uri`` (in _mlflow_runs) sets it for
    this process, and the monkeypatch undoes that after each test."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


def _mlflow_runs(uri: str) -> list:
    mlflow.set_tracking_uri(uri)  # also sets $MLFLOW_TRACKING_URI, which later runs would then log to
    try:
        return mlflow.search_runs(search_all_experiments=True, output_format="list")
    finally:
        os.environ.pop("MLFLOW_TRACKING_URI", None)


def _write(tmp_path: Path, name: str, data: dict) -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


def test_track_flag_and_recipe_forms():
    assert track_overrides(None) == []
    assert track_overrides("mlflow") == ["tracking.to=[mlflow]"]
    assert load_recipe(TINY, track_overrides("tensorboard,mlflow")).tracking.to == ["tensorboard", "mlflow"]
    assert load_recipe({**TINY, "tracking": "mlflow"}).tracking.to == ["mlflow"]
    assert load_recipe({**TINY, "tracking": {"to": ["tensorboard"], "uri": "sqlite:///x.db"}}).tracking.uri == "sqlite:///x.db"
    with pytest.raises(TrainlabError, match="--track: 'tb' is not a tracker; accepted: .*tensorboard, mlflow"):
        track_overrides("tb,mlflow")
    with pytest.raises(TrainlabError, match="tracking.to.0: 'wandb'"):
        load_recipe({**TINY, "tracking": ["wandb"]})


def test_flatten_and_uri_resolution(tmp_path, monkeypatch):
    assert flatten({"a": {"b": 1, "c": [1, 2]}, "d": None, "e": {}}) == {"a.b": 1, "a.c": "[1, 2]", "d": "null",
                                                                         "e": "{}"}
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert tracking_uri(None, tmp_path) == f"sqlite:///{tmp_path.resolve()}/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.example:5000")
    assert tracking_uri(None, tmp_path) == "http://mlflow.example:5000"
    assert tracking_uri("sqlite:///own.db", tmp_path) == "sqlite:///own.db"  # the recipe's wins


def test_missing_package_is_one_line_with_the_pip_command():
    with pytest.raises(TrainlabError) as error:
        require("mlflow", "trainlab_no_such_module")
    message = str(error.value)
    assert "\n" not in message and "'mlflow' needs the mlflow package" in message
    assert 'pip install "trainlab[tracking]"' in message


def test_a_run_with_probes_in_tensorboard_and_mlflow(tmp_path, monkeypatch):
    recipe = load_recipe({**TINY, "diagnose": {"every": 2, "histograms": [1, 2]}, "tracking": ["tensorboard", "mlflow"]})
    result = run_recipe(recipe, tmp_path / "runs")
    _assert_every_epoch(result.run_dir)
    scalars = _scalars(result.run_dir)
    # probes: one tag per layer and statistic, at optimizer steps; final metrics for the hparams view
    assert any(tag.startswith("probes/01 Linear 2→8/grad_norm") for tag in scalars)
    assert scalars["final/test_accuracy"][0][1] == pytest.approx(result.test["test_accuracy"], rel=1e-6)
    events = EventAccumulator(str(result.run_dir / "tb"), size_guidance={"histograms": 0}); events.Reload()
    assert "probes/01 Linear 2→8/act" in events.Tags()["histograms"]
    assert "recipe/text_summary" in events.Tags()["tensors"]

    [run] = _mlflow_runs(f"sqlite:///{tmp_path / 'runs' / 'mlflow.db'}")
    assert run.info.status == "FINISHED" and run.info.run_name == result.run_dir.name
    assert run.data.params["optim.lr"] == "0.01" and run.data.params["model.hidden"] == "[8]"
    assert run.data.metrics["test_accuracy"] == pytest.approx(result.test["test_accuracy"])
    assert run.data.tags["seed"] == "0" and run.data.tags["torch.version"]
    assert run.data.tags["doctor.findings"]  # "none" or the findings' names
    client = mlflow.MlflowClient()
    history = client.get_metric_history(run.info.run_id, "val_loss")
    assert [m.step for m in history] == [1, 2]
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"report.html", "recipe.yaml", "model"} <= artifacts
    weights = {a.path for a in client.list_artifacts(run.info.run_id, "model")}
    assert weights == {"model/epoch-0002.json", "model/epoch-0002.safetensors"}


@pytest.mark.slow  # about 30 s on 2 busy cores: 3 worker processes, each importing MLflow
def test_compare_makes_a_parent_run_with_a_child_per_seed(tmp_path, monkeypatch):
    """Acceptance: compare --seeds 3 with --track tensorboard,mlflow."""
    monkeypatch.chdir(tmp_path)
    recipe = _write(tmp_path, "recipe.yaml", TINY)
    out = tmp_path / "cmp"
    assert main(["compare", str(recipe), "--seeds", "3", "--out", str(out), "--workers", "2", "--quiet",
                 "--track", "tensorboard,mlflow"]) == 0
    run_dirs = sorted(p for p in out.iterdir() if RunDir(p).is_run())
    assert len(run_dirs) == 3
    for run_dir in run_dirs:
        _assert_every_epoch(run_dir)
    runs = _mlflow_runs(f"sqlite:///{out / 'mlflow.db'}")
    [parent] = [r for r in runs if r.data.tags.get("trainlab.kind") == "comparison"]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert sorted(r.info.run_name for r in children) == [p.name for p in run_dirs]
    assert sorted(r.data.tags["seed"] for r in children) == ["0", "1", "2"]
    for child in children:
        assert child.info.status == "FINISHED" and child.data.params["optim.name"] == "adam"
        assert math.isfinite(child.data.metrics["val_loss"])
    assert parent.info.status == "FINISHED" and parent.data.params["seeds"] == "3"


@pytest.mark.slow  # about 30 s on 2 busy cores: 5 trials with both trackers
def test_search_makes_a_parent_run_with_a_child_per_trial(tmp_path, monkeypatch):
    """Acceptance: a 5-trial search with --track tensorboard,mlflow."""
    monkeypatch.chdir(tmp_path)
    recipe = _write(tmp_path, "recipe.yaml", TINY)
    space = _write(tmp_path, "space.yaml", {"optim.lr": {"loguniform": [1e-3, 1e-1]}})
    search_out = tmp_path / "search"
    assert main(["search", str(recipe), "--space", str(space), "--trials", "5", "--out", str(search_out),
                 "--track", "tensorboard,mlflow"]) == 0
    trial_dirs = sorted((search_out / "trials").iterdir())
    assert len(trial_dirs) == 5
    for trial_dir in trial_dirs:
        _assert_every_epoch(trial_dir)
    runs = _mlflow_runs(f"sqlite:///{search_out / 'mlflow.db'}")
    [parent] = [r for r in runs if r.data.tags.get("trainlab.kind") == "search"]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(children) == 5 and all(c.info.status == "FINISHED" for c in children)
    lrs = {float(c.data.params["optim.lr"]) for c in children}
    assert len(lrs) == 5 and all(1e-3 <= lr <= 1e-1 for lr in lrs)  # each trial's own drawn rate
    assert parent.data.metrics["best_val_loss"] == pytest.approx(min(c.data.metrics["val_loss"] for c in children))
    assert "best.yaml" in {a.path for a in mlflow.MlflowClient().list_artifacts(parent.info.run_id)}
    best = yaml.safe_load((search_out / "best.yaml").read_text())
    assert best["tracking"]["parent"] is None  # best.yaml carries no MLflow run id


def test_resumed_run_continues_its_mlflow_run_and_purges_tensorboard(tmp_path, monkeypatch):
    """A run killed after epoch 1 and resumed: one MLflow run, each epoch once in TensorBoard."""
    recipe = load_recipe({**TINY, "tracking": ["tensorboard", "mlflow"]})
    run = RunDir.create(tmp_path / "runs", recipe.name)
    run.start(recipe)
    # one epoch through the run's own callbacks, then stop as a kill would: no end of run, no report
    setup = build(recipe)
    started = start_run(run, setup, [], None)
    setup.trainer.fit(setup.train, setup.val, 1)
    started.writer.wait()  # killed once epoch 1's checkpoint is on disk (it is written off the loop's thread)
    resume_run(run.path)
    _assert_every_epoch(run.path)
    [only] = _mlflow_runs(f"sqlite:///{tmp_path / 'runs' / 'mlflow.db'}")
    assert only.info.status == "FINISHED"
    steps = [m.step for m in mlflow.MlflowClient().get_metric_history(only.info.run_id, "loss")]
    assert sorted(set(steps)) == [1, 2]


def test_a_labs_result_in_tensorboard_and_mlflow(tmp_path):
    """lab --track mirrors result.json: rows as scalars, per-seed values at step = seed, the verdict."""
    from trainlab.tracking.labs import track_lab

    lab_dir = tmp_path / "labs" / "C0"
    lab_dir.mkdir(parents=True)
    (lab_dir / "report.html").write_text("<!DOCTYPE html><title>C0</title>")
    record = {"lab": "C0", "quick": True, "seeds": [0, 1, 2], "verdict": "reproduced",
              "rows": [{"name": "std ratio", "measured": 0.5}, {"name": "a text row", "measured": "n/a"}],
              "criteria": [{"text": "ratio < 1", "seeds": [0, 1, 2], "values": [0.4, 0.5, "nan"]}]}
    track_lab(["tensorboard", "mlflow"], record, lab_dir, "the claim")
    scalars = _scalars(lab_dir)
    assert scalars["rows/std ratio"] == [(0, 0.5)]
    assert scalars["seeds/ratio _ 1"] == [(0, pytest.approx(0.4)), (1, 0.5)]  # "nan" (JSON text) is left out
    [run] = _mlflow_runs(f"sqlite:///{tmp_path / 'labs' / 'mlflow.db'}")
    assert run.info.run_name == "C0" and run.data.tags["verdict"] == "reproduced"
    assert run.data.params["seeds"] == "[0, 1, 2]" and run.data.metrics["std ratio"] == 0.5
    steps = [m.step for m in mlflow.MlflowClient().get_metric_history(run.info.run_id, "ratio _ 1")]
    assert steps == [0, 1]
    assert "report.html" in {a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id)}


def test_docs_python_example_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    text = (Path(__file__).parent.parent / "docs" / "tracking.md").read_text()
    example = re.findall(r"```python\n(.*?)```", text, re.DOTALL)[0]
    exec(compile(example, "docs/tracking.md", "exec"), {})  # noqa: S102  (our own documentation)
    assert capsys.readouterr().out.strip().endswith("True")
    assert (tmp_path / "runs-tracked" / "mlflow.db").is_file()

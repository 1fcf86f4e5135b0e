"""Vectorized seeds: K seeds trained as one batched model write what K separate runs write.

No tolerance: on the CPU (torch 2.13) every copy's metrics.csv values, checkpoint tensors (weights,
optimizer state, the RNG stream), test metrics and findings are bit-identical to a separate run of
its seed, in float64 and in float32. (Before the logged values were computed copy by copy, the
batched mean differed in the last bits: ≤ 4.3e-16 relative in float64, ≤ 1.2e-7 in float32; the
tests would catch such a regression.)
"""
from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from trainlab.recipe import load_recipe
from trainlab.run import build, end_run, resume_run, run_recipe, start_run
from trainlab.rundir import RunDir
from trainlab.tools.vectorized import (
    NotVectorized,
    VectorizedSeeds,
    build_copies,
    fit_seeds,
    stacked_linear,
    train_vectorized,
    why_not_stacked,
    why_not_vectorized,
)
from trainlab.train.callbacks import Callback
from trainlab.train.checkpoint import load_checkpoint

DOCS = Path(__file__).parents[1] / "docs" / "compare.md"
SEEDS = [3, 4, 5]
# Dropout (per-copy generators), shuffling (per-seed orders and splits), Adam with weight decay and a
# step schedule: everything that differs between seeds or carries state is exercised.
RECIPE = {
    "name": "vec",
    "data": {"name": "moons", "n_samples": 300, "batch_size": 32, "preprocess": "zscore"},
    "model": {"name": "mlp", "hidden": [16, 16], "activation": "tanh", "dropout": 0.3},
    "optim": {"name": "adam", "lr": 0.01, "weight_decay": 1e-3},
    "schedule": {"name": "step", "step_size": 2, "gamma": 0.5},
    "stopping": {"epochs": 3},
    "checkpoint": {"every": 2},
}


def recipe_of(seed: int, **changes):
    return load_recipe({**RECIPE, **changes, "seed": seed})


def new_dirs(root: Path, **changes) -> list[Path]:
    dirs = []
    for seed in SEEDS:
        run_dir = root / f"vec-seed{seed}"
        run_dir.mkdir(parents=True)
        RunDir(run_dir).start(recipe_of(seed, **changes))
        dirs.append(run_dir)
    return dirs


def rows(run_dir: Path) -> list[dict[str, str]]:
    with open(run_dir / "metrics.csv") as f:
        return list(csv.DictReader(f))


def assert_same_run(vectorized: Path, separate: Path, rel: float = 0.0) -> float:
    """metrics.csv within ``rel`` (relative), every checkpoint tensor identical; returns the largest difference."""
    a, b = rows(vectorized), rows(separate)
    assert len(a) == len(b) and a[0].keys() == b[0].keys()
    worst = 0.0
    for row_a, row_b in zip(a, b):
        for key in row_a:
            if key != "seconds":  # wall time
                x, y = float(row_a[key]), float(row_b[key])
                worst = max(worst, abs(x - y) / max(abs(y), 1e-300))
    assert worst <= rel, worst
    names = sorted(p.stem for p in (separate / "checkpoints").glob("*.json"))
    assert names == sorted(p.stem for p in (vectorized / "checkpoints").glob("*.json")) and names
    for name in names:
        ta, body_a = load_checkpoint(vectorized / "checkpoints" / name)
        tb, body_b = load_checkpoint(separate / "checkpoints" / name)
        assert ta.keys() == tb.keys()
        for key in ta:  # weights, Adam's moments and step, rng.torch (the dropout stream), preprocessing
            assert torch.equal(ta[key], tb[key]), (name, key, (ta[key].double() - tb[key].double()).abs().max())
        assert body_a["scheduler"] == body_b["scheduler"] and body_a["epoch"] == body_b["epoch"]
    status_a, status_b = (json.loads((d / "run.json").read_text()) for d in (vectorized, separate))
    assert status_a["status"] == status_b["status"] == "finished"
    for key, value in status_b["test"].items():  # the final weights are identical: so is every evaluation
        assert status_a["test"][key] == value
    findings = [json.loads((d / "findings.json").read_text()) for d in (vectorized, separate)]
    assert [f["name"] for f in findings[0]["findings"]] == [f["name"] for f in findings[1]["findings"]]
    assert (vectorized / "report.html").is_file()
    return worst


SINE = {"data": {"name": "sine", "n_samples": 300, "batch_size": 32}, "model": {"name": "mlp", "hidden": [16]}}


ALL_TRAINING = {"data": {**RECIPE["data"], "val_fraction": 0, "test_fraction": 0}}


@pytest.mark.parametrize("changes", [{"precision": "float64"}, {"precision": "float32"}, SINE, ALL_TRAINING],
                         ids=["float64", "float32", "regression", "no-validation"])
def test_each_copy_is_its_separate_run(tmp_path, changes):
    """Classification with dropout in both precisions; regression (MSE, standardized targets and a
    metric in the targets' units, 1 input and 1 output: BLAS's matrix-vector products); no
    validation or test split (300 = 9·32 + 12: a last batch small enough for ATen's own bmm loop)."""
    dirs = new_dirs(tmp_path / "vectorized", **changes)
    results = train_vectorized(dirs)
    assert [r.run_dir for r in results] == dirs
    for seed, run_dir in zip(SEEDS, dirs):
        separate = run_recipe(recipe_of(seed, **changes), run_dir=tmp_path / f"separate-{seed}")
        assert_same_run(run_dir, separate.run_dir)
    # the seeds really differ (own split, init, order, masks): otherwise the test above proves little
    finals = [rows(d)[-1]["loss"] for d in dirs]
    assert len(set(finals)) == len(SEEDS)


@pytest.mark.parametrize("optim", [{"name": "sgd", "lr": 0.1}, {"name": "momentum", "lr": 0.05},
                                   {"name": "nesterov", "lr": 0.05, "weight_decay": 1e-3},
                                   {"name": "rmsprop", "lr": 0.01, "momentum": 0.5}, {"name": "adagrad", "lr": 0.1},
                                   {"name": "adamw", "lr": 0.01}, {"name": "nadam", "lr": 0.01}],
                         ids=lambda o: o["name"])
def test_every_elementwise_optimizer_updates_each_copy_exactly(tmp_path, optim):
    """One optimizer over the stacked parameters is each seed's own, for every supported update rule
    (with Gaussian noise on the inputs and hidden units, drawn from each copy's generator)."""
    changes = {"optim": optim, "stopping": {"epochs": 2},
               "model": {"name": "mlp", "hidden": [16, 16], "activation": "relu", "input_noise": 0.1,
                         "hidden_noise": 0.05}}
    dirs = new_dirs(tmp_path / "vectorized", **changes)
    train_vectorized(dirs)
    for seed, run_dir in zip(SEEDS, dirs):
        assert_same_run(run_dir, run_recipe(recipe_of(seed, **changes), run_dir=tmp_path / f"separate-{seed}").run_dir)


def test_a_copy_resumes_as_a_separate_run_from_its_checkpoint(tmp_path):
    """The checkpoint of epoch 2 holds the copy's own RNG stream and optimizer state: resuming it in
    a process of its own (what a rerun comparison does) ends bit for bit where the copy ended."""
    dirs = new_dirs(tmp_path, stopping={"epochs": 4})
    train_vectorized(dirs)
    run_dir = dirs[1]
    finished = {k: v for k, v in load_checkpoint(run_dir / "checkpoints" / "epoch-0004")[0].items()}
    for path in (run_dir / "checkpoints").glob("epoch-0004.*"):
        path.unlink()
    status = json.loads((run_dir / "run.json").read_text())
    (run_dir / "run.json").write_text(json.dumps({**status, "status": "running"}))
    resume_run(run_dir)
    resumed = load_checkpoint(run_dir / "checkpoints" / "epoch-0004")[0]
    for key, value in finished.items():
        assert torch.equal(resumed[key], value), key


def test_early_stopping_stops_each_copy_on_its_own(tmp_path):
    changes = {"stopping": {"epochs": 8, "early": {"monitor": "val_loss", "patience": 1, "min_delta": 0.02}},
               "optim": {"name": "sgd", "lr": 0.05}, "checkpoint": {"every": 1}}
    dirs = new_dirs(tmp_path / "vectorized", **changes)
    train_vectorized(dirs)
    lengths = []
    for seed, run_dir in zip(SEEDS, dirs):
        separate = run_recipe(recipe_of(seed, **changes), run_dir=tmp_path / f"separate-{seed}")
        assert_same_run(run_dir, separate.run_dir)
        lengths.append(len(rows(run_dir)))
    assert min(lengths) < 8  # at least one copy stopped early, while the others trained on


class StopAtStep(Callback):
    """Stops training after optimizer step ``step`` (inside an epoch), as the live doctor does."""

    def __init__(self, step: int):
        self.step = step

    def on_batch_end(self, state, loss) -> None:
        if state.step == self.step:
            state.should_stop = True


def test_a_copy_stopped_inside_an_epoch_leaves_the_stack_there(tmp_path):
    """Seed 4 stops after step 9 (inside epoch 2): its weights, row and checkpoint are those of the
    separate run stopped there, while seeds 3 and 5 train on."""
    changes = {"stopping": {"epochs": 3}, "checkpoint": {"every": 1}}
    dirs = new_dirs(tmp_path / "vectorized", **changes)
    setups, generators = build_copies(dirs)
    started = [start_run(RunDir(d), s, [StopAtStep(9)] if k == 1 else [], None)
               for k, (d, s) in enumerate(zip(dirs, setups))]
    engine = VectorizedSeeds(setups, generators, started)
    engine.fit(3)
    for copy in engine.copies:
        end_run(copy.started, copy.state.history)
    stopped = run_recipe(recipe_of(SEEDS[1], **changes), output=[StopAtStep(9)], run_dir=tmp_path / "stopped")
    assert_same_run(dirs[1], stopped.run_dir)
    assert len(rows(dirs[1])) == 2 and len(rows(dirs[0])) == 3
    for seed, run_dir in ((SEEDS[0], dirs[0]), (SEEDS[2], dirs[2])):
        assert_same_run(run_dir, run_recipe(recipe_of(seed, **changes), run_dir=tmp_path / f"alone-{seed}").run_dir)


def test_a_diverging_run_fails_with_the_separate_runs_error(tmp_path):
    changes = {"optim": {"name": "sgd", "lr": 1e6}, "model": {"name": "mlp", "hidden": [16], "activation": "relu"}}
    dirs = new_dirs(tmp_path / "vectorized", **changes)
    results = train_vectorized(dirs)
    for seed, run_dir, result in zip(SEEDS, dirs, results):
        with pytest.raises(Exception) as separate:
            run_recipe(recipe_of(seed, **changes), run_dir=tmp_path / f"separate-{seed}")
        assert str(result) == str(separate.value)
        status = json.loads((run_dir / "run.json").read_text())
        assert status["status"] == "failed" and status["error"] == str(separate.value)


@pytest.mark.parametrize("changes,reason", [
    ({"penalties": [{"name": "l2", "weight": 1e-3}]}, "penalties"),
    ({"diagnose": True}, "diagnose"),
    ({"checkpoint": {"every_steps": 5}}, "checkpoint.every_steps"),
    ({"schedule": {"name": "step", "interval": "step", "step_size": 5}}, "schedule.interval: step"),
    ({"data": {**RECIPE["data"], "loader": "dataloader"}}, "data.loader"),
])
def test_recipes_that_cannot_be_vectorized_say_why(changes, reason):
    assert reason in why_not_vectorized(recipe_of(0, **changes))
    assert why_not_vectorized(recipe_of(0)) is None


@pytest.mark.parametrize("changes,reason", [
    ({"optim": {"name": "lbfgs", "lr": 1.0}, "model": {"name": "mlp", "hidden": [8]}}, "does not update elementwise"),
    ({"model": {"name": "mlp", "hidden": [8], "batchnorm": True}}, "BatchNorm1d"),
    ({"model": {"name": "mlp", "hidden": [8], "activation": "prelu"}}, "the layer PReLU"),
    ({"schedule": {"name": "plateau"}}, "follows each copy's own"),
])
def test_models_and_optimizers_that_cannot_be_stacked_say_why(tmp_path, changes, reason):
    assert reason in why_not_stacked([build(recipe_of(seed, **changes)) for seed in SEEDS[:2]])
    dirs = new_dirs(tmp_path, **changes)
    with pytest.raises(NotVectorized, match=reason):
        train_vectorized(dirs)
    assert all(json.loads((d / "run.json").read_text())["status"] == "created" for d in dirs)  # untouched
    assert not any((d / "metrics.csv").exists() for d in dirs)


@pytest.mark.parametrize("shape", [(4, 50, 30, 20), (3, 100, 100, 10), (3, 32, 1, 16), (3, 32, 16, 1), (3, 1, 16, 8),
                                   (3, 12, 2, 16), (3, 13, 2, 16)])
@pytest.mark.parametrize("threads", [1, 2])
def test_stacked_linear_gives_each_copys_linear_bits(shape, threads):
    """Forward and all three gradients equal each copy's own F.linear on its own (freshly allocated,
    as in a separate run) tensors; the shapes with a 1 are BLAS's matrix-vector cases, 12·2·16 < 400
    ≤ 13·2·16 the two sides of ATen's small-matrix bmm. Bit for bit on one intra-op thread; on two,
    a single product may split its sums between the threads where the batched one does not, so
    the claim there is float tolerance: 1e-5 relative in float32 (a few ulps of sums of ~100
    terms), 1e-12 in float64."""
    k_copies, batch, n_in, n_out = shape
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    try:
        for dtype in (torch.float32, torch.float64):
            x = torch.randn(k_copies, batch, n_in, dtype=dtype, requires_grad=True)
            weight = torch.randn(k_copies, n_out, n_in, dtype=dtype, requires_grad=True)
            bias = torch.randn(k_copies, n_out, dtype=dtype, requires_grad=True)
            grad = torch.randn(k_copies, batch, n_out, dtype=dtype)
            out = stacked_linear(x, weight, bias)
            out.backward(grad)
            rtol = 0 if threads == 1 else 1e-5 if dtype == torch.float32 else 1e-12
            for k in range(k_copies):
                xk, wk, bk = (t[k].detach().clone().requires_grad_() for t in (x, weight, bias))
                own = torch.nn.functional.linear(xk, wk, bk)
                own.backward(grad[k].clone())
                pairs = [(out[k], own), (weight.grad[k], wk.grad), (bias.grad[k], bk.grad), (x.grad[k], xk.grad)]
                for batched, single in pairs:
                    torch.testing.assert_close(batched.detach(), single.detach(), rtol=rtol, atol=rtol)
    finally:
        torch.set_num_threads(before)


def test_compare_vectorizes_seeds_and_falls_back_with_a_reason(tmp_path):
    """The CLI: v0's seeds train vectorized and equal separate runs; v1's batch norm passes the
    recipe check but not the built model's, so its worker says why and its seeds run one by one."""
    recipe_file = tmp_path / "recipe.yaml"
    recipe_file.write_text(yaml.safe_dump({**RECIPE, "seed": SEEDS[0], "stopping": {"epochs": 2}}))
    out = tmp_path / "comparison"
    done = subprocess.run([sys.executable, "-m", "trainlab", "compare", str(recipe_file), "--seeds", "2",
                           "--vary", "model.batchnorm=false,true", "--out", str(out)],
                          capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=600,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert "v0: 2 seeds train together as one batched model (vectorized)" in done.stdout
    assert "seeds run as separate processes: model 'mlp' has the layer BatchNorm1d" in done.stderr
    assert len(re.findall(r"\(\d+\.\d s, vectorized\): finished", done.stdout)) == 2
    assert len(re.findall(r"v1-.*\(\d+\.\d s\): finished", done.stdout)) == 2
    for seed in SEEDS[:2]:
        separate = run_recipe(recipe_of(seed, stopping={"epochs": 2}), run_dir=tmp_path / f"separate-{seed}")
        assert_same_run(out / f"v0-model.batchnorm=false-seed{seed}", separate.run_dir)


def test_the_docs_example_trains_three_seeds(tmp_path, monkeypatch):
    code = next(block for block in re.findall(r"```python\n(.*?)```", DOCS.read_text(), re.DOTALL)
                if "train_vectorized" in block)
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "docs/compare.md", "exec"), {})  # noqa: S102  (the repository's own docs)
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["moons-seed0", "moons-seed1", "moons-seed2"]
    for run_dir in (tmp_path / "runs").iterdir():
        assert json.loads((run_dir / "run.json").read_text())["status"] == "finished"
        assert (run_dir / "report.html").is_file()


@pytest.fixture(autouse=True)
def _clean_rng():
    """build() seeds torch's global generator; leave it as the other tests expect."""
    state = torch.get_rng_state()
    yield
    torch.set_rng_state(state)


def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # the labs' setting (Lab.run): the bits are claimed on one intra-op thread
    return before


@pytest.mark.parametrize("validate", [True, False])
def test_fit_seeds_trains_each_copy_as_build_then_fit(validate):
    """In memory (what the labs use): each copy's weights, history (but seconds) and the generator
    state its training left are those of ``build(recipe)`` then ``trainer.fit`` — bit for bit."""
    before = _one_thread()
    try:
        recipes = [recipe_of(seed) for seed in SEEDS]
        fits = fit_seeds(recipes, validate=validate)
        assert fits.separately is None and fits.errors == [None] * len(SEEDS)
        for k, recipe in enumerate(recipes):
            alone = build(recipe)
            history = alone.trainer.fit(alone.train, alone.val if validate else None, 3)
            strip = lambda h: [{key: v for key, v in row.items() if key != "seconds"} for row in h]
            assert strip(fits.histories[k]) == strip(history)
            assert ("val_loss" in history[-1]) == validate
            for (name, p), q in zip(alone.model.named_parameters(), fits.setups[k].model.parameters()):
                assert torch.equal(p, q), name
            assert torch.equal(torch.get_rng_state(), fits.rng_states[k])  # MC dropout after training: same masks
            fits.use_rng(k)
            assert torch.equal(torch.get_rng_state(), fits.rng_states[k])
    finally:
        torch.set_num_threads(before)


def test_fit_seeds_falls_back_to_one_after_another_and_says_why():
    before = _one_thread()
    try:
        penalized = [recipe_of(seed, penalties=[{"name": "l2", "weight": 0.01}]) for seed in SEEDS[:2]]
        fits = fit_seeds(penalized)
        assert fits.separately == "vectorized seeds do not support penalties"
        alone = build(penalized[1])
        alone.trainer.fit(alone.train, alone.val, 3)
        assert all(torch.equal(p, q) for p, q in zip(alone.model.parameters(), fits.setups[1].model.parameters()))
        assert fit_seeds([recipe_of(SEEDS[0])]).separately == "a single seed"
        assert fit_seeds([recipe_of(3), recipe_of(4, model={**RECIPE["model"], "hidden": [8]})]).separately == \
            "recipes that differ in more than the seed"
        batchnorm = {**RECIPE["model"], "batchnorm": True}
        assert "has the layer BatchNorm1d" in fit_seeds([recipe_of(s, model=batchnorm) for s in SEEDS[:2]]).separately
    finally:
        torch.set_num_threads(before)


def test_the_docs_fit_seeds_example_trains_three_seeds_together(capsys):
    code = next(block for block in re.findall(r"```python\n(.*?)```", DOCS.read_text(), re.DOTALL)
                if "fit_seeds" in block)
    before = torch.get_num_threads()
    try:
        exec(compile(code, "docs/compare.md", "exec"), {})  # noqa: S102  (the repository's own docs)
    finally:
        torch.set_num_threads(before)
    assert capsys.readouterr().out.startswith("None [")  # None: not refused, the seeds trained together

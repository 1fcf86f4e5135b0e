"""A run killed with SIGKILL and resumed ends exactly where an uninterrupted run ends (CPU)."""
from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from trainlab.recipe import load_recipe
from trainlab.run import resume_run, run_recipe
from trainlab.rundir import latest_checkpoint
from trainlab.train.callbacks import Callback
from trainlab.train.checkpoint import load_checkpoint

EPOCHS = 16
# Dropout (global RNG), shuffling (per-epoch generator), Adam state and a step schedule all have
# to come back from the checkpoint for the resumed run to match bit for bit.
RECIPE = {
    "name": "resume",
    "seed": 7,
    "data": {"name": "mnist1d", "batch_size": 16, "preprocess": "zscore"},
    "model": {"name": "mlp", "hidden": [128, 128], "dropout": 0.1},
    "optim": {"name": "adam", "lr": 0.001},
    "schedule": {"name": "step", "step_size": 5, "gamma": 0.5},
    "stopping": {"epochs": EPOCHS},
    "checkpoint": {"every": 3},
}


def trainlab(*args: str, runs: Path) -> subprocess.Popen:
    # One thread per process: results do not depend on it, and two-thread torch on a busy 2-core
    # machine can stall for minutes. stdout goes nowhere so a full pipe can never block the run.
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "trainlab", "run", *args, "--runs-dir", str(runs), "--quiet"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)


def rows(run_dir: Path) -> list[dict]:
    with open(run_dir / "metrics.csv") as f:
        return [{k: v for k, v in r.items() if k != "seconds"} for r in csv.DictReader(f)]


def kill_when(recipe: dict, tmp_path: Path, ready) -> Path:
    """Start a run of ``recipe``, SIGKILL it once ``ready(newest checkpoint)`` holds; its run directory."""
    recipe_file = tmp_path / "recipe.yaml"
    recipe_file.write_text(yaml.safe_dump(recipe))
    killed = trainlab(str(recipe_file), runs=tmp_path / "killed")
    deadline = time.time() + 120
    while time.time() < deadline:
        dirs = list((tmp_path / "killed").glob(f"{recipe['name']}-*"))
        newest = latest_checkpoint(dirs[0]) if dirs else None
        if newest is not None and ready(newest):
            break
        assert killed.poll() is None, killed.communicate()
        time.sleep(0.01)
    os.kill(killed.pid, signal.SIGKILL)
    killed.wait()
    return dirs[0]


def resume_and_compare(run_dir: Path, tmp_path: Path, final: str) -> None:
    """Resume ``run_dir``, train the same recipe uninterrupted, and require identical results."""
    resumed = trainlab("--resume", str(run_dir), runs=tmp_path / "unused")
    assert resumed.wait(timeout=600) == 0, resumed.communicate()
    plain = trainlab(str(tmp_path / "recipe.yaml"), runs=tmp_path / "plain")
    assert plain.wait(timeout=600) == 0, plain.communicate()
    plain_dir = next((tmp_path / "plain").iterdir())
    got, _ = load_checkpoint(run_dir / "checkpoints" / final)
    expected, _ = load_checkpoint(plain_dir / "checkpoints" / final)
    assert got.keys() == expected.keys()
    for key in expected:  # weights, optimizer state, sampler losses, RNG state: identical, not close
        assert torch.equal(got[key], expected[key]), key
    assert rows(run_dir) == rows(plain_dir)


def test_sigkill_then_resume_matches_uninterrupted(tmp_path):
    run_dir = kill_when(RECIPE, tmp_path, lambda newest: newest.name >= "epoch-0006.json")
    stopped_at = int(latest_checkpoint(run_dir).stem.split("-")[1])
    assert stopped_at < EPOCHS, "the run finished before it could be killed; make it longer"
    resume_and_compare(run_dir, tmp_path, f"epoch-{EPOCHS:04d}.json")
    assert len(rows(run_dir)) == EPOCHS


@pytest.mark.parametrize("damage", ["truncate", "edit"])
def test_resume_skips_a_damaged_checkpoint_naming_it(tmp_path, damage):
    recipe = {**RECIPE, "data": {"name": "moons", "n_samples": 100}, "stopping": {"epochs": 4},
              "checkpoint": {"every": 2}}
    recipe_file = tmp_path / "recipe.yaml"
    recipe_file.write_text(yaml.safe_dump(recipe))
    assert trainlab(str(recipe_file), runs=tmp_path).wait(timeout=120) == 0
    run_dir = next(tmp_path.glob("resume-*"))
    (run_dir / "run.json").write_text((run_dir / "run.json").read_text().replace('"finished"', '"running"'))
    target = run_dir / "checkpoints" / "epoch-0004.safetensors"
    data = target.read_bytes()
    target.write_bytes(data[:-100] if damage == "truncate" else data[:-1] + bytes([data[-1] ^ 1]))
    process = trainlab("--resume", str(run_dir), runs=tmp_path)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 0  # the newest valid checkpoint is used instead (issue 14, item 14)
    assert err.strip() == (f"warning: skipping damaged checkpoint epoch-0004.json: checkpoint file {target} is "
                           "truncated or modified (checksum mismatch); resuming from epoch-0002.json")


# Inside an epoch: hard-example sampling (its draw depends on losses recorded during the epoch),
# dropout, Adam and a per-step schedule must all continue from the batch after the checkpoint.
WITHIN_EPOCH = {**RECIPE, "name": "within",
                "data": {"name": "mnist1d", "batch_size": 16, "preprocess": "zscore", "sampler": "hard_examples"},
                "schedule": {"name": "exponential", "gamma": 0.9995, "interval": "step"},
                "stopping": {"epochs": 4}, "checkpoint": {"every": 2, "every_steps": 23}}


def test_sigkill_inside_an_epoch_then_resume_matches_uninterrupted(tmp_path):
    # killed at a checkpoint inside the second epoch or later
    run_dir = kill_when(WITHIN_EPOCH, tmp_path, lambda newest: "-batch-" in newest.name and newest.name >= "epoch-0001")
    newest = latest_checkpoint(run_dir)
    assert "-batch-" in newest.name, f"killed after an epoch's end ({newest.name}); the test needs one inside"
    # Older in-epoch checkpoints are deleted once a newer one is committed; the kill may land between
    # that commit and the deletion (both seen), so one older file at most may remain — never more.
    inside = sorted((run_dir / "checkpoints").glob("*-batch-*.json"), key=lambda p: p.stem)
    assert inside[-1] == newest and len(inside) <= 2
    resume_and_compare(run_dir, tmp_path, "epoch-0004.json")  # the interrupted epoch's row too
    assert not list((run_dir / "checkpoints").glob("*-batch-*.json"))  # the epoch checkpoints replaced them


# ---- in-process: a run stopped right after a step, resumed from its newest checkpoint ----

class _Kill(Callback):
    order = 99  # after every other callback, as a SIGKILL after the step would be

    def __init__(self, step: int):
        self.step = step

    def on_batch_end(self, state, loss):
        if state.step == self.step:
            raise KeyboardInterrupt


def _probe_steps(run_dir: Path) -> list[int]:
    with open(run_dir / "probes.csv") as f:
        return sorted({int(row["step"]) for row in csv.DictReader(f)})


MOONS = {"name": "moons", "n_samples": 256, "batch_size": 32}
CASES = {  # each once broke a resume inside an epoch
    "short epochs under probes": ({"data": MOONS, "model": {"name": "mlp", "hidden": [8], "dropout": 0.2},
                                   "diagnose": {"every": 10, "histograms": 3}, "stopping": {"epochs": 3},
                                   "checkpoint": {"every": 5, "every_steps": 4}}, 9),
    "mini-batch L-BFGS tally": ({"data": MOONS, "model": {"name": "mlp", "hidden": [8]},
                                 "optim": {"name": "lbfgs", "lr": 1.0, "max_iter": 3, "full_batch": False},
                                 "stopping": {"epochs": 3}, "checkpoint": {"every": 5, "every_steps": 3}}, 10),
    "full-batch stage, then hard examples": ({"data": {**MOONS, "sampler": "hard_examples"},
                                              "model": {"name": "mlp", "hidden": [8]},
                                              "optim": {"name": "chain", "lr": 1.0, "first": {"name": "lbfgs",
                                                        "max_iter": 3}, "then": "adam", "then_lr": 0.01,
                                                        "switch_epoch": 3},
                                              "stopping": {"epochs": 5},
                                              "checkpoint": {"every": 10, "every_steps": 1}}, 3),
    "dataloader, class-balanced, dropout": ({"data": {**MOONS, "loader": "dataloader", "sampler": "class_balanced"},
                                             "model": {"name": "mlp", "hidden": [16], "dropout": 0.3},
                                             "stopping": {"epochs": 3},
                                             "checkpoint": {"every": 5, "every_steps": 4}}, 14),
}


@pytest.mark.parametrize("case", list(CASES))
def test_resume_inside_an_epoch_in_process(case, tmp_path):
    recipe, kill_step = CASES[case]
    recipe = {"name": "inproc", "seed": 1, **recipe}
    plain = run_recipe(load_recipe(recipe), tmp_path / "plain").run_dir
    with pytest.raises(KeyboardInterrupt):
        run_recipe(load_recipe(recipe), tmp_path / "killed", output=[_Kill(kill_step)])
    killed = next((tmp_path / "killed").iterdir())
    resume_run(killed)
    assert rows(killed) == rows(plain)
    final = latest_checkpoint(plain).name
    got, _ = load_checkpoint(killed / "checkpoints" / final)
    expected, _ = load_checkpoint(plain / "checkpoints" / final)
    for key in expected:
        assert torch.equal(got[key], expected[key]), key
    plain_status, killed_status = (json.loads((d / "run.json").read_text()) for d in (plain, killed))
    assert killed_status.get("lbfgs") == plain_status.get("lbfgs")
    if (plain / "probes.csv").exists():
        assert _probe_steps(killed) == _probe_steps(plain)

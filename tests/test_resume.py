"""A run killed with SIGKILL and resumed ends exactly where an uninterrupted run ends (CPU)."""
from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from trainlab.run import latest_checkpoint
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


def test_sigkill_then_resume_matches_uninterrupted(tmp_path):
    recipe_file = tmp_path / "recipe.yaml"
    recipe_file.write_text(yaml.safe_dump(RECIPE))

    killed = trainlab(str(recipe_file), runs=tmp_path / "killed")
    deadline = time.time() + 120
    while time.time() < deadline:
        dirs = list((tmp_path / "killed").glob("resume-*"))
        newest = latest_checkpoint(dirs[0]) if dirs else None
        if newest is not None and newest.name >= "epoch-0006.json":
            break
        assert killed.poll() is None, killed.communicate()
        time.sleep(0.02)
    os.kill(killed.pid, signal.SIGKILL)
    killed.wait()
    run_dir = dirs[0]
    stopped_at = int(latest_checkpoint(run_dir).stem.split("-")[1])
    assert stopped_at < EPOCHS, "the run finished before it could be killed; make it longer"

    resumed = trainlab("--resume", str(run_dir), runs=tmp_path / "unused")
    assert resumed.wait(timeout=600) == 0, resumed.communicate()
    plain = trainlab(str(recipe_file), runs=tmp_path / "plain")
    assert plain.wait(timeout=600) == 0, plain.communicate()
    plain_dir = next((tmp_path / "plain").glob("resume-*"))

    final, _ = load_checkpoint(run_dir / "checkpoints" / f"epoch-{EPOCHS:04d}.json")
    expected, _ = load_checkpoint(plain_dir / "checkpoints" / f"epoch-{EPOCHS:04d}.json")
    assert final.keys() == expected.keys()
    for key in expected:  # weights, optimizer state, RNG state: identical, not close
        assert torch.equal(final[key], expected[key]), key
    assert rows(run_dir) == rows(plain_dir)
    assert len(rows(run_dir)) == EPOCHS


@pytest.mark.parametrize("damage", ["truncate", "edit"])
def test_resume_refuses_a_damaged_checkpoint_naming_it(tmp_path, damage):
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
    assert process.returncode == 2
    assert err.strip() == f"error: checkpoint file {target} is truncated or modified (checksum mismatch)"

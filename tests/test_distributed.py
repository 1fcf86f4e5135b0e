"""``trainlab run --nproc 2``: two gloo processes on the CPU train what one process trains with the same
global batch; process 0 alone writes the run directory; resume works; a mistake is reported once."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml

from trainlab.cli import main
from trainlab.data.batching import TensorBatches
from trainlab.data.shards import ShardedBatches
from trainlab.recipe import load_recipe
from trainlab.run import run_recipe
from trainlab.train.callbacks import Callback
from trainlab.train.checkpoint import load_checkpoint

# 250 moons → 180 training examples: batches of 32 and a last one of 20, so every batch splits into two
# equal shards and the average of the two shards' gradients is the whole batch's gradient.
RECIPE = {"name": "ddp", "seed": 0, "precision": "float64",
          "data": {"name": "moons", "n_samples": 250, "batch_size": 32},
          "model": {"name": "mlp", "hidden": [16]}, "optim": {"name": "sgd", "lr": 0.1, "momentum": 0.9},
          "stopping": {"epochs": 3}, "checkpoint": {"every": 1}}
# float64: the two processes add the same numbers in another order (two shard means, then their
# average); measured difference 2e-16 after 3 epochs, so 1e-12 is a wide margin and a wrong shard
# or a missing all-reduce (differences ~1e-2) cannot pass.
TOLERANCE = 1e-12


def _weights(run_dir: Path) -> dict[str, torch.Tensor]:
    tensors, _ = load_checkpoint(run_dir / "checkpoints" / "epoch-0003.json")
    return {k: v for k, v in tensors.items() if k.startswith("model.")}


def _final(run_dir: Path) -> dict:
    return json.loads((run_dir / "run.json").read_text())["final"]


def _assert_same_training(got: Path, expected: Path) -> None:
    for key, value in _weights(expected).items():
        assert torch.allclose(_weights(got)[key], value, rtol=0, atol=TOLERANCE), key
    final_got, final_expected = _final(got), _final(expected)
    for key in ("loss", "accuracy", "val_loss", "val_accuracy", "train_eval_loss"):  # all-reduced, not rank 0's
        assert abs(final_got[key] - final_expected[key]) < TOLERANCE, key


def test_two_gloo_processes_train_like_one_process(tmp_path):
    recipe_file = tmp_path / "ddp.yaml"
    recipe_file.write_text(yaml.safe_dump(RECIPE))
    assert main(["run", str(recipe_file), "--nproc", "2", "--runs-dir", str(tmp_path / "two"), "--quiet"]) == 0
    (two,) = (tmp_path / "two").iterdir()  # one directory, written by process 0
    assert json.loads((two / "run.json").read_text())["status"] == "finished"
    assert (two / "report.html").is_file()
    one = run_recipe(load_recipe(RECIPE), tmp_path / "one").run_dir
    _assert_same_training(two, one)


class _StopAfterEpoch(Callback):
    order = 99  # after the epoch's checkpoint

    def __init__(self, epoch: int):
        self.epoch = epoch

    def on_epoch_end(self, state):
        if len(state.history) == self.epoch:
            raise KeyboardInterrupt


def test_a_run_resumes_in_two_processes(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        run_recipe(load_recipe(RECIPE), tmp_path / "killed", output=[_StopAfterEpoch(1)])
    (killed,) = (tmp_path / "killed").iterdir()
    assert main(["run", "--resume", str(killed), "--nproc", "2", "--quiet"]) == 0
    one = run_recipe(load_recipe(RECIPE), tmp_path / "one").run_dir
    _assert_same_training(killed, one)


def test_a_recipe_multi_process_training_cannot_do_is_reported_once(tmp_path, capfd):
    recipe_file = tmp_path / "steps.yaml"
    recipe_file.write_text(yaml.safe_dump({**RECIPE, "checkpoint": {"every": 1, "every_steps": 2}}))
    assert main(["run", str(recipe_file), "--nproc", "2", "--runs-dir", str(tmp_path / "runs"), "--quiet"]) == 2
    err = capfd.readouterr().err
    assert err.count("checkpoint.every_steps: not supported with several processes") == 1
    assert "Traceback" not in err
    assert not (tmp_path / "runs").exists()


def test_each_process_gets_every_other_example_of_every_batch():
    batches = TensorBatches(torch.arange(9.0)[:, None], torch.arange(9), batch_size=4, seed=2)
    whole = [y.tolist() for _, y in batches.epoch(1)]  # 4 + 4 + 1: the last is too small for two processes
    shards = [[y.tolist() for _, y in ShardedBatches(batches, rank, 2).epoch(1)] for rank in (0, 1)]
    assert shards == [[b[0::2] for b in whole[:2]], [b[1::2] for b in whole[:2]]]
    assert len(ShardedBatches(batches, 0, 2)) == 2 == len(shards[0])
    evaluation = [ShardedBatches(batches, rank, 2, training=False) for rank in (0, 1)]
    assert sorted(i for shard in evaluation for _, y in shard.epoch(0) for i in y.tolist()) == list(range(9))

"""Early stopping (Keras' semantics) and keep-the-best checkpoints."""
from __future__ import annotations

import json

import torch

from trainlab.recipe import load_recipe
from trainlab.run import build, restore, run_recipe
from trainlab.train.checkpoint import load_checkpoint, split_prefix
from trainlab.train.early_stopping import EarlyStopping, resolve_mode

# A tiny data set and a wide net overfit fast: the validation loss turns up after a few epochs.
OVERFIT = {
    "name": "overfit", "seed": 0,
    "data": {"name": "moons", "n_samples": 120, "noise": 0.35, "batch_size": 8, "val_fraction": 0.4},
    "model": {"name": "mlp", "hidden": [256, 256]},
    "optim": {"name": "adam", "lr": 0.01},
    "stopping": {"epochs": 40},
}


def test_mode_auto_maximizes_accuracy_and_minimizes_losses():
    assert resolve_mode("val_accuracy", "auto") == "max"
    assert resolve_mode("loss", "auto") == "min"
    assert resolve_mode("val_mae", "auto") == "min"


def test_restore_best_weights_ends_with_the_best_val_epoch_weights(tmp_path):
    recipe = {**OVERFIT, "stopping": {"epochs": 40, "early": {"monitor": "val_loss", "patience": 5,
                                                              "restore_best_weights": True}},
              "checkpoint": {"every": 1}}
    result = run_recipe(load_recipe(recipe), tmp_path)
    val = [row["val_loss"] for row in result.history]
    best_epoch = val.index(min(val)) + 1
    assert len(result.history) == best_epoch + 5  # stopped at the 5th epoch in a row without improvement (Keras)
    assert len(result.history) < 40
    # the per-epoch checkpoint of the best epoch holds the weights training ended with
    final, _ = load_checkpoint(result.run_dir / "checkpoints" / f"epoch-{len(result.history):04d}.json")
    best, _ = load_checkpoint(result.run_dir / "checkpoints" / f"epoch-{best_epoch:04d}.json")
    for key, value in split_prefix(best, "model").items():
        assert torch.equal(split_prefix(final, "model")[key], value), key
    events = [json.loads(line) for line in (result.run_dir / "events.jsonl").read_text().splitlines()]
    assert f"after epoch {best_epoch}" in events[-1]["stop_reason"]


def test_without_restore_the_last_weights_stay():
    setup = build(load_recipe({**OVERFIT, "stopping": {"epochs": 40, "early": {"patience": 2}}}))
    stopper = next(c for c in setup.trainer.callbacks if isinstance(c, EarlyStopping))
    history = setup.trainer.fit(setup.train, setup.val, 40)
    assert stopper.best_weights is None
    assert len(history) == stopper.watch.best_epoch + 2


def test_min_delta_counts_small_gains_as_no_improvement():
    stopper = EarlyStopping(monitor="loss", min_delta=0.1, patience=0)
    stopper.watch.best = 1.0
    assert not stopper.watch.improved(0.95)
    assert stopper.watch.improved(0.85)


def test_keep_best_checkpoint_without_stopping(tmp_path):
    recipe = {**OVERFIT, "stopping": {"epochs": 15}, "checkpoint": {"every": 5, "keep_best": "val_accuracy"}}
    result = run_recipe(load_recipe(recipe), tmp_path)
    assert len(result.history) == 15  # never stops
    accuracies = [row["val_accuracy"] for row in result.history]
    _, body = load_checkpoint(result.run_dir / "checkpoints" / "best.json")
    assert body["epoch"] == accuracies.index(max(accuracies)) + 1  # first epoch reaching the maximum


def test_resume_mid_run_keeps_the_early_stopping_state(tmp_path):
    recipe = load_recipe({**OVERFIT, "stopping": {"epochs": 40, "early": {"patience": 5, "restore_best_weights": True}},
                          "checkpoint": {"every": 1}})
    result = run_recipe(recipe, tmp_path)
    setup = build(recipe)
    restore(setup, result.run_dir / "checkpoints" / "epoch-0004.json")
    history = setup.trainer.fit(setup.train, setup.val, 40)
    assert len(history) == len(result.history)
    final, _ = load_checkpoint(result.run_dir / "checkpoints" / f"epoch-{len(history):04d}.json")
    for key, value in setup.model.state_dict().items():
        assert torch.equal(split_prefix(final, "model")[key], value), key

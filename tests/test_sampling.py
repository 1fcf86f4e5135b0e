"""Training modes and samplers: batch composition statistics, and the end-to-end effect."""
from __future__ import annotations

import torch

from trainlab.data.batching import TensorBatches
from trainlab.data.samplers import class_balanced, hard_examples
from trainlab.recipe import load_recipe
from trainlab.run import build


def imbalanced_labels() -> torch.Tensor:
    # 900 / 90 / 10 examples of classes 0 / 1 / 2: a 90:9:1 imbalance
    return torch.cat([torch.zeros(900), torch.ones(90), torch.full((10,), 2)]).long()


def test_class_balanced_batches_hold_each_class_equally():
    y = imbalanced_labels()
    batches = TensorBatches(torch.arange(len(y)).float()[:, None], y, 30, sampler=class_balanced(y, 30))
    counts = torch.stack([torch.bincount(yb, minlength=3) for _, yb in batches.epoch(0)])
    assert counts.shape == (len(batches), 3)
    assert (counts == 10).all()  # exactly B/K of every class in every batch, not only on average
    assert len(batches) == 34  # ⌈1000/30⌉ batches per epoch


def test_class_balanced_cycles_through_minority_examples_before_repeating():
    y = imbalanced_labels()
    batches = TensorBatches(torch.arange(len(y)).float()[:, None], y, 30, sampler=class_balanced(y, 30))
    minority = torch.cat([xb[yb == 2, 0] for xb, yb in batches.epoch(0)])[:10]
    assert sorted(minority.long().tolist()) == list(range(990, 1000))  # the first 10 draws: every one once


def test_hard_examples_draw_high_loss_examples_more_often_with_a_floor():
    y = torch.zeros(1000).long()
    sampler = hard_examples(y, 100, floor=0.2)
    sampler.record(torch.arange(1000), torch.cat([torch.full((100,), 10.0), torch.full((900,), 0.1)]))
    p = sampler.probabilities()
    # p_i = 0.8·ℓ_i/Σℓ + 0.2/1000 with Σℓ = 1000 + 90 = 1090
    assert torch.allclose(p[0], torch.tensor(0.8 * 10 / 1090 + 0.2 / 1000))
    assert torch.allclose(p[-1], torch.tensor(0.8 * 0.1 / 1090 + 0.2 / 1000))
    assert torch.isclose(p.sum(), torch.tensor(1.0))
    drawn = torch.cat(list(sampler.batches(torch.Generator().manual_seed(0))))
    share_hard = (drawn < 100).float().mean().item()
    # expected share of draws from the 100 hard examples: 100·p[0] ≈ 0.754; 1000 draws give a
    # binomial standard error of √(0.754·0.246/1000) ≈ 0.014, so ±0.05 is over 3 standard errors
    assert abs(share_hard - 100 * p[0].item()) < 0.05
    assert p.min() >= 0.2 / 1000  # the floor: no example starves


def recipe(**data) -> dict:
    return {"seed": 0, "data": {"name": "moons", "n_samples": 400, "batch_size": 20, **data},
            "model": {"name": "mlp", "hidden": [16]}, "optim": {"name": "sgd", "lr": 0.1}, "stopping": {"epochs": 2}}


def test_batch_modes_set_the_updates_per_epoch():
    n_train = build(load_recipe(recipe())).data_info["n_train"]
    for mode, steps in [("online", n_train), ("fullbatch", 1), ("minibatch", -(-n_train // 20))]:
        setup = build(load_recipe(recipe(batch_mode=mode)))
        history = setup.trainer.fit(setup.train, setup.val, 1)
        assert setup.trainer.state.step == steps, mode
        assert len(history) == 1


def test_class_balanced_run_on_imbalanced_data_trains_on_balanced_batches():
    # breast_cancer: 212 malignant / 357 benign
    setup = build(load_recipe({"seed": 0, "data": {"name": "breast_cancer", "batch_size": 32, "preprocess": "zscore",
                                                  "sampler": "class_balanced"},
                               "model": {"name": "mlp", "hidden": [32]}, "optim": {"name": "adam", "lr": 0.01},
                               "stopping": {"epochs": 5}}))
    for _, yb in setup.train.epoch(3):
        assert torch.bincount(yb, minlength=2).tolist() == [16, 16]
    history = setup.trainer.fit(setup.train, setup.val, 5)
    assert history[-1]["val_accuracy"] > 0.9  # it still learns: balanced batches are a valid training set


def test_hard_examples_sampler_records_losses_during_training():
    setup = build(load_recipe(recipe(sampler={"name": "hard_examples", "floor": 0.3})))
    sampler = setup.train.sampler
    setup.trainer.fit(setup.train, None, 2)
    assert not torch.all(sampler.losses == 1.0)  # per-example losses were recorded
    assert sampler.losses.min() >= 0

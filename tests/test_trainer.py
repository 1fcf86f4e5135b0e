"""The Trainer loop: learning, callbacks, stopping, reproducibility, non-finite loss, penalties."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import TensorDataset

from trainlab.data.batching import LoaderBatches, TensorBatches
from trainlab.nn.penalties import make_penalty
from trainlab.optim.optimizers import param_groups
from trainlab.registry import optimizers, samplers
from trainlab.train.callbacks import Callback, describe_loop
from trainlab.train.loop_parts import schedule_step
from trainlab.train.metrics import accuracy
from trainlab.train.outputs import StepCheckpointer
from trainlab.train.trainer import NonFiniteLoss, Trainer


def blobs(n=256, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 2, generator=g)
    return x, (x[:, 0] + x[:, 1] > 0).long()


def make_trainer(seed=0, lr=0.5, callbacks=(), momentum=0.0, **kwargs):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Dropout(0.1), nn.Linear(8, 2))
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    return Trainer(model, optimizer, F.cross_entropy, metrics={"accuracy": accuracy()}, callbacks=callbacks, **kwargs)


def test_learns_and_reports_epoch_means():
    x, y = blobs()
    trainer = make_trainer()
    history = trainer.fit(TensorBatches(x, y, 32), TensorBatches(x, y, 64, shuffle=False), epochs=5)
    assert [h["epoch"] for h in history] == [1, 2, 3, 4, 5]
    assert history[-1]["val_accuracy"] > 0.95 and history[-1]["loss"] < history[0]["loss"]
    direct = trainer.evaluate(TensorBatches(x, y, 256, shuffle=False))
    assert direct["accuracy"] == pytest.approx(history[-1]["val_accuracy"])


def test_same_seed_same_run_and_different_seed_differs():
    x, y = blobs()
    runs = []
    for seed in (0, 0, 1):
        trainer = make_trainer(seed)
        trainer.fit(TensorBatches(x, y, 32, seed=seed), epochs=2)
        runs.append(torch.cat([p.flatten() for p in trainer.model.parameters()]))
    assert torch.equal(runs[0], runs[1]) and not torch.equal(runs[0], runs[2])


class Recorder(Callback):
    def __init__(self, order, log, stop_after=None):
        self.order, self.log, self.stop_after = order, log, stop_after

    def on_fit_start(self, state):
        self.log.append(("fit_start", self.order))

    def on_epoch_end(self, state):
        self.log.append(("epoch_end", self.order))
        if self.stop_after and len(state.history) >= self.stop_after:
            state.should_stop = True


class BatchCounter(Callback):
    def __init__(self):
        self.batches = 0

    def on_batch_end(self, state, loss):
        self.batches += 1


def test_callbacks_fire_in_order_and_can_stop():
    x, y = blobs()
    log, counter = [], BatchCounter()
    trainer = make_trainer(callbacks=[Recorder(2, log, stop_after=2), Recorder(1, log), counter])
    history = trainer.fit(TensorBatches(x, y, 32), epochs=10)
    assert len(history) == 2 and counter.batches == 2 * 8
    assert log == [("fit_start", 1), ("fit_start", 2), ("epoch_end", 1), ("epoch_end", 2)] * 1 + [
        ("epoch_end", 1), ("epoch_end", 2)]
    assert "on_batch_end: BatchCounter" in describe_loop(trainer.callbacks)


def test_non_finite_loss_stops_with_the_epoch():
    x, y = blobs()
    x[5, 0] = float("nan")
    with pytest.raises(NonFiniteLoss, match="became nan in epoch 1"):
        make_trainer().fit(TensorBatches(x, y, 32), epochs=3)


def test_step_schedule_per_epoch_is_logged():
    x, y = blobs()
    trainer = make_trainer(lr=0.4)
    trainer.callbacks.append(schedule_step(torch.optim.lr_scheduler.StepLR(trainer.optimizer, step_size=2, gamma=0.5)))
    history = trainer.fit(TensorBatches(x, y, 64), epochs=5)
    assert [h["lr"] for h in history] == [0.4, 0.4, 0.2, 0.2, 0.1]


def test_loader_path_sees_every_example_once_per_epoch():
    x, y = blobs(100)
    batches = LoaderBatches(torch.utils.data.TensorDataset(x, y), batch_size=32, seed=0)
    seen = torch.cat([xb for xb, _ in batches.epoch(0)])
    assert len(batches) == 4 and torch.equal(seen.sort(dim=0).values, x.sort(dim=0).values)
    history = make_trainer().fit(batches, epochs=2)
    assert len(history) == 2


def test_penalty_gradients_are_lambda_sign_w_and_two_lambda_w_on_weights_only():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    for name, expected in [("l1", lambda w: 0.1 * w.sign()), ("l2", lambda w: 0.1 * 2 * w)]:
        model.zero_grad()
        make_penalty(model, [(name, 0.1, {})])().backward()
        for param_name, p in model.named_parameters():
            if p.dim() >= 2:
                assert torch.allclose(p.grad, expected(p)), (name, param_name)
            else:  # biases and BN parameters take no part in the penalty
                assert p.grad is None, (name, param_name)


def test_weight_decay_groups_skip_biases_and_norm_parameters():
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    decayed, free = param_groups(model, 0.01)
    assert [p.shape for p in decayed["params"]] == [(4, 3), (2, 4)]
    assert len(free["params"]) == 4 and free["weight_decay"] == 0.0


class _StopAt(Callback):
    """Copies what a checkpoint inside an epoch holds at step ``step``, then stops the fit."""

    def __init__(self, step):
        self.step, self.saved = step, None

    def on_batch_end(self, state, loss):
        if state.step == self.step:
            self.saved = {"model": {k: v.clone() for k, v in state.model.state_dict().items()},
                          "optimizer": state.optimizer.state_dict(), "rng": torch.get_rng_state(),
                          "within": {"batch": state.batch, "seen": state.seen, "lr": state.lr,
                                     "sums": torch.stack(state.sums).tolist()},
                          "history": list(state.history)}
            state.should_stop = True


@pytest.mark.parametrize("path", ["tensors", "dataloader + class_balanced sampler"])
def test_resume_within_an_epoch_ends_as_the_uninterrupted_fit(path):
    x, y = blobs()
    if path == "tensors":
        train = TensorBatches(x, y, 32, seed=3)
    else:  # a DataLoader must not draw from the global RNG that dropout uses, or resuming shifts it
        sampler = samplers.get("class_balanced").factory(y=y, batch_size=32)
        train = LoaderBatches(TensorDataset(x, y), 32, seed=3, sampler=sampler)
    val = TensorBatches(x, y, 64, shuffle=False)
    plain = make_trainer(lr=0.1, momentum=0.9)
    expected = plain.fit(train, val, epochs=3)

    stop = _StopAt(step=8 + 3)  # 8 batches per epoch: inside the second epoch, after its third batch
    first = make_trainer(lr=0.1, momentum=0.9, callbacks=[stop])
    first.fit(train, val, epochs=3)
    assert stop.saved["within"]["batch"] == 3 and stop.saved["within"]["seen"] == 96

    second = make_trainer(seed=99, lr=0.1, momentum=0.9)  # other initial weights: all must come from the copy
    second.model.load_state_dict(stop.saved["model"])
    second.optimizer.load_state_dict(stop.saved["optimizer"])
    torch.set_rng_state(stop.saved["rng"])
    second.state.history, second.state.step = stop.saved["history"], 11
    second.resume_within_epoch(**stop.saved["within"])
    resumed = second.fit(train, val, epochs=3)
    drop = ("seconds",)
    assert [{k: v for k, v in h.items() if k not in drop} for h in resumed] == \
           [{k: v for k, v in h.items() if k not in drop} for h in expected]  # bit for bit, not close
    for a, b in zip(second.model.parameters(), plain.model.parameters()):
        assert torch.equal(a, b)


def test_step_checkpoints_never_save_non_finite_weights():
    saved = []
    trainer = make_trainer()
    state = trainer.state
    state.steps_per_epoch, state.batch, state.step = 8, 2, 4
    state.sums = [torch.tensor(3.0), torch.tensor(30.0)]
    checkpointer = StepCheckpointer(2, lambda s: saved.append(s.batch) or Path("x.json"))
    checkpointer.on_batch_end(state, None)
    assert saved == [2]
    with torch.no_grad():
        next(trainer.model.parameters())[0, 0] = float("nan")
    state.step = 6
    checkpointer.on_batch_end(state, None)
    state.sums[0] = torch.tensor(float("inf"))
    checkpointer.on_batch_end(state, None)
    assert saved == [2]  # neither a NaN weight nor an infinite loss sum replaces the last good one
    state.batch = 8
    checkpointer.on_batch_end(state, None)  # the epoch's last batch belongs to the epoch checkpoint
    assert saved == [2]


def test_full_batch_epochs_have_no_checkpoint_inside_and_sums_follow_the_precision():
    x, y = blobs()
    saved = []
    model = nn.Sequential(nn.Linear(2, 2)).double()
    optimizer = optimizers.get("lbfgs").factory(model, lr=1.0)
    trainer = Trainer(model, optimizer, F.cross_entropy,
                      callbacks=[StepCheckpointer(1, lambda s: saved.append(s.batch) or Path("x.json"))])
    trainer.fit(TensorBatches(x.double(), y, 32), epochs=2)  # L-BFGS takes the whole set: one step per epoch
    assert trainer.state.steps_per_epoch == 1 and saved == []
    assert trainer.state.sums[0].dtype == torch.float64  # float64 runs log float64 losses


def test_a_hand_built_trainer_takes_the_optimizers_own_loop_parts():
    # L-BFGS declares full batches, a chain its switch (LoopAware): no run or extra callback needed
    x, y = blobs(64)
    model = nn.Sequential(nn.Linear(2, 2))
    chain = optimizers.get("chain").factory(model, lr=0.05, first="adam", then="lbfgs", switch_epoch=2)
    trainer = Trainer(model, chain, F.cross_entropy)
    trainer.fit(TensorBatches(x, y, 16), epochs=4)
    assert chain.switched_at == 2 and trainer.state.steps_per_epoch == 1  # L-BFGS epochs: one full batch
    assert trainer.state.step == 2 * 4 + 2 * 1


def test_the_logged_rate_is_the_one_a_callback_set_at_epoch_start():
    class Decay(Callback):
        def on_epoch_start(self, state):
            for group in state.optimizer.param_groups:
                group["lr"] = 0.1 / (state.epoch + 1)

    x, y = blobs()
    history = make_trainer(lr=1.0, callbacks=[Decay()]).fit(TensorBatches(x, y, 32), epochs=3)
    assert [h["lr"] for h in history] == pytest.approx([0.1, 0.05, 0.1 / 3])

"""LR range test: the rates it applies, its stop rule, the rules, exact restoration, claim C16, the CLI."""
from __future__ import annotations

import copy
import csv
import math
import re
import runpy
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from torch import nn

from trainlab.cli import main
from trainlab.data.batching import TensorBatches
from trainlab.errors import TrainlabError
from trainlab.recipe import load_recipe
from trainlab.run import build
from trainlab.tools.lr_find import (
    geometric_rates,
    lr_find,
    range_test,
    smooth,
    suggest_minimum,
    suggest_steepest,
)
from trainlab.train.trainer import NonFiniteLoss


def _toy(seed: int = 0):
    torch.manual_seed(seed)
    x = torch.randn(64, 3)
    y = (x[:, 0] > 0).long()
    model = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 2))
    return model, TensorBatches(x, y, batch_size=16)


def test_the_optimizer_steps_at_geometrically_growing_rates():
    model, batches = _toy()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    applied = []
    optimizer.register_step_pre_hook(lambda opt, args, kwargs: applied.append(opt.param_groups[0]["lr"]))
    result = range_test(model, optimizer, nn.functional.cross_entropy, batches, start=1e-5, end=1e-2, steps=20)
    expected = [1e-5 * (1e-2 / 1e-5) ** (i / 19) for i in range(20)]
    # float64 throughout: only rounding in the power separates the two (a few ulps)
    np.testing.assert_allclose(applied, expected, rtol=1e-12)
    np.testing.assert_allclose(result.lrs, expected, rtol=1e-12)
    ratios = np.diff(np.log(applied))
    np.testing.assert_allclose(ratios, ratios[0], rtol=1e-9)
    assert optimizer.param_groups[0]["lr"] == 0.1 and result.stop_reason == "ran all 20 steps"


def test_smoothing_and_stop_rule_follow_their_formulas():
    # A scripted loss (no gradient): flat at 1, then a jump to 10 that the smoothed curve follows.
    script = [1.0] * 30 + [10.0] * 30
    model, batches = _toy()
    calls = iter(script)

    def scripted(out, y):
        return out.sum() * 0 + next(calls)

    result = range_test(model, torch.optim.SGD(model.parameters(), lr=0.1), scripted, batches, steps=60)
    beta, average, expected = 0.98, 0.0, []
    for i, loss in enumerate(script):
        average = beta * average + (1 - beta) * loss
        expected.append(average / (1 - beta ** (i + 1)))
    stop = next(i for i in range(1, 60) if expected[i] > 4 * min(expected[:i]))
    assert len(result.lrs) == stop + 1 and result.diverged_at == result.lrs[-1]
    np.testing.assert_allclose(result.smoothed, expected[: stop + 1], rtol=1e-12)  # same arithmetic, float64
    assert smooth(script[:3]) == pytest.approx(expected[:3], rel=1e-12)


def test_a_non_finite_loss_stops_the_test():
    model, batches = _toy()
    calls = iter([1.0] * 10 + [math.nan] * 10)
    result = range_test(model, torch.optim.SGD(model.parameters(), lr=0.1),
                        lambda out, y: out.sum() * 0 + next(calls), batches, steps=20)
    assert len(result.lrs) == 11 and "not finite" in result.stop_reason


def test_rules_on_a_known_curve():
    lrs = geometric_rates(1e-6, 10.0, 101)
    # s falls like a logistic in log10 η centred at 1e-2, then rises after 1 (the blow-up).
    u = np.log10(lrs)
    curve = 1 - 0.8 / (1 + np.exp(-3 * (u + 2))) + np.where(u > 0, 5 * u, 0.0)
    steepest = suggest_steepest(lrs, curve)
    assert steepest == pytest.approx(1e-2, rel=0.13)  # one grid step of (1e7)^(1/100) = 17.5 % either side
    minimum = suggest_minimum(lrs, curve)
    assert minimum == pytest.approx(lrs[np.argmin(curve)] / 10, rel=1e-12)


def test_model_optimizer_and_rng_are_restored_exactly():
    recipe = load_recipe({
        "data": {"name": "moons", "n_samples": 200, "batch_size": 32, "preprocess": "zscore"},
        "model": {"name": "mlp", "hidden": [16, 16], "batchnorm": True, "dropout": 0.2},
        "optim": {"name": "adam", "lr": 0.01}, "schedule": {"name": "sgdr", "first_cycle": 2},
    })
    setup = build(recipe)
    setup.trainer.fit(setup.train, setup.val, 2)  # Adam's moments and step counts are non-empty now
    model_before = copy.deepcopy(setup.model.state_dict())
    optim_before = copy.deepcopy(setup.trainer.optimizer.state_dict())
    rng_before = torch.get_rng_state()
    assert optim_before["state"] and "exp_avg" in optim_before["state"][0]
    result = lr_find(setup, steps=30, end=100)
    assert len(result.lrs) >= 10
    after = setup.model.state_dict()
    assert after.keys() == model_before.keys()
    for key, value in model_before.items():  # weights and BN running statistics
        assert torch.equal(after[key], value), key
    optim_after = setup.trainer.optimizer.state_dict()
    assert optim_after["param_groups"] == optim_before["param_groups"]  # every lr, initial_lr, betas
    assert optim_after["state"].keys() == optim_before["state"].keys()
    for pid, entries in optim_before["state"].items():
        for key, value in entries.items():
            assert torch.equal(optim_after["state"][pid][key], value), (pid, key)
    assert torch.equal(torch.get_rng_state(), rng_before)


def test_fit_after_lr_find_equals_fit_without_it():
    recipe = load_recipe({"data": {"name": "moons", "n_samples": 200, "batch_size": 32},
                          "model": {"name": "mlp", "hidden": [16], "dropout": 0.1}, "optim": {"name": "adam"}})
    weights = []
    for probe in (True, False):  # one after the other: build() reseeds, and dropout draws from torch's RNG
        setup = build(recipe)
        setup.trainer.fit(setup.train, setup.val, 1)
        if probe:
            lr_find(setup, steps=30)
        setup.trainer.fit(setup.train, setup.val, 3)
        weights.append(setup.model.state_dict())
    for (key, a), b in zip(weights[0].items(), weights[1].values()):
        assert torch.equal(a, b), key


def _final_loss(recipe: dict, lr: float, epochs: int = 10) -> float:
    setup = build(load_recipe({**recipe, "optim": {**recipe["optim"], "lr": lr}}))
    try:
        return setup.trainer.fit(setup.train, None, epochs)[-1]["loss"]
    except NonFiniteLoss:
        return math.inf


def test_claim_c16_suggestion_trains_and_far_above_the_blow_up_diverges():
    recipe = {"data": {"name": "moons", "n_samples": 500, "batch_size": 32, "preprocess": "zscore"},
              "model": {"name": "mlp", "hidden": [32, 32]}, "optim": {"name": "sgd", "lr": 0.1}}
    result = lr_find(recipe, end=100)
    assert 1e-3 <= result.suggestion <= 1, result.summary()
    assert result.diverged_at is not None, result.summary()
    # ln 2 = 0.693 is the loss of a classifier that says 50/50: the suggestion learns far below it,
    # while 10× the blow-up rate ends in NaN or above it.
    assert _final_loss(recipe, result.suggestion) < 0.3
    assert _final_loss(recipe, 10 * result.diverged_at) > math.log(2)


def test_line_search_optimizers_are_refused():
    with pytest.raises(TrainlabError, match="line search"):
        lr_find({"data": {"name": "moons", "n_samples": 100}, "optim": {"name": "lbfgs", "lr": 1}}, steps=10)


def test_cli_writes_curve_plot_and_a_new_recipe(tmp_path, capsys):
    recipe = tmp_path / "moons.yaml"
    original = "# my comment\ndata: {name: moons, n_samples: 200}\noptim: sgd\nmodel: {name: mlp, hidden: [8]}\n"
    recipe.write_text(original)
    out = tmp_path / "out"
    assert main(["lr-find", str(recipe), "--steps", "40", "--out", str(out), "--apply", "--set", "seed=1"]) == 0
    printed = capsys.readouterr().out
    assert "minimum / 10" in printed and "steepest descent" in printed and "(recommended)" in printed
    with open(out / "lr_find.csv") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["lr", "loss", "smoothed"] and 2 <= len(rows) <= 40
    assert (out / "lr_find.png").read_bytes()[:4] == b"\x89PNG"
    assert "<svg" in (out / "lr_find.svg").read_text() and "<svg" in (out / "lr_find.html").read_text()
    assert recipe.read_text() == original  # the user's file is untouched
    written = yaml.safe_load((tmp_path / "moons.lrfind.yaml").read_text())
    assert written["optim"]["name"] == "sgd" and written["seed"] == 1
    assert f"{written['optim']['lr']:.3g}" in printed
    assert main(["lr-find", str(recipe), "--steps", "40", "--out", str(out), "--apply", "--in-place"]) == 0
    assert (tmp_path / "moons.yaml.bak").read_text() == original
    assert load_recipe(recipe).optim.lr == yaml.safe_load(recipe.read_text())["optim"]["lr"]


def test_tools_md_python_examples_run(tmp_path, monkeypatch, capsys):
    # docs/tools.md promises its Python blocks run as they stand; they write into the working folder.
    docs = (Path(__file__).parent.parent / "docs" / "tools.md").read_text()
    script = tmp_path / "tools_md.py"
    script.write_text("\n".join(re.findall(r"```python\n(.*?)```", docs, re.DOTALL)))
    monkeypatch.chdir(tmp_path)
    runpy.run_path(str(script))  # in this process: the imports are already paid for
    assert "ensemble of 5" in capsys.readouterr().out and (tmp_path / "lr-find-moons" / "lr_find.png").is_file()
    assert main(["predict", str(next((tmp_path / "runs").iterdir())), "far.npy", "--mc", "5"]) == 0
    assert (tmp_path / "far.predictions.csv").read_text().startswith("mean_y,std_y\n")

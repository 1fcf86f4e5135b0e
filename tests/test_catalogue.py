"""One end-to-end run per technique family: switched on in a recipe, it does what it claims."""
from __future__ import annotations

import pytest
import torch

from trainlab import registry
from trainlab.nn.noise import GaussianNoise
from trainlab.recipe import load_recipe
from trainlab.run import build, run_recipe


def fit(recipe: dict, epochs: int | None = None):
    setup = build(load_recipe(recipe))
    history = setup.trainer.fit(setup.train, setup.val, epochs or setup.recipe.stopping.epochs)
    return setup, history


def moons(**overrides) -> dict:
    recipe = {"seed": 0, "data": {"name": "moons", "n_samples": 400, "batch_size": 20, "preprocess": "zscore"},
              "model": {"name": "mlp", "hidden": [32, 32]}, "optim": {"name": "adam", "lr": 0.01},
              "stopping": {"epochs": 10}}
    for section, value in overrides.items():
        recipe[section] = {**recipe.get(section, {}), **value} if isinstance(value, dict) else value
    return recipe


@pytest.mark.parametrize("activation", registry.activations.names())
def test_every_activation_trains_moons(activation):
    _, history = fit(moons(model={"activation": activation}))
    # moons with a 2×32 MLP: every activation should pass 0.85 validation accuracy in 10 epochs (a
    # linear classifier tops out near 0.86 on this noise level, so this needs a working non-linearity
    # or at least a working gradient path); the loss must fall
    assert history[-1]["loss"] < history[0]["loss"]
    assert history[-1]["val_accuracy"] > 0.85


def test_zero_init_keeps_hidden_units_identical():
    setup, _ = fit(moons(model={"init": "zeros", "activation": "sigmoid"}))
    first = setup.model[1].weight  # Linear after Flatten
    assert first.abs().sum() > 0  # it did learn something ...
    assert torch.allclose(first, first[:1].expand_as(first))  # ... but every unit learned the same


def test_he_init_from_recipe_has_the_he_variance():
    setup = build(load_recipe(moons(model={"init": {"name": "he_normal", "mode": "fan_in"}, "hidden": [2000]})))
    w = setup.model[3].weight  # 2000 → 2 output layer: fan_in 2000, 4000 draws
    # Var = 2/2000 = 1e-3; the sample variance of 4000 normal draws has a relative sd of √(2/4000) ≈ 2.2 %
    assert abs(w.var().item() / 1e-3 - 1) < 0.1


def test_batchnorm_dropout_and_noise_are_active_in_training_only():
    setup, history = fit(moons(model={"batchnorm": True, "bn_momentum": 0.2, "dropout": 0.2, "input_noise": 0.1,
                                      "hidden_noise": 0.1}), epochs=3)
    model = setup.model
    assert any(isinstance(m, GaussianNoise) for m in model)
    assert all(m.momentum == 0.2 for m in model if isinstance(m, torch.nn.BatchNorm1d))
    x = setup.val.x
    model.train()
    assert not torch.equal(model(x), model(x))  # noise and dropout draw anew
    model.eval()
    assert torch.equal(model(x), model(x))  # off at evaluation
    assert history[-1]["val_accuracy"] > 0.85


def sparse_regression(penalty: dict) -> dict:
    # 20 inputs, only 3 matter: y = 2x₀ − 3x₁ + 0.5x₂ + 1
    weights = [2.0, -3.0, 0.5] + [0.0] * 17
    # Full batch, so proximal steps are exact ISTA and converge to the lasso solution itself.
    # target_scale none: the lasso's zero threshold below is reasoned on the raw targets
    return {"seed": 0, "data": {"name": "linear", "n_samples": 500, "weights": weights, "batch_mode": "fullbatch",
                                "target_scale": "none"},
            "model": {"name": "mlp", "hidden": []}, "optim": {"name": "sgd", "lr": 0.2},
            "penalties": [penalty], "stopping": {"epochs": 200}}


def test_l1_proximal_gives_exact_zeros_and_subgradient_l1_and_l2_do_not():
    zeros = {}
    for name in ("l1_proximal", "l1", "l2"):
        setup, _ = fit(sparse_regression({"name": name, "weight": 0.05}))
        w = setup.model[1].weight.detach().flatten()
        zeros[name] = (w == 0).sum().item()
        assert w[:3].abs().min() > 0.3, name  # the real inputs survive every penalty
    # The lasso zeroes input j when 2·|mean(residual·x_j)| ≤ λ; with noise 0.1 and 450 examples that
    # correlation is about 2·0.1/√450 ≈ 0.01, far below λ = 0.05, so all 17 irrelevant weights are 0
    assert zeros["l1_proximal"] == 17
    assert zeros["l1"] <= 1 and zeros["l2"] == 0  # plain subgradient steps jitter around 0 instead


def test_chain_switches_from_adam_to_lbfgs_at_the_stated_epoch(tmp_path):
    recipe = {"name": "chain", "seed": 0, "data": {"name": "sine", "n_samples": 300},
              "model": {"name": "mlp", "hidden": [20], "activation": "tanh"},
              "optim": {"name": "chain", "lr": 0.01, "first": "adam", "then": "lbfgs", "switch_epoch": 5},
              "stopping": {"epochs": 8}}
    result = run_recipe(load_recipe(recipe), tmp_path)
    rates = [row["lr"] for row in result.history]
    assert rates[:5] == [0.01] * 5 and rates[5:] == [1.0] * 3  # then_lr defaults to 1 (L-BFGS' own scale)
    assert result.history[-1]["loss"] < result.history[4]["loss"]


def test_schedule_rates_in_metrics_follow_the_formula_with_warmup(tmp_path):
    recipe = moons(schedule={"name": "time_decay", "k": 0.5, "warmup": 2, "warmup_start": 0.5})
    result = run_recipe(load_recipe(recipe), tmp_path)
    rates = [row["lr"] for row in result.history]
    expected = [0.01 * 0.5, 0.01 * 0.75] + [0.01 / (1 + 0.5 * t) for t in range(8)]
    assert rates == pytest.approx(expected, rel=1e-9)


def test_one_cycle_gets_the_run_length_from_the_recipe():
    recipe = moons(schedule={"name": "one_cycle", "interval": "step"})
    setup, history = fit(recipe)
    assert len(history) == 10  # stepping past `total` would raise inside torch
    assert setup.trainer.optimizer.param_groups[0]["lr"] < 1e-5  # annealed to η_max/(25·10⁴) at the end


def test_plateau_cuts_the_rate_when_validation_stalls():
    recipe = moons(optim={"lr": 0.05}, schedule={"name": "plateau", "patience": 1, "factor": 0.5},
                   stopping={"epochs": 25})
    _, history = fit(recipe)
    rates = sorted({row["lr"] for row in history}, reverse=True)
    assert rates[0] == 0.05 and len(rates) >= 2 and rates[1] == 0.025


def test_pca_whitening_feeds_the_model_its_components(tmp_path):
    recipe = {"name": "pca", "seed": 0, "data": {"name": "digits", "preprocess": {"name": "pca_whiten", "variance": 0.9}},
              "model": {"name": "mlp", "hidden": [64]}, "optim": {"name": "adam", "lr": 0.003},
              "stopping": {"epochs": 15}}
    result = run_recipe(load_recipe(recipe), tmp_path)
    setup = build(load_recipe(recipe))
    k = setup.model[1].in_features
    assert 10 < k < 64  # 90 % of the variance of 8×8 digits needs about 20 components
    assert result.test["test_accuracy"] > 0.9


def test_registering_the_same_function_again_replaces_it_and_another_is_refused():
    metrics = registry.Registry("metric")

    def hits(out, y):  # a notebook cell defining and registering a metric…
        return (out.argmax(1) == y).sum()

    metrics.register("hits")(hits)

    def hits(out, y):  # noqa: F811  …run again after an edit: the same module and name
        return (out.argmax(1) == y).sum().float()

    metrics.register("hits")(hits)
    assert metrics.get("hits").factory is hits
    with pytest.raises(ValueError, match="'hits' is already registered"):
        metrics.register("hits")(lambda out, y: 0)

"""Activations: each registered name against its formula, spec parsing, bounds and families."""
from __future__ import annotations

import doctest
import math

import pydantic
import pytest
import torch
from torch import nn

import trainlab.nn.activations as activations_module
from trainlab.nn.activations import LeCunTanh, activation_bounds, is_relu_family, make_activation
from trainlab.registry import UnknownName, activations

X = torch.linspace(-5, 5, 101)
SELU_LAMBDA, SELU_ALPHA = 1.0507009873554805, 1.6732632423543772  # Klambauer et al. (2017)

# name or spec → the formula, evaluated here independently of the module under test.
FORMULAS = [
    ("sigmoid", lambda x: 1 / (1 + torch.exp(-x))),
    ("tanh", lambda x: (torch.exp(x) - torch.exp(-x)) / (torch.exp(x) + torch.exp(-x))),
    ("lecun_tanh", lambda x: 1.7159 * torch.tanh(2 * x / 3)),
    ({"name": "lecun_tanh", "a": 0.05}, lambda x: 1.7159 * torch.tanh(2 * x / 3) + 0.05 * x),
    ("relu", lambda x: x.clamp(min=0)),
    ("leaky_relu", lambda x: torch.where(x > 0, x, 0.01 * x)),
    ({"name": "leaky_relu", "alpha": 0.3}, lambda x: torch.where(x > 0, x, 0.3 * x)),
    ("prelu", lambda x: torch.where(x > 0, x, 0.25 * x)),
    ({"name": "prelu", "init": 0.1}, lambda x: torch.where(x > 0, x, 0.1 * x)),
    ("elu", lambda x: torch.where(x > 0, x, torch.exp(x) - 1)),
    ({"name": "elu", "alpha": 0.5}, lambda x: torch.where(x > 0, x, 0.5 * (torch.exp(x) - 1))),
    ("selu", lambda x: SELU_LAMBDA * torch.where(x > 0, x, SELU_ALPHA * (torch.exp(x) - 1))),
    # RReLU at evaluation: the slope is fixed to the mean (lower + upper) / 2.
    ("rrelu", lambda x: torch.where(x > 0, x, (1 / 8 + 1 / 3) / 2 * x)),
    ({"name": "rrelu", "lower": 0.1, "upper": 0.2}, lambda x: torch.where(x > 0, x, 0.15 * x)),
]


@pytest.mark.parametrize(("spec", "formula"), FORMULAS, ids=lambda v: str(v) if not callable(v) else "")
def test_activation_matches_its_formula(spec, formula):
    module = make_activation(spec).eval()
    with torch.no_grad():
        # float32 evaluation of the same formula: agreement to a few ulps of values of size ≤ 9.
        torch.testing.assert_close(module(X), formula(X), rtol=1e-5, atol=1e-6)


def test_every_registered_activation_is_covered_and_documented():
    covered = {spec if isinstance(spec, str) else spec["name"] for spec, _ in FORMULAS}
    assert covered == set(activations.names())
    for entry in activations:
        assert "f(x)" in entry.description or "(x)" in entry.description, entry.name  # the formula is shown
        assert all(p.default is not p.empty for p in entry.recipe_parameters().values()), entry.name


def test_lecun_tanh_maps_plus_minus_one_to_plus_minus_one():
    # LeCun's constants are chosen so that f(±1) = ±1 (to 4 decimals: 1.7159·tanh(2/3) = 0.99995).
    torch.testing.assert_close(LeCunTanh()(torch.tensor([-1.0, 1.0])), torch.tensor([-1.0, 1.0]), atol=1e-4, rtol=0)


def test_rrelu_draws_random_slopes_within_bounds_in_training():
    torch.manual_seed(0)
    module = make_activation({"name": "rrelu", "lower": 0.1, "upper": 0.3}).train()
    x = -torch.ones(10_000)
    slopes = module(x) / x
    assert slopes.min() >= 0.1 and slopes.max() <= 0.3
    # U(0.1, 0.3) has mean 0.2 and std 0.2/√12 ≈ 0.058; the mean of 10,000 draws is within 0.003 (5σ).
    assert slopes.mean().item() == pytest.approx(0.2, abs=0.003)
    assert slopes.std().item() == pytest.approx(0.2 / math.sqrt(12), rel=0.05)


def test_prelu_slope_is_learned():
    module = make_activation("prelu")
    (alpha,) = module.parameters()
    module(-torch.ones(3)).sum().backward()
    assert alpha.grad.item() == pytest.approx(-3.0)  # ∂/∂α Σ α·x = Σ x over the negative inputs


def test_make_activation_returns_a_new_module_every_call():
    first, second = make_activation("prelu"), make_activation("prelu")
    assert first is not second and next(first.parameters()) is not next(second.parameters())


def test_make_activation_validates_names_and_parameters():
    with pytest.raises(UnknownName, match="leaky_relu"):
        make_activation("leaky_relus")
    with pytest.raises(pydantic.ValidationError, match="alpha"):
        make_activation({"name": "leaky_relu", "alpha": "big"})
    with pytest.raises(pydantic.ValidationError, match="slope"):
        make_activation({"name": "leaky_relu", "slope": 0.1})
    with pytest.raises(TypeError, match="needs a 'name'"):
        make_activation({"alpha": 0.1})
    with pytest.raises(ValueError, match="lower <= upper"):
        make_activation({"name": "rrelu", "lower": 0.5, "upper": 0.1})


def test_bounds_and_relu_family():
    assert activation_bounds(make_activation("sigmoid")) == (0.0, 1.0)
    assert activation_bounds(make_activation("tanh")) == (-1.0, 1.0)
    assert activation_bounds(make_activation("lecun_tanh")) == (-1.7159, 1.7159)
    assert activation_bounds(make_activation({"name": "lecun_tanh", "a": 0.01})) is None  # a·x is unbounded
    rectifiers = {"relu", "leaky_relu", "rrelu", "prelu", "elu", "selu"}
    for name in activations.names():
        module = make_activation(name)
        assert is_relu_family(module) == (name in rectifiers), name
        assert (activation_bounds(module) is None) == (name in rectifiers), name
    # The bounds hold on large inputs (open interval, so ≤ in float32 where tanh rounds to 1).
    for name in ("sigmoid", "tanh", "lecun_tanh"):
        low, high = activation_bounds(make_activation(name))
        y = make_activation(name)(torch.tensor([-1e4, 1e4]))
        assert low <= y.min().item() and y.max().item() <= high + 1e-6


def test_activation_in_an_mlp_by_spec():
    from trainlab.nn.models import mlp

    model = mlp((4,), 2, hidden=[8, 8], activation={"name": "leaky_relu", "alpha": 0.2})
    assert [m.negative_slope for m in model if isinstance(m, nn.LeakyReLU)] == [0.2, 0.2]


def test_docstring_examples_run():
    assert doctest.testmod(activations_module).failed == 0

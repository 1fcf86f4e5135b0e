"""Penalties: values and autograd gradients against each formula, weights only, per-layer λ.

The gradients are compared with closed forms computed in float32 from the same weights, so they
agree to rounding (allclose defaults: rtol 1e-5, atol 1e-8).
"""
from __future__ import annotations

import doctest

import pydantic
import pytest
import torch
from torch import nn

import trainlab.nn.penalties as penalties_module
from trainlab.nn.penalties import make_penalty, make_proximal_step, penalized_weights
from trainlab.registry import penalties

LAMBDA = 0.1


def small_mlp() -> nn.Sequential:
    """Linear without bias → BN → ReLU → Linear; BN parameters moved off their 1/0 defaults."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 4, bias=False), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 3))
    with torch.no_grad():
        model[1].weight.uniform_(0.5, 1.5)
        model[1].bias.uniform_(-0.5, 0.5)
        model[0].weight[0, 0] = 0.0  # sign(0) = 0: the L1 subgradient torch uses at the kink
    return model


# name, params, R(W) for one tensor, ∂R/∂W
FORMULAS = [
    ("l2", {}, lambda w: (w**2).sum(), lambda w: 2 * w),
    ("l1", {}, lambda w: w.abs().sum(), lambda w: w.sign()),
    ("elastic_net", {}, lambda w: (w**2 + w.abs()).sum(), lambda w: 2 * w + w.sign()),
    ("elastic_net", {"beta": 0.5}, lambda w: (0.5 * w**2 + w.abs()).sum(), lambda w: 2 * 0.5 * w + w.sign()),
]


@pytest.mark.parametrize(("name", "params", "value", "gradient"), FORMULAS, ids=["l2", "l1", "elastic", "elastic_b"])
def test_value_and_gradient_match_the_formula_on_weights_only(name, params, value, gradient):
    model = small_mlp()
    weights = penalized_weights(model)
    assert [tuple(w.shape) for w in weights] == [(4, 5), (3, 4)]  # no bias, no BN γ or β
    penalty = make_penalty(model, [(name, LAMBDA, params, None)])
    term = penalty()
    with torch.no_grad():
        assert term.item() == pytest.approx(LAMBDA * sum(value(w).item() for w in weights), rel=1e-6)
    term.backward()
    for param_name, p in model.named_parameters():
        if p.dim() >= 2:  # L1: λ·sign(W); L2: 2λW (R = ΣW²); elastic net: λ(2βW + sign W)
            assert torch.allclose(p.grad, LAMBDA * gradient(p.detach())), param_name
        else:  # the bias of the last layer, BN's γ and β: no gradient at all
            assert p.grad is None, param_name
    assert model[0].weight.grad[0, 0].item() == 0.0  # at W = 0 every formula gives 0 (L1: sign(0) = 0)


def test_per_layer_multipliers_scale_each_layers_gradient():
    model = small_mlp()
    make_penalty(model, [("l2", LAMBDA, {}, [1.0, 3.0]), ("l1", LAMBDA, {}, [0.0, 2.0])])().backward()
    first, second = penalized_weights(model)
    assert torch.allclose(first.grad, LAMBDA * 2 * first.detach())  # the l1 term is switched off here
    assert torch.allclose(second.grad, LAMBDA * (3.0 * 2 * second.detach() + 2.0 * second.detach().sign()))


def test_per_layer_of_the_wrong_length_names_both_lengths():
    with pytest.raises(ValueError, match="per_layer has 3 multipliers for 2 penalized weight tensors"):
        make_penalty(small_mlp(), [("l1", LAMBDA, {}, [1.0, 1.0, 1.0])])
    with pytest.raises(ValueError, match=">= 0"):
        make_penalty(small_mlp(), [("l1", LAMBDA, {}, [1.0, -1.0])])


def test_no_penalty_and_the_short_spec_form():
    model = small_mlp()
    assert make_penalty(model, []) is None
    assert make_penalty(model, [("l2", 0.0, {})]) is None  # nothing to add to the loss
    assert make_penalty(model, [("l2", LAMBDA, {}, [0.0, 0.0])]) is None
    three, four = make_penalty(model, [("l1", LAMBDA, {})]), make_penalty(model, [("l1", LAMBDA, {}, None)])
    assert three().item() == four().item()


def test_parameters_are_validated():
    with pytest.raises(pydantic.ValidationError, match="beta"):
        make_penalty(small_mlp(), [("elastic_net", LAMBDA, {"beta": "big"})])
    with pytest.raises(pydantic.ValidationError, match="alpha"):
        make_penalty(small_mlp(), [("l2", LAMBDA, {"alpha": 1.0})])


def test_penalty_follows_the_weights_as_they_train():
    model = small_mlp()
    penalty = make_penalty(model, [("l2", LAMBDA, {})])
    with torch.no_grad():
        for w in penalized_weights(model):
            w.mul_(2)  # an optimizer step changes the weights in place
    expected = LAMBDA * sum((w**2).sum().item() for w in penalized_weights(model))
    assert penalty().item() == pytest.approx(expected, rel=1e-6)


def test_every_penalty_shows_its_formula():
    proximal = {"l1_proximal"}  # a proximal step, not a loss term: tested below
    assert set(penalties.names()) - proximal == {name for name, *_ in FORMULAS}
    for entry in penalties:
        assert "R(W) = Σ" in entry.description or entry.name in proximal, entry.name


def test_docstring_examples_run():
    assert doctest.testmod(penalties_module).failed == 0


def test_l1_proximal_soft_thresholds_weights_only_with_the_group_rate():
    model = nn.Sequential(nn.Linear(3, 2))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[0.5, -0.05, 0.1], [-0.3, 0.02, 0.0]]))
        model[0].bias.fill_(0.01)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    assert make_penalty(model, [("l1_proximal", 0.2, {}, None)]) is None  # no loss term
    make_proximal_step(model, [("l1_proximal", 0.2, {}, None)], optimizer)()
    # threshold η·λ = 0.1: W ← sign(W)·max(|W| − 0.1, 0)
    expected = torch.tensor([[0.4, 0.0, 0.0], [-0.2, 0.0, 0.0]])
    assert torch.allclose(model[0].weight, expected)
    assert torch.all(model[0].bias == 0.01)  # biases untouched

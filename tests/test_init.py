"""Initializers: the empirical variance of large layers against each formula, for every mode.

Tolerances: the sample variance of n i.i.d. draws has relative standard error √((κ − 1)/n), κ the
kurtosis (3 for a normal, 1.8 for a uniform, < 3 for a truncated normal). Every layer below has
500,000 weights, so the error is at most √(2/500,000) = 0.2 %; rel=1.5 % is more than 7σ.
"""
from __future__ import annotations

import doctest
import math

import pydantic
import pytest
import torch
from torch import nn

import trainlab.nn.init as init_module
from trainlab.nn.init import apply_init
from trainlab.registry import initializers

REL = 0.015


def linear() -> nn.Module:
    return nn.Linear(1000, 500)  # W: (500, 1000): n_in = 1000, n_out = 500


def conv() -> nn.Module:
    return nn.Conv2d(200, 100, 5)  # W: (100, 200, 5, 5): n_in = 200·25 = 5000, n_out = 100·25 = 2500


FANS = {linear: (1000, 500), conv: (5000, 2500)}


def n_of(mode: str, n_in: int, n_out: int) -> float:
    return {"fan_in": n_in, "fan_out": n_out, "fan_avg": (n_in + n_out) / 2}[mode]


# (spec, Var(W) as a function of (n_in, n_out), half-width of a uniform or None)
CASES = [
    ("normal", lambda i, o: 0.01**2, None),
    ({"name": "normal", "std": 0.05}, lambda i, o: 0.05**2, None),
    ("standard_normal", lambda i, o: 1.0, None),
    ("xavier", lambda i, o: 2 / (i + o), None),
    ("he", lambda i, o: 2 / i, None),
]
for mode in ("fan_in", "fan_out", "fan_avg"):
    CASES += [
        ({"name": "lecun_normal", "mode": mode}, lambda i, o, m=mode: 1 / n_of(m, i, o), None),
        ({"name": "xavier_normal", "mode": mode}, lambda i, o, m=mode: 1 / n_of(m, i, o), None),
        ({"name": "xavier_uniform", "mode": mode}, lambda i, o, m=mode: 1 / n_of(m, i, o),
         lambda i, o, m=mode: math.sqrt(3 / n_of(m, i, o))),
        ({"name": "he_normal", "mode": mode}, lambda i, o, m=mode: 2 / n_of(m, i, o), None),
        ({"name": "he_uniform", "mode": mode}, lambda i, o, m=mode: 2 / n_of(m, i, o),
         lambda i, o, m=mode: math.sqrt(6 / n_of(m, i, o))),
    ]
# The default modes give the lectures' formulas.
CASES += [
    ("lecun_normal", lambda i, o: 1 / i, None),
    ("xavier_normal", lambda i, o: 2 / (i + o), None),
    ("xavier_uniform", lambda i, o: 2 / (i + o), lambda i, o: math.sqrt(6 / (i + o))),
    ("he_normal", lambda i, o: 2 / i, None),
    ("he_uniform", lambda i, o: 2 / i, lambda i, o: math.sqrt(6 / i)),
]


def _id(spec) -> str:
    return spec if isinstance(spec, str) else "-".join(str(v) for v in spec.values())


@pytest.mark.parametrize("make_layer", [linear, conv])
@pytest.mark.parametrize(("spec", "variance", "bound"), CASES, ids=[_id(c[0]) for c in CASES])
def test_variance_matches_formula_and_biases_are_zero(spec, variance, bound, make_layer):
    torch.manual_seed(0)
    layer = make_layer()
    nn.init.ones_(layer.bias)
    apply_init(layer, spec)
    w = layer.weight.detach().double()
    n_in, n_out = FANS[make_layer]
    expected = variance(n_in, n_out)
    assert w.var().item() == pytest.approx(expected, rel=REL)
    # The mean of 500,000 draws has standard error σ/√n = σ/707; 5σ of it is well under 0.01σ.
    assert abs(w.mean().item()) < 0.01 * math.sqrt(expected)
    if bound is not None:
        assert w.abs().max().item() <= bound(n_in, n_out)
    assert torch.count_nonzero(layer.bias) == 0


def _truncated_factor(c: float = 2.0) -> float:
    """Var of N(0, 1) truncated to [−c, c]: 1 − 2cφ(c) / (2Φ(c) − 1) = 0.7737 for c = 2."""
    phi = math.exp(-c * c / 2) / math.sqrt(2 * math.pi)
    return 1 - 2 * c * phi / math.erf(c / math.sqrt(2))


@pytest.mark.parametrize("make_layer", [linear, conv])
@pytest.mark.parametrize(("spec", "sigma"), [
    ("truncated_normal", lambda i, o: math.sqrt(1 / i)),
    ({"name": "truncated_normal", "std": 0.01}, lambda i, o: 0.01),
    ({"name": "truncated_normal", "mode": "fan_out"}, lambda i, o: math.sqrt(1 / o)),
    ({"name": "truncated_normal", "mode": "fan_avg"}, lambda i, o: math.sqrt(2 / (i + o))),
], ids=["default", "std", "fan_out", "fan_avg"])
def test_truncated_normal_has_no_values_beyond_two_sigma(spec, sigma, make_layer):
    torch.manual_seed(0)
    layer = make_layer()
    apply_init(layer, spec)
    w = layer.weight.detach().double()
    s = sigma(*FANS[make_layer])
    assert _truncated_factor() == pytest.approx(0.774, abs=5e-4)
    assert w.abs().max().item() <= 2 * s
    assert w.var().item() == pytest.approx(_truncated_factor() * s**2, rel=REL)
    # An untruncated N(0, σ²) puts 4.55 % of its draws beyond 2σ: here there are none, yet the mass
    # just inside is a truncated normal's, P(1.8σ < |w| < 2σ) = (erf(2/√2) − erf(1.8/√2)) / erf(2/√2)
    # = 2.76 %, about 13,800 draws with a relative standard error of 0.9 %; rel=5 % is over 5σ.
    inside = (math.erf(2 / math.sqrt(2)) - math.erf(1.8 / math.sqrt(2))) / math.erf(2 / math.sqrt(2))
    assert (w.abs() > 1.8 * s).double().mean().item() == pytest.approx(inside, rel=0.05)
    assert torch.count_nonzero(layer.bias) == 0


def test_zeros_sets_everything_to_zero():
    layer = conv()
    apply_init(layer, "zeros")
    assert torch.count_nonzero(layer.weight) == 0 and torch.count_nonzero(layer.bias) == 0


def test_default_keeps_torch_initialization():
    torch.manual_seed(0)
    layer = nn.Linear(1000, 500)
    before = [p.clone() for p in layer.parameters()]
    apply_init(layer, "default")
    assert all(torch.equal(a, b) for a, b in zip(before, layer.parameters()))
    assert torch.count_nonzero(layer.bias) > 0  # torch's own bias init is left alone too


@pytest.mark.parametrize(("spec", "reference"), [
    ("xavier_normal", nn.init.xavier_normal_),
    ("xavier_uniform", nn.init.xavier_uniform_),
    ("he_normal", lambda w: nn.init.kaiming_normal_(w, mode="fan_in", nonlinearity="relu")),
    ({"name": "he_normal", "mode": "fan_out"}, lambda w: nn.init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu")),
    ("he_uniform", lambda w: nn.init.kaiming_uniform_(w, mode="fan_in", nonlinearity="relu")),
    ({"name": "he_uniform", "mode": "fan_out"}, lambda w: nn.init.kaiming_uniform_(w, mode="fan_out", nonlinearity="relu")),
    ({"name": "truncated_normal", "std": 0.02}, lambda w: nn.init.trunc_normal_(w, 0.0, 0.02, -0.04, 0.04)),
], ids=["xavier_normal", "xavier_uniform", "he_normal", "he_normal_out", "he_uniform", "he_uniform_out", "trunc"])
def test_same_draws_as_torch_where_torch_has_the_initializer(spec, reference):
    layer, expected = nn.Conv2d(8, 16, 3), torch.empty(16, 8, 3, 3)
    torch.manual_seed(1)
    apply_init(layer, spec)
    torch.manual_seed(1)
    reference(expected)
    # Same random stream; the scale is computed as √(2/n) here and √2/√n in torch: a few ulps apart.
    torch.testing.assert_close(layer.weight.detach(), expected, rtol=1e-6, atol=0)


def test_every_layer_of_a_model_is_initialized():
    model = nn.Sequential(nn.Conv1d(2, 4, 3), nn.Flatten(), nn.Linear(8, 3), nn.BatchNorm1d(3))
    bn_before = [p.clone() for p in model[3].parameters()]
    apply_init(model, "zeros")
    assert all(torch.count_nonzero(m.weight) == 0 for m in (model[0], model[2]))
    assert all(torch.equal(a, b) for a, b in zip(bn_before, model[3].parameters()))  # BN is not a weight layer


def test_apply_init_validates_names_and_parameters():
    layer = nn.Linear(3, 2)
    with pytest.raises(pydantic.ValidationError, match="mode"):
        apply_init(layer, {"name": "he_normal", "mode": "fan_sum"})
    with pytest.raises(pydantic.ValidationError, match="std"):
        apply_init(layer, {"name": "normal", "std": "small"})
    with pytest.raises(pydantic.ValidationError, match="gain"):
        apply_init(layer, {"name": "xavier", "gain": 2.0})
    with pytest.raises(TypeError, match="needs a 'name'"):
        apply_init(layer, {"mode": "fan_in"})


def test_every_initializer_is_tested_and_shows_its_formula():
    tested = {c[0] if isinstance(c[0], str) else c[0]["name"] for c in CASES}
    assert set(initializers.names()) == tested | {"truncated_normal", "zeros", "default"}
    for entry in initializers:
        assert any(s in entry.description for s in ("W ~", "W =", "W, b ~")), entry.name


def test_docstring_examples_run():
    torch.manual_seed(0)
    assert doctest.testmod(init_module).failed == 0

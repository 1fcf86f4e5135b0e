"""Model builders and initializers."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from trainlab.errors import RecipeError
from trainlab.nn.augment import Augment
from trainlab.nn.init import apply_init
from trainlab.nn.models import cnn1d, cnn2d, mlp
from trainlab.nn.noise import GaussianNoise
from trainlab.recipe import load_recipe
from trainlab.run import build


def test_mlp_shapes_dropout_per_layer_and_batchnorm_without_bias():
    model = mlp((8,), 3, hidden=[16, 12], activation="tanh", dropout=[0.1, 0.3], batchnorm=True)
    assert model(torch.randn(5, 8)).shape == (5, 3)
    linears = [m for m in model if isinstance(m, nn.Linear)]
    assert [m.bias is None for m in linears] == [True, True, False]  # BN's β replaces the bias
    assert [m.p for m in model if isinstance(m, nn.Dropout)] == [0.1, 0.3]
    assert sum(isinstance(m, nn.Tanh) for m in model) == 2


def test_mlp_rejects_bad_dropout():
    with pytest.raises(ValueError, match="2 rates for 1 hidden layers"):
        mlp((4,), 2, hidden=[8], dropout=[0.1, 0.2])
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        mlp((4,), 2, hidden=[8], dropout=1.0)


def test_cnn1d_is_the_mnist1d_paper_net():
    model = cnn1d((40,), 10)
    assert model(torch.randn(7, 40)).shape == (7, 10)
    # 3 convolutions of 25 channels and a 125→10 linear layer: 5,435 parameters in the paper's net.
    assert sum(p.numel() for p in model.parameters()) == (25 * 5 + 25) + 2 * (25 * 25 * 3 + 25) + (125 * 10 + 10)


def test_cnn2d_accepts_images_with_or_without_channels():
    assert cnn2d((1, 8, 8), 4)(torch.randn(2, 1, 8, 8)).shape == (2, 4)
    assert cnn2d((8, 8), 4, batchnorm=True)(torch.randn(2, 8, 8)).shape == (2, 4)
    assert cnn2d((3, 32, 32), 10, channels=[8])(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_mlp_takes_an_activation_name_or_spec():
    assert sum(isinstance(m, nn.Tanh) for m in mlp((4,), 2, hidden=[8, 8], activation={"name": "tanh"})) == 2
    leaky = [m for m in mlp((4,), 2, activation={"name": "leaky_relu", "alpha": 0.1}) if isinstance(m, nn.LeakyReLU)]
    assert [m.negative_slope for m in leaky] == [0.1, 0.1]


@pytest.mark.parametrize("build_model", [
    lambda m: mlp((8,), 3, hidden=[16, 16], batchnorm=True, bn_momentum=m),
    lambda m: cnn1d((40,), 3, batchnorm=True, bn_momentum=m),
    lambda m: cnn2d((8, 8), 3, batchnorm=True, bn_momentum=m),
])
def test_bn_momentum_reaches_every_batchnorm_layer(build_model):
    norms = [m for m in build_model(0.3).modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    assert len(norms) >= 2 and all(m.momentum == 0.3 for m in norms)


def test_bn_moving_average_after_one_batch_follows_the_documented_formula():
    torch.manual_seed(0)
    momentum = 0.3  # = 1 − α in μ̂_t = α μ̂_{t-1} + (1 − α) μ_t
    model = mlp((5,), 2, hidden=[6], batchnorm=True, bn_momentum=momentum)
    linear, norm = model[1], model[2]
    x = torch.randn(32, 5) + 2.0
    with torch.no_grad():
        h = linear(x)  # what BN sees; (32, 6)
    model.train()(x)
    alpha = 1 - momentum
    # μ̂_0 = 0 and σ̂²_0 = 1; torch's running variance uses the unbiased batch variance.
    torch.testing.assert_close(norm.running_mean, alpha * 0 + (1 - alpha) * h.mean(0))
    torch.testing.assert_close(norm.running_var, alpha * 1 + (1 - alpha) * h.var(0, unbiased=True))
    with pytest.raises(ValueError, match="bn_momentum"):
        mlp((5,), 2, batchnorm=True, bn_momentum=0.0)


def test_noise_layers_sit_where_documented_and_only_when_asked():
    model = mlp((8,), 3, hidden=[16, 12], input_noise=0.2, hidden_noise=[0.1, 0.0])
    # Noise on the inputs first, then after the first hidden activation; σ = 0 inserts nothing.
    assert [type(m) for m in model] == [GaussianNoise, nn.Flatten, nn.Linear, nn.ReLU, GaussianNoise,
                                        nn.Linear, nn.ReLU, nn.Linear]
    assert [m.std for m in model if isinstance(m, GaussianNoise)] == [0.2, 0.1]
    for plain in (mlp((8,), 3), cnn1d((40,), 3), cnn2d((8, 8), 3)):
        assert not any(isinstance(m, (GaussianNoise, Augment)) for m in plain.modules())
    with pytest.raises(ValueError, match="hidden_noise has 3 standard deviations for 2 hidden layers"):
        mlp((8,), 3, hidden=[16, 12], hidden_noise=[0.1, 0.1, 0.1])


def test_cnn1d_batchnorm_convolutions_have_no_bias():
    convs = [m for m in cnn1d((40,), 10, batchnorm=True) if isinstance(m, nn.Conv1d)]
    assert len(convs) == 3 and all(m.bias is None for m in convs)


def test_cnn2d_rejects_unknown_augmentation_with_the_accepted_keys():
    with pytest.raises(ValueError, match="unknown augmentation 'flop'; accepted: flip, shift, rotate"):
        cnn2d((8, 8), 3, augment={"flop": 0.5})
    with pytest.raises(RecipeError, match="model.augment: .*unknown augmentation 'flop'"):
        load_recipe({"data": {"name": "digits"}, "model": {"name": "cnn2d", "augment": {"flop": 0.5}}})


@pytest.mark.parametrize(("build_model", "shape"), [
    (lambda: mlp((8,), 3, activation={"name": "tanh"}, batchnorm=True, bn_momentum=0.2, dropout=0.1,
                 input_noise=0.1, hidden_noise=[0.05, 0.1]), (6, 8)),
    (lambda: cnn1d((40,), 3, batchnorm=True, input_noise=0.1, augment={"shift": 3}), (6, 40)),
    (lambda: cnn2d((2, 12, 10), 3, batchnorm=True, bn_momentum=0.05, input_noise=0.1,
                   augment={"flip": 0.5, "shift": 2, "rotate": 10}), (6, 2, 12, 10)),
])
def test_models_with_regularizers_train_and_evaluate(build_model, shape):
    torch.manual_seed(0)
    model = build_model()
    x = torch.randn(shape)
    out = model.train()(x)
    assert out.shape == (6, 3)
    out.square().mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    model.eval()
    assert torch.equal(model(x), model(x))  # no noise, augmentation or dropout at evaluation
    assert not torch.equal(model.train()(x), model.train()(x))  # and fresh draws in training


def test_recipe_with_noise_and_batchnorm_is_reproducible_from_its_seed(tiny_recipe):
    tiny_recipe["model"].update(activation={"name": "leaky_relu", "alpha": 0.1}, batchnorm=True, bn_momentum=0.2,
                                input_noise=0.3, hidden_noise=0.1)
    weights = []
    for _ in range(2):
        setup = build(load_recipe(tiny_recipe))
        setup.trainer.fit(setup.train, setup.val, 2)
        weights.append(setup.model.state_dict())
    assert isinstance(setup.model[0], GaussianNoise)
    for key, value in weights[0].items():
        assert torch.equal(value, weights[1][key]), key


@pytest.mark.parametrize(("name", "variance"), [("xavier", 2 / (400 + 300)), ("he", 2 / 400)])
def test_initializer_variance_matches_formula(name, variance):
    torch.manual_seed(0)
    layer = nn.Linear(400, 300)
    apply_init(layer, name)
    # 120,000 draws: the sample variance's relative std is √(2/n) ≈ 0.4 %, so 3 % is ≥ 7σ.
    assert layer.weight.var().item() == pytest.approx(variance, rel=0.03)
    assert torch.count_nonzero(layer.bias) == 0

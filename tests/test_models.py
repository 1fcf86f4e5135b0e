"""Model builders and initializers."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from trainlab.nn.init import apply_init
from trainlab.nn.models import cnn1d, cnn2d, mlp


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


@pytest.mark.parametrize(("name", "variance"), [("xavier", 2 / (400 + 300)), ("he", 2 / 400)])
def test_initializer_variance_matches_formula(name, variance):
    torch.manual_seed(0)
    layer = nn.Linear(400, 300)
    apply_init(layer, name)
    # 120,000 draws: the sample variance's relative std is √(2/n) ≈ 0.4 %, so 3 % is ≥ 7σ.
    assert layer.weight.var().item() == pytest.approx(variance, rel=0.03)
    assert torch.count_nonzero(layer.bias) == 0

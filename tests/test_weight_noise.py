"""Weight noise (W + ε, ε ~ N(0, σ²) in training forward passes): the formula, its gradient, the
untouched state dict, and the recipe switch ``model.weight_noise``."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from trainlab.errors import RecipeError
from trainlab.nn.models import cnn1d, mlp
from trainlab.nn.noise import NoisyConv1d, NoisyLinear, WeightNoise, add_weight_noise
from trainlab.predict import Predictor
from trainlab.recipe import load_recipe
from trainlab.run import build, run_recipe


def test_training_pass_uses_w_plus_sigma_eps_and_the_gradient_is_taken_there():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 2, bias=False))
    add_weight_noise(net, 0.3)
    x = torch.randn(5, 3)
    weight = net[0].weight.detach().clone()
    torch.manual_seed(1)
    out = net(x)
    (0.5 * out.square().sum()).backward()
    torch.manual_seed(1)  # replay the draw: W̃ = W + σε
    noisy = weight + 0.3 * torch.randn_like(weight)
    # float32 matrix products in another order: 1e-6 relative
    assert torch.allclose(out, x @ noisy.T, rtol=1e-6, atol=1e-6)
    # L = ½‖x W̃ᵀ‖²: ∂L/∂W = ∂L/∂W̃ = (x W̃ᵀ)ᵀ x, the gradient at the perturbed weights
    assert torch.allclose(net[0].weight.grad, (x @ noisy.T).T @ x, rtol=1e-5, atol=1e-6)


def test_noise_is_drawn_per_forward_pass_with_std_sigma_and_off_in_eval():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(1, 20_000, bias=False))
    add_weight_noise(net, 0.2)
    nn.init.zeros_(net[0].weight)
    first, second = net(torch.ones(1, 1)), net(torch.ones(1, 1))
    # 20,000 weights, each W + σε with W = 0: the sample std's relative std is 1/√(2n) = 0.5 %, so 3 % is 6σ
    assert first.std().item() == pytest.approx(0.2, rel=0.03)
    assert not torch.equal(first, second)  # a new ε at every forward pass
    same_pass = net(torch.ones(4, 1))
    assert torch.equal(same_pass, same_pass[:1].expand(4, 20_000))  # one ε for the whole batch
    assert net.eval()(torch.ones(2, 1)).abs().max().item() == 0.0


def test_layers_keep_their_parameters_and_state_dict_keys():
    torch.manual_seed(0)
    model = mlp((4,), 3, hidden=[8, 8], dropout=0.0)
    plain = mlp((4,), 3, hidden=[8, 8], dropout=0.0)
    before = {k: v for k, v in model.named_parameters()}
    assert add_weight_noise(model, 0.1) == 3
    assert all(isinstance(m, NoisyLinear) for m in model if isinstance(m, nn.Linear))
    assert all(p is before[k] for k, p in model.named_parameters())  # the same objects: nothing copied
    plain.load_state_dict(model.state_dict())  # keys unchanged: a model built without noise loads it
    x = torch.randn(6, 4)
    assert torch.equal(model.eval()(x), plain.eval()(x))


def test_convolutions_get_weight_noise_too():
    torch.manual_seed(0)
    model = cnn1d((40,), 10, channels=4)
    plain = cnn1d((40,), 10, channels=4)
    plain.load_state_dict(model.state_dict())
    assert add_weight_noise(model, 0.5) == 4  # three convolutions and the output layer
    assert sum(isinstance(m, NoisyConv1d) for m in model.modules()) == 3
    x = torch.randn(2, 40)
    assert torch.equal(model.eval()(x), plain.eval()(x))
    assert not torch.allclose(model.train()(x), plain.train()(x))


def test_weight_noise_needs_a_layer_and_a_non_negative_std():
    with pytest.raises(ValueError, match="no Linear"):
        add_weight_noise(nn.Sequential(nn.ReLU()), 0.1)
    with pytest.raises(ValueError, match="weight_noise"):
        add_weight_noise(nn.Linear(2, 2), -0.1)
    assert add_weight_noise(nn.Sequential(nn.Linear(2, 2)), 0.0) == 0


RECIPE = {"name": "wn", "seed": 0, "data": {"name": "moons", "n_samples": 200}, "model": {"name": "mlp", "hidden": [16],
          "weight_noise": 0.05}, "optim": {"name": "adam", "lr": 0.01}, "stopping": {"epochs": 2}}


def test_recipe_switch_trains_with_noise_and_predicts_without(tmp_path):
    setup = build(load_recipe(RECIPE))
    noisy = [m for m in setup.model.modules() if isinstance(m, WeightNoise)]
    assert len(noisy) == 2 and all(m.weight_std == 0.05 for m in noisy)
    result = run_recipe(load_recipe(RECIPE), tmp_path)
    predictor = Predictor(result.run_dir)  # rebuilt without noise: the checkpoint's keys still fit
    x = torch.randn(3, 2).numpy()
    assert (predictor.predict(x) == predictor.predict(x)).all()  # evaluation is deterministic


def test_recipe_refuses_negative_noise_and_a_line_search_with_noise():
    with pytest.raises(RecipeError, match=r"model\.weight_noise: -0\.1 is not valid"):
        load_recipe({**RECIPE, "model": {"name": "mlp", "weight_noise": -0.1}})
    with pytest.raises(RecipeError, match="WeightNoise|NoisyLinear"):
        build(load_recipe({**RECIPE, "optim": {"name": "lbfgs", "lr": 1.0}}))

"""Noise injection and augmentation layers: statistics, train/eval behaviour, exact transforms."""
from __future__ import annotations

import pytest
import torch

from trainlab.nn.augment import Augment, check_augment, make_augment, rotate, translate
from trainlab.nn.noise import GaussianNoise, noise_layers

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


# ---- Gaussian noise ----


def test_gaussian_noise_has_the_asked_std_in_training():
    torch.manual_seed(0)
    x = torch.randn(400, 500)
    eps = GaussianNoise(0.3)(x) - x
    # 200,000 draws: the sample std's relative std is 1/√(2n) ≈ 0.16 %, so 1 % is > 6σ; the mean's
    # std is 0.3/√n ≈ 6.7e-4, so 0.004 is 6σ.
    assert eps.std().item() == pytest.approx(0.3, rel=0.01)
    assert abs(eps.mean().item()) < 0.004


def test_gaussian_noise_is_the_identity_in_eval_and_passes_gradients():
    noise = GaussianNoise(1.0)
    x = torch.randn(4, 3, requires_grad=True)
    assert noise.eval()(x) is x
    noise.train()(x).sum().backward()
    assert torch.equal(x.grad, torch.ones_like(x))  # dy/dx = 1: the noise is an additive constant


def test_gaussian_noise_draws_from_torchs_global_generator():
    x = torch.zeros(1000)
    torch.manual_seed(7)
    first = GaussianNoise(0.5)(x)
    torch.manual_seed(7)
    assert torch.equal(first, 0.5 * torch.randn(1000))  # the same stream: a recipe seed fixes it


def test_zero_noise_inserts_no_layer_and_negative_noise_fails():
    assert noise_layers(0.0) == []
    assert [type(m) for m in noise_layers(0.1)] == [GaussianNoise]
    with pytest.raises(ValueError, match=">= 0"):
        GaussianNoise(-0.1)


# ---- augmentation ----


def _pattern(batch: int, height: int = 6, width: int = 7) -> torch.Tensor:
    """Distinct values everywhere, so every transform is visible: (batch, 2, height, width)."""
    return torch.arange(batch * 2 * height * width, dtype=torch.float32).view(batch, 2, height, width)


def test_augment_is_the_identity_in_eval_mode():
    augment = Augment(flip=1.0, shift=2, rotate=30).eval()
    x = _pattern(3)
    assert augment(x) is x


def test_flip_with_probability_one_mirrors_exactly_and_half_mirrors_about_half():
    x = _pattern(5)
    assert torch.equal(Augment(flip=1.0)(x), x.flip(-1))
    torch.manual_seed(0)
    x = _pattern(4000, 2, 3)
    flipped = (Augment(flip=0.5)(x) == x.flip(-1)).flatten(1).all(1)
    # Binomial(4000, 0.5) / 4000 has std 0.0079: 0.04 is 5σ.
    assert flipped.float().mean().item() == pytest.approx(0.5, abs=0.04)


def test_translate_moves_by_the_given_whole_pixels_with_zero_fill():
    x = torch.arange(1.0, 13.0).view(1, 1, 3, 4)
    down_left = translate(x, torch.tensor([[1, -1]]))  # one row down, one column left
    expected = torch.tensor([[0.0, 0, 0, 0], [2, 3, 4, 0], [6, 7, 8, 0]])
    assert torch.equal(down_left[0, 0], expected)
    signal = torch.arange(1.0, 6.0).view(1, 1, 5)
    assert translate(signal, torch.tensor([[2]])).flatten().tolist() == [0, 0, 1, 2, 3]


def test_random_shift_moves_content_by_at_most_shift_pixels_and_covers_the_range():
    torch.manual_seed(0)
    x = torch.zeros(2000, 1, 11, 11)
    x[:, :, 5, 5] = 1.0  # one lit pixel at the centre
    y = Augment(shift=2)(x)
    assert torch.equal(y.flatten(1).sum(1), torch.ones(2000))  # moved, never lost or blurred
    where = y[:, 0].flatten(1).argmax(1)
    moves = torch.stack([where // 11 - 5, where % 11 - 5], 1)
    assert moves.abs().max().item() <= 2
    # 25 equally likely moves in 2000 draws: the chance that one is missing is < 25·(24/25)^2000 ≈ 1e-34.
    assert len(set(map(tuple, moves.tolist()))) == 25


def test_random_shift_of_signals():
    torch.manual_seed(0)
    x = torch.zeros(500, 1, 9)
    x[:, :, 4] = 1.0
    moves = Augment(shift=3, spatial_dims=1)(x)[:, 0].argmax(1) - 4
    assert set(moves.tolist()) == set(range(-3, 4))


def test_rotate_by_90_degrees_equals_rot90():
    x = _pattern(2, 5, 5)
    # 90° maps pixel centres onto pixel centres, so bilinear sampling is exact up to float32 rounding
    # of the grid (cos 90° ≈ -4e-8); values go up to 100, so 1e-4 absolute is ~1e-6 relative.
    torch.testing.assert_close(rotate(x, torch.tensor([90.0, -90.0]))[0], torch.rot90(x[0], 1, dims=(-2, -1)),
                               atol=1e-4, rtol=0)
    torch.testing.assert_close(rotate(x, torch.tensor([90.0, -90.0]))[1], torch.rot90(x[1], -1, dims=(-2, -1)),
                               atol=1e-4, rtol=0)
    torch.testing.assert_close(rotate(x, torch.zeros(2)), x, atol=1e-4, rtol=0)


def test_rotate_turns_non_square_images_without_shearing():
    # A full 6×10 frame turned by 90° covers the centre 6 columns of every row, nothing else.
    y = rotate(torch.ones(1, 1, 6, 10), torch.tensor([90.0]))[0, 0]
    expected = torch.zeros(6, 10)
    expected[:, 2:8] = 1.0
    torch.testing.assert_close(y, expected, atol=1e-5, rtol=0)


def test_random_rotation_leaves_a_round_blob_nearly_unchanged():
    torch.manual_seed(0)
    r = torch.arange(21.0) - 10
    blob = torch.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2 * 3.0**2)).expand(64, 1, 21, 21)
    y = Augment(rotate=180)(blob)
    # Bilinear interpolation on a unit grid errs by at most (|f_xx| + |f_yy|)/8; for a unit-peak
    # Gaussian of σ = 3 px that is 2/(8σ²) ≈ 0.028.
    assert (y - blob).abs().max().item() < 0.03
    assert (y - blob).abs().sum().item() > 0  # the angles really vary


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_augment_keeps_shape_dtype_and_device(device, dtype):
    x = torch.randn(8, 3, 10, 12, dtype=dtype, device=device)
    y = Augment(flip=0.5, shift=2, rotate=15)(x)
    assert (y.shape, y.dtype, y.device) == (x.shape, x.dtype, x.device)


def test_augment_specs_are_checked():
    with pytest.raises(ValueError, match="unknown augmentation 'flop'; accepted: flip, shift, rotate"):
        check_augment({"flop": 0.5}, 2)
    with pytest.raises(ValueError, match="unknown augmentation 'flip'; accepted: shift"):
        Augment(flip=0.5, spatial_dims=1)
    with pytest.raises(ValueError, match="whole number"):
        check_augment({"shift": 1.5}, 2)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        check_augment({"flip": 2.0}, 2)
    assert make_augment(None, 2) == [] and make_augment({"flip": 0, "shift": 0}, 2) == []
    assert [type(m) for m in make_augment({"shift": 2.0}, 1)] == [Augment]

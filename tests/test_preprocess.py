"""Preprocessing: z-score, min-max ranges, PCA whitening against the SVD, saved state round trips."""
from __future__ import annotations

import numpy as np
import pydantic
import pytest
import torch

from trainlab import registry
from trainlab.data.preprocess import MinMax, PCAWhiten, ZScore
from trainlab.recipe import load_recipe
from trainlab.run import build, load_model, run_recipe
from trainlab.train.checkpoint import load_checkpoint, save_checkpoint, split_prefix

STDS = torch.tensor([10.0, 5.0, 2.0, 0.5, 0.1])  # principal standard deviations of the test data
# Variance shares of the leading components: 0.774, 0.967, 0.9979, 0.99992, 1 (population values;
# with 4,000 samples each variance is within a few %, far from the cuts 0.9, 0.99, 0.999 used below).


def correlated(n: int = 4000, seed: int = 0) -> torch.Tensor:
    """n examples of 5 features: independent N(0, STDS²) components, rotated, shifted."""
    g = torch.Generator().manual_seed(seed)
    rotation, _ = torch.linalg.qr(torch.randn(5, 5, generator=g))
    return (torch.randn(n, 5, generator=g) * STDS) @ rotation.T + torch.arange(5.0)


def covariance(z: torch.Tensor) -> torch.Tensor:
    z = z.double() - z.double().mean(0)
    return z.T @ z / len(z)


def test_zscore_and_minmax_ranges():
    x = correlated()
    z = ZScore().fit(x)(x)
    torch.testing.assert_close(z.mean(0), torch.zeros(5), atol=1e-5, rtol=0)
    torch.testing.assert_close(z.std(0, unbiased=False), torch.ones(5), atol=1e-5, rtol=0)
    for low, high in [(0.0, 1.0), (-1.0, 1.0)]:
        scaled = MinMax(low, high).fit(x)(x)
        assert scaled.min(0).values.tolist() == pytest.approx([low] * 5, abs=1e-6)
        assert scaled.max(0).values.tolist() == pytest.approx([high] * 5, abs=1e-6)
    with pytest.raises(ValueError, match="low < high"):
        MinMax(1.0, -1.0)


def test_center_removes_the_training_mean_only():
    x = correlated()
    centered = registry.preprocessors.get("center").factory().fit(x)(x)
    assert centered.mean(0).abs().max() < 1e-5  # float32 means of 4000 values of order 10: error ~1e-6
    assert torch.allclose(centered.std(0), x.std(0), rtol=1e-5)  # scales untouched


def test_whitened_training_data_has_identity_covariance():
    x = correlated()
    z = PCAWhiten().fit(x)(x)
    assert z.shape == (4000, 5)
    # Exact in exact arithmetic up to eps: the covariance is diag(D/(D + 1e-5)), D ≥ 0.01 here, so
    # ≥ 0.999; float32 storage of the projection adds ~1e-6. atol 2e-3 covers both.
    torch.testing.assert_close(covariance(z), torch.eye(5, dtype=torch.float64), atol=2e-3, rtol=0)
    torch.testing.assert_close(z.mean(0), torch.zeros(5), atol=1e-4, rtol=0)


def test_whitening_is_the_svd_formula():
    x = correlated()
    pca = PCAWhiten(eps=0.0).fit(x)
    centered = x.double() - x.double().mean(0)
    u, s, vt = torch.linalg.svd(centered, full_matrices=False)
    n = len(x)
    # D = S²/n, and D^{-1/2} Vᵀ(x − μ) = √n·U row by row (each column up to the sign of V's column).
    torch.testing.assert_close(pca.stats["variances"].double(), s**2 / n, rtol=1e-5, atol=0)
    z = pca(x).double()
    signs = torch.sign((z * u).sum(0))
    torch.testing.assert_close(z, np.sqrt(n) * u * signs, atol=2e-4, rtol=0)  # float32 projection of values ≲ 4
    torch.testing.assert_close(pca.stats["projection"].double(), (vt.T * signs) / s * np.sqrt(n), rtol=1e-4, atol=0)


def test_k_components_are_the_leading_ones():
    x = correlated()
    full, pca = PCAWhiten().fit(x), PCAWhiten(k=2).fit(x)
    z = pca(x)
    assert z.shape == (4000, 2)
    torch.testing.assert_close(covariance(z), torch.eye(2, dtype=torch.float64), atol=2e-3, rtol=0)
    torch.testing.assert_close(z, full(x)[:, :2])  # the same two leading directions
    with pytest.raises(ValueError, match="k=6 components asked for, but the data has 5 features"):
        PCAWhiten(k=6).fit(x)


@pytest.mark.parametrize(("variance", "k"), [(0.5, 1), (0.9, 2), (0.99, 3), (0.999, 4), (1.0, 5)])
def test_explained_variance_cut(variance, k):
    x = correlated()
    pca = PCAWhiten(variance=variance).fit(x)
    assert pca(x).shape == (4000, k)
    # The rule: the fewest leading components whose share Σ_{j≤k} D_j / Σ D_j reaches the target,
    # checked against numpy's singular values.
    s = np.linalg.svd((x - x.mean(0)).double().numpy(), compute_uv=False)
    share = np.cumsum(s**2) / np.sum(s**2)
    assert k == int(np.argmax(share >= variance - 1e-12)) + 1
    assert pca.explained_variance() >= variance - 1e-6
    if k > 1:
        assert share[k - 2] < variance


def test_images_are_flattened_and_bad_parameters_refused():
    images = torch.randn(300, 4, 4)
    assert PCAWhiten(k=3).fit(images)(images).shape == (300, 3)
    with pytest.raises(ValueError, match="not both"):
        PCAWhiten(k=2, variance=0.9)
    with pytest.raises(ValueError, match="0 < variance <= 1"):
        PCAWhiten(variance=1.5)
    with pytest.raises(pydantic.ValidationError, match="k"):
        registry.preprocessors.get("pca_whiten").validate({"k": 2.5})


@pytest.mark.parametrize(("name", "params"), [
    ("none", {}), ("center", {}), ("zscore", {}), ("minmax", {"low": -1.0, "high": 1.0}), ("pca_whiten", {"k": 3}),
    ("pca_whiten", {"variance": 0.99}),
])
def test_state_round_trips_through_a_checkpoint(tmp_path, name, params):
    factory = registry.preprocessors.get(name).factory
    x_train, x_new = correlated(), correlated(50, seed=1)
    fitted = factory(**params).fit(x_train)
    tensors = {f"preprocess.{k}": v for k, v in fitted.state_dict().items()}  # as run.py saves it
    saved = save_checkpoint(tmp_path / "ckpt", tensors, {})
    loaded = factory(**params)
    loaded.load_state_dict(split_prefix(load_checkpoint(saved)[0], "preprocess"))
    assert torch.equal(loaded(x_new), fitted(x_new))


def test_a_run_builds_its_model_for_the_whitened_features(tmp_path):
    recipe = load_recipe({
        "data": {"name": "digits", "preprocess": {"name": "pca_whiten", "k": 10}},
        "model": {"name": "mlp", "hidden": [16]},
        "stopping": {"epochs": 1},
    })
    setup = build(recipe)
    assert setup.model[1].in_features == 10  # [Flatten, Linear(10, 16), …]
    x, _ = next(iter(setup.train.epoch(0)))
    assert x.shape[1:] == (10,)
    result = run_recipe(recipe, tmp_path)
    digits = registry.datasets.get("digits").factory(seed=0)
    probabilities = load_model(result.run_dir).predict(digits.x[:7])  # raw 64-pixel inputs
    assert probabilities.shape == (7, 10) and np.allclose(probabilities.sum(1), 1, atol=1e-5)

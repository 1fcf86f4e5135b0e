"""Datasets, seeded splits, and preprocessing fitted on the training split only."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from trainlab import registry
from trainlab.data.datasets import cache_dir
from trainlab.data.preprocess import MinMax, ZScore
from trainlab.data.split import split_dataset


def make(name: str, **params):
    return registry.datasets.get(name).factory(seed=0, **params)


@pytest.mark.parametrize(
    ("name", "n", "features", "task", "outputs"),
    [
        ("digits", 1797, (64,), "classification", 10),
        ("breast_cancer", 569, (30,), "classification", 2),
        ("wine", 178, (13,), "classification", 3),
        ("iris", 150, (4,), "classification", 3),
        ("diabetes", 442, (10,), "regression", 1),
        ("moons", 1000, (2,), "classification", 2),
        ("spirals", 1000, (2,), "classification", 2),
        ("sine", 1000, (1,), "regression", 1),
        ("linear", 500, (3,), "regression", 1),
    ],
)
def test_offline_datasets(name, n, features, task, outputs):
    data = make(name)
    assert (len(data.x), data.input_shape, data.task, data.n_outputs) == (n, features, task, outputs)
    assert data.x.dtype == np.float32
    assert data.y.dtype == (np.int64 if task == "classification" else np.float32)


def test_mnist1d_is_the_papers_set_and_cached():
    data = make("mnist1d")
    assert data.x.shape == (4000, 40) and data.x_test.shape == (1000, 40) and data.n_outputs == 10
    assert list(cache_dir().glob("mnist1d-*.npz")), "generated set not cached"
    again = make("mnist1d")
    assert np.array_equal(data.x, again.x) and np.array_equal(data.y_test, again.y_test)


def test_linear_set_has_the_known_weights():
    data = make("linear", n_samples=2000, weights=[1.5, -2.0], bias=0.5, noise=0.01)
    design = np.hstack([data.x, np.ones((len(data.x), 1), np.float32)])
    fit, *_ = np.linalg.lstsq(design, data.y[:, 0], rcond=None)
    # noise 0.01 over 2000 examples: least-squares error ~ 0.01/√2000 ≈ 2e-4, so 1e-2 is loose.
    np.testing.assert_allclose(fit, [1.5, -2.0, 0.5], atol=1e-2)
    assert data.info == {"weights": [1.5, -2.0], "bias": 0.5}


def test_split_sizes_seeded_and_stratified():
    data = make("iris")
    a = split_dataset(data, val_fraction=0.2, test_fraction=0.2, seed=3)
    b = split_dataset(data, val_fraction=0.2, test_fraction=0.2, seed=3)
    c = split_dataset(data, val_fraction=0.2, test_fraction=0.2, seed=4)
    assert (len(a.train[0]), len(a.val[0]), len(a.test[0])) == (96, 24, 30)
    assert np.array_equal(a.train[0], b.train[0]) and not np.array_equal(a.train[0], c.train[0])
    assert np.bincount(a.test[1]).tolist() == [10, 10, 10]  # stratified: iris has 50 per class


def test_official_test_split_is_kept():
    data = make("mnist1d")
    splits = split_dataset(data, val_fraction=0.1, test_fraction=0.5, seed=0)
    assert np.array_equal(splits.test[0], data.x_test)
    assert (len(splits.train[0]), len(splits.val[0])) == (3600, 400)


def test_zscore_uses_training_statistics_only():
    train = torch.tensor([[0.0, 10.0], [2.0, 10.0]])
    other = torch.tensor([[100.0, -5.0]])
    z = ZScore().fit(train)
    assert torch.equal(z(train), torch.tensor([[-1.0, 0.0], [1.0, 0.0]]))  # zero std → divide by 1
    assert torch.equal(z(other), torch.tensor([[99.0, -15.0]]))


def test_minmax_range_and_round_trip_of_state():
    train = torch.tensor([[0.0], [4.0]])
    m = MinMax(low=-1.0, high=1.0).fit(train)
    assert torch.equal(m(torch.tensor([[0.0], [2.0], [4.0], [8.0]])), torch.tensor([[-1.0], [0.0], [1.0], [3.0]]))
    copy = MinMax(low=-1.0, high=1.0)
    copy.load_state_dict(m.state_dict())
    assert torch.equal(copy(train), m(train))
    with pytest.raises(ValueError, match="low < high"):
        MinMax(low=1.0, high=0.0)

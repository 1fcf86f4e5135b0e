"""Datasets by name, all available offline.

* MNIST-1D generated with the ``mnist1d`` package (never its download path), cached as ``.npz``
  under the trainlab cache directory.
* scikit-learn's bundled sets: digits, breast_cancer, wine, iris, diabetes.
* Synthetic: moons, spirals, noisy sine regression, linear regression with known weights.
* MNIST, Fashion-MNIST, CIFAR-10 through torchvision (optional extra ``trainlab[vision]``).
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from trainlab.registry import datasets

Task = Literal["classification", "regression"]


@dataclass
class Dataset:
    """Arrays of one data set. ``x_test``/``y_test`` are set when the set has an official test split."""

    task: Task
    x: np.ndarray  # (n, *input_shape) float32
    y: np.ndarray  # (n,) int64 for classification; (n, k) float32 for regression
    x_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    class_names: list[str] | None = None
    info: dict = field(default_factory=dict)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x.shape[1:])

    @property
    def n_outputs(self) -> int:
        return len(self.class_names) if self.task == "classification" else self.y.shape[1]


def cache_dir() -> Path:
    """``$TRAINLAB_CACHE``, else ``$XDG_CACHE_HOME/trainlab``, else ``~/.cache/trainlab``."""
    if "TRAINLAB_CACHE" in os.environ:
        return Path(os.environ["TRAINLAB_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "trainlab"


def _classification(x, y, x_test=None, y_test=None, names=None, **info) -> Dataset:
    y = np.asarray(y, dtype=np.int64)
    names = names or [str(c) for c in range(int(y.max()) + 1)]
    return Dataset(
        "classification",
        np.asarray(x, dtype=np.float32),
        y,
        None if x_test is None else np.asarray(x_test, dtype=np.float32),
        None if y_test is None else np.asarray(y_test, dtype=np.int64),
        list(names),
        info,
    )


def _regression(x, y, **info) -> Dataset:
    y = np.asarray(y, dtype=np.float32)
    return Dataset("regression", np.asarray(x, dtype=np.float32), y.reshape(len(y), -1), info=info)


@datasets.register("mnist1d")
def mnist1d(seed: int, num_samples: int = 5000, noise: float = 0.02, shuffle_seq: bool = False) -> Dataset:
    """MNIST-1D (Greydanus 2020): 10 classes of 40-point 1-D signals; 4000 train / 1000 test.

    Generated offline with ``mnist1d.data.make_dataset`` (its own seed 42, so the set is the
    paper's) and cached under ``cache_dir()``. ``noise`` is the i.i.d. noise scale.
    """
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args(as_dict=True)
    args.update(num_samples=num_samples, iid_noise_scale=noise, shuffle_seq=shuffle_seq)
    key = hashlib.sha256(json.dumps(args, sort_keys=True).encode()).hexdigest()[:12]
    path = cache_dir() / f"mnist1d-{key}.npz"
    arrays = _read_cache(path, ("x", "y", "x_test", "y_test"))
    if arrays is None:
        made = make_dataset(_ObjectView(args))
        arrays = {k: made[k] for k in ("x", "y", "x_test", "y_test")}
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
        np.savez(tmp, **arrays)
        os.replace(tmp, path)
    return _classification(arrays["x"], arrays["y"], arrays["x_test"], arrays["y_test"])


def _read_cache(path: Path, names: tuple[str, ...]) -> dict[str, np.ndarray] | None:
    """The arrays of a cached ``.npz``, or None when it is absent or damaged (truncated by a crash,
    edited): a damaged cache is deleted, with a line on stderr, so the caller rebuilds it."""
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {name: f[name] for name in names}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
        print(f"note: the cached data set {path} is damaged ({str(e)[:80]}); rebuilding it", file=sys.stderr)
        path.unlink(missing_ok=True)
        return None
    return arrays


class _ObjectView:
    """The attribute view of a dict that ``mnist1d.make_dataset`` expects."""

    def __init__(self, d: dict):
        self.__dict__ = d


def _sklearn(loader_name: str, task: Task) -> Dataset:
    import sklearn.datasets

    bunch = getattr(sklearn.datasets, loader_name)()
    if task == "regression":
        return _regression(bunch.data, bunch.target)
    return _classification(bunch.data, bunch.target, names=[str(n) for n in bunch.target_names])


@datasets.register("digits")
def digits(seed: int) -> Dataset:
    """scikit-learn's 8×8 handwritten digits: 1797 examples, 64 features, 10 classes."""
    return _sklearn("load_digits", "classification")


@datasets.register("breast_cancer")
def breast_cancer(seed: int) -> Dataset:
    """scikit-learn's Wisconsin breast cancer: 569 examples, 30 features, 2 classes."""
    return _sklearn("load_breast_cancer", "classification")


@datasets.register("wine")
def wine(seed: int) -> Dataset:
    """scikit-learn's wine recognition: 178 examples, 13 features, 3 classes."""
    return _sklearn("load_wine", "classification")


@datasets.register("iris")
def iris(seed: int) -> Dataset:
    """scikit-learn's iris: 150 examples, 4 features, 3 classes."""
    return _sklearn("load_iris", "classification")


@datasets.register("diabetes")
def diabetes(seed: int) -> Dataset:
    """scikit-learn's diabetes progression: 442 examples, 10 features, regression."""
    return _sklearn("load_diabetes", "regression")


@datasets.register("moons")
def moons(seed: int, n_samples: int = 1000, noise: float = 0.2, imbalance: float = 1.0) -> Dataset:
    """Two interleaving half circles (scikit-learn's make_moons), 2 features, 2 classes.

    ``imbalance`` r ≥ 1 keeps only 1/r of class 1's examples (an r:1 imbalanced set).
    """
    from sklearn.datasets import make_moons

    if imbalance < 1:
        raise ValueError(f"imbalance must be at least 1 (r:1 majority to minority), got {imbalance}")
    x, y = make_moons(n_samples=n_samples, noise=noise, random_state=seed)
    if imbalance > 1:
        minority = np.flatnonzero(y == 1)
        keep = np.concatenate([np.flatnonzero(y == 0), minority[: max(1, round(len(minority) / imbalance))]])
        x, y = x[np.sort(keep)], y[np.sort(keep)]
    return _classification(x, y)


@datasets.register("spirals")
def spirals(seed: int, n_samples: int = 1000, n_classes: int = 2, turns: float = 1.5, noise: float = 0.1) -> Dataset:
    """Interleaved spirals, one arm per class: r = t, θ = 2π·turns·t + 2πc/n_classes, plus N(0, noise²)."""
    rng = np.random.default_rng(seed)
    per_class = n_samples // n_classes
    t = np.tile(np.linspace(0.05, 1.0, per_class), n_classes)
    c = np.repeat(np.arange(n_classes), per_class)
    theta = 2 * np.pi * turns * t + 2 * np.pi * c / n_classes
    x = np.stack([t * np.cos(theta), t * np.sin(theta)], axis=1) + rng.normal(0, noise, (len(t), 2))
    return _classification(x, c)


@datasets.register("sine")
def sine(seed: int, n_samples: int = 1000, noise: float = 0.1, periods: float = 1.0) -> Dataset:
    """Noisy sine regression: x ~ U(-π·periods, π·periods), y = sin(x) + N(0, noise²)."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-np.pi * periods, np.pi * periods, (n_samples, 1))
    return _regression(x, np.sin(x[:, 0]) + rng.normal(0, noise, n_samples))


@datasets.register("linear")
def linear(
    seed: int, n_samples: int = 500, weights: list[float] = [2.0, -3.0, 0.5], bias: float = 1.0, noise: float = 0.1  # noqa: B006
) -> Dataset:
    """Linear regression with known weights: x ~ N(0, I), y = x·w + b + N(0, noise²).

    The true ``weights`` and ``bias`` are kept in ``Dataset.info`` to compare a fit against.
    """
    rng = np.random.default_rng(seed)
    w = np.asarray(weights, dtype=np.float64)
    x = rng.normal(size=(n_samples, len(w)))
    y = x @ w + bias + rng.normal(0, noise, n_samples)
    return _regression(x, y, weights=list(weights), bias=bias)


def _vision(name: str, root: str, download: bool) -> Dataset:
    from trainlab.data.vision import load_vision

    d = load_vision(name, root, download=download)
    return _classification(d.x_train, d.y_train, d.x_test, d.y_test, d.class_names)


def _default_root() -> str:
    return str(cache_dir() / "vision")


@datasets.register("mnist")
def mnist(seed: int, root: str = "", download: bool = False) -> Dataset:
    """MNIST 28×28 digits, 60000 train / 10000 test, via torchvision (extra ``trainlab[vision]``)."""
    return _vision("mnist", root or _default_root(), download)


@datasets.register("fashion_mnist")
def fashion_mnist(seed: int, root: str = "", download: bool = False) -> Dataset:
    """Fashion-MNIST 28×28 clothing images, 10 classes, via torchvision (extra ``trainlab[vision]``)."""
    return _vision("fashion_mnist", root or _default_root(), download)


@datasets.register("cifar10")
def cifar10(seed: int, root: str = "", download: bool = False) -> Dataset:
    """CIFAR-10 32×32 colour images, 10 classes, via torchvision (extra ``trainlab[vision]``)."""
    return _vision("cifar10", root or _default_root(), download)


@datasets.register("memory")
def memory(seed: int) -> Dataset:
    """Arrays handed over from Python (``trainlab.fit``, ``build(recipe, data=…)``, the scikit-learn
    estimators); a recipe file cannot load them, so this name only marks where the data came from."""
    raise ValueError("'memory' names arrays given from Python (trainlab.fit(X, y), build(recipe, data=...)); "
                     "in a recipe file use a file (csv, npy, npz, parquet) or a python factory")

"""Seeded train/validation/test splits (stratified for classification)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from trainlab.data.datasets import Dataset
from trainlab.errors import TrainlabError


@dataclass
class Splits:
    """Arrays per split; ``val``/``test`` are None when their fraction is 0."""

    train: tuple[np.ndarray, np.ndarray]
    val: tuple[np.ndarray, np.ndarray] | None
    test: tuple[np.ndarray, np.ndarray] | None


def _cut(x, y, fraction: float, seed: int, stratify: bool, field: str = "data.val_fraction"):
    if fraction <= 0:
        return (x, y), None
    held_out = math.ceil(fraction * len(x))
    if held_out < 1 or len(x) - held_out < 1:  # sklearn would raise a ValueError: say it with the recipe's names
        raise TrainlabError(f"{field}: holding out {fraction} of {len(x)} examples leaves none to train on; "
                            "use more examples or a smaller fraction (0 for none)")
    from sklearn.model_selection import train_test_split  # here: `trainlab list` need not import sklearn

    # stratified only when every class can appear on both sides
    labels = y if stratify and np.bincount(y).min() >= 2 and held_out >= np.count_nonzero(np.bincount(y)) \
        and len(x) - held_out >= np.count_nonzero(np.bincount(y)) else None
    x_a, x_b, y_a, y_b = train_test_split(x, y, test_size=fraction, random_state=seed, stratify=labels)
    return (x_a, y_a), (x_b, y_b)


def split_dataset(data: Dataset, val_fraction: float, test_fraction: float, seed: int) -> Splits:
    """Split ``data``: an official test split is kept as is; otherwise ``test_fraction`` of the
    examples become the test set. ``val_fraction`` of what remains becomes the validation set."""
    stratify = data.task == "classification"
    if data.x_test is not None:
        rest, test = (data.x, data.y), (data.x_test, data.y_test)
    else:
        rest, test = _cut(data.x, data.y, test_fraction, seed, stratify, "data.test_fraction")
    train, val = _cut(*rest, val_fraction, (seed + 1) % 2**32, stratify, "data.val_fraction")
    return Splits(train, val, test)

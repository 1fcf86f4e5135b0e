"""Seeded train/validation/test splits (stratified for classification)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import train_test_split

from trainlab.data.datasets import Dataset


@dataclass
class Splits:
    """Arrays per split; ``val``/``test`` are None when their fraction is 0."""

    train: tuple[np.ndarray, np.ndarray]
    val: tuple[np.ndarray, np.ndarray] | None
    test: tuple[np.ndarray, np.ndarray] | None


def _cut(x, y, fraction: float, seed: int, stratify: bool):
    if fraction <= 0:
        return (x, y), None
    labels = y if stratify and np.bincount(y).min() >= 2 else None
    x_a, x_b, y_a, y_b = train_test_split(x, y, test_size=fraction, random_state=seed, stratify=labels)
    return (x_a, y_a), (x_b, y_b)


def split_dataset(data: Dataset, val_fraction: float, test_fraction: float, seed: int) -> Splits:
    """Split ``data``: an official test split is kept as is; otherwise ``test_fraction`` of the
    examples become the test set. ``val_fraction`` of what remains becomes the validation set."""
    stratify = data.task == "classification"
    if data.x_test is not None:
        rest, test = (data.x, data.y), (data.x_test, data.y_test)
    else:
        rest, test = _cut(data.x, data.y, test_fraction, seed, stratify)
    train, val = _cut(*rest, val_fraction, seed + 1, stratify)
    return Splits(train, val, test)

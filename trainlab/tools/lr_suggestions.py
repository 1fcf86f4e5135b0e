"""The LR finder's suggestion rules: pure functions of the curve, one signature.

Apart from :mod:`trainlab.tools.lr_find` (which imports torch) so that the command line can offer
the rule names (``trainlab lr-find --rule``) without importing torch.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np


def _usable(lrs: np.ndarray, smoothed: np.ndarray) -> np.ndarray:
    """Indices of finite points, without the first 10 % (the average is still settling there)."""
    index = np.flatnonzero(np.isfinite(smoothed))
    return index[index >= max(1, len(lrs) // 10)]


def suggest_steepest(lrs: np.ndarray, smoothed: np.ndarray) -> float | None:
    """The rate of steepest descent: arg min_i d s / d log η, by central differences over the usable
    points up to the minimum of s (the last point before the blow-up is left out)."""
    index = _usable(lrs, smoothed)
    if len(index) < 3:
        return None
    index = index[: int(np.argmin(smoothed[index])) + 1]
    index = index[index < len(lrs) - 1]
    if len(index) < 3:
        return None
    slope = np.gradient(smoothed[index], np.log(lrs[index]))
    return float(lrs[index[int(np.argmin(slope[1:-1])) + 1]])


def suggest_minimum(lrs: np.ndarray, smoothed: np.ndarray) -> float | None:
    """One tenth of the rate where the smoothed loss is smallest: η_min / 10."""
    index = _usable(lrs, smoothed)
    if len(index) == 0:
        return None
    return float(lrs[index[int(np.argmin(smoothed[index]))]] / 10)


SUGGESTIONS: dict[str, Callable[[np.ndarray, np.ndarray], float | None]] = {
    "minimum": suggest_minimum, "steepest": suggest_steepest}
LABELS = {"minimum": "minimum / 10", "steepest": "steepest descent"}

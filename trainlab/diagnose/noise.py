"""How large an effect must be before the doctor reports it: the noise of a run's recorded estimates.

A validation loss or accuracy is an estimate from ``n`` examples, and an epoch's value also moves
with the minibatch order, dropout and float rounding. A finding that rests on a difference between
such numbers is reported only when the difference exceeds ``NOISE_FACTOR`` times its noise; the
ratio is the finding's :class:`~trainlab.diagnose.findings.Confidence`.

>>> round(binomial_se(0.1, 100), 3)          # √(0.1·0.9/100)
0.03
>>> round(binomial_se(0.0, 12), 3)           # an error of 0 is known to about one example in 12
0.08
>>> round(curve_scatter([1.0, 0.9, 0.8, 0.7, 0.6]), 12)  # a straight line has no scatter
0.0
"""
from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

# An effect must exceed 3× its noise: for Gaussian noise a one-sided 3σ excursion happens 0.13 % of
# the time, so a dozen rules on a dozen curves still raise a false alarm in under 2 % of healthy runs.
NOISE_FACTOR = 3.0
# Below 20 validation examples one example moves the validation error by more than 5 points, the
# bias/variance rule's threshold (seed 004): no judgement about generalization is possible.
MIN_VAL_EXAMPLES = 20
# The median of |z| for a standard normal z: median absolute deviation → standard deviation.
_MAD_TO_SD = 0.6745
# The standard deviation of per-example losses relative to their mean: per-example cross-entropies
# are roughly exponential (sd = mean); squared errors of Gaussian residuals are σ²·χ²₁ (sd = √2·mean).
_LOSS_SPREAD = {"classification": 1.0, "regression": math.sqrt(2.0)}


def binomial_se(p: float, n: int) -> float:
    """Standard error of an error rate or accuracy ``p`` measured on ``n`` examples, √(p(1−p)/n), with
    ``p`` held at least one example (1/n) away from 0 and 1: a measured 0 % says only that the rate
    is below about 1/n (∞ when there are no examples)."""
    if n <= 0:
        return math.inf
    floor = min(1.0 / n, 0.5)
    p = min(max(p, floor), 1.0 - floor)
    return math.sqrt(p * (1.0 - p) / n)


def loss_se(mean_loss: float, n: int, task: str = "classification") -> float:
    """Standard error of a mean loss over ``n`` examples, sd/√n, with the per-example sd taken from
    the mean itself (``_LOSS_SPREAD``); only the mean is recorded (∞ without examples)."""
    if n <= 0 or not math.isfinite(mean_loss):
        return math.inf
    return _LOSS_SPREAD.get(task, 1.0) * abs(mean_loss) / math.sqrt(n)


def curve_scatter(values: Sequence[float]) -> float:
    """The epoch-to-epoch noise σ of a per-epoch curve, robust to its trend and to a few outliers:
    for independent noise of sd σ the second difference x[i−1] − 2x[i] + x[i+1] has sd √6·σ and a
    straight-line trend cancels, so σ ≈ median |second difference| / (0.6745·√6). 0 for fewer than 3
    finite values."""
    finite = [v for v in values if math.isfinite(v)]
    if len(finite) < 3:
        return 0.0
    second = [abs(a - 2 * b + c) for a, b, c in zip(finite, finite[1:], finite[2:])]
    return statistics.median(second) / (_MAD_TO_SD * math.sqrt(6.0))


def difference_noise(values: Sequence[float]) -> float:
    """The noise of a difference between two epochs of a curve: √2 × its scatter."""
    return math.sqrt(2.0) * curve_scatter(values)

"""Labs C22, C23 and C25 (samplers, batch modes, learning-rate schedules), asserted on robust quantities
over the quick variant's 3 seeds.

Each lab runs every arm once per seed and judges per-seed paired contrasts by the 95 % bootstrap
interval of their median (with 3 seeds: [min, max]). The tests assert effects that hold in every seed
with a margin, or medians, measured under the AVX-512, AVX2 and default ATen kernels (one thread); no
wall-clock ordering is asserted. A claim that does not hold in quick mode is an xfail with its numbers.
"""
from __future__ import annotations

import functools
import statistics

import pytest

from trainlab.labs import LabResult, get_lab


@functools.cache
def quick(lab_id: str) -> LabResult:
    return get_lab(lab_id).run(True, None)


def full(lab_id: str) -> LabResult:
    return get_lab(lab_id).run(False, None)


def values(result: LabResult, prefix: str) -> list[float]:
    return list(result.criterion(prefix).values)


def _c22_robust(result: LabResult) -> None:
    # at an equal number of updates, online's training loss is above the balanced mini-batches' by 12–14
    # standard errors of the paired difference in every seed (0.27 vs 0.08); 5 leaves a wide margin
    assert min(values(result, "balanced mini-batches vs online")) >= 5.0
    # hard examples reach the training loss 0.05 sooner in every seed (saved 3, 3, 4 epochs)
    assert min(values(result, "hard_examples: epochs saved")) >= 1.0
    assert statistics.median(values(result, "hard_examples: epochs saved")) >= 2.0


def test_c22_balanced_minibatches_beat_online_and_hard_examples_speed_learning():
    result = quick("C22")
    _c22_robust(result)
    assert result.verdict == "reproduced"


def _c23_robust(result: LabResult) -> None:
    assert result.value("cosine of the two training halves' gradients at init (median over seeds)") > 0.95  # 0.986
    # full-batch epochs / online epochs: 15.0, 17.7, 13.3; / mini-batch epochs: 7.5, 6.6, 6.6 (claim ≥ 2)
    assert min(values(result, "online: full batch's epochs")) >= 4.0
    assert min(values(result, "minibatch: full batch's epochs")) >= 4.0


def test_c23_online_and_minibatch_need_fewer_epochs_than_full_batch():
    result = quick("C23")
    _c23_robust(result)
    assert result.verdict == "reproduced"


def _c25_robust(result: LabResult) -> None:
    # at one shared η₀ = 0.1, 1cycle (peak 10·η₀) saves 8 epochs against the constant rate (median);
    # Darken–Moody, whose rate only falls from η₀, loses 8 (it misses the 20-epoch budget)
    assert result.value("shared η₀ = 0.1: epochs saved by one_cycle against constant (median)") >= 3
    assert result.value("shared η₀ = 0.1: epochs saved by darken_moody against constant (median)") < 0


def test_c25_schedules_at_a_shared_rate():
    _c25_robust(quick("C25"))


@pytest.mark.xfail(strict=False, reason="against the best constant rate of the grid (3 epochs) neither schedule saves "
                   "a whole epoch: 1cycle −2, 0, 0 and Darken–Moody 0, 0, 1 epochs saved in 3 seeds")
def test_c25_reproduced():
    assert quick("C25").verdict == "reproduced"


# ---- the full variants: `python -m pytest -m slow tests/test_labs_data_schedules.py` ----


@pytest.mark.slow
def test_c22_full_variant():
    result = full("C22")
    assert statistics.median(values(result, "balanced mini-batches vs online")) >= 5.0
    assert statistics.median(values(result, "hard_examples: epochs saved")) >= 2.0


@pytest.mark.slow
def test_c23_full_variant():
    _c23_robust(full("C23"))


@pytest.mark.slow
def test_c25_full_variant():
    _c25_robust(full("C25"))

"""Labs C21 (fine-tuning vs from scratch) and C26 (autoencoders as regularizers), on robust quantities.

Each lab runs every arm once per seed (quick: seeds 0, 1, 2) and judges its criteria by the 95 %
bootstrap interval of the median of per-seed paired contrasts. The tests assert what held with a margin
under the AVX-512 and the plain (``ATEN_CPU_CAPABILITY=default``) kernels, one thread, values quoted as
native / default where they differ; C26's verdicts are reported, not asserted (which options help is
what the lab measures).
"""
from __future__ import annotations

import functools
import math
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


# ---- C21: transfer learning ----


def _c21_robust(result: LabResult) -> None:
    # starting from the source CNN beats training from scratch on 100 target signals: per seed +0.037…+0.116
    # (frozen) and +0.055…+0.097 (fine-tuned) under both kernels; the medians clear 0.02 by ≥ 0.027
    assert statistics.median(values(result, "frozen extractor + new head − from scratch")) >= 0.02
    assert statistics.median(values(result, "full fine-tuning − from scratch")) >= 0.02
    # the source network learned its own task (5 classes, chance 0.2): measured 0.73 (both kernels)
    assert result.value("source network: test accuracy on digits 0–4 (median)") > 0.5
    # the frozen extractor overfits the 100 signals less than training from scratch (gap 0.35 vs 0.51)
    assert (result.value("frozen: target training accuracy − test accuracy (median; overfitting)")
            < result.value("scratch: target training accuracy − test accuracy (median; overfitting)"))


def test_c21_fine_tuning_beats_training_from_scratch():
    result = quick("C21")
    _c21_robust(result)
    for prefix in ("frozen extractor + new head − from scratch", "full fine-tuning − from scratch"):
        assert result.criterion(prefix).verdict == "reproduced"


@pytest.mark.slow
def test_c21_full_variant():
    _c21_robust(full("C21"))


# ---- C26: autoencoders as regularizers ----


def _c26_robust(result: LabResult) -> None:
    # the autoencoder learned the inputs: validation MSE of z-scored inputs (variance ≈ 1) measured 0.102 (both kernels)
    assert result.value("autoencoder: validation reconstruction MSE of the z-scored inputs (median)") < 0.5
    for arm in ("plain", "codes", "reconstructions", "joint"):
        # 100 labels of MNIST-1D: every arm is well above chance (0.1); medians measured 0.225–0.231 (both kernels)
        assert result.value(f"{arm}: test accuracy (median)") > 0.15
    for criterion in result.checks:
        assert len(criterion.values) == len(result.seeds) and all(math.isfinite(v) for v in criterion.values)


def test_c26_three_options_against_plain_training():
    _c26_robust(quick("C26"))


@pytest.mark.slow
def test_c26_full_variant():
    _c26_robust(full("C26"))

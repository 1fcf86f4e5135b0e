"""The experiment-tools labs (C15 snapshot ensembles, C16 LR range test, C20 MC dropout, C24 random vs
grid search), asserted on robust quantities over the quick variant's 3 seeds.

Each lab runs every arm once per seed and judges its criteria by the 95 % bootstrap interval of the
median of per-seed paired contrasts (with 3 seeds: [min, max]). The tests assert effects that hold in
every seed with a margin, or medians, measured under the AVX-512, AVX2 and default ATen kernels (one
thread; values quoted as native / avx2 / default where they differ); a claim that does not hold in quick
mode is an xfail with its numbers, and its robust partial facts are asserted separately.
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


# ---- C15: snapshot ensembles ----


def _c15_robust(result: LabResult) -> None:
    # MNIST-1D: averaging the 3 snapshots' predictions reduces the members' mean error by 8–12 points in every
    # seed (measured −0.118, −0.079, −0.111); a 3-point margin is 30 test signals per seed.
    assert max(values(result, "MNIST-1D: ensemble error − mean member")) <= -0.03
    # digits: the members agree more (3–4 % disagreement); median −0.004, never worse than +1 digit of 360
    assert statistics.median(values(result, "digits: ensemble error − mean member")) <= 0.0
    for problem in ("digits", "MNIST-1D"):
        # the ensemble's NLL is at most the mean member's (Jensen's inequality: exact, up to rounding)
        assert result.value(f"{problem}: ensemble NLL − mean member's NLL (median)") <= 1e-6


def test_c15_ensemble_reduces_the_members_mean_error():
    _c15_robust(quick("C15"))


@pytest.mark.xfail(strict=False, reason="with the notes' cycles of 1, 2, 4 epochs the early snapshots are far weaker: "
                   "the ensemble is behind the last snapshot (MNIST-1D +0.007…+0.015, digits 0…+0.008 in 3 seeds)")
def test_c15_reproduced():
    assert quick("C15").verdict == "reproduced"


@pytest.mark.slow
def test_c15_full_variant():
    _c15_robust(full("C15"))


# ---- C16: LR range test ----


def _c16_robust(result: LabResult) -> None:
    # per seed, the worst of 4 cases (moons/digits × SGD/Adam): the sweep's loss falls (s_min/s_0 measured
    # 0.85–0.90) and then blows up (s_last/s_min ≥ 4 is the library's stop rule; measured 4.1–6.2)
    assert statistics.median(values(result, "the sweep's loss falls")) < 1.0
    assert statistics.median(values(result, "then blows up")) >= 4.0
    # η_min/10 trains to ≤ L₀/2 (worst case measured 0.24–0.39 L₀); past the minimum the best case is
    # 0.69–1.03 L₀ (a diverged run scores 10 L₀). Medians: margins 0.11 and 0.19 L₀.
    assert statistics.median(values(result, "the rate picked before the minimum")) <= 0.5
    assert statistics.median(values(result, "a rate past the minimum")) >= 0.5
    # paired per case: the rate past the minimum ends worse than the picked one in the median seed
    for case in ("moons, SGD", "moons, Adam", "digits, SGD", "digits, Adam"):
        assert (result.value(f"{case}: final loss / L₀ past the minimum (median)")
                > result.value(f"{case}: final loss / L₀ at the picked rate (median)"))


def test_c16_range_test_shape_and_picked_rate():
    _c16_robust(quick("C16"))


@pytest.mark.slow
def test_c16_full_variant():
    _c16_robust(full("C16"))


# ---- C20: MC dropout ----


def test_c20_predictions_vary_more_on_wrong_examples():
    result = quick("C20")
    # AUC of the share of passes predicting another class, wrong vs right: 0.745–0.767 in 3 seeds (chance 0.5)
    assert min(values(result, "AUC of the variation of the predicted class")) >= 0.65


@pytest.mark.xfail(strict=False, reason="σ of the predicted class's probability is not larger on wrong predictions: "
                   "AUC 0.40–0.49 in 3 seeds, against 0.6")
def test_c20_reproduced():
    assert quick("C20").verdict == "reproduced"


@pytest.mark.slow
def test_c20_full_variant():
    assert statistics.median(values(full("C20"), "AUC of the variation of the predicted class")) >= 0.65


# ---- C24: random vs grid search ----


def test_c24_random_search_beats_a_log_grid_with_unequal_importance():
    result = quick("C24")
    # the grid tries 3 values of α in 9 trials, random search 9 (exact, by construction)
    assert result.value("log grid 3×3: distinct values of α in 9 trials") == 3
    assert result.value("log-scale random: distinct values of α in 9 trials") == 9
    # best val loss grid / random: 2.08, 1.97, 7.14 (each seed's α range is shifted at random); 1.3 leaves 0.67
    assert min(values(result, "best val loss of the 3 × 3 log grid")) >= 1.3
    assert result.verdict == "reproduced"


@pytest.mark.slow
def test_c24_full_variant():
    result = full("C24")
    assert statistics.median(values(result, "best val loss of the 3 × 3 log grid")) >= 1.3
    assert result.verdict == "reproduced"

"""The experiment-tools labs (C15 snapshot ensembles, C16 LR finder, C20 MC dropout, C24 log-scale
search), asserted on what each measured.

Every lab fixes its seeds (weights, data, splits, dropout masks, search draws), so the numbers repeat
run to run on the same torch build; the bounds below leave room for another build's rounding and
are justified beside each assertion with the measured value. Three of the claims hold only in part
here; their tests assert the part that holds and the part that does not, and say so.
"""
from __future__ import annotations

import math

import pytest

from trainlab.labs import LabResult, get_lab


def quick(lab_id: str) -> LabResult:
    return get_lab(lab_id).run(True, None)


def full(lab_id: str) -> LabResult:
    return get_lab(lab_id).run(False, None)


def fraction(text: str) -> tuple[int, int]:
    """"3 / 5" → (3, 5)."""
    done, total = (int(v) for v in str(text).split(" / "))
    return done, total


# ---- C15: snapshot ensembles ----


def _c15_robust(result: LabResult, seeds: range) -> None:
    for problem in ("digits", "MNIST-1D"):
        for seed in seeds:
            tag = f"{problem}, seed {seed}"
            # never worse than the average member (empirical; held in every run measured)
            assert result.value(f"{tag}: ensemble's test error") <= result.value(f"{tag}: mean member's test error")
            best, ensemble = (float(v) for v in result.value(f"{tag}: best member's / ensemble's test NLL").split(" / "))
            assert ensemble < 1.1 * best  # the ensemble's NLL is never far above the best member's
    assert result.checks[-1].passed  # ensemble ≤ mean member on error, and on NLL by Jensen's inequality


def test_c15_snapshot_ensemble_beats_its_members_on_mnist1d_but_only_ties_them_on_digits():
    result = quick("C15")
    _c15_robust(result, range(2))
    # MNIST-1D: the ensemble beats the best member, 0.331 vs 0.336 and 0.314 vs 0.335 (1000 test signals:
    # 5 and 21 signals); the members disagree on ≈ 19 % of the test set.
    assert result.value("MNIST-1D: seeds where the ensemble beats every member") == "2 / 2"
    for seed in (0, 1):
        assert result.value(f"MNIST-1D, seed {seed}: members' pairwise disagreement") > 0.1
    # Not reproduced on digits: the members agree on all but ≈ 0.2 % of the 360 test digits (measured
    # 0.0017, 0.0022), so the ensemble ties the best member (0.0278 = 0.0278) or lies between (seed 1).
    assert result.value("digits: seeds where the ensemble beats every member") == "0 / 2"
    for seed in (0, 1):
        assert result.value(f"digits, seed {seed}: members' pairwise disagreement") < 0.01
    assert [c.passed for c in result.checks] == [False, True, True]
    assert result.verdict == "not reproduced"


@pytest.mark.slow
def test_c15_full_variant():
    result = full("C15")
    _c15_robust(result, range(5))
    # Measured: MNIST-1D 4 / 5 seeds (seed 2: 0.340 vs the best member's 0.332), digits 0 / 5.
    assert fraction(result.value("MNIST-1D: seeds where the ensemble beats every member"))[0] >= 3
    assert result.value("digits: seeds where the ensemble beats every member") == "0 / 5"
    assert result.verdict == "not reproduced"


# ---- C16: LR finder ----

C16_CASES = ("moons, SGD", "moons, Adam", "digits, SGD", "digits, Adam")


def test_c16_suggestion_trains_but_ten_times_it_diverges_only_on_digits():
    result = quick("C16")
    for case in C16_CASES:
        tag = f"{case}, seed 0"
        start = result.value(f"{tag}: L₀ (untrained training loss)")
        assert result.value(f"{tag}: suggestion: outcome") == "trains well"
        # ≤ L₀/2 is the lab's criterion; measured 0.10–0.39 L₀ on moons, < 0.01 L₀ on digits
        assert result.value(f"{tag}: suggestion: final training loss") <= 0.5 * start
        assert result.value(f"{tag}: 10× blow-up: outcome") == "diverges"  # NaN, or 2.8–6650 × L₀
    # Not reproduced in general: 10× the suggestion diverges on digits (NaN with SGD, 2.7 L₀ with Adam),
    # while on moons it still trains (0.17 and 0.15 against L₀ = 0.67).
    for case in ("digits, SGD", "digits, Adam"):
        assert result.value(f"{case}, seed 0: 10× suggestion: outcome") == "diverges"
    for case in ("moons, SGD", "moons, Adam"):
        assert result.value(f"{case}, seed 0: 10× suggestion: outcome") == "trains well"
    assert result.value("cases where the 10× suggestion diverges") == "2 / 4"
    assert [c.passed for c in result.checks] == [True, False]
    assert result.verdict == "not reproduced"


@pytest.mark.slow
def test_c16_full_variant():
    result = full("C16")
    assert result.value("cases where the suggestion trains") == "12 / 12"
    assert result.value("cases where the 10× blow-up diverges") == "12 / 12"
    diverged, total = fraction(result.value("cases where the 10× suggestion diverges"))
    # measured 7 of 12: all 6 on digits, 1 of 6 on moons (Adam, seed 1); the claim's second half holds in part
    assert 0 < diverged < total
    assert result.verdict == "not reproduced"


# ---- C20: MC dropout ----


def test_c20_mc_spread_grows_away_from_the_data_for_relu_not_for_tanh():
    result = quick("C20")
    # ReLU: far σ 0.227 vs near 0.091, 2.48×; the lab's bar is 1.5×
    assert result.value("relu, seed 0: far / near") > 1.5
    # Not reproduced for tanh: 0.119 vs 0.114, 1.04× (saturated units give a flat spread far out)
    assert result.value("tanh, seed 0: far / near") < 1.2
    assert [c.passed for c in result.checks] == [True, False]
    assert result.verdict == "not reproduced"


@pytest.mark.slow
def test_c20_full_variant():
    result = full("C20")
    assert result.value("relu: smallest far / near over seeds") > 1.5  # measured 2.48–3.28 over seeds 0–4
    for seed in range(5):  # not reproduced for tanh: measured 1.04–1.07
        assert result.value(f"tanh, seed {seed}: far / near") < 1.2
    assert result.verdict == "not reproduced"


# ---- C24: log-scale random search ----


def test_c24_log_scale_random_search_beats_the_uniform_grid():
    result = quick("C24")
    for n in (2, 3, 5, 9):
        # the grid's best is its point 1e-4 (val loss 2.28) at every n ≤ 9; log-scale searches reach 0.19–0.36
        grid, log = (result.value(f"n = {n}: uniform grid's best val loss"),
                     result.value(f"n = {n}: log-scale random search, median best val loss"))
        assert log < 0.5 * grid
        assert result.value(f"n = {n}: share of log-scale searches better than the grid") == 1.0  # 4 of 4
    assert result.value("trials until good: log-scale random search (median)") <= 9  # measured 5.5
    assert result.value("trials until good: uniform grid (smallest grid that has it)") == math.inf
    assert result.verdict == "reproduced"


@pytest.mark.slow
def test_c24_full_variant():
    result = full("C24")
    for n in (2, 3, 5, 9, 17):
        assert (result.value(f"n = {n}: log-scale random search, median best val loss")
                < result.value(f"n = {n}: uniform grid's best val loss"))
    assert result.value("trials until good: uniform grid (smallest grid that has it)") == math.inf
    assert result.verdict == "reproduced"

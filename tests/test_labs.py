"""The labs: each lecture claim asserted on its lab's quick variant, on quantities that hold on any CPU.

Each lab runs every arm over seeds 0, 1, 2 (C17: 0–4) and judges its criteria by the median's 95 %
interval. Float sums differ between CPU kernel sets (AVX-512, AVX2, plain; ATEN_CPU_CAPABILITY), so
the tests assert medians, intervals and contrasts that hold in every seed, with margins stated
beside the values measured under the three kernels; never one chaotic seed's outcome.
"""
from __future__ import annotations

import functools
import html
import json
import math
import statistics

import pytest
import torch
from torch import nn

from trainlab.cli import main
from trainlab.diagnose.forward_stats import activation_statistics
from trainlab.errors import TrainlabError
from trainlab.labs import Evidence, LabResult, all_labs, get_lab, run_all
from trainlab.labs.claims.c01_small_init import NOTES_STD as C1_NOTES
from trainlab.labs.claims.c02_large_init import NOTES_STD as C2_NOTES
from trainlab.labs.claims.c05_matrix_product import PRODUCTS, SIZE, products


@functools.cache
def quick(lab_id: str) -> LabResult:
    """The lab's quick variant, run once per test session."""
    return get_lab(lab_id).run(True, None)


def values(result: LabResult, prefix: str) -> list[float]:
    """The finite per-seed values of the criterion whose text starts with ``prefix``."""
    criterion = result.criterion(prefix)
    assert isinstance(criterion, Evidence)
    return criterion.scored


# ---- forward_stats, the library function the initialization labs stand on ----


def test_activation_statistics_measures_each_layer_by_its_definition():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(inplace=True), nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 2))
    with torch.no_grad():
        model[0].bias[:] = torch.tensor([-100.0, 0.0, 0.0, 0.0])  # unit 1 is ≤ 0 on every input: 1 of 4 dead
        model[2].weight.mul_(1000)  # tanh far into saturation
    model.train()
    x = torch.randn(256, 3)
    stats = activation_statistics(model, x, keep_values=True)
    assert [(s.layer, s.activation) for s in stats] == [(1, "relu"), (2, "tanh"), (3, "")]
    z1 = model[0](x)  # recomputed by hand: pre-activation and activation of layer 1
    assert stats[0].pre_std == pytest.approx(z1.std(correction=0).item(), rel=1e-5)
    assert stats[0].std == pytest.approx(z1.clamp_min(0).std(correction=0).item(), rel=1e-5)
    assert stats[0].dead == 0.25 and math.isnan(stats[0].saturated)
    assert stats[1].saturated == pytest.approx((stats[1].values.abs() > 0.99).float().mean().item())
    assert stats[1].saturated > 0.9 and math.isnan(stats[1].dead)
    assert math.isnan(stats[2].saturated) and math.isnan(stats[2].dead)
    assert torch.equal(stats[2].values, model(x).detach())  # the output layer: its own output
    assert model.training  # mode restored
    assert not any(m._forward_hooks for m in model.modules())  # hooks removed


# ---- one test per lab: the claim, on the quick variant's numbers ----


def test_c1_small_init_std_matches_the_notes_within_10_percent():
    result = quick("C1")
    for layer in range(1, 5):  # LECTURES.md's 10 %; largest per-seed deviation measured 1.7 % (all three kernels)
        assert max(values(result, f"layer {layer}:")) <= 0.10
        assert result.value(f"layer {layer} std (median over seeds)") == pytest.approx(C1_NOTES[layer - 1], rel=0.10)
    assert max(values(result, "layer 10: std")) < 1e-6  # the notes print 0.000000; measured 2.98e-07–3.01e-07
    assert result.verdict == "reproduced"


def test_c2_large_init_saturates_at_std_098():
    result = quick("C2")
    assert max(values(result, "every layer's std")) <= 0.01  # the notes' 1 %; measured ≤ 3.0e-4 in every seed
    assert min(values(result, "units saturated")) > 0.5  # measured 0.903–0.904: 0.5 is far below
    for layer in range(1, 11):
        assert result.value(f"layer {layer} std (median over seeds)") == pytest.approx(C2_NOTES[layer - 1], rel=0.01)
    assert result.verdict == "reproduced"


def test_c3_xavier_keeps_tanh_spread():
    result = quick("C3")
    assert min(values(result, "Xavier: std ratio")) > 0.1  # measured 0.362–0.365 in every seed
    assert max(values(result, "Xavier: largest fraction")) < 0.05  # measured 0.81–0.84 %
    assert result.value("N(0, 0.01²): std layer 10 / layer 1 (median)") < 1e-5  # measured 1.4e-06: collapse
    assert result.value("N(0, 1): largest fraction |h| > 0.99 over layers (median)") > 0.5  # measured 91 %
    assert result.verdict == "reproduced"


def test_c4_relu_xavier_halves_variance_he_keeps_it():
    result = quick("C4")
    # |ratio / notes − 1| per seed measured ≤ 0.026 for both (over 10 seeds the ratios ranged 0.495–0.513
    # and 0.991–1.026): the 10 % tolerance is > 3× that spread
    assert max(values(result, "Xavier: |variance ratio")) <= 0.10
    assert max(values(result, "He: |variance ratio")) <= 0.10
    assert result.value("Xavier: variance ratio per layer (median over seeds)") == pytest.approx(0.5, rel=0.10)
    assert result.value("He: variance ratio per layer (median over seeds)") == pytest.approx(1.0, rel=0.10)
    xavier_10, xavier_1 = (result.value(f"Xavier: layer {k} std (median over seeds)") for k in (10, 1))
    assert xavier_10 < 0.1 * xavier_1  # 2^-4.5 ≈ 0.044
    assert result.verdict == "reproduced"


def test_c5_growth_rate_is_the_lyapunov_exponent_and_the_notes_draw_is_typical():
    result = quick("C5")
    # per seed (1000 products) |rate/λ₁ − 1| measured 0.0020–0.0036; its standard error is ≈ 0.0023
    assert max(values(result, "|growth rate per factor")) <= 0.01
    # the notes' 1.31e29 sits near the 10 % quantile (measured 0.096–0.129 per seed); 2.5 % would be the tail
    assert min(values(result, "the notes' 1.31e29")) >= 0.025
    assert 1e28 <= result.value("median of max|entry| (all products)") <= 1e33  # measured 8.3e30
    assert result.value("fraction of products in [1e20, 1e35]") >= 0.9  # measured 99.8 %
    assert result.verdict == "reproduced"


def test_c5_renormalised_products_equal_the_plain_product():
    generator = torch.Generator().manual_seed(0)  # products(…, 0) draws the same stream
    m = torch.randn(50, SIZE, SIZE, generator=generator, dtype=torch.float64)
    for _ in range(PRODUCTS):
        m = m @ torch.randn(50, SIZE, SIZE, generator=generator, dtype=torch.float64)
    direct = m.abs().amax(dim=(1, 2)).log10()
    assert torch.allclose(products(50)[:, -1], direct, atol=1e-9)  # float64 rounding over 100 products


def test_c7_zero_init_units_stay_identical():
    result = quick("C7")
    assert max(values(result, "zeros: largest spread")) < 1e-6  # measured exactly 0 in every seed
    assert min(values(result, "zeros: smallest mean")) > 0.1  # they did move: measured 0.82–1.34
    assert min(values(result, "he_normal: smallest spread")) > 0.1  # measured 1.03–1.31
    assert result.value("zeros + tanh: largest |W| of the hidden layers after training (largest over seeds)") == 0
    assert result.verdict == "reproduced"


def test_c10_l2_reaches_ridge_and_only_l1_gives_exact_zeros():
    result = quick("C10")
    assert max(values(result, "L2: largest relative distance")) < 1e-5  # float32 rounding: measured ≤ 1.0e-07
    assert result.value("L2 λ=0.15: same distance with α = λ (scaling ignored)") > 0.05  # measured 0.15
    # at λ = 0.15 ≥ λ* the lasso optimum zeroes 4–5 of the 5 irrelevant inputs (theory: each with
    # probability ≈ 0.96); measured 5 of 8 in every seed, L2 none
    assert min(values(result, "λ=0.15 (≥ λ*)")) >= 1 / 8
    assert result.value("L2 λ=0.15: fraction of weights exactly 0 (median)") == 0
    assert result.value("L1 (l1, subgradient) λ=0.15: fraction of weights exactly 0 (median)") == 0
    assert result.value("L1 (l1_proximal) λ=0.15: fraction of weights exactly 0 (median)") == result.value(
        "lasso optimum (float64 coordinate descent) λ=0.15: fraction of weights 0 (median)")  # the same zeros
    assert max(values(result, "L1: largest lasso optimality")) < 1e-4  # measured ≤ 2.1e-06
    assert result.verdict == "reproduced"


def test_c13_restore_best_weights_ends_on_the_best_epoch():
    result = quick("C13")
    for scenario in ("stops early", "runs all epochs"):
        equal = values(result, f"{scenario}: share")
        assert len(equal) >= 2 and min(equal) == 1.0  # exact: every tensor of every tested seed (3 of 3 measured)
        assert result.value(f"{scenario}: largest |final − best-epoch| weight over seeds") == 0
        assert result.value(f"{scenario}: smallest |epoch best+1 − epoch best| weight over seeds "
                            "(training moved on)") > 0  # measured 0.058
    assert result.verdict == "reproduced"


def test_c17_high_rates_kill_relus_and_leaky_relus_keep_their_gradient():
    result = quick("C17")
    # lr 0.3 killed no unit in 10 of 10 seeds under every kernel (audit); the median is exactly 0
    assert result.value("ReLU, lr 0.3: dead fraction, median over seeds") == 0
    # the paired high − low contrast over seeds 0–4: medians 0.155 (AVX-512), 0.115 (AVX2), 0.175 (plain),
    # smallest seeds 0.07, 0.09, 0.115; at most one of the five diverged per kernel (audit: the same)
    contrast = values(result, "ReLU: dead fraction at lr 1")
    assert len(contrast) >= 3 and statistics.median(contrast) >= 0.05
    # a dead ReLU gets zero gradient from the whole training set: the shares agree
    assert (result.value("ReLU, lr 1: fraction with zero gradient on the training set, median")
            >= result.value("ReLU, lr 1: dead fraction, median over seeds") > 0)
    # Leaky: units in a coma (≤ 0 on every example) still get gradient α·δ, so none has zero gradient
    leaky = values(result, "Leaky ReLU α=0.01: largest fraction")
    assert len(leaky) == 5 and max(leaky) == 0  # lr 0.3 always trains, so every seed has a value


@pytest.mark.xfail(strict=False, reason="the interval's lower end is the smallest of 5 chaotic seeds (measured "
                                        "0.07 AVX-512, 0.09 AVX2, 0.115 plain; the audit saw 0.065), near the 5 % "
                                        "threshold: one seed's outcome")
def test_c17_quick_verdict():
    assert quick("C17").verdict == "reproduced"


def test_c19_bias_variance_table_exactly_as_in_the_notes():
    result = quick("C19")
    assert [result.value(f"{case}: diagnosis") for case in
            ("train 1 % / val 11 %", "train 15 % / val 16 %", "train 15 % / val 30 %", "train 0.5 % / val 1 %")] == [
        "high variance", "high bias", "high bias and high variance", "fine"]
    assert result.value("train 15 % / val 30 %: generalization gap (points)") == 15.0
    assert result.verdict == "reproduced"


# ---- the framework and the command line ----


def test_every_lab_is_described_and_found_by_id():
    labs = all_labs()
    assert [lab.id for lab in labs][:3] == ["C1", "C2", "C3"]
    assert [lab.number for lab in labs] == sorted(lab.number for lab in labs)
    for lab in labs:
        assert lab.name and lab.claim and lab.measures and lab.source.endswith(".txt")
        assert get_lab(lab.id.lower()) is lab
    with pytest.raises(TrainlabError, match="lab 'C99' does not exist; did you mean 'C9'"):
        get_lab("C99")


def test_lab_list_and_quick_lab_through_the_cli(tmp_path, capsys):
    assert main(["lab", "list"]) == 0
    out = capsys.readouterr().out
    assert all(lab.id in out for lab in all_labs())
    assert main(["lab", "C1", "--quick", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "layer 1 std" in out and "0.213081" in out and "verdict: reproduced" in out
    assert "95 % interval" in out and "per seed — 0:" in out and "3 seeds" in out
    page = (tmp_path / "C1" / "report.html").read_text()
    assert "<svg" in page and "0.213081" in page and "reproduced" in page
    assert (tmp_path / "C1" / "c1_layers.svg").read_text().startswith("<svg")
    saved = json.loads((tmp_path / "C1" / "result.json").read_text())
    assert saved["verdict"] == "reproduced" and saved["rows"][0]["expected"] == 0.213081
    assert saved["seeds"] == [0, 1, 2]
    first = saved["criteria"][0]
    assert len(first["values"]) == 3 and first["interval"][0] <= first["median"] <= first["interval"][1]
    assert main(["lab", "C99", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "known labs: C1" in err and "Traceback" not in err


def test_run_all_writes_one_combined_report(tmp_path):
    done = run_all(quick=True, out_dir=tmp_path, names=["C19", "C5"])
    page = (tmp_path / "labs.html").read_text()
    for lab, result in done:
        assert f'id="{lab.id}"' in page and html.escape(lab.claim) in page
        assert result.verdict in page
    assert page.count("<svg") == 3  # C19's plane, C5's distribution and growth
    summary = (tmp_path / "summary.md").read_text()
    assert "| C19 |" in summary and "**reproduced**" in summary
    assert "95 % interval" in summary  # C5's criteria with their intervals; C19's exact checks without


# ---- the full variants (minutes in all): `python -m pytest -m slow tests/test_labs.py` ----


@pytest.mark.slow
@pytest.mark.parametrize("lab_id", ["C1", "C2", "C3", "C4", "C5", "C7", "C10", "C13", "C19"])
def test_full_variant_reproduces(lab_id, tmp_path):
    result = get_lab(lab_id).run(False, tmp_path)
    assert result.verdict == "reproduced", [c.summary() for c in result.checks if c.verdict != "reproduced"]


@pytest.mark.slow
def test_c10_full_the_lasso_optimum_has_almost_no_zero_at_a_small_penalty():
    result = get_lab("C10").run(False, None)
    # λ = 0.01 is far below λ* ≈ 0.144: the exact optimum keeps (almost) every weight, so the claim
    # is not judged there; GD's L1 weights have the optimum's zeros at every λ
    assert result.value("lasso optimum (float64 coordinate descent) λ=0.01: fraction of weights 0 (median)") <= 0.25
    for lam in ("0.01", "0.15", "1"):
        assert result.value(f"L2 λ={lam}: fraction of weights exactly 0 (median)") == 0
        assert result.value(f"L1 (l1_proximal) λ={lam}: fraction of weights exactly 0 (median)") == result.value(
            f"lasso optimum (float64 coordinate descent) λ={lam}: fraction of weights 0 (median)")


@pytest.mark.slow
def test_c17_full_relus_die_at_high_rates_leaky_units_keep_their_gradient():
    result = get_lab("C17").run(False, None)
    assert result.value("ReLU, lr 0.03: dead fraction, median over seeds") == 0
    contrast = values(result, "ReLU: dead fraction at lr 1")  # medians 0.15–0.22 over 10 seeds (audit, 3 kernels)
    assert len(contrast) >= 7 and statistics.median(contrast) >= 0.05
    # a coma is not death: at lr 1 Leaky units ≤ 0 on every example exist (median 0.20 measured) yet
    # none is without gradient, in any seed
    assert max(values(result, "Leaky ReLU α=0.01: largest fraction")) == 0
    assert result.value("Leaky ReLU α=0.01, lr 1: comatose fraction, median over seeds") > 0

"""The labs: each lecture claim asserted on its lab's quick variant, with the numbers it measured.

Seeds are fixed inside every lab (network draws, data, splits), so these numbers repeat run to
run on the same torch build; tolerances are the labs' own acceptance criteria, justified beside
each constant in trainlab/labs/c*.py and restated here where a test adds its own.
"""
from __future__ import annotations

import html
import json
import math

import pytest
import torch
from torch import nn

from trainlab.cli import main
from trainlab.diagnose.forward_stats import activation_statistics
from trainlab.errors import TrainlabError
from trainlab.labs import LabResult, all_labs, get_lab, run_all
from trainlab.labs.c1_small_init import NOTES_STD as C1_NOTES
from trainlab.labs.c2_large_init import NOTES_STD as C2_NOTES
from trainlab.labs.c5_matrix_product import PRODUCTS, SIZE, products


def quick(lab_id: str) -> LabResult:
    return get_lab(lab_id).run(True, None)


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
    for layer in range(1, 5):  # LECTURES.md's acceptance; measured 0.213, 0.04746, 0.01064, 0.002375
        assert result.value(f"layer {layer} std") == pytest.approx(C1_NOTES[layer - 1], rel=0.10)
    assert result.value("layer 10 std") < 1e-6  # the notes print 0.000000; measured 2.98e-07
    assert result.verdict == "reproduced"


def test_c2_large_init_saturates_at_std_098():
    result = quick("C2")
    for layer in range(1, 11):  # measured 0.9816–0.9821 over 10 seeds, so 1 % is ≥ 10× the spread
        assert result.value(f"layer {layer} std") == pytest.approx(C2_NOTES[layer - 1], rel=0.01)
        assert result.value(f"layer {layer} fraction |h| > 0.99") > 0.5  # measured ≈ 0.90
    assert result.verdict == "reproduced"


def test_c3_xavier_keeps_tanh_spread():
    result = quick("C3")
    assert result.value("Xavier: std layer 10 / layer 1") > 0.1  # measured 0.365
    assert result.value("N(0, 0.01²): std layer 10 / layer 1") < 1e-5  # measured 1.4e-06: collapse
    assert result.value("Xavier: largest fraction |h| > 0.99 over layers") < 0.05  # measured 0.8 %
    assert result.value("N(0, 1): largest fraction |h| > 0.99 over layers") > 0.5  # measured 91 %
    assert result.verdict == "reproduced"


def test_c4_relu_xavier_halves_variance_he_keeps_it():
    result = quick("C4")
    # over 10 seeds the ratios ranged 0.495–0.513 (Xavier) and 0.991–1.026 (He): 10 % is > 3× that spread
    assert result.value("Xavier: variance ratio per layer") == pytest.approx(0.5, rel=0.10)
    assert result.value("He: variance ratio per layer") == pytest.approx(1.0, rel=0.10)
    assert result.value("Xavier: layer 10 std") < 0.1 * result.value("Xavier: layer 1 std")  # 2^-4.5 ≈ 0.044
    assert result.verdict == "reproduced"


def test_c5_product_of_random_matrices_is_of_order_1e28_in_most_seeds():
    result = quick("C5")
    assert result.value("fraction of seeds in [1e20, 1e35]") >= 0.9  # measured 99.8 % of 1000 seeds
    assert 1e28 <= result.value("median of max|entry|") <= 1e33  # measured 9.4e30; the notes' draw 1.3e29
    # the growth rate agrees with the Lyapunov exponent 0.698; measured 0.7065 (max|entry| ≠ norm: +1 %)
    assert result.value("growth of ln max|entry| per factor") == pytest.approx(0.698, rel=0.03)
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
    for layer in (1, 2):
        assert result.value(f"zeros: layer {layer} spread of unit activations") < 1e-6  # measured exactly 0
        assert result.value(f"zeros: layer {layer} spread of unit weight vectors") < 1e-6
        assert result.value(f"zeros: layer {layer} mean ‖w_unit‖ after training") > 0.1  # they did move: 0.82, 1.1
        assert result.value(f"he_normal: layer {layer} spread of unit activations") > 0.1  # measured 1.38, 1.31
    assert result.value("zeros + tanh: largest |W| of the hidden layers after training") == 0
    assert result.verdict == "reproduced"


def test_c10_l2_reaches_ridge_and_only_l1_gives_exact_zeros():
    result = quick("C10")
    # float32 training; the relative distance is rounding, measured 1.1e-07
    assert result.value("L2 λ=0.1: ‖w_GD − w_ridge‖/‖w_ridge‖, α = nλ = 20") < 1e-5
    assert result.value("L2 λ=0.1: same distance with α = λ (scaling ignored)") > 0.05  # measured 0.10
    assert result.value("L1 (l1_proximal) λ=0.1: fraction of weights exactly 0") > 0  # measured 4 of 8
    assert result.value("L2 λ=0.1: fraction of weights exactly 0") == 0
    assert result.value("L1 (l1, subgradient) λ=0.1: fraction of weights exactly 0") == 0
    assert result.value("L1 (l1_proximal) λ=0.1: lasso optimality (KKT) violation") < 1e-4  # measured 8.5e-07
    assert result.verdict == "reproduced"


def test_c13_restore_best_weights_ends_on_the_best_epoch(tmp_path):
    result = get_lab("C13").run(True, tmp_path)
    for scenario in ("stops early", "runs all epochs"):
        epochs = result.value(f"{scenario}, seed 0: best val_loss epoch / last epoch")
        best, last = (int(v) for v in epochs.split(" / "))
        assert best < last  # measured 6/12 and 13/25
        assert result.value(f"{scenario}, seed 0: tensors equal to epoch {best}'s") == "6 / 6"
        assert result.value(f"{scenario}, seed 0: largest |final − best-epoch| weight") == 0
    assert result.verdict == "reproduced"


def test_c17_high_rates_kill_relus_and_leaky_relus_go_idle_too():
    result = quick("C17")
    assert result.value("ReLU, lr 0.03: dead fraction") == 0
    assert result.value("ReLU, lr 1: dead fraction") >= 0.10  # measured 19 % of the 200 hidden units
    assert result.value("ReLU, lr 3: dead fraction") == "diverged"
    # The second half does not reproduce: at lr 1 Leaky ReLU (α = 0.01) has as many units ≤ 0 on every
    # training example (measured 19.5 %) — the notes' "coma" — and α = 0.1 diverges there.
    assert result.value("Leaky ReLU α=0.01, lr 1: dead fraction") >= 0.10
    assert result.value("Leaky ReLU α=0.1, lr 1: dead fraction") == "diverged"
    assert [c.passed for c in result.checks] == [True, False, False]
    assert result.verdict == "not reproduced"


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
    page = (tmp_path / "C1" / "report.html").read_text()
    assert "<svg" in page and "0.213081" in page and "reproduced" in page
    assert (tmp_path / "C1" / "c1_layers.svg").read_text().startswith("<svg")
    saved = json.loads((tmp_path / "C1" / "result.json").read_text())
    assert saved["verdict"] == "reproduced" and saved["rows"][0]["expected"] == 0.213081
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


# ---- the full variants (minutes in all): `python -m pytest -m slow tests/test_labs.py` ----


@pytest.mark.slow
@pytest.mark.parametrize("lab_id", ["C1", "C2", "C3", "C4", "C5", "C7", "C13", "C19"])
def test_full_variant_reproduces(lab_id, tmp_path):
    result = get_lab(lab_id).run(False, tmp_path)
    assert result.verdict == "reproduced", [c.text for c in result.checks if not c.passed]


@pytest.mark.slow
def test_c10_full_l1_zeroes_nothing_at_the_smallest_penalty():
    result = get_lab("C10").run(False, None)
    for lam in ("0.01", "0.1", "1"):
        assert result.value(f"L2 λ={lam}: fraction of weights exactly 0") == 0
        assert result.value(f"L1 (l1_proximal) λ={lam}: lasso optimality (KKT) violation") < 1e-4  # ≤ 9.1e-07
    # measured 0, 4/8 and 6/8: at λ = 0.01 the lasso optimum itself has no zero, so the sweep's
    # "L1 gives exact zeros" fails there and the full variant reports the claim as not reproduced
    assert [result.value(f"L1 (l1_proximal) λ={lam}: fraction of weights exactly 0")
            for lam in ("0.01", "0.1", "1")] == [0.0, 0.5, 0.75]
    assert result.verdict == "not reproduced"


@pytest.mark.slow
def test_c17_full_relus_die_where_leaky_relus_diverge():
    result = get_lab("C17").run(False, None)
    assert result.value("ReLU, lr 0.01: dead fraction") == 0
    assert result.value("ReLU, lr 1.5: dead fraction") >= 0.4  # measured 48 %: "la mitad de las neuronas"
    for alpha in ("0.01", "0.1"):
        assert result.value(f"Leaky ReLU α={alpha}, lr 0.6: dead fraction") <= 0.01  # measured 0.17 % and 0
        assert result.value(f"Leaky ReLU α={alpha}, lr 1: dead fraction") == "diverged"  # all 3 seeds, 10 epochs
    assert result.verdict == "not reproduced"

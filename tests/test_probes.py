"""Probes: per-layer statistics on known cases, bit-identical training, the run-directory files."""
from __future__ import annotations

import csv
import itertools
import json
import math
import shutil

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from trainlab.cli import main as cli_main
from trainlab.data.batching import TensorBatches
from trainlab.diagnose.probes import (
    COLUMNS,
    Probes,
    activation_stats,
    binned_counts,
    find_layers,
    read_histograms,
    read_probes,
)
from trainlab.errors import RecipeError
from trainlab.nn.init import apply_init
from trainlab.nn.models import cnn1d, mlp
from trainlab.recipe import load_recipe
from trainlab.report.probes import probe_section
from trainlab.run import resume_run, run_recipe
from trainlab.train.checkpoint import load_checkpoint
from trainlab.train.trainer import NonFiniteLoss, Trainer

HEADER = ("step,epoch,layer,name,activation,lr,act_mean,act_std,act_saturated,act_dead,grad_norm,"
          "weight_norm,update_ratio")


def probe_once(model: nn.Module, x: torch.Tensor, y: torch.Tensor, lr: float = 0.0, steps: int = 1,
               optimizer: type = torch.optim.SGD, **kwargs) -> list[dict]:
    """Train ``model`` on (x, y) in ``steps`` full-batch steps with every step probed; the in-memory rows."""
    probes = Probes(every=1, histograms=0, **kwargs)
    trainer = Trainer(model, optimizer(model.parameters(), lr=lr), F.cross_entropy, callbacks=[probes])
    trainer.fit(TensorBatches(x, y, batch_size=len(x), shuffle=False), epochs=steps)
    return probes.rows


def by_layer(rows: list[dict], key: str, step: int = 0) -> list[float]:
    return [r[key] for r in rows if r["step"] == step]


def deep_net(activation: str, init, width: int = 500, depth: int = 10, seed: int = 0):
    """The lectures' experiment: ``depth`` layers of ``width`` units, inputs N(0, 1), 200 examples."""
    torch.manual_seed(seed)
    model = mlp((width,), 10, hidden=[width] * depth, activation=activation)
    apply_init(model, init)
    return model, torch.randn(200, width), torch.randint(0, 10, (200,))


# ---- the numbers on known cases ----


def test_tanh_with_standard_normal_weights_saturates_every_layer():
    rows = probe_once(*deep_net("tanh", "standard_normal"))
    saturated, std = by_layer(rows, "act_saturated")[:10], by_layer(rows, "act_std")[:10]
    # Lecture C2: std ≈ 0.98 everywhere. Pre-activations have std ≈ √500·0.98 ≈ 22, so
    # P(|tanh z| ≤ 0.99) = P(|z| ≤ 2.65) ≈ 0.095: ~0.905 saturated; 0.85 leaves room for sampling.
    assert all(s > 0.85 for s in saturated), saturated
    assert all(0.95 < s < 1.0 for s in std), std
    assert math.isnan(by_layer(rows, "act_saturated")[10])  # the output layer has no activation


def test_tanh_with_small_weights_collapses_layer_by_layer():
    rows = probe_once(*deep_net("tanh", {"name": "normal", "std": 0.01}))
    std = by_layer(rows, "act_std")[:10]
    # Lecture C1: 0.213, 0.0476, 0.0106 for the first layers (within 10 %), then a factor
    # 1/(0.01·√500) ≈ 4.47 per layer, as tanh is linear near 0; [4, 5] allows for the random matrices.
    np.testing.assert_allclose(std[:3], [0.213, 0.0476, 0.0106], rtol=0.1)
    factors = [a / b for a, b in itertools.pairwise(std)]
    assert all(4.0 < f < 5.0 for f in factors), factors
    assert std[9] < 1e-6


def test_sigmoid_gradients_vanish_toward_the_input():
    rows = probe_once(*deep_net("sigmoid", "default", width=100))
    grads = by_layer(rows, "grad_norm")
    # σ' ≤ 1/4 at every layer: here a factor ≈ 7 per layer, 1e-7 over ten; 1e-3 is far from the edge.
    assert grads[0] < 1e-3 * grads[9]
    assert all(a < b for a, b in itertools.pairwise(grads))
    assert math.isnan(by_layer(rows, "act_dead")[0])  # sigmoid is not a rectifier


def test_relu_layer_with_a_large_negative_bias_is_dead():
    model, x, y = deep_net("relu", "he_normal", width=50, depth=3)
    with torch.no_grad():
        model[3].bias.fill_(-100.0)  # the second hidden Linear: every pre-activation ≈ −100
    dead = by_layer(probe_once(model, x, y), "act_dead")
    assert dead[1] == 1.0
    assert dead[0] < 0.2 and math.isnan(dead[3])


def test_relu_dies_after_a_huge_learning_rate_step():
    model, x, y = deep_net("relu", "he_normal", width=50, depth=2)
    rows = probe_once(model, x, y, lr=1e3, steps=2)  # lecture C17: one giant step kills ReLU units
    assert by_layer(rows, "act_dead", step=0)[1] == 0.0
    assert by_layer(rows, "act_dead", step=1)[1] > 0.5  # 0.62 here; the doctor's threshold is 0.5


def test_dead_fraction_counts_conv_channels():
    torch.manual_seed(0)
    model = cnn1d((40,), 10, channels=25)
    with torch.no_grad():
        model[3].bias[:5] = -100.0  # five of the second convolution's 25 channels never fire
    rows = probe_once(model, torch.randn(64, 40), torch.randint(0, 10, (64,)))
    assert by_layer(rows, "act_dead")[1] == 5 / 25  # a count divided on the host: exact
    assert [r["name"] for r in rows[:4]] == ["Conv1d 1→25 k5", "Conv1d 25→25 k3", "Conv1d 25→25 k3", "Linear 125→10"]


def test_saturation_uses_the_bounds_of_each_activation():
    # sigmoid saturates below 0.01 and above 0.99; lecun_tanh beyond 0.99 · 1.7159.
    for activation, inputs, expected in [
        (nn.Sigmoid(), [-5.0, -4.0, 0.0, 4.0, 5.0], 2 / 5),  # σ(±5) = 0.0067/0.9933, σ(±4) = 0.018/0.982
        (nn.Tanh(), [-3.0, -2.0, 0.0, 2.5, 2.7], 2 / 5),  # tanh 2.65 ≈ 0.99
    ]:
        model = nn.Sequential(nn.Linear(1, 5), activation, nn.Linear(5, 2))
        with torch.no_grad():
            model[0].weight.copy_(torch.tensor(inputs).view(5, 1))
            model[0].bias.zero_()
        rows = probe_once(model, torch.ones(3, 1), torch.zeros(3, dtype=torch.long))
        assert rows[0]["act_saturated"] == expected, activation  # a count divided on the host: exact


def test_activation_stats_follow_their_formulas():
    torch.manual_seed(0)
    h = torch.randn(16, 6, 9).relu()  # (batch, channels, positions) after a ReLU
    h[:, [1, 4]] = -torch.rand(16, 2, 9)  # two channels never positive: dead
    mean, std, saturated, dead = (v.item() for v in activation_stats(h, nn.ReLU(), unit_dim=1))
    assert mean == pytest.approx(h.mean().item(), rel=1e-6)  # float32 sums in another order
    assert std == pytest.approx(h.std(correction=0).item(), rel=1e-5)  # a norm vs a variance: 10 ulp
    # Fractions computed on the device in float32: equal to the exact ratio within float32 rounding (1e-7).
    assert dead == pytest.approx(2 / 6, rel=1e-6) and math.isnan(saturated)
    t = torch.tensor([[-0.995, -0.5, 0.0, 0.991, 0.999]])
    assert activation_stats(t, nn.Tanh(), unit_dim=-1)[2].item() == pytest.approx(3 / 5, rel=1e-6)


def test_update_ratio_is_lr_times_gradient_over_weight_for_sgd():
    model, x, y = deep_net("tanh", "xavier_normal", width=30, depth=2)
    lr = 0.5
    rows = probe_once(model, x, y, lr=lr, steps=3)
    for layer in (1, 2, 3):
        series = [r for r in rows if r["layer"] == layer]
        for before, row in itertools.pairwise(series):
            # Plain SGD: W_s − W_{s−1} = −lr·g. Float32 rounding of the subtraction costs a relative
            # ~6e-8·‖W‖/‖ΔW‖ (ratios here are ≥ 1e-3): 1e-4 bounds it.
            expected = lr * row["grad_norm"] / before["weight_norm"]
            assert row["update_ratio"] == pytest.approx(expected, rel=1e-4)


def test_activations_are_measured_on_the_training_batch_not_validation():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 2))
    x, y = torch.randn(40, 4), torch.randint(0, 2, (40,))
    train = TensorBatches(x, y, batch_size=10, seed=3)
    val = TensorBatches(1000 * x, y, batch_size=40, shuffle=False)  # would change the numbers a lot
    probes = Probes(every=2, histograms=0)  # 4 steps per epoch: step 4 is armed before validation runs
    trainer = Trainer(model, torch.optim.SGD(model.parameters(), lr=0.1), F.cross_entropy, callbacks=[probes])
    start = {k: v.clone() for k, v in model.state_dict().items()}
    trainer.fit(train, val, epochs=2)
    replay = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 2))
    replay.load_state_dict(start)
    Trainer(replay, torch.optim.SGD(replay.parameters(), lr=0.1), F.cross_entropy).fit(train, epochs=1)
    first_batch = next(iter(train.epoch(1)))[0]
    with torch.no_grad():
        h = replay[1](replay[0](first_batch))
    row = next(r for r in probes.rows if r["step"] == 4 and r["layer"] == 1)
    assert row["epoch"] == 2
    assert row["act_mean"] == pytest.approx(h.mean().item(), rel=1e-6)  # float32 sums, in another order
    assert row["act_std"] == pytest.approx(h.std(correction=0).item(), rel=1e-5)  # a norm vs a variance


def test_histogram_matches_numpy():
    torch.manual_seed(0)
    x = torch.randn(1000)
    ours = binned_counts(x, x.min(), x.max(), 20)
    counts, edges = np.histogram(x.numpy(), 20)
    assert ours[:2].tolist() == pytest.approx([edges[0], edges[-1]], rel=1e-6)  # float32 of numpy's float64
    # Counts agree exactly, unless a value lies within float32 rounding of an edge.
    assert np.abs(ours[2:].numpy() * 1000 - counts).max() <= 1
    assert ours[2:].sum().item() == pytest.approx(1.0, abs=1e-6)  # 20 float32 fractions


def test_layers_pair_each_linear_with_the_activation_after_it():
    model = mlp((3,), 2, hidden=[4, 5], activation="leaky_relu", batchnorm=True, dropout=0.5)
    layers = find_layers(model)
    assert [(l.index, l.name, l.activation_name) for l in layers] == [
        (1, "Linear 3→4", "leaky_relu"), (2, "Linear 4→5", "leaky_relu"), (3, "Linear 5→2", "")]


# ---- training is unchanged ----


def test_probed_run_ends_bit_identical_to_an_unprobed_run(tiny_recipe, tmp_path):
    # Dropout draws from the global RNG: any random number drawn by the probes would show here.
    tiny_recipe["model"] = {"name": "mlp", "hidden": [16, 16], "activation": "relu", "dropout": 0.3}
    plain = run_recipe(load_recipe(tiny_recipe), tmp_path / "plain").run_dir
    probed = run_recipe(load_recipe({**tiny_recipe, "diagnose": {"every": 1, "histograms": 3}}), tmp_path / "probed")
    a, _ = load_checkpoint(plain / "checkpoints" / "epoch-0003.json")
    b, _ = load_checkpoint(probed.run_dir / "checkpoints" / "epoch-0003.json")
    assert a.keys() == b.keys()
    for key in a:  # weights, optimizer state and the RNG state itself
        assert torch.equal(a[key], b[key]), key
    assert not (plain / "probes.csv").exists()


# ---- files ----


@pytest.fixture
def probed_run(tiny_recipe, tmp_path):
    """tiny: 140 training examples in batches of 32 → 5 steps per epoch, 3 epochs, tanh MLP 2-16-2."""
    tiny_recipe["diagnose"] = {"every": 2, "histograms": 2, "bins": 10}
    return run_recipe(load_recipe(tiny_recipe), tmp_path).run_dir


def test_probes_csv_has_the_contract_columns_and_rows(probed_run):
    text = (probed_run / "probes.csv").read_text(encoding="utf-8")
    assert text.splitlines()[0] == HEADER == ",".join(COLUMNS)
    rows = read_probes(probed_run)
    assert sorted({r["step"] for r in rows}) == [0, 2, 4, 6, 8, 10, 12, 14]  # every 2nd of 15 steps
    assert all(r["epoch"] == r["step"] // 5 + 1 for r in rows)
    assert [(r["layer"], r["name"], r["activation"]) for r in rows[:2]] == [(1, "Linear 2→16", "tanh"),
                                                                          (2, "Linear 16→2", "")]
    assert all(r["lr"] == 0.01 for r in rows)
    hidden, output = rows[0], rows[1]
    assert math.isnan(hidden["act_dead"]) and all(math.isnan(output[k]) for k in COLUMNS[6:10])
    assert all(math.isfinite(r[k]) and r[k] > 0 for r in rows for k in ("grad_norm", "weight_norm", "update_ratio"))
    with open(probed_run / "probes.csv", newline="", encoding="utf-8") as f:
        raw = next(csv.DictReader(f))
    assert raw["act_dead"] == "" and raw["step"] == "0"  # NaN is an empty field
    assert load_recipe(probed_run / "recipe.yaml").diagnose.every == 2


def test_histograms_are_stored_at_the_chosen_epochs(probed_run):
    document = read_histograms(probed_run)
    assert document["bins"] == 10 and [entry["name"] for entry in document["layers"]] == ["Linear 2→16", "Linear 16→2"]
    assert [(s["step"], s["epoch"]) for s in document["snapshots"]] == [(0, 1), (10, 3)]  # 2 of 3 epochs: 1 and 3
    for snapshot in document["snapshots"]:
        hidden, output = snapshot["layers"]
        assert hidden["act_range"] == [-1.0, 1.0] and output["act_hist"] is None
        for hist in (hidden["act_hist"], hidden["grad_hist"], output["grad_hist"]):
            assert len(hist) == 10 and sum(hist) == pytest.approx(1.0, abs=1e-5)  # 7-digit rounding
        low, high = hidden["grad_range"]
        assert low == -high and high > 0  # ±max|g|


def test_short_epochs_are_each_probed_and_histograms_at_listed_epochs(tiny_recipe, tmp_path):
    tiny_recipe["diagnose"] = {"every": 20, "histograms": [2]}
    run_dir = run_recipe(load_recipe(tiny_recipe), tmp_path).run_dir
    assert sorted({r["step"] for r in read_probes(run_dir)}) == [0, 5, 10]  # epochs of 5 steps < every
    assert [s["step"] for s in read_histograms(run_dir)["snapshots"]] == [5]


def test_resume_rewrites_the_files_without_duplicates(probed_run, tmp_path):
    killed = tmp_path / "killed"
    shutil.copytree(probed_run, killed)
    # As if killed after epoch 3's rows were written but before its checkpoint, mid-way through a row:
    for path in (killed / "checkpoints").glob("epoch-0003.*"):
        path.unlink()
    with open(killed / "probes.csv", "a", encoding="utf-8") as f:
        f.write("15,4,1,Linear 2→16,ta")
    status = json.loads((killed / "run.json").read_text())
    (killed / "run.json").write_text(json.dumps({**status, "status": "running"}))
    resume_run(killed)
    assert (killed / "probes.csv").read_text() == (probed_run / "probes.csv").read_text()
    assert read_histograms(killed) == read_histograms(probed_run)


def test_failed_run_keeps_the_probes_of_its_last_epoch(tiny_recipe, tmp_path):
    tiny_recipe.update(model={"name": "mlp", "hidden": [16], "activation": "relu"}, optim={"name": "sgd", "lr": 1e10},
                       diagnose={"every": 1})
    with pytest.raises(NonFiniteLoss):
        run_recipe(load_recipe(tiny_recipe), tmp_path)
    rows = read_probes(next(tmp_path.iterdir()))
    assert sorted({r["step"] for r in rows}) == [0, 1, 2, 3, 4]  # the failed first epoch's steps
    assert rows[0]["update_ratio"] > 1e6 and not all(math.isfinite(r["grad_norm"]) for r in rows)


def test_probe_section_renders_inline_svg(probed_run, tiny_recipe, tmp_path):
    section = probe_section(probed_run)
    assert section.count("<svg") == 3 and "<script" not in section and 'href="http' not in section
    del tiny_recipe["diagnose"]
    unprobed = run_recipe(load_recipe(tiny_recipe), tmp_path / "plain").run_dir
    assert probe_section(unprobed) == ""


# ---- recipe and command line ----


def test_diagnose_section_in_the_recipe(tiny_recipe):
    assert load_recipe({**tiny_recipe, "diagnose": True}).diagnose.every > 0
    assert load_recipe({**tiny_recipe, "diagnose": False}).diagnose is None
    assert load_recipe(tiny_recipe).diagnose is None
    assert load_recipe({**tiny_recipe, "diagnose": True}, ["diagnose.every=7"]).diagnose.every == 7
    for bad, message in [({"evry": 5}, "diagnose.evry: unknown field; did you mean 'every'? Accepted: every, histograms, bins"),
                         ({"every": 0}, "diagnose.every: 0 is not valid"),
                         ({"histograms": [9]}, ("diagnose.histograms: epochs [9] lie after the last epoch; "
                                                "accepted: epochs 1 to stopping.epochs (3)")),
                         ("often", "diagnose: 'often' is not valid: accepted: true, false or a mapping")]:
        with pytest.raises(RecipeError) as caught:
            load_recipe({**tiny_recipe, "diagnose": bad})
        assert caught.value.problems[0].startswith(message), caught.value.problems


def test_cli_diagnose_flag(tiny_recipe, tmp_path, capsys):
    recipe_file = tmp_path / "tiny.yaml"
    recipe_file.write_text(json.dumps(tiny_recipe))  # JSON is YAML
    assert cli_main(["run", str(recipe_file), "--diagnose", "--quiet", "--runs-dir", str(tmp_path / "runs")]) == 0
    run_dir = next((tmp_path / "runs").iterdir())
    assert read_probes(run_dir) and load_recipe(run_dir / "recipe.yaml").diagnose is not None
    assert cli_main(["run", "--resume", str(run_dir), "--diagnose"]) == 2
    assert "--resume takes a run directory (no RECIPE, --diagnose or --track)" in capsys.readouterr().err

"""The doctor: each induced pathology is named with its evidence; healthy runs stay silent; --fix helps."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml

from trainlab.cli import main
from trainlab.diagnose.doctor import diagnose, fixed_recipe, write_fixed_recipe
from trainlab.diagnose.evidence import RunEvidence
from trainlab.diagnose.findings import Finding, Remedy, bias_variance, new_remedies
from trainlab.diagnose.rules import run_rules
from trainlab.errors import TrainlabError
from trainlab.recipe import load_recipe
from trainlab.run import run_recipe


def run(recipe: dict, tmp_path: Path) -> Path:
    """Train ``recipe`` into a fresh directory (a failed run is diagnosed too) and return its run dir."""
    runs = tmp_path / recipe.get("name", "run")
    try:
        return run_recipe(load_recipe(recipe), runs).run_dir
    except TrainlabError:
        return next(runs.iterdir())


def names(run_dir: Path, **kwargs) -> dict[str, object]:
    return {f.name: f for f in diagnose(run_dir, **kwargs)}


def moons(**sections) -> dict:
    recipe = {"seed": 0, "data": {"name": "moons", "n_samples": 400, "batch_size": 20, "preprocess": "zscore"},
              "model": {"name": "mlp", "hidden": [32, 32]}, "optim": {"name": "adam", "lr": 0.01},
              "stopping": {"epochs": 15}}
    for key, value in sections.items():
        recipe[key] = {**recipe.get(key, {}), **value} if isinstance(value, dict) else value
    return recipe


OVERFIT = {"name": "overfit", "seed": 0,
           "data": {"name": "moons", "n_samples": 120, "noise": 0.35, "batch_size": 8, "val_fraction": 0.4},
           "model": {"name": "mlp", "hidden": [256, 256]}, "optim": {"name": "adam", "lr": 0.01},
           "stopping": {"epochs": 40}}


@pytest.mark.parametrize(("train", "val", "verdict"), [
    (0.01, 0.11, "high variance"), (0.15, 0.16, "high bias"), (0.15, 0.30, "high bias and high variance"),
    (0.005, 0.01, "fine"),
])
def test_bias_variance_reproduces_the_lectures_table(train, val, verdict):
    assert bias_variance(train, val).verdict == verdict


def test_bayes_error_moves_the_bias_verdict():
    assert bias_variance(0.15, 0.16, bayes_error=0.14).verdict == "fine"


def test_divergence_at_lr_10(tmp_path):
    found = names(run(moons(optim={"name": "sgd", "lr": 10.0}), tmp_path))
    finding = found["lr_too_high"]
    assert finding.severity == "error"
    assert finding.evidence["peak_epoch"] == 1 and finding.evidence["peak_loss"] > 1e3
    assert finding.remedies[0].changes == {"optim.lr": 1.0}


def test_slow_steady_decline_is_a_learning_rate_too_low(tmp_path):
    found = names(run(moons(optim={"name": "sgd", "lr": 1e-4}), tmp_path))
    assert found["lr_too_low"].evidence["total_drop"] < 0.25
    assert found["lr_too_low"].remedies[0].changes == {"optim.lr": 1e-3}
    assert "plateau" not in found


def test_zero_init_is_symmetric_and_plateaus(tmp_path):
    found = names(run(moons(model={"init": "zeros"}), tmp_path))
    assert found["symmetric_units"].severity == "error"
    assert found["symmetric_units"].evidence["layers"] == ["1.weight", "3.weight"]  # both hidden layers
    assert found["plateau"].evidence["loss"] == pytest.approx(0.693, abs=0.01)  # ln 2: chance level


def test_overfitting_names_the_best_validation_epoch(tmp_path):
    run_dir = run(OVERFIT, tmp_path)
    finding = names(run_dir)["overfitting"]
    with open(run_dir / "metrics.csv") as f:
        val = [float(row["val_loss"]) for row in csv.DictReader(f)]
    assert finding.evidence["best_val_epoch"] == val.index(min(val)) + 1
    assert "stopping.early" in finding.remedies[0].changes


def test_underfitting_of_a_linear_model_on_mnist1d(tmp_path):
    recipe = {"name": "linear-mnist1d", "seed": 0, "data": {"name": "mnist1d", "preprocess": "zscore"},
              "model": {"name": "mlp", "hidden": []}, "optim": {"name": "adam", "lr": 0.01}, "stopping": {"epochs": 5}}
    found = names(run(recipe, tmp_path))
    assert found["underfitting"].evidence["train_error"] > 0.5  # a linear model tops out near 35 % accuracy
    assert found["underfitting"].evidence["verdict"].startswith("high bias")


def test_non_finite_loss_names_the_epoch(tmp_path):
    recipe = {"name": "nan", "seed": 0, "data": {"name": "linear", "n_samples": 200},
              "model": {"name": "mlp", "hidden": [16]}, "optim": {"name": "sgd", "lr": 5.0}, "stopping": {"epochs": 5}}
    run_dir = run(recipe, tmp_path)
    status = json.loads((run_dir / "run.json").read_text())
    assert status["status"] == "failed"
    finding = names(run_dir)["non_finite_loss"]
    assert finding.severity == "error"
    assert f"in epoch {finding.evidence['epoch']};" in status["error"]


def test_class_imbalance(tmp_path):
    found = names(run(moons(data={"imbalance": 10}), tmp_path))
    assert found["class_imbalance"].evidence["ratio"] == pytest.approx(10, rel=0.2)
    assert found["class_imbalance"].remedies[0].changes == {"data.sampler": "class_balanced"}


def test_unnormalized_inputs_are_noted(tmp_path):
    found = names(run(moons(data={"preprocess": "none", "noise": 0.2}, stopping={"epochs": 3}), tmp_path))
    assert "unnormalized_inputs" not in found  # moons' features are already near 0 mean, unit scale
    recipe = {"seed": 0, "data": {"name": "breast_cancer", "batch_size": 32}, "model": {"name": "mlp", "hidden": [16]},
              "optim": {"name": "adam", "lr": 0.001}, "stopping": {"epochs": 3}}
    finding = names(run(recipe, tmp_path))["unnormalized_inputs"]  # raw features up to ~2500 (areas)
    assert finding.evidence["mean_abs_max"] > 100
    assert finding.remedies[0].changes == {"data.preprocess": "zscore"}


def test_fixed_recipe_applies_first_remedies_and_validates(tmp_path):
    run_dir = run(moons(model={"init": "zeros"}), tmp_path)
    findings = diagnose(run_dir)
    data, applied = fixed_recipe(yaml.safe_load((run_dir / "recipe.yaml").read_text()), findings)
    assert data["model"]["init"] == "he_normal"
    assert "model.init=\"he_normal\"" in applied
    path = write_fixed_recipe(run_dir, findings)
    assert load_recipe(path).model.init == "he_normal"


def test_cli_doctor_text_json_and_fix(tmp_path, capsys):
    run_dir = run(moons(optim={"name": "sgd", "lr": 10.0}), tmp_path)
    assert main(["doctor", str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("ERROR: lr_too_high: training diverged")
    assert "--set optim.lr=1" in out
    assert main(["doctor", str(run_dir), "--json"]) == 0
    parsed = json.loads(capsys.readouterr().out)
    assert parsed[0]["name"] == "lr_too_high" and parsed[0]["remedies"][0]["changes"] == {"optim.lr": 1.0}
    assert parsed[0]["confidence"]["against"] in ("noise", "threshold") and parsed[0]["confidence"]["ratio"] > 1
    assert main(["doctor", str(run_dir), "--fix"]) == 0
    assert "recipe.fixed.yaml" in capsys.readouterr().out
    assert main(["doctor", str(tmp_path / "nowhere")]) == 2


def final_val(run_dir: Path, key: str = "val_loss") -> float:
    return json.loads((run_dir / "run.json").read_text())["final"][key]


@pytest.mark.parametrize("case", ["divergence", "zero_init", "overfitting"])
def test_fix_trains_better_than_the_original(tmp_path, case):
    recipe = {"divergence": moons(optim={"name": "adam", "lr": 1.0}), "zero_init": moons(model={"init": "zeros"}),
              "overfitting": OVERFIT}[case]
    original = run(recipe, tmp_path / "a")
    fixed = write_fixed_recipe(original, diagnose(original))
    better = run(yaml.safe_load(fixed.read_text()), tmp_path / "b")
    # the validation loss of the fixed run beats the original's (for overfitting: early stopping
    # restores the best epoch, so the final weights are the best-validation ones)
    assert final_val(better) < final_val(original)
    assert final_val(better, "val_accuracy") >= final_val(original, "val_accuracy")


def test_report_opens_with_the_diagnosis(tmp_path):
    run_dir = run(moons(optim={"name": "sgd", "lr": 10.0}), tmp_path)
    page = (run_dir / "report.html").read_text()
    assert page.index("<h2>Diagnosis</h2>") < page.index("<h2>Results</h2>")
    assert "training diverged" in page and "--set optim.lr=1" in page and "confidence: " in page


def test_live_doctor_stops_at_a_non_finite_loss_naming_step_and_layer():
    from trainlab.diagnose.live import DoctorCallback
    from trainlab.run import build

    warnings = []
    recipe = load_recipe({"seed": 0, "data": {"name": "linear", "n_samples": 200}, "model": {"name": "mlp", "hidden": [16]},
                          "optim": {"name": "sgd", "lr": 5.0}, "stopping": {"epochs": 5}})
    doctor = DoctorCallback(recipe.to_dict(), {"task": "regression"}, every=1, warn=warnings.append)
    setup = build(recipe, callbacks=[doctor])
    with pytest.raises(TrainlabError):
        setup.trainer.fit(setup.train, setup.val, 5)
    assert len(warnings) == 1  # once, not every step
    assert warnings[0].startswith("doctor: the loss became nan at step") or "inf at step" in warnings[0]
    assert "exploding gradients in layer" in warnings[0]
    assert setup.trainer.state.step < 5 * len(setup.train)  # it stopped the run early


def test_live_doctor_reports_divergence_once():
    from trainlab.diagnose.live import DoctorCallback
    from trainlab.run import build

    warnings = []
    recipe = load_recipe(moons(optim={"name": "sgd", "lr": 10.0}, stopping={"epochs": 4}))
    setup = build(recipe, callbacks=[DoctorCallback(recipe.to_dict(), {"task": "classification", "n_outputs": 2},
                                                    warn=warnings.append)])
    setup.trainer.fit(setup.train, setup.val, 4)
    assert len(warnings) == 1 and "training diverged" in warnings[0] and "--set optim.lr=1" in warnings[0]


# ---- healthy runs stay silent (probes on, so every rule has its evidence) ----

HEALTHY = {
    "moons_relu_adam": {"data": {"name": "moons", "n_samples": 600, "preprocess": "zscore"},
                        "model": {"name": "mlp", "hidden": [32, 32]}, "optim": {"name": "adam", "lr": 0.01},
                        "stopping": {"epochs": 20}},
    "digits_he_dropout": {"data": {"name": "digits", "preprocess": "zscore", "batch_size": 64},
                          "model": {"name": "mlp", "hidden": [128], "init": "he_normal", "dropout": 0.2},
                          "optim": {"name": "adam", "lr": 0.001}, "stopping": {"epochs": 20}},
    "breast_cancer_momentum": {"data": {"name": "breast_cancer", "preprocess": "zscore", "batch_size": 32},
                               "model": {"name": "mlp", "hidden": [32]}, "optim": {"name": "momentum", "lr": 0.05},
                               "stopping": {"epochs": 20}},
    "wine_tanh_xavier_rmsprop": {"data": {"name": "wine", "preprocess": "zscore", "batch_size": 16},
                                 "model": {"name": "mlp", "hidden": [32], "activation": "tanh",
                                           "init": "xavier_normal"},
                                 "optim": {"name": "rmsprop", "lr": 0.003}, "stopping": {"epochs": 30}},
    "iris_elu": {"data": {"name": "iris", "preprocess": "zscore", "batch_size": 16},
                 "model": {"name": "mlp", "hidden": [16], "activation": "elu"}, "optim": {"name": "adam", "lr": 0.01},
                 "stopping": {"epochs": 20}},
    "sine_tanh_regression": {"data": {"name": "sine", "preprocess": "zscore"},
                             "model": {"name": "mlp", "hidden": [64, 64], "activation": "tanh"},
                             "optim": {"name": "adam", "lr": 0.01}, "stopping": {"epochs": 30}},
    "linear_regression_sgd": {"data": {"name": "linear"}, "model": {"name": "mlp", "hidden": []},
                              "optim": {"name": "sgd", "lr": 0.05}, "stopping": {"epochs": 20}},
    "wine_sigmoid_nesterov_minmax": {"data": {"name": "wine", "preprocess": "minmax", "batch_size": 16},
                                     "model": {"name": "mlp", "hidden": [32], "activation": "sigmoid",
                                               "init": "xavier_normal"},
                                     "optim": {"name": "nesterov", "lr": 0.1}, "stopping": {"epochs": 40}},
    "moons_batchnorm_adamw": {"data": {"name": "moons", "n_samples": 600, "preprocess": "zscore", "batch_size": 32},
                              "model": {"name": "mlp", "hidden": [64, 64], "batchnorm": True},
                              "optim": {"name": "adamw", "lr": 0.003}, "stopping": {"epochs": 15}},
    "digits_batchnorm_rmsprop_large_val": {
        "data": {"name": "digits", "preprocess": "zscore", "batch_size": 64, "val_fraction": 0.3, "test_fraction": 0.1},
        "model": {"name": "mlp", "hidden": [64], "batchnorm": True}, "optim": {"name": "rmsprop", "lr": 0.001},
        "stopping": {"epochs": 15}},
    "diabetes_regression_adagrad": {"data": {"name": "diabetes", "preprocess": "zscore", "batch_size": 32},
                                    "model": {"name": "mlp", "hidden": [32]}, "optim": {"name": "adagrad", "lr": 0.05},
                                    "stopping": {"epochs": 30}},
    "moons_lbfgs": {"data": {"name": "moons", "n_samples": 600, "preprocess": "zscore"},
                    "model": {"name": "mlp", "hidden": [16], "activation": "tanh"},
                    "optim": {"name": "lbfgs", "lr": 1.0, "max_iter": 5}, "stopping": {"epochs": 10}},
    "linear_lbfgs_float64": {"data": {"name": "linear"}, "precision": "float64", "model": {"name": "mlp", "hidden": []},
                             "optim": {"name": "lbfgs", "lr": 1.0}, "stopping": {"epochs": 5}},
    "breast_cancer_dropout_early_stopping": {
        "data": {"name": "breast_cancer", "preprocess": "zscore", "batch_size": 32},
        "model": {"name": "mlp", "hidden": [64], "dropout": 0.3}, "optim": {"name": "adamw", "lr": 0.003},
        "stopping": {"epochs": 30, "early": {"monitor": "val_loss", "patience": 5, "restore_best_weights": True}}},
}


@pytest.mark.parametrize("name", HEALTHY)
def test_healthy_runs_get_no_warning(tmp_path, monkeypatch, name):
    monkeypatch.setattr("trainlab.run._report", lambda run_dir: None)  # the doctor is tested here, not the page
    run_dir = run({"name": name, "seed": 0, "diagnose": True, **HEALTHY[name]}, tmp_path)
    assert (run_dir / "probes.csv").is_file()
    loud = [f"{f.severity} {f.name}: {f.summary}" for f in diagnose(run_dir) if f.severity in ("warning", "error")]
    assert loud == []


# ---- pathologies that only the probes can see, named with their layers ----

def digits(hidden: list[int], **model) -> dict:
    return {"seed": 0, "diagnose": True, "data": {"name": "digits", "preprocess": "zscore", "batch_size": 64},
            "model": {"name": "mlp", "hidden": hidden, **model}, "optim": {"name": "sgd", "lr": 0.1},
            "stopping": {"epochs": 5}}


def test_vanishing_gradients_in_a_10_layer_sigmoid_mlp(tmp_path):
    found = names(run(digits([64] * 10, activation="sigmoid"), tmp_path))
    finding = found["vanishing_gradients"]
    grads = finding.evidence["grad_norm_by_layer"]
    # sigmoid' ≤ 1/4 per layer: ten layers leave layer 1 with < 1e-4 of the largest gradient (measured 7e-9)
    assert finding.evidence["ratio"] < 1e-4 and 1 in finding.evidence["weak_layers"]
    assert grads[1] < grads[5] < grads[11]  # shrinking layer after layer toward the input
    assert finding.remedies[0].changes == {"model.activation": "relu", "model.init": "he_normal"}


def test_exploding_gradients_from_a_standard_normal_init(tmp_path):
    recipe = digits([64] * 4, init="standard_normal")
    recipe["optim"]["lr"] = 1e-5  # tiny steps: the explosion is the init's, not the rate's
    found = names(run(recipe, tmp_path))
    finding = found["exploding_gradients"]
    assert finding.severity == "error" and "lr_too_high" not in found
    # W ~ N(0, 1) with 64 inputs multiplies the signal by ~√32 per ReLU layer: every layer's gradient
    # is over 10× its weights (measured 20-150×)
    assert all(r > 10 for r in finding.evidence["grad_to_weight_by_layer"].values())
    assert finding.remedies[0].changes == {"model.init": "he_normal"}


def test_saturated_units_with_tanh_and_std_1_init(tmp_path):
    found = names(run(digits([128, 128], activation="tanh", init="standard_normal"), tmp_path))
    saturated = found["saturated_units"].evidence["saturated_by_layer"]
    # 64 z-scored inputs with W ~ N(0, 1): pre-activations of std ≈ 8, most of tanh at ±1 (measured 70 %, 80 %)
    assert set(saturated) == {1, 2} and min(saturated.values()) > 0.5
    assert found["saturated_units"].remedies[0].changes == {"model.init": "xavier_normal"}


def test_dead_relus_at_a_high_rate_and_not_for_leaky_relus(tmp_path):
    recipe = digits([64, 64])
    recipe["optim"]["lr"] = 3.0
    finding = names(run(recipe, tmp_path / "relu"))["dead_relus"]
    # measured: layer 2's 64 units all silent from epoch 1 on, layer 1 alive
    assert finding.evidence["dead_by_layer"] == {2: 1.0} and finding.severity == "error"
    assert finding.remedies[0].changes == {"optim.lr": 0.3}
    leaky = digits([64, 64], activation={"name": "leaky_relu", "alpha": 0.01})
    leaky["optim"]["lr"] = 3.0
    assert "dead_relus" not in names(run(leaky, tmp_path / "leaky"))


def test_fix_of_an_exploding_init_trains_better(tmp_path):
    recipe = digits([64] * 4, init="standard_normal")
    recipe["optim"]["lr"] = 1e-3
    original = run(recipe, tmp_path / "a")
    fixed = write_fixed_recipe(original, diagnose(original))
    assert yaml.safe_load(fixed.read_text())["model"]["init"] == "he_normal"
    better = run(yaml.safe_load(fixed.read_text()), tmp_path / "b")
    # The validation loss falls from ~190 to ~2 (logits of a sane scale). Accuracy is not asserted: with
    # he_normal, plain SGD at 1e-3 starts slowly (measured 35 % vs the exploded net's 79 % after 10 epochs);
    # a second `doctor --fix` round is what raises the rate.
    assert final_val(better) < 0.1 * final_val(original)


# ---- no false alarms: noise, eval-mode train error, remedies the recipe already has ----

def synthetic(val_loss: list[float], n_val: int, recipe: dict | None = None, **columns) -> RunEvidence:
    """Evidence of a run that never trained: per-epoch columns and the data summary, nothing else."""
    n = len(val_loss)
    loss = columns.pop("loss", [1.0 - 0.05 * i for i in range(n)])  # training keeps improving
    history = [{"epoch": i + 1, "loss": loss[i], "val_loss": val_loss[i],
                **{k: v[i] for k, v in columns.items()}} for i in range(n)]
    status = {"data": {"task": "classification", "n_outputs": 3, "n_val": n_val, "n_train": 10 * n_val}}
    return RunEvidence(Path("."), recipe or {"optim": {"name": "adam", "lr": 0.01}}, status, history)


def by_name(run: RunEvidence) -> dict[str, Finding]:
    return {f.name: f for f in run_rules(run)}


def test_a_validation_rise_of_two_examples_is_info_not_a_warning():
    # iris: 12 validation examples; 0.008 → 0.39 is two examples turning confidently wrong
    curve = [0.5, 0.1, 0.02, 0.008, 0.01, 0.05, 0.2, 0.39]
    finding = by_name(synthetic(curve, n_val=12))["overfitting"]
    assert finding.severity == "info" and "12 validation examples" in finding.summary
    assert finding.remedies == [] and finding.confidence.ratio is not None


def test_a_validation_rise_is_a_warning_only_beyond_three_times_its_noise():
    steady = [0.9, 0.5, 0.3, 0.25, 0.27, 0.32, 0.38, 0.45, 0.52]  # smooth rise, 500 examples
    finding = by_name(synthetic(steady, n_val=500))["overfitting"]
    assert finding.severity == "warning" and finding.confidence.ratio > 3
    assert finding.to_dict()["confidence"]["against"] == "noise"
    jumpy = [0.9, 0.5, 0.3, 0.25, 0.45, 0.26, 0.47, 0.27, 0.31]  # the same size of rise inside its own scatter
    finding = by_name(synthetic(jumpy, n_val=500))["overfitting"]
    assert finding.severity == "info" and finding.confidence.ratio <= 3


def test_the_generalization_gap_uses_eval_mode_train_error():
    acc, val_acc = [0.6, 0.8, 0.85, 0.9, 0.9], [0.7, 0.8, 0.85, 0.86, 0.86]
    run = synthetic([0.9, 0.6, 0.5, 0.45, 0.44], n_val=400, accuracy=acc, val_accuracy=val_acc)
    found = by_name(run)  # train-mode 10 % vs 14 %: no finding, but its source is stated in the evidence
    assert "overfitting" not in found
    run.status["final"] = {"train_eval_accuracy": 0.995}  # without dropout the net fits the training set
    finding = by_name(run)["overfitting"]
    assert finding.severity == "warning" and finding.evidence["train_error_source"] == "eval mode"
    assert finding.evidence["train_error"] == pytest.approx(0.005)


def test_older_runs_fall_back_to_the_train_mode_average_with_a_caveat():
    run = synthetic([0.9, 0.6, 0.5, 0.45, 0.44], n_val=400, accuracy=[0.3, 0.4, 0.5, 0.55, 0.6],
                    val_accuracy=[0.3, 0.4, 0.5, 0.55, 0.6])
    finding = by_name(run)["underfitting"]
    assert "predates eval-mode train metrics" in finding.summary
    assert finding.evidence["train_error_source"].startswith("train-mode")


def test_no_remedy_the_recipe_already_has():
    flat = [0.69 + 0.0001 * (i % 2) for i in range(10)]  # a plateau at chance level
    recipe = {"optim": {"name": "adam", "lr": 1e-3}, "model": {"init": "he_normal"}}
    run = synthetic([0.7] * 10, n_val=100, recipe=recipe, loss=flat, accuracy=[0.5] * 10)
    finding = by_name(run)["plateau"]
    assert finding.remedies == []  # both of plateau's remedies are already in the recipe
    finding = Finding("x", "warning", "", {}, "", [Remedy({"optim.name": "adam", "optim.lr": 0.003}, ""),
                                                   Remedy({"model.activation": "relu", "model.init": "he_normal"}, ""),
                                                   Remedy({"penalties": [{"name": "l2", "weight": 1e-4}]}, ""),
                                                   Remedy({"stopping.early": {"patience": 5}}, "")])
    recipe = {"optim": {"name": "adam", "lr": 0.003}, "model": {"activation": "sigmoid", "init": "he_normal"},
              "penalties": [{"name": "l2", "weight": 1e-3}], "stopping": {"early": {"patience": 10}}}
    # kept whole: ReLU with He init belong together; L2 1e-3 is already stronger than 1e-4; early
    # stopping is on (its patience only tunes it)
    assert [r.changes for r in new_remedies(finding, recipe).remedies] == [{"model.activation": "relu",
                                                                              "model.init": "he_normal"}]
    # not what the recipe has: early stopping on the training loss without restoring, a negligible L2
    finding = Finding("x", "warning", "", {}, "", [
        Remedy({"stopping.early": {"monitor": "val_loss", "restore_best_weights": True, "patience": 10}}, ""),
        Remedy({"penalties": [{"name": "l2", "weight": 1e-4}]}, "")])
    recipe = {"penalties": [{"name": "l2", "weight": 1e-9}],
              "stopping": {"early": {"monitor": "loss", "patience": 100, "restore_best_weights": False}}}
    assert len(new_remedies(finding, recipe).remedies) == 2


def test_run_json_records_eval_mode_train_metrics(tmp_path, monkeypatch):
    monkeypatch.setattr("trainlab.run._report", lambda run_dir: None)
    recipe = {"name": "dropout", "seed": 0, "data": {"name": "digits", "preprocess": "zscore", "batch_size": 64},
              "model": {"name": "mlp", "hidden": [64], "dropout": 0.5}, "optim": {"name": "adam", "lr": 0.003},
              "stopping": {"epochs": 5}}
    final = json.loads((run(recipe, tmp_path) / "run.json").read_text())["final"]
    # half the units dropped: the train-mode running average (weights still moving) is a worse fit than
    # the whole net's on the same examples (measured ~0.35 vs ~0.1)
    assert final["train_eval_loss"] < final["loss"]
    assert final["train_eval_accuracy"] > final["accuracy"]

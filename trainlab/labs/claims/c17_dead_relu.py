"""C17: high learning rates kill ReLUs; Leaky ReLU units never die (seeds 002, 003, 004).

A ReLU unit is *dead* when its pre-activation is ≤ 0 on every training example: its output and the
gradient of its incoming weights are then 0 on the whole training set, so no step moves it (a
first-layer dead unit stays dead for good; a deeper one only revives if the layers below change).
A Leaky ReLU unit ≤ 0 on every example is in what the notes call a *coma*: its output αz is not
fixed and it still gets gradient α·δ, so it can wake up. The notes (002): "La mitad de las neuronas
dejan de hacer nada (salida fija a 0), especialmente si se utiliza una tasa de aprendizaje elevada
… Las leaky ReLU nunca mueren, aunque pueden entrar en coma del que tal vez despierten".

An MLP is trained with plain SGD, per seed, at a low and a high rate with ReLU and Leaky ReLU
(α = 0.01, the library's default). Afterwards, on the whole training split: the share of hidden
units ≤ 0 on every example (dead for ReLU, comatose for Leaky) and the share of hidden units whose
incoming weights and bias get exactly zero gradient from the full training loss (the precise sense
of "dead": nothing can move them). The full variant also continues the high-rate runs at the low
rate and counts the dead/comatose units that wake up (positive on some example).
"""
from __future__ import annotations

import math
import statistics
from pathlib import Path

import torch

from trainlab.labs import Evidence, LabResult, Row, lab, seeds_phrase
from trainlab.labs.figures import curves
from trainlab.labs.training import ArmTraining
from trainlab.run import Setup
from trainlab.train.trainer import NonFiniteLoss

ACTIVATIONS = {"ReLU": "relu", "Leaky ReLU α=0.01": {"name": "leaky_relu", "alpha": 0.01},
               "Leaky ReLU α=0.1": {"name": "leaky_relu", "alpha": 0.1}}
LOW, HIGH = 0.3, 1.0  # SGD rates: 0.3 trains without killing, 1.0 is high (3.0 diverges in every seed)
EPOCHS = 5  # both variants: the full one adds seeds and rates, not a different training
RATES = {"ReLU": (0.03, 0.1, 0.3, 0.6, 1.0, 1.5), "Leaky ReLU α=0.01": (0.03, 0.1, 0.3, 0.6, 1.0, 1.5),
         "Leaky ReLU α=0.1": (0.3, 0.6)}  # the full variant's sweep (rows, figure); α = 0.1 diverges at lr 1
QUICK_RATES = {"ReLU": (LOW, HIGH), "Leaky ReLU α=0.01": (LOW, HIGH)}
WAKE_EPOCHS = 5  # full variant: epochs at the low rate after the high-rate run
# The notes' "la mitad" is Géron's "as much as half … especially with a large learning rate": the claim
# is that a high rate kills a share of the units that a low rate does not. Threshold fixed at a tenth of
# that "half": the high rate kills at least 5 % (10 of the 200 units) more than the low rate, same seed.
KILLED_AT_LEAST = 0.05
NEVER = 0.0  # "nunca mueren": no Leaky unit without gradient on the training set


def train(training: ArmTraining, label: str, lr: float, seeds: tuple[int, ...],
          wake: bool = False) -> list[dict[str, float]]:
    """Train the MLP once per seed; per seed the shares of hidden units ≤ 0 on every training example
    ("off") and with zero gradient on the full training loss, the validation accuracy, and with ``wake``
    the share of the off units that are positive on some example after ``WAKE_EPOCHS`` more epochs at
    ``LOW``. All NaN if the loss became non-finite (diverged: no value)."""
    recipes = [{"name": "c17", "seed": seed, "data": {"name": "digits", "preprocess": "zscore", "batch_size": 32},
                "model": {"name": "mlp", "hidden": [100, 100], "activation": ACTIVATIONS[label], "init": "he_normal"},
                "optim": {"name": "sgd", "lr": lr}, "stopping": {"epochs": EPOCHS + WAKE_EPOCHS}} for seed in seeds]
    fits = training.fit(f"{label}, lr {lr:g}", recipes, EPOCHS, allow_errors=True)
    return [_measure(setup, history, wake) if error is None else
            {"off": math.nan, "zero gradient": math.nan, "accuracy": math.nan, "woke": math.nan}
            for setup, history, error in zip(fits.setups, fits.histories, fits.errors)]


def _measure(setup: Setup, history: list[dict[str, float]], wake: bool) -> dict[str, float]:
    off = off_units(setup.model, setup.train.x)
    result = {"off": off.double().mean().item(), "accuracy": history[-1]["val_accuracy"],
              "zero gradient": zero_gradient_units(setup).double().mean().item(), "woke": math.nan}
    if wake and off.any():
        for group in setup.trainer.optimizer.param_groups:
            group["lr"] = LOW
        try:
            setup.trainer.fit(setup.train, setup.val, EPOCHS + WAKE_EPOCHS)
            result["woke"] = (off & ~off_units(setup.model, setup.train.x)).sum().item() / off.sum().item()
        except NonFiniteLoss:
            pass
    return result


def _hidden(model: torch.nn.Module) -> list[tuple[torch.nn.Linear, torch.nn.Module]]:
    """(Linear, the activation after it) for every hidden layer of a Sequential MLP."""
    modules = list(model)
    return [(m, modules[i + 1]) for i, m in enumerate(modules[:-1]) if isinstance(m, torch.nn.Linear)]


@torch.no_grad()
def off_units(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """One flag per hidden unit (all layers): pre-activation ≤ 0 on every example of ``x``."""
    flags, h = [], x.flatten(1)
    for linear, activation in _hidden(model):
        z = linear(h)
        flags.append((z <= 0).all(dim=0))
        h = activation(z)
    return torch.cat(flags)


def zero_gradient_units(setup) -> torch.Tensor:
    """One flag per hidden unit: the full training loss gives its incoming weights and bias exactly zero gradient."""
    model = setup.model
    model.zero_grad()
    setup.trainer.loss_fn(model(setup.train.x), setup.train.y).backward()
    flags = [(linear.weight.grad.abs().sum(dim=1) + linear.bias.grad.abs()) == 0 for linear, _ in _hidden(model)]
    model.zero_grad()
    return torch.cat(flags)


def _median(values: list[float]) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return statistics.median(finite) if finite else math.nan


@lab(
    id="C17", name="high learning rates kill ReLUs, not Leaky ReLUs",
    claim="Dying ReLUs: half the neurons stop doing anything (output fixed at 0), especially with a high learning "
          "rate. Leaky ReLUs never die, though they may fall into a coma from which they might wake up.",
    measures="per seed: dead ReLU units (≤ 0 on every training example) at a high vs a low rate; Leaky units with "
             "zero gradient on the training set; comatose Leaky units and wake-ups reported beside them",
    source="002_fbb29f398f0f5956.txt, 003_5bed7eaae0bb2515.txt, 004_95ad34fad61cb9b4.txt",
    quick_seeds=5)
def run(quick: bool, out_dir: Path | None, seeds: tuple[int, ...]) -> LabResult:
    sweep = QUICK_RATES if quick else RATES
    woken = () if quick else ("ReLU", "Leaky ReLU α=0.01")  # the full variant continues their high-rate runs
    training = ArmTraining()
    runs = {label: {lr: train(training, label, lr, seeds, wake=label in woken and lr == HIGH) for lr in rates}
            for label, rates in sweep.items()}
    rows, dead_series, accuracy_series = [], {}, {}
    for label, by_rate in runs.items():
        word = "dead" if label == "ReLU" else "comatose"
        for lr, per_seed in by_rate.items():
            diverged = sum(math.isnan(r["off"]) for r in per_seed)
            rows += [Row(f"{label}, lr {lr:g}: {word} fraction, median over seeds",
                         _median([r["off"] for r in per_seed])),
                     Row(f"{label}, lr {lr:g}: fraction with zero gradient on the training set, median",
                         _median([r["zero gradient"] for r in per_seed])),
                     Row(f"{label}, lr {lr:g}: validation accuracy, median",
                         _median([r["accuracy"] for r in per_seed])),
                     Row(f"{label}, lr {lr:g}: seeds diverged", diverged)]
        trained = [lr for lr in by_rate if not math.isnan(_median([r["off"] for r in by_rate[lr]]))]
        dead_series[label] = (trained, [_median([r["off"] for r in by_rate[lr]]) for lr in trained])
        accuracy_series[label] = (trained, [_median([r["accuracy"] for r in by_rate[lr]]) for lr in trained])
    relu_high, relu_low = runs["ReLU"][HIGH], runs["ReLU"][LOW]
    rows += [Row(f"ReLU, lr {HIGH:g}: largest dead fraction over seeds",
                 max((r["off"] for r in relu_high if not math.isnan(r["off"])), default=math.nan), 0.5,
                 "notes: 'la mitad'"),
             Row(f"ReLU, lr {HIGH:g}: seeds with at least 40 % of the units dead",
                 sum(r["off"] >= 0.4 for r in relu_high))]
    for label in woken:
        rows.append(Row(f"{label}, lr {HIGH:g} then {WAKE_EPOCHS} epochs at lr {LOW:g}: share of the "
                        f"{'dead' if label == 'ReLU' else 'comatose'} units that woke up, median",
                        _median([r["woke"] for r in runs[label][HIGH]])))
    leaky = runs["Leaky ReLU α=0.01"]
    checks = [
        Evidence(f"ReLU: dead fraction at lr {HIGH:g} − at lr {LOW:g} (same seed)",
                 [h["off"] - low["off"] for h, low in zip(relu_high, relu_low)], at_least=KILLED_AT_LEAST,
                 source="notes 002: 'la mitad … especialmente con tasa elevada'; a tenth of that half", seeds=seeds),
        Evidence(f"Leaky ReLU α=0.01: largest fraction of units with zero gradient on the training set, lr {LOW:g} "
                 f"and {HIGH:g}", [max((r["zero gradient"] for r in (leaky[LOW][i], leaky[HIGH][i])
                                       if not math.isnan(r["zero gradient"])), default=math.nan)
                                  for i in range(len(seeds))], at_most=NEVER,
                 source="notes 002: 'nunca mueren' — no unit left without gradient", seeds=seeds),
    ]
    figures = {"c17_dead": curves(dead_series, "learning rate (SGD)", "fraction of hidden units ≤ 0 on all data",
                                  "dead (ReLU) / comatose (Leaky) units, median over seeds", log_x=True),
               "c17_accuracy": curves(accuracy_series, "learning rate (SGD)", "validation accuracy",
                                      "accuracy after training, median over seeds", log_x=True)}
    note = (f"Digits (z-scored), MLP 64→100→100→10, He normal init, SGD, batch 32, {EPOCHS} epochs, "
            f"{seeds_phrase(seeds)} (data split, init and batch order per seed). Fractions are over the 200 hidden "
            "units, measured on the training split. A run whose loss became non-finite (diverged) gives no value "
            "(NaN, left out and counted in its criterion); divergence itself is no criterion. Leaky units ≤ 0 on "
            "every example are counted as comatose, not dead: they still get gradient α·δ (the zero-gradient rows "
            "show it), and the claim is not failed on them. The ReLU criterion is a paired contrast (high − low "
            "rate, same seed); the Leaky criterion takes, per seed, the worse of the two rates that trained. Each "
            "criterion is judged by the 95 % bootstrap interval of its median over the seeds. The full variant "
            f"continues the high-rate runs {WAKE_EPOCHS} epochs at lr {LOW:g} and reports the share of comatose Leaky "
            "units that wake up beside the dead ReLUs that revive (only second-layer ones can, through the layer "
            "below); it is not judged, since the notes only say they might ('tal vez despierten'). The high-rate dead "
            "fraction is chaotic per seed (it changes with the CPU's float kernels): the notes' 'half' is reached in "
            "some seeds, not in the median. " + training.note())
    return LabResult(rows, checks, figures, note)

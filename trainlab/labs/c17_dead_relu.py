"""C17: high learning rates kill ReLUs; Leaky ReLU units never die (seeds 002, 003, 004).

A ReLU unit is *dead* when its pre-activation is ≤ 0 on every training example: its output and
its weights' gradient are then 0 for the whole data set, so no step can revive it by itself. An MLP
is trained with SGD at increasing rates, with ReLU and with Leaky ReLU (α = 0.01, the library's
default, and α = 0.1, the notes' max(0.1x, x)); afterwards
:func:`~trainlab.diagnose.forward_stats.activation_statistics` measures on the training data the
fraction of hidden units whose output is ≤ 0 on every example. For a Leaky unit that state is what
the notes call a coma: the unit still passes gradient α·δ, so it *can* wake up.
"""
from __future__ import annotations

import math
from pathlib import Path

from trainlab.diagnose.forward_stats import activation_statistics
from trainlab.labs import Check, Lab, LabResult, Row, seeds_phrase
from trainlab.labs.figures import curves
from trainlab.recipe import load_recipe
from trainlab.run import build
from trainlab.train.trainer import NonFiniteLoss

ACTIVATIONS = {"ReLU": "relu", "Leaky ReLU α=0.01": {"name": "leaky_relu", "alpha": 0.01},
               "Leaky ReLU α=0.1": {"name": "leaky_relu", "alpha": 0.1}}
QUICK_RATES, FULL_RATES = (0.03, 0.3, 1.0, 3.0), (0.01, 0.03, 0.1, 0.3, 0.6, 1.0, 1.5, 3.0)
QUICK_SEEDS, FULL_SEEDS = (0,), (0, 1, 2)
KILLED_AT_LEAST = 0.10  # "half the neurons stop doing anything": at least a tenth dead counts as killing
ALIVE_AT_MOST = 0.01  # "never die": at most 1 % of the units (2 of 200) off on every example


def dead_fraction(activation: str | dict, lr: float, seed: int, epochs: int) -> tuple[float, float]:
    """(fraction of hidden units ≤ 0 on every training example, validation accuracy); NaN, NaN if it diverged."""
    setup = build(load_recipe({
        "name": "c17", "seed": seed, "data": {"name": "digits", "preprocess": "zscore", "batch_size": 32},
        "model": {"name": "mlp", "hidden": [100, 100], "activation": activation, "init": "he_normal"},
        "optim": {"name": "sgd", "lr": lr}, "stopping": {"epochs": epochs}}))
    try:
        history = setup.trainer.fit(setup.train, setup.val, epochs)
    except NonFiniteLoss:
        return math.nan, math.nan
    hidden = [s for s in activation_statistics(setup.model, setup.train.x) if s.activation]
    return sum(s.dead for s in hidden) / len(hidden), history[-1]["val_accuracy"]  # equal widths: plain mean


def _mean(values: list[float]) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return sum(finite) / len(finite) if finite else math.nan


def _shown(value: float) -> float | str:
    return "diverged" if math.isnan(value) else value


def run(quick: bool, out_dir: Path | None) -> LabResult:
    rates, seeds, epochs = (QUICK_RATES, QUICK_SEEDS, 5) if quick else (FULL_RATES, FULL_SEEDS, 10)
    rows, checks, dead_series, accuracy_series, dead_by_label = [], [], {}, {}, {}
    for label, activation in ACTIVATIONS.items():
        dead, accuracy = [], []
        for lr in rates:
            runs = [dead_fraction(activation, lr, seed, epochs) for seed in seeds]
            dead.append(_mean([d for d, _ in runs]))
            accuracy.append(_mean([a for _, a in runs]))
            diverged = sum(math.isnan(d) for d, _ in runs)
            note = f" ({diverged}/{len(seeds)} diverged)" if 0 < diverged < len(seeds) else ""
            rows.append(Row(f"{label}, lr {lr:g}: dead fraction{note}", _shown(dead[-1])))
            rows.append(Row(f"{label}, lr {lr:g}: validation accuracy", _shown(accuracy[-1])))
        dead_by_label[label] = dict(zip(rates, dead))
        trained = [i for i, d in enumerate(dead) if not math.isnan(d)]
        dead_series[label] = ([rates[i] for i in trained], [dead[i] for i in trained])
        accuracy_series[label] = ([rates[i] for i in trained], [accuracy[i] for i in trained])
    relu = {lr: d for lr, d in dead_by_label.pop("ReLU").items() if not math.isnan(d)}
    (low, at_low), (high, at_high) = min(relu.items()), max(relu.items())
    checks.append(Check(f"ReLU: dead fraction {at_low:.1%} at lr {low:g} (≤ {ALIVE_AT_MOST:.0%}) and {at_high:.1%} at "
                        f"lr {high:g}, the highest rate that did not diverge (≥ {KILLED_AT_LEAST:.0%})",
                        at_low <= ALIVE_AT_MOST and at_high >= KILLED_AT_LEAST))
    killing = [lr for lr, d in relu.items() if d >= KILLED_AT_LEAST]  # the rates where the claim has teeth
    where = f"lr {', '.join(f'{r:g}' for r in killing)}"
    for label, by_rate in dead_by_label.items():
        if not killing:
            checks.append(Check(f"{label}: ReLUs died at no rate, so there is nothing to compare with", False))
            continue
        tested = {lr: by_rate[lr] for lr in killing if not math.isnan(by_rate[lr])}
        if not tested:
            checks.append(Check(f"{label}: diverged at every rate where ReLUs die ({where}), "
                                "so 'never die' is not shown", False))
            continue
        worst_lr = max(tested, key=tested.get)
        checks.append(Check(f"{label}: at most {ALIVE_AT_MOST:.0%} of the units off on every example at the rates "
                            f"where ReLUs die ({where}); measured {tested[worst_lr]:.1%}"
                            f" at lr {worst_lr:g}", tested[worst_lr] <= ALIVE_AT_MOST))
    figures = {"c17_dead": curves(dead_series, "learning rate (SGD)", "fraction of hidden units ≤ 0 on all data",
                                  "dead (ReLU) / comatose (Leaky) units after training", log_x=True),
               "c17_accuracy": curves(accuracy_series, "learning rate (SGD)", "validation accuracy",
                                      "accuracy after training", log_x=True)}
    note = (f"Digits (z-scored), MLP 64→100→100→10, He normal init, SGD, batch 32, {epochs} epochs, "
            f"{seeds_phrase(seeds)}; rates where every seed's loss became non-finite are marked diverged and left out "
            "of the criterion. Leaky ReLU is judged at the rates where ReLUs die (a rate where no unit dies tests "
            "nothing). The dead fraction is over the 200 hidden units, measured on the training split. "
            "A Leaky unit counted here is in the notes' 'coma' (output αz < 0 on every example): unlike a dead ReLU "
            "it still gets gradient α·δ, but it is just as idle.")
    return LabResult(rows, checks, figures, note)


LAB = Lab(
    id="C17", name="high learning rates kill ReLUs, not Leaky ReLUs",
    claim="Dying ReLUs: half the neurons stop doing anything (output fixed at 0), especially with a high learning "
          "rate. Leaky ReLUs never die, though they may fall into a coma from which they might wake up.",
    measures="fraction of hidden units ≤ 0 on every training example after training, vs the learning rate",
    source="002_fbb29f398f0f5956.txt, 003_5bed7eaae0bb2515.txt, 004_95ad34fad61cb9b4.txt", experiment=run)

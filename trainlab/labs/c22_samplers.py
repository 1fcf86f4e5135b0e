"""C22: class-balanced batches raise minority recall; hard-example sampling speeds convergence (seed 002).

The notes (after LeCun's Efficient BackProp) recommend mini-batches balanced across classes and
presenting the examples with larger errors more often. Two experiments, both on moons with an MLP
2→32→32→2:

1. Imbalanced moons (``imbalance`` 10: class 1 keeps 1/10 of its examples, noise 0.3 so the
   classes overlap), Adam 0.01, batch 32. ``shuffle`` draws uniform permutations; ``class_balanced``
   fills every batch with ⌊B/K⌋ examples of each class. Measured: recall of each class on the test
   split, recall_c = #{ŷ = c, y = c} / #{y = c} (trainlab has no per-class metric, so it is computed
   here from the model's predictions).
2. Balanced moons (noise 0.1), plain SGD 0.1, batch 32. ``hard_examples`` draws each epoch n examples
   with p_i = (1 − f)·ℓ_i/Σ_j ℓ_j + f/n (f = 0.2, ℓ_i the loss when i was last seen). Measured: the
   first epoch whose validation accuracy reaches 99 %, and the first epoch whose loss on the whole
   training set falls to 0.05.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure

from trainlab.data.batching import TensorBatches
from trainlab.labs import Check, Lab, LabResult, Row, seeds_phrase
from trainlab.recipe import load_recipe
from trainlab.report.svg import svg_text
from trainlab.run import Setup, build

IMBALANCE = 10
TARGET_ACCURACY = 0.99  # moons at noise 0.1 is almost separable: both samplers get there within the budget
TARGET_LOSS = 0.05  # mean cross-entropy on the whole training split; both samplers end near 0.01–0.02
QUICK_SEEDS, FULL_SEEDS = (0, 1, 2), tuple(range(10))


def balance_recipe(sampler: str, seed: int, epochs: int) -> dict:
    return {"name": f"c22-{sampler}-{seed}", "seed": seed,
            "data": {"name": "moons", "n_samples": 4000, "noise": 0.3, "imbalance": IMBALANCE,
                     "preprocess": "zscore", "batch_size": 32, "sampler": sampler},
            "model": {"name": "mlp", "hidden": [32, 32]}, "optim": {"name": "adam", "lr": 0.01},
            "stopping": {"epochs": epochs}}


def hard_recipe(sampler: str, seed: int, epochs: int) -> dict:
    return {"name": f"c22-{sampler}-{seed}", "seed": seed,
            "data": {"name": "moons", "n_samples": 2000, "noise": 0.1, "preprocess": "zscore", "batch_size": 32,
                     "sampler": sampler},
            "model": {"name": "mlp", "hidden": [32, 32]}, "optim": {"name": "sgd", "lr": 0.1},
            "stopping": {"epochs": epochs}}


def recalls(setup: Setup, split: TensorBatches) -> list[float]:
    """Recall of every class on ``split``: the share of its examples predicted as that class."""
    setup.model.eval()
    with torch.no_grad():
        predicted = setup.model(split.x).argmax(dim=1)
    return [((predicted == c) & (split.y == c)).sum().item() / max((split.y == c).sum().item(), 1)
            for c in range(int(split.y.max()) + 1)]


def first_epoch(values: list[float], reached) -> int | None:
    """1-based epoch of the first value for which ``reached`` holds, None if never."""
    return next((i + 1 for i, v in enumerate(values) if reached(v)), None)


def mean_epochs(epochs: list[int | None], budget: int) -> float:
    """Mean epochs to target; a run that never got there counts as the budget + 1."""
    return float(np.mean([budget + 1 if e is None else e for e in epochs]))


def train_curves(recipe: dict, epochs: int) -> tuple[list[float], list[float]]:
    """Validation accuracy and whole-training-set loss after every epoch."""
    setup = build(load_recipe(recipe))
    whole = TensorBatches(setup.train.x, setup.train.y, len(setup.train.y), shuffle=False)
    accuracy, loss = [], []
    for epoch in range(1, epochs + 1):
        history = setup.trainer.fit(setup.train, setup.val, epoch)
        accuracy.append(history[-1]["val_accuracy"])
        loss.append(setup.trainer.evaluate(whole)["loss"])
    return accuracy, loss


def figure(recall: dict[str, list[float]], curves: dict[str, list[float]], target: float) -> str:
    fig = Figure(figsize=(10, 3.6))
    left, right = fig.subplots(1, 2)
    for i, (sampler, values) in enumerate(recall.items()):
        left.bar(np.arange(2) + 0.38 * (i - 0.5), values, width=0.38, label=sampler)
    left.set_xticks([0, 1], ["class 0 (majority)", f"class 1 (minority, 1/{IMBALANCE})"])
    left.set_ylabel("test recall (mean over seeds)")
    left.set_ylim(0, 1.05)
    left.set_title("imbalanced moons", fontsize=10)
    left.legend(fontsize=8, loc="lower left")
    for sampler, values in curves.items():
        right.plot(range(1, len(values) + 1), values, marker="o", ms=3, label=sampler)
    right.axhline(target, color="gray", ls="--", lw=1)
    right.set_xlabel("epoch")
    right.set_ylabel("validation accuracy (mean over seeds)")
    right.set_title(f"balanced moons, SGD; dashed: target {target:.0%}", fontsize=10)
    right.legend(fontsize=8)
    for ax in (left, right):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return svg_text(fig)


def run(quick: bool, out_dir: Path | None) -> LabResult:
    seeds = QUICK_SEEDS if quick else FULL_SEEDS
    balance_epochs, hard_epochs = (15, 15) if quick else (30, 20)
    rows, checks = [], []

    recall = {}
    for sampler in ("shuffle", "class_balanced"):
        per_seed = []
        for seed in seeds:
            setup = build(load_recipe(balance_recipe(sampler, seed, balance_epochs)))
            setup.trainer.fit(setup.train, setup.val, balance_epochs)
            per_seed.append(recalls(setup, setup.test))
        recall[sampler] = np.mean(per_seed, axis=0).tolist()
        worst = min(r[1] for r in per_seed)
        rows += [Row(f"{sampler}: minority recall (test)", recall[sampler][1]),
                 Row(f"{sampler}: majority recall (test)", recall[sampler][0]),
                 Row(f"{sampler}: balanced accuracy (test)", float(np.mean(recall[sampler]))),
                 Row(f"{sampler}: worst seed's minority recall", worst)]
    minority_test = int((setup.test.y == 1).sum())
    gain = recall["class_balanced"][1] - recall["shuffle"][1]
    checks.append(Check(f"class_balanced raises the mean minority recall: {recall['class_balanced'][1]:.3f} > "
                        f"{recall['shuffle'][1]:.3f} (shuffle), +{gain:.3f}", gain > 0))

    accuracy_curves, reached, loss_reached = {}, {}, {}
    for sampler in ("shuffle", "hard_examples"):
        runs = [train_curves(hard_recipe(sampler, seed, hard_epochs), hard_epochs) for seed in seeds]
        accuracy_curves[sampler] = np.mean([a for a, _ in runs], axis=0).tolist()
        reached[sampler] = [first_epoch(a, lambda v: v >= TARGET_ACCURACY) for a, _ in runs]
        loss_reached[sampler] = [first_epoch(loss, lambda v: v <= TARGET_LOSS) for _, loss in runs]
        rows += [Row(f"{sampler}: epochs to val_accuracy ≥ {TARGET_ACCURACY:.0%} (mean)",
                     mean_epochs(reached[sampler], hard_epochs)),
                 Row(f"{sampler}: epochs to val_accuracy ≥ {TARGET_ACCURACY:.0%} per seed",
                     " ".join(str(e or "never") for e in reached[sampler])),
                 Row(f"{sampler}: epochs to training loss ≤ {TARGET_LOSS} per seed",
                     " ".join(str(e or "never") for e in loss_reached[sampler])),
                 Row(f"{sampler}: final training loss (mean)", float(np.mean([loss[-1] for _, loss in runs])))]
    shuffle_mean = mean_epochs(reached["shuffle"], hard_epochs)
    hard_mean = mean_epochs(reached["hard_examples"], hard_epochs)
    faster = sum(h is not None and (s is None or h < s) for s, h in zip(reached["shuffle"], reached["hard_examples"]))
    checks.append(Check(f"hard_examples reaches {TARGET_ACCURACY:.0%} validation accuracy in fewer epochs: mean "
                        f"{hard_mean:.1f} < {shuffle_mean:.1f} (shuffle), faster in {faster}/{len(seeds)} seeds",
                        hard_mean < shuffle_mean and faster == len(seeds)))
    shuffle_loss = mean_epochs(loss_reached["shuffle"], hard_epochs)
    hard_loss = mean_epochs(loss_reached["hard_examples"], hard_epochs)
    rows += [Row(f"shuffle: epochs to training loss ≤ {TARGET_LOSS} (mean)", shuffle_loss),
             Row(f"hard_examples: epochs to training loss ≤ {TARGET_LOSS} (mean)", hard_loss)]
    checks.append(Check(f"hard_examples brings the whole-training-set loss to {TARGET_LOSS} in fewer epochs: mean "
                        f"{hard_loss:.1f} < {shuffle_loss:.1f} (shuffle)", hard_loss < shuffle_loss))

    note = (f"{seeds_phrase(seeds)}. Recall: moons, 4000 drawn, imbalance {IMBALANCE}:1 (≈ 1000 : 100 kept), noise "
            f"0.3, {balance_epochs} epochs of Adam 0.01; the test split holds {minority_test} minority examples "
            "(last seed), so one example is "
            f"{1 / max(minority_test, 1):.3f} of recall. Balancing trades majority recall for minority recall. "
            f"Convergence: moons (2000, noise 0.1), SGD 0.1, batch 32, {hard_epochs} epochs; a run that never "
            "reaches the target counts as budget + 1. The training loss is the mean cross-entropy on the whole "
            "training split after each epoch, evaluated in one batch without the sampler (Trainer.evaluate on "
            "setup.train would draw the sampler's resampled batches). trainlab has no per-class recall metric; "
            "recall is computed here from the model's predictions.")
    return LabResult(rows, checks, {"c22_samplers": figure(recall, accuracy_curves, TARGET_ACCURACY)}, note)


LAB = Lab(
    id="C22", name="class-balanced and hard-example sampling",
    claim="Mini-batches balanced across classes are usually better; present the examples that produce larger "
          "errors more often than those that produce small errors (Efficient BackProp).",
    measures="minority-class test recall, shuffle vs class_balanced (imbalanced moons); epochs to a validation "
             "accuracy target, shuffle vs hard_examples",
    source="002_fbb29f398f0f5956.txt", experiment=run)

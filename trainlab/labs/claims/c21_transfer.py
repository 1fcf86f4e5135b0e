"""C21: fine-tuning a pretrained feature extractor beats training from scratch on a small target set (seed 003).

The notes ("Transferencia de aprendizaje"): take a network trained on a large set for one task, keep
its feature-extracting part intact and re-train the classifier on a small set for another task; re-
training only the end of the network avoids overfitting the few examples.

Source task: MNIST-1D digits 0–4 (the ≈ 2000 training signals of those classes). Target task: digits
5–9 with only 100 labelled signals (20 per class, drawn per seed), tested on the official test split's
5–9 signals (≈ 500). Network: the MNIST-1D paper's 1-D CNN (``cnn1d``: three convolutions, the
feature extractor, and a Linear head). Three arms on the same 100 signals, same optimizer and epochs:

- **frozen**: the source network's convolutions (``init_from`` + ``freeze: [features]``), a new head
  (``replace_head``) — only the head trains;
- **fine-tuned**: the same start, every layer trains;
- **scratch**: a network initialized at random.

Criteria (fixed before the first run): frozen − scratch and fine-tuned − scratch, target test accuracy on
the same seed, each ≥ 0.02 (10 of the ≈ 500 target test signals); and frozen − fine-tuned ≥ 0 (the notes:
training only the last layers avoids overfitting the few examples).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from safetensors.torch import save_file

from trainlab.data.datasets import Dataset, mnist1d
from trainlab.labs import Evidence, LabResult, Row, lab, seeds_phrase, work_dir
from trainlab.recipe import load_recipe
from trainlab.report.svg import svg_text
from trainlab.run import build

SOURCE_CLASSES, TARGET_CLASSES = range(5), range(5, 10)
PER_CLASS = 20  # 100 labelled target signals
THRESHOLD = 0.02  # 10 of the ≈ 500 target test signals
ARMS = ("frozen", "fine-tuned", "scratch")
MODEL = {"name": "cnn1d", "channels": 25}
OPTIM = {"name": "adam", "lr": 0.003}


def _subset(x: np.ndarray, y: np.ndarray, classes: range) -> tuple[np.ndarray, np.ndarray]:
    keep = np.isin(y, list(classes))
    return x[keep], y[keep] - classes.start


def tasks(seed: int) -> tuple[Dataset, Dataset]:
    """The source set (all training signals of digits 0–4) and the target set (``PER_CLASS`` training
    signals of each digit 5–9, drawn with ``seed``; the test split's 5–9 signals), labels 0–4 in both."""
    data = mnist1d(seed=0)
    names = [str(c) for c in range(5)]
    source = Dataset("classification", *_subset(data.x, data.y, SOURCE_CLASSES),
                     *_subset(data.x_test, data.y_test, SOURCE_CLASSES), class_names=names)
    x, y = _subset(data.x, data.y, TARGET_CLASSES)
    rng = np.random.default_rng(seed)
    chosen = np.sort(np.concatenate([rng.choice(np.flatnonzero(y == c), PER_CLASS, replace=False) for c in range(5)]))
    target = Dataset("classification", x[chosen], y[chosen], *_subset(data.x_test, data.y_test, TARGET_CLASSES),
                     class_names=[str(c) for c in TARGET_CLASSES])
    return source, target


def recipe(seed: int, epochs: int, batch_size: int, **model) -> dict:
    return {"name": f"c21-seed{seed}", "seed": seed, "stopping": {"epochs": epochs}, "optim": OPTIM,
            "data": {"name": "memory", "batch_size": batch_size, "val_fraction": 0.0, "preprocess": "none"},
            "model": {**MODEL, **model}}


def pretrain(seed: int, epochs: int, where: Path) -> tuple[Path, float]:
    """Train the source network; its weights as a .safetensors file and its source test accuracy."""
    source, _ = tasks(seed)
    setup = build(load_recipe(recipe(seed, epochs, 100)), data=source)
    setup.trainer.fit(setup.train, None, epochs)
    path = where / f"source-seed{seed}.safetensors"
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in setup.model.state_dict().items()}, path)
    return path, setup.trainer.evaluate(setup.test)["accuracy"]


def fine_tune(arm: str, seed: int, epochs: int, weights: Path) -> tuple[float, float]:
    """Target test accuracy and training accuracy of one arm."""
    _, target = tasks(seed)
    transfer = {"init_from": str(weights), "replace_head": True}
    model = {"frozen": {**transfer, "freeze": ["features"]}, "fine-tuned": transfer, "scratch": {}}[arm]
    setup = build(load_recipe(recipe(seed, epochs, 25, **model)), data=target)
    setup.trainer.fit(setup.train, None, epochs)
    return setup.trainer.evaluate(setup.test)["accuracy"], setup.trainer.evaluate(setup.train)["accuracy"]


def figure(per_seed: dict[str, list[float]]) -> str:
    """Target test accuracy per seed, one column per arm, lines joining a seed's arms."""
    fig = Figure(figsize=(5.6, 3.8))
    ax = fig.add_subplot()
    values = np.array([per_seed[arm] for arm in ARMS])  # (arms, seeds)
    for s in range(values.shape[1]):
        ax.plot(range(len(ARMS)), values[:, s], color="gray", alpha=0.4, lw=1)
    for i, arm in enumerate(ARMS):
        ax.scatter([i] * values.shape[1], values[i], color=f"C{i}", zorder=3, s=18)
        ax.hlines(np.median(values[i]), i - 0.25, i + 0.25, color=f"C{i}", lw=2)
    ax.set_xticks(range(len(ARMS)), ["frozen extractor\n+ new head", "full fine-tuning", "from scratch"])
    ax.set_ylabel("target test accuracy (digits 5–9)")
    ax.set_title(f"{PER_CLASS * 5} labelled target signals; a line per seed, bar: median", fontsize=10)
    ax.grid(alpha=0.3)
    return svg_text(fig)


@lab(
    id="C21", name="fine-tuning a pretrained extractor beats training from scratch",
    claim="Transfer learning: keep the feature-extracting part of a network trained on a large set and re-train "
          "the last layers on a small set for another task; re-training only the end avoids overfitting the few "
          "examples.",
    measures="target test accuracy with 100 labelled MNIST-1D signals of digits 5–9, starting from a 1-D CNN trained "
             "on digits 0–4: frozen extractor + new head, full fine-tuning, and from scratch, per seed",
    source="003_5bed7eaae0bb2515.txt")
def run(quick: bool, out_dir: Path | None, seeds: tuple[int, ...]) -> LabResult:
    source_epochs, target_epochs = (10, 40) if quick else (30, 100)
    per_seed: dict[str, list[float]] = {arm: [] for arm in ARMS}
    train_accuracy: dict[str, list[float]] = {arm: [] for arm in ARMS}
    source_accuracy = []
    with work_dir(out_dir) as where:
        for seed in seeds:
            weights, accuracy = pretrain(seed, source_epochs, where / "c21-weights")
            source_accuracy.append(accuracy)
            for arm in ARMS:
                test, train = fine_tune(arm, seed, target_epochs, weights)
                per_seed[arm].append(test)
                train_accuracy[arm].append(train)
    med = {arm: float(np.median(v)) for arm, v in per_seed.items()}
    rows = [Row("source network: test accuracy on digits 0–4 (median)", float(np.median(source_accuracy)))]
    rows += [Row(f"{arm}: target test accuracy (median)", med[arm]) for arm in ARMS]
    rows += [Row(f"{arm}: target training accuracy − test accuracy (median; overfitting)",
                 float(np.median(np.subtract(train_accuracy[arm], per_seed[arm])))) for arm in ARMS]

    def contrast(a: str, b: str) -> list[float]:
        return list(np.subtract(per_seed[a], per_seed[b]))

    checks = [
        Evidence("frozen extractor + new head − from scratch: target test accuracy (same seed)",
                 contrast("frozen", "scratch"), at_least=THRESHOLD, seeds=seeds,
                 source="notes 003: fine-tuning avoids overfitting the few examples; 10 of ≈ 500 test signals"),
        Evidence("full fine-tuning − from scratch: target test accuracy (same seed)",
                 contrast("fine-tuned", "scratch"), at_least=THRESHOLD, seeds=seeds,
                 source="notes 003 / LECTURES.md C21: fine-tuning beats training from scratch; 10 of ≈ 500 test signals"),
        Evidence("frozen extractor + new head − full fine-tuning: target test accuracy (same seed)",
                 contrast("frozen", "fine-tuned"), at_least=0.0, seeds=seeds,
                 source="notes 003: re-train only the last layers, which avoids overfitting"),
    ]
    note = (f"{seeds_phrase(seeds)}; seed s fixes the source network's initialization and batch order, which "
            f"{PER_CLASS} signals per digit 5–9 are labelled, and the target network's start. Source: the "
            f"{'quick' if quick else 'full'} variant trains the CNN for {source_epochs} epochs on digits 0–4 "
            f"(Adam, η = {OPTIM['lr']}, batch 100); every target arm then trains {target_epochs} epochs on the same "
            f"{PER_CLASS * 5} signals (batch 25, no validation split, no early stopping) and is tested on the test "
            "split's digits 5–9. The fine-tuned arms start from the source weights (init_from) with a new head "
            "(replace_head); 'frozen' also freezes the three convolutions (freeze: [features]). Criteria are "
            "per-seed paired contrasts judged by the 95 % bootstrap interval of their median; thresholds fixed "
            "before the first run.")
    return LabResult(rows, checks, {"c21_transfer": figure(per_seed)}, note)

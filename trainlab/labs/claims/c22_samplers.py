"""C22: balanced mini-batches beat online learning; hard-example sampling speeds learning (seed 002).

The notes (after LeCun's Efficient BackProp): "the use of mini-batches (balanced across the classes
in supervised problems) is usually better than online learning" — fewer computations to update the
weights, and many examples' gradients computed at once with matrix operations — and "present the
examples that produce larger errors more often than those that produce small errors". Two
experiments on moons, MLP 2→32→32→2 (ReLU), plain SGD, once per seed (split, weights, batch order):

1. Balanced mini-batches vs online learning, at an equal number of weight updates (the notes'
   currency: a mini-batch update costs one matrix operation, about what one online update costs;
   lab C23 measures a 720-example step costing about one 1-example step on a CPU). Moons (1000
   drawn, noise 0.2); online: batch 1, η = 0.03, one epoch (n updates); ``class_balanced``
   mini-batches: B = 32 with ⌊B/K⌋ = 16 examples of each class per batch, η = 0.3, as many epochs
   as make n updates (within one epoch's steps). The rates are C23's best for each mode on this
   data. Measured per seed on the whole training split: the paired per-example loss difference
   d_i = ℓ_i(online) − ℓ_i(balanced), reduced to z = mean(d) / (sd(d)/√n) — the difference in
   standard errors of its own estimate; the claim "better" asks z ≥ 2.
2. ``hard_examples`` vs ``shuffle``: moons (2000 drawn, noise 0.1), SGD η = 0.1, B = 32.
   ``hard_examples`` draws each epoch n examples with p_i = (1 − f)·ℓ_i/Σ_j ℓ_j + f/n (f = 0.2, ℓ_i
   the loss when i was last seen). Measured per seed: the first epoch whose loss on the whole
   training split is ≤ 0.05; the claim "speeds learning" asks the paired saving (shuffle − hard)
   to be at least 2 epochs.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure

from trainlab.data.batching import TensorBatches
from trainlab.labs import Evidence, LabResult, Row, lab, seeds_phrase
from trainlab.recipe import load_recipe
from trainlab.report.svg import svg_text
from trainlab.run import Setup, build
from trainlab.train.trainer import NonFiniteLoss

ONLINE_LR, BALANCED_LR = 0.03, 0.3  # C23's best rates on this data: online of {0.01, 0.03, 0.1}, B = 32 of {0.03, 0.1, 0.3}
BATCH = 32  # B: 16 examples of each of the 2 classes per balanced batch
Z_BETTER = 2.0  # "better": the loss difference is at least 2 standard errors of its own estimate
TARGET_LOSS = 0.05  # mean cross-entropy on the whole training split; both samplers end near 0.01–0.02
EPOCHS = 20  # budget for part 2; a run that misses the target counts as EPOCHS + 1
SAVED = 2.0  # "speeds learning": at least 2 epochs fewer, so that one epoch's rounding on each arm cannot make it


def balance_recipe(mode: str, seed: int, epochs: int) -> dict:
    online = mode == "online"
    return {"name": f"c22-{mode}-{seed}", "seed": seed,
            "data": {"name": "moons", "n_samples": 1000, "noise": 0.2, "preprocess": "zscore",
                     "batch_size": 1 if online else BATCH, "batch_mode": "online" if online else "minibatch",
                     "sampler": "shuffle" if online else "class_balanced"},
            "model": {"name": "mlp", "hidden": [32, 32]},
            "optim": {"name": "sgd", "lr": ONLINE_LR if online else BALANCED_LR}, "stopping": {"epochs": epochs}}


def hard_recipe(sampler: str, seed: int) -> dict:
    return {"name": f"c22-{sampler}-{seed}", "seed": seed,
            "data": {"name": "moons", "n_samples": 2000, "noise": 0.1, "preprocess": "zscore", "batch_size": BATCH,
                     "sampler": sampler},
            "model": {"name": "mlp", "hidden": [32, 32]}, "optim": {"name": "sgd", "lr": 0.1},
            "stopping": {"epochs": EPOCHS}}


def example_losses(setup: Setup) -> torch.Tensor:
    """Per-example cross-entropy of the model (eval mode) on the whole training split."""
    setup.model.eval()
    with torch.no_grad():
        return torch.nn.functional.cross_entropy(setup.model(setup.train.x), setup.train.y, reduction="none")


def equal_updates(seed: int) -> dict[str, float]:
    """Online (one epoch: n updates) vs balanced mini-batches (as many epochs as make n updates): the
    paired loss difference in standard errors, both arms' losses, and both after one epoch each."""
    online = build(load_recipe(balance_recipe("online", seed, 1)))
    n = len(online.train.y)
    balanced = build(load_recipe(balance_recipe("balanced", seed, 1)))
    epochs = max(1, round(n / len(balanced.train)))
    online.trainer.fit(online.train, None, 1)
    one_online = float(example_losses(online).mean())
    balanced.trainer.fit(balanced.train, None, 1)
    one_balanced = float(example_losses(balanced).mean())
    balanced.trainer.fit(balanced.train, None, epochs)
    a, b = example_losses(online), example_losses(balanced)
    d = (a - b).double()
    z = float(d.mean() / (d.std() / math.sqrt(n)))
    return {"z": z, "online": float(a.mean()), "balanced": float(b.mean()), "epochs": epochs,
            "updates": (n, epochs * len(balanced.train)), "one epoch online": one_online,
            "one epoch balanced": one_balanced}


def loss_curve(sampler: str, seed: int) -> list[float]:
    """Whole-training-set loss after each epoch, up to the epoch that reaches TARGET_LOSS (a diverged
    run, which SGD 0.1 on moons should not give, ends with inf)."""
    setup = build(load_recipe(hard_recipe(sampler, seed)))
    whole = TensorBatches(setup.train.x, setup.train.y, len(setup.train.y), shuffle=False)
    losses: list[float] = []
    try:
        for epoch in range(1, EPOCHS + 1):
            setup.trainer.fit(setup.train, None, epoch)
            losses.append(setup.trainer.evaluate(whole)["loss"])
            if losses[-1] <= TARGET_LOSS:
                break
    except NonFiniteLoss:
        losses.append(math.inf)
    return losses


def epochs_to_target(losses: list[float]) -> int:
    """First epoch with loss ≤ TARGET_LOSS; EPOCHS + 1 when the budget ran out (or the run diverged)."""
    return next((i + 1 for i, v in enumerate(losses) if v <= TARGET_LOSS), EPOCHS + 1)


def figure(balance: list[dict[str, float]], curves: dict[str, list[list[float]]]) -> str:
    fig = Figure(figsize=(10, 3.6))
    left, right = fig.subplots(1, 2)
    labels = ("online, 1 epoch", "balanced B=32, 1 epoch", "balanced B=32, n updates")
    keys = ("one epoch online", "one epoch balanced", "balanced")
    left.bar(range(3), [float(np.median([b[k] for b in balance])) for k in keys], color=["C1", "C0", "C0"])
    left.axhline(float(np.median([b["online"] for b in balance])), color="C1", ls="--", lw=1,
                 label="online after n updates (= 1 epoch)")
    left.set_xticks(range(3), labels, fontsize=7)
    left.set_ylabel("training loss (median over seeds)")
    left.set_title("balanced mini-batches vs online learning", fontsize=10)
    left.legend(fontsize=7)
    for sampler, runs in curves.items():
        longest = max(len(r) for r in runs)
        median = [float(np.median([r[e] for r in runs if len(r) > e])) for e in range(longest)]
        right.plot(range(1, longest + 1), median, marker="o", ms=3, label=sampler)
    right.axhline(TARGET_LOSS, color="gray", ls="--", lw=1)
    right.set_yscale("log")
    right.set_xlabel("epoch")
    right.set_ylabel("whole-training-set loss (median of the seeds still running)")
    right.set_title(f"hard examples vs shuffle, SGD; dashed: target {TARGET_LOSS}", fontsize=10)
    right.legend(fontsize=8)
    for ax in (left, right):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return svg_text(fig)


@lab(
    id="C22", name="balanced mini-batches vs online; hard-example sampling",
    claim="Mini-batches (balanced across the classes) are usually better than online learning; present the "
          "examples that produce larger errors more often than those that produce small errors (Efficient "
          "BackProp) — it speeds learning.",
    measures="training loss after an equal number of updates, online vs class-balanced mini-batches (paired, in "
             "standard errors); epochs to a training-loss target, shuffle vs hard_examples",
    source="002_fbb29f398f0f5956.txt")
def run(quick: bool, out_dir: Path | None, seeds: tuple[int, ...]) -> LabResult:
    balance = [equal_updates(seed) for seed in seeds]
    curves = {sampler: [loss_curve(sampler, seed) for seed in seeds] for sampler in ("shuffle", "hard_examples")}
    reached = {sampler: [epochs_to_target(c) for c in runs] for sampler, runs in curves.items()}

    def median(key: str) -> float:
        return float(np.median([b[key] for b in balance]))

    rows = [Row("weight updates: online / balanced mini-batches (first seed)", " / ".join(map(str, balance[0]["updates"]))),
            Row("training loss after n updates: online (median)", median("online")),
            Row("training loss after n updates: balanced mini-batches (median)", median("balanced")),
            Row("online − balanced, in standard errors, per seed", " ".join(f"{b['z']:.1f}" for b in balance)),
            Row("equal epochs, for contrast: training loss after 1 epoch, online (median)", median("one epoch online")),
            Row("equal epochs, for contrast: training loss after 1 epoch, balanced mini-batches (median)",
                median("one epoch balanced"))]
    for sampler in ("shuffle", "hard_examples"):
        rows += [Row(f"{sampler}: epochs to training loss ≤ {TARGET_LOSS} (median)", float(np.median(reached[sampler]))),
                 Row(f"{sampler}: epochs to training loss ≤ {TARGET_LOSS} per seed", " ".join(map(str, reached[sampler])))]
    checks = [
        Evidence("balanced mini-batches vs online learning at an equal number of updates: training-loss difference "
                 "online − balanced, in standard errors (per seed)", [b["z"] for b in balance], at_least=Z_BETTER,
                 seeds=seeds, source="notes 002: 'usually better'; 2 standard errors of the paired per-example "
                                     "difference"),
        Evidence(f"hard_examples: epochs saved to a training loss of {TARGET_LOSS} (shuffle − hard, per seed)",
                 [s - h for s, h in zip(reached["shuffle"], reached["hard_examples"])], at_least=SAVED, seeds=seeds,
                 source="notes 002 (LeCun): 'present the high-error examples more often'; 2 epochs, one epoch's "
                        "rounding on each arm"),
    ]
    note = (f"{seeds_phrase(seeds)}; each arm runs once per seed. Verdicts: the 95 % bootstrap interval of the "
            "per-seed median against the threshold. Part 1 compares at an equal number of weight updates (online: "
            f"one epoch of n ≈ {balance[0]['updates'][0]} single-example steps; balanced mini-batches: "
            f"{balance[0]['epochs']} epochs of {BATCH}-example batches), the currency of the notes' reasons (fewer "
            "updates' worth of computation, matrix operations); at an equal number of epochs the order reverses — "
            "online makes 32× more updates per epoch (rows 'equal epochs', and lab C23). The balanced sampler "
            "fills every batch with 16 examples of each class (moons' classes are equal in number, so balancing "
            "only removes the batch-to-batch class noise). Part 2: a run that misses the target within "
            f"{EPOCHS} epochs, or diverges, counts as {EPOCHS + 1} epochs. Losses are the mean cross-entropy on the "
            "whole training split, evaluated in one batch without the sampler.")
    return LabResult(rows, checks, {"c22_samplers": figure(balance, curves)}, note)

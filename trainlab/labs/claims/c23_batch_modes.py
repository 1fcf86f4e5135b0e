"""C23: on redundant data, online and mini-batch learning reach a loss in fewer epochs than full batch (seed 002).

The notes: "if the training set is redundant, the gradient of its first half is similar to that of
its second half", so one can update after each half, each mini-batch, or (online) each example,
while full-batch gradient descent takes one step per pass over the data. An epoch of online
learning is n steps w ← w − η∇ℓ_i(w); of mini-batch learning ⌈n/B⌉ steps on the mean over B
examples; of full-batch learning one step w ← w − η·(1/n)Σ_i ∇ℓ_i(w).

Data: moons, 1000 drawn (720 for training), noise 0.2 — 2-D points, so the set is highly redundant;
the lab measures that as the cosine between the gradients of the two halves of the training split
at initialization. Model MLP 2→32→32→2 (ReLU), plain SGD; every mode runs at its best η of a grid
(fewest epochs to the target on seed 0): online 0.03 of {0.01, 0.03, 0.1}, mini-batch (B = 32) 0.3 of
{0.03, 0.1, 0.3}, full batch the better of {1, 3} per seed (of {0.1, 0.3, 1, 3}) — the stable range
moves up as the batch grows and its gradient noise falls.
Measured per seed: epochs (and, recorded only, training seconds: the Trainer's per-epoch
``seconds``, evaluation excluded) until the loss on the whole training split falls to the target;
the claim is judged on the per-seed ratio full-batch epochs / online (mini-batch) epochs.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure

from trainlab.data.batching import TensorBatches
from trainlab.labs import Evidence, LabResult, Row, lab, seeds_phrase
from trainlab.recipe import load_recipe
from trainlab.report.svg import svg_text
from trainlab.run import Setup, build
from trainlab.train.callbacks import Callback, LoopState

TARGET = 0.1  # whole-training-set cross-entropy; the noise floor of this set is ≈ 0.06 (full batch, long run)
# Each mode's best η of the grids online {0.01, 0.03, 0.1}, mini-batch {0.03, 0.1, 0.3}, full batch
# {0.1, 0.3, 1, 3} on seed 0 with 2000 points drawn (2, 5 and 71 epochs); full batch, the arm the claim says loses, keeps its two
# best rates so that a seed where 3 is stable can use it (0.1 and 0.3 missed the target in 2000 epochs).
RATES = {"online": (0.03,), "minibatch": (0.3,), "fullbatch": (1.0, 3.0)}
BUDGET = {"online": 10, "minibatch": 50, "fullbatch": 2000}  # epochs; several times what each mode's best rate needs
MODES = ("online", "minibatch", "fullbatch")
SPEEDUP = 2.0  # "fewer epochs": full batch needs at least twice as many


def recipe(mode: str, lr: float, seed: int, n_samples: int) -> dict:
    return {"name": f"c23-{mode}-{seed}", "seed": seed,
            "data": {"name": "moons", "n_samples": n_samples, "noise": 0.2, "preprocess": "zscore",
                     "batch_size": 32, "batch_mode": mode},
            "model": {"name": "mlp", "hidden": [32, 32]}, "optim": {"name": "sgd", "lr": lr},
            "stopping": {"epochs": BUDGET[mode]}}


class StopAtTarget(Callback):
    """After each epoch: the loss on the whole training split (one batch); stop once it is ≤ TARGET."""

    def __init__(self):
        self.losses: list[float] = []
        self.setup: Setup | None = None

    def on_epoch_end(self, state: LoopState) -> None:
        train = self.setup.train
        self.losses.append(self.setup.trainer.evaluate(TensorBatches(train.x, train.y, len(train.y), False))["loss"])
        state.should_stop = self.losses[-1] <= TARGET


def half_gradient_cosine(setup: Setup) -> float:
    """cos(∇L(first half), ∇L(second half)) of the training split at the initial weights."""
    x, y = setup.train.x, setup.train.y
    half = len(y) // 2
    grads = []
    for part in (slice(0, half), slice(half, 2 * half)):
        setup.model.zero_grad()
        torch.nn.functional.cross_entropy(setup.model(x[part]), y[part]).backward()
        grads.append(torch.cat([p.grad.flatten() for p in setup.model.parameters()]))
    setup.model.zero_grad()
    return torch.nn.functional.cosine_similarity(grads[0], grads[1], dim=0).item()


def train(mode: str, lr: float, seed: int, n_samples: int) -> dict:
    """Train until the target or the budget; epochs and seconds to the target (None if not reached)."""
    stop = StopAtTarget()
    setup = build(load_recipe(recipe(mode, lr, seed, n_samples)), callbacks=[stop])
    stop.setup = setup
    cosine = half_gradient_cosine(setup)
    history = setup.trainer.fit(setup.train, None, BUDGET[mode])
    seconds = np.cumsum([h["seconds"] for h in history]).tolist()
    reached = stop.losses[-1] <= TARGET
    return {"epochs": len(history) if reached else None, "seconds": seconds[-1] if reached else None,
            "losses": stop.losses, "elapsed": seconds, "cosine": cosine, "n_train": len(setup.train.y),
            "steps_per_epoch": len(setup.train)}


def figure(curves: dict[str, dict]) -> str:
    fig = Figure(figsize=(10, 3.6))
    left, right = fig.subplots(1, 2)
    for label, run in curves.items():
        left.plot(range(1, len(run["losses"]) + 1), run["losses"], marker="o", ms=3, label=label)
        right.plot(run["elapsed"], run["losses"], marker="o", ms=3, label=label)
    for ax, xlabel in ((left, "epoch"), (right, "training seconds")):
        ax.axhline(TARGET, color="gray", ls="--", lw=1)
        ax.set_xscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("loss on the whole training split")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    left.set_title(f"to the target {TARGET} (dashed), first seed", fontsize=10)
    right.set_title("the same runs against time (CPU)", fontsize=10)
    fig.tight_layout()
    return svg_text(fig)


@lab(
    id="C23", name="online and mini-batch vs full batch on redundant data",
    claim="If the training set is redundant, the gradient of its first half is similar to that of its second "
          "half: updating after each half (mini-batch), or after each example (online), is much faster than "
          "full-batch learning.",
    measures="epochs and training seconds to a target training loss for online, minibatch and fullbatch, "
             "each at its best rate of a grid",
    source="002_fbb29f398f0f5956.txt")
def run(quick: bool, out_dir: Path | None, seeds: tuple[int, ...]) -> LabResult:
    n_samples = 1000  # 720 training points: still redundant (cosine row), and an online epoch stays cheap
    rows: list[Row] = []
    best: dict[str, list[dict]] = {mode: [] for mode in MODES}  # per seed, the run at the mode's best rate
    for seed in seeds:
        for mode in MODES:
            runs = {lr: train(mode, lr, seed, n_samples) for lr in RATES[mode]}
            lr = min(RATES[mode], key=lambda r: runs[r]["epochs"] or np.inf)
            best[mode].append(runs[lr] | {"lr": lr})
    first = {mode: runs[0] for mode, runs in best.items()}
    rows += [Row("cosine of the two training halves' gradients at init (median over seeds)",
                 float(np.median([r["cosine"] for r in best["online"]])), 1.0, "redundant data: ≈ 1"),
             Row("training examples / mini-batch steps per epoch", f"{first['online']['n_train']} / "
                 f"{first['minibatch']['steps_per_epoch']}")]
    epochs = {mode: [BUDGET[mode] + 1 if r["epochs"] is None else r["epochs"] for r in best[mode]] for mode in MODES}
    for mode in MODES:
        seconds = [np.inf if r["seconds"] is None else r["seconds"] for r in best[mode]]
        rows += [Row(f"{mode}: best η per seed", " ".join(f"{r['lr']:g}" for r in best[mode])),
                 Row(f"{mode}: epochs to loss ≤ {TARGET} at the best η (median)", float(np.median(epochs[mode]))),
                 Row(f"{mode}: epochs to loss ≤ {TARGET} at the best η per seed", " ".join(map(str, epochs[mode]))),
                 Row(f"{mode}: training seconds to loss ≤ {TARGET} at the best η (median; this machine, "
                     "recorded only)", float(np.median(seconds)))]
    checks = [Evidence(f"{mode}: full batch's epochs to loss ≤ {TARGET} / {mode}'s, each at its best η (per seed)",
                       [f / m for f, m in zip(epochs["fullbatch"], epochs[mode])], at_least=SPEEDUP, seeds=seeds,
                       source="notes 002: 'fewer epochs' — at least half, so that a one-epoch rounding on either "
                              "count cannot make it")
              for mode in ("online", "minibatch")]
    curves = {f"{mode} η={first[mode]['lr']:g}": first[mode] for mode in MODES}
    note = (f"{seeds_phrase(seeds)}; each mode and η runs once per seed (split, initial weights, batch order), "
            "and each mode runs at its best η (full batch: the better of 1 and 3 on that seed). Moons "
            f"({n_samples} drawn, noise 0.2), MLP 2→32→32→2, SGD; the loss is the cross-entropy on the whole "
            "training split after each epoch. A run that misses the target within its budget, or diverges "
            "(NaN/inf, which the Trainer stops), counts as budget + 1 epochs. The criteria are per-seed ratios "
            "full-batch epochs / online (or mini-batch) epochs, judged by the 95 % bootstrap interval of their "
            f"median against {SPEEDUP:g}. Seconds are recorded, not claimed: on a CPU a tiny network's step costs "
            "about the same for 1 example as for 720, so full batch can win in wall time although it needs far "
            "more epochs — the notes' argument counts passes over the data. trainlab cannot replicate a data set "
            "k times (no data.repeat); redundancy here is that of many draws from one 2-D distribution, shown by "
            "the cosine row. The figure shows the first seed.")
    return LabResult(rows, checks, {"c23_batch_modes": figure(curves)}, note)

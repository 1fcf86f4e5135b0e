"""C15: snapshot ensembles of an SGDR run beat every single snapshot (seed 001).

SGDR (Loshchilov & Hutter 2017) restarts a cosine schedule every T epochs:
η_t = η_min + ½(η₀ − η_min)(1 + cos(π t_cur/T)). A snapshot is saved at the end of each cycle, where
the rate is lowest; the ensemble averages the members' *predictions* (Huang et al. 2017):
p̄(y | x) = (1/M) Σ_m softmax(f_m(x)) (:func:`trainlab.tools.snapshots.evaluate_snapshots`).
The notes: the snapshots' error rates are similar but they make different errors, so averaging
their predictions reduces the error rate.

Two problems, SGD + momentum 0.9, η₀ = 0.1, η_min = 0, 8 cycles; the ensemble is the last M = 5
snapshots (the early cycles are still far from converged, while the notes speak of members with
similar error rates):

- digits (8×8, 10 classes), MLP 64→64→10, cycles of 3 epochs, batch 32;
- MNIST-1D (40-point signals, 10 classes), MLP 40→100→100→10, cycles of 4 epochs, batch 64.

Measured on the test split: each member's error, their mean, the ensemble's error, the
negative log-likelihoods, and how often two members disagree (the diversity the ensemble needs).
"""
from __future__ import annotations

import copy
from pathlib import Path
from tempfile import TemporaryDirectory

import numpy as np
import torch
from matplotlib.figure import Figure

from trainlab.labs import Check, Lab, LabResult, Row, seeds_phrase
from trainlab.recipe import load_recipe
from trainlab.report.svg import svg_text
from trainlab.run import Setup, build
from trainlab.tools.snapshots import SnapshotTable, evaluate_snapshots, snapshot_callback, snapshot_files
from trainlab.train.checkpoint import load_checkpoint, split_prefix

MEMBERS = 5
CYCLES = 8
PROBLEMS = {"digits": ({"name": "digits", "preprocess": "zscore", "batch_size": 32}, [64], 3),
            "MNIST-1D": ({"name": "mnist1d", "preprocess": "zscore", "batch_size": 64}, [100, 100], 4)}
QUICK_SEEDS, FULL_SEEDS = (0, 1), (0, 1, 2, 3, 4)


def recipe(problem: str, seed: int) -> dict:
    data, hidden, cycle = PROBLEMS[problem]
    return {"name": f"c15-{data['name']}-seed{seed}", "seed": seed, "data": data,
            "model": {"name": "mlp", "hidden": hidden}, "optim": {"name": "sgd", "lr": 0.1, "momentum": 0.9},
            "schedule": {"name": "sgdr", "first_cycle": cycle, "cycle_mult": 1},
            "stopping": {"epochs": CYCLES * cycle}}


def disagreement(setup: Setup, directory: Path) -> float:
    """Mean over member pairs of the fraction of test examples on which their predicted classes differ."""
    model = copy.deepcopy(setup.model).eval()
    predicted = []
    for path in snapshot_files(directory)[-MEMBERS:]:
        model.load_state_dict(split_prefix(load_checkpoint(path)[0], "model"))
        with torch.no_grad():
            predicted.append(model(setup.test.x).argmax(dim=1))
    pairs = [(a != b).float().mean().item() for i, a in enumerate(predicted) for b in predicted[i + 1:]]
    return float(np.mean(pairs))


def train(problem: str, seed: int, where: Path) -> tuple[SnapshotTable, float, list[float]]:
    """The snapshot table (last MEMBERS cycles), the members' disagreement and the rate of every epoch."""
    setup = build(load_recipe(recipe(problem, seed)))
    setup.trainer.callbacks.append(snapshot_callback(where, setup, keep=MEMBERS))
    history = setup.trainer.fit(setup.train, setup.val, setup.recipe.stopping.epochs)
    return evaluate_snapshots(setup), disagreement(setup, where / "snapshots"), [h["lr"] for h in history]


def figure(shown: dict[str, tuple[SnapshotTable, list[float]]]) -> str:
    """Left: the rate per epoch with the kept snapshots marked. Right: test error of each member,
    their mean and the ensemble (seed of the first run)."""
    fig = Figure(figsize=(11, 3.8))
    left, right = fig.subplots(1, 2)
    width = 0.8 / len(shown)
    for i, (problem, (table, rates)) in enumerate(shown.items()):
        epochs = np.arange(1, len(rates) + 1)
        left.plot(epochs, rates, color=f"C{i}", label=problem)
        ends = [m["epoch"] for m in table.members]
        left.plot(ends, [rates[e - 1] for e in ends], "v", color=f"C{i}", ms=7)
        errors = [1 - m["accuracy"] for m in table.members]
        errors += [1 - table.mean_member["accuracy"], 1 - table.ensemble["accuracy"]]
        positions = np.arange(len(errors)) + (i - (len(shown) - 1) / 2) * width
        bars = right.bar(positions, errors, width, color=f"C{i}", label=problem)
        bars[-1].set_hatch("//")
    labels = [f"snap {k}" for k in range(1, MEMBERS + 1)] + ["mean", "ensemble"]
    right.set_xticks(range(len(labels)), labels, fontsize=8)
    right.set_ylabel("test error")
    right.set_yscale("log")
    right.set_title("test error per member, their mean, the ensemble", fontsize=10)
    left.set_xlabel("epoch")
    left.set_ylabel("learning rate (logged at the epoch's start)")
    left.set_title(f"SGDR; ▼ the last {MEMBERS} cycle ends (snapshots)", fontsize=10)
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return svg_text(fig)


def run(quick: bool, out_dir: Path | None) -> LabResult:
    seeds = QUICK_SEEDS if quick else FULL_SEEDS
    rows, checks, shown = [], [], {}
    jensen_and_mean = True
    with TemporaryDirectory() as scratch:
        base = Path(out_dir or scratch) / "snapshot-runs"
        for problem in PROBLEMS:
            beats = 0
            for seed in seeds:
                table, disagree, rates = train(problem, seed, base / f"{problem}-seed{seed}")
                members = [1 - m["accuracy"] for m in table.members]
                ensemble, mean = 1 - table.ensemble["accuracy"], 1 - table.mean_member["accuracy"]
                beats += ensemble < min(members)
                jensen_and_mean &= ensemble <= mean and table.ensemble["loss"] <= table.mean_member["loss"] + 1e-7
                tag = f"{problem}, seed {seed}"
                rows += [Row(f"{tag}: members' test error", " ".join(f"{e:.4f}" for e in members)),
                         Row(f"{tag}: best member's test error", min(members)),
                         Row(f"{tag}: mean member's test error", mean),
                         Row(f"{tag}: ensemble's test error", ensemble),
                         Row(f"{tag}: best member's / ensemble's test NLL",
                             f"{min(m['loss'] for m in table.members):.4f} / {table.ensemble['loss']:.4f}"),
                         Row(f"{tag}: members' pairwise disagreement", disagree)]
                if seed == seeds[0]:
                    shown[problem] = (table, rates)
            rows.append(Row(f"{problem}: seeds where the ensemble beats every member", f"{beats} / {len(seeds)}",
                            f"{len(seeds)} / {len(seeds)}"))
            checks.append(Check(f"{problem}: the ensemble's test error is below every member's in every seed: "
                                f"{beats} / {len(seeds)}", beats == len(seeds)))
    checks.append(Check("in every run the ensemble's error is ≤ the mean member's and its NLL ≤ the mean member's "
                        f"NLL (the latter holds by Jensen's inequality): {'yes' if jensen_and_mean else 'no'}",
                        jensen_and_mean))
    note = (f"{seeds_phrase(seeds)} per problem. On digits the restarts to η = 0.1 do not leave the basin: the "
            "members end up predicting almost the same classes (disagreement row), so the ensemble ties the best "
            "member or lands between the members instead of beating them. On MNIST-1D the members overfit differently and the ensemble is the best "
            "model in most seeds. Error is one minus accuracy on the test split (360 digits, 1000 MNIST-1D "
            "signals). With all 5 of 5 shorter cycles (docs/tools.md) the counts were 0/5 and 2/5.")
    return LabResult(rows, checks, {"c15_snapshots": figure(shown)}, note)


LAB = Lab(
    id="C15", name="snapshot ensemble beats its members",
    claim="Snapshot ensembles: the error rates after each cycle are similar but the snapshots tend to make "
          "different errors; averaging the predictions of these models reduces the error rate (beats any "
          "single snapshot).",
    measures="test error of each of the last 5 SGDR snapshots, their mean and their ensemble, digits and MNIST-1D",
    source="001_9bc84d7af71e22b3.txt", experiment=run)

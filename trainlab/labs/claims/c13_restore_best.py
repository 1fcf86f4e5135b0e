"""C13: early stopping with ``restore_best_weights`` ends with the best validation epoch's weights (seed 004).

Two runs per seed of an overfitting MLP with a checkpoint every epoch: one that early stopping ends
after ``patience`` epochs in a row without improvement (Keras' counting), and one that reaches its
last epoch first (where Keras would keep the last weights; trainlab restores in both cases). The
final weights (the newest checkpoint, which is what ``trainlab.load_model`` and resuming read) are
compared tensor by tensor with the checkpoint of the epoch with the lowest val_loss. Per seed and
scenario: the fraction of tensors identical to the best epoch's (the claim: all of them, in every
seed), and that training did move on after the best epoch (else equality would be a standstill).
"""
from __future__ import annotations

import math
import statistics
from pathlib import Path

import torch

from trainlab.labs import Evidence, LabResult, Row, lab, seeds_phrase, work_dir
from trainlab.labs.figures import curves
from trainlab.recipe import load_recipe
from trainlab.run import latest_checkpoint, run_recipe
from trainlab.train.checkpoint import load_checkpoint, split_prefix

SCENARIOS = {"stops early": (100, 5), "runs all epochs": (25, 100)}  # (epochs, patience)
ALL_EQUAL = 1.0  # restore_best_weights: every tensor is the best epoch's, bit for bit


def recipe(seed: int, epochs: int, patience: int) -> dict:
    return {"name": f"c13-seed{seed}-p{patience}", "seed": seed,
            "data": {"name": "moons", "n_samples": 200, "noise": 0.35, "preprocess": "zscore", "batch_size": 16,
                     "val_fraction": 0.3},
            "model": {"name": "mlp", "hidden": [128, 128]}, "optim": {"name": "adam", "lr": 0.01},
            "stopping": {"epochs": epochs, "early": {"monitor": "val_loss", "patience": patience,
                                                     "restore_best_weights": True}},
            "checkpoint": {"every": 1}}


def model_tensors(run_dir: Path, name: str | None = None) -> dict[str, torch.Tensor]:
    path = latest_checkpoint(run_dir) if name is None else run_dir / "checkpoints" / f"{name}.json"
    return split_prefix(load_checkpoint(path)[0], "model")


def largest_difference(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    return max((a[k] - b[k]).abs().max().item() for k in a)


def one_run(runs_dir: Path, seed: int, epochs: int, patience: int) -> dict:
    """Train once; the best and last epochs, the share of final tensors equal to the best epoch's,
    the largest weight change after the best epoch, and the val_loss curve."""
    result = run_recipe(load_recipe(recipe(seed, epochs, patience)), runs_dir)
    val = [h["val_loss"] for h in result.history]
    best, last = val.index(min(val)) + 1, len(val)
    final, at_best = model_tensors(result.run_dir), model_tensors(result.run_dir, f"epoch-{best:04d}")
    moved = largest_difference(final, model_tensors(result.run_dir, f"epoch-{best + 1:04d}")) if best < last else 0.0
    return {"best": best, "last": last, "val": val, "moved": moved,
            "equal": sum(torch.equal(final[k], at_best[k]) for k in final) / len(final),
            "difference": largest_difference(final, at_best)}


@lab(
    id="C13", name="early stopping restores the best weights",
    claim="Early stopping's restore_best_weights: instead of keeping the last model, keep the best one "
          "(monitor val_loss, min_delta, patience).",
    measures="per seed, final weights vs the best-val_loss epoch's checkpoint, tensor by tensor, stopping early "
             "and not",
    source="004_95ad34fad61cb9b4.txt")
def run(quick: bool, out_dir: Path | None, seeds: tuple[int, ...]) -> LabResult:
    rows, checks, series, marks = [], [], {}, {}
    with work_dir(out_dir) as where:
        runs_dir = where / "runs"
        for label, (epochs, patience) in SCENARIOS.items():
            runs = [one_run(runs_dir, seed, epochs, patience) for seed in seeds]
            tested = [r["best"] < r["last"] for r in runs]  # a run whose best epoch is its last tests nothing
            rows += [Row(f"{label}: seeds whose training went on after the best epoch", sum(tested), len(seeds),
                         "claim"),
                     Row(f"{label}: best val_loss epoch (median over seeds)",
                         statistics.median(r["best"] for r in runs)),
                     Row(f"{label}: last epoch (median over seeds)", statistics.median(r["last"] for r in runs)),
                     Row(f"{label}: smallest share of tensors equal to the best epoch's over seeds",
                         min(r["equal"] for r in runs), ALL_EQUAL, "claim"),
                     Row(f"{label}: largest |final − best-epoch| weight over seeds",
                         max(r["difference"] for r in runs), 0.0, "claim"),
                     Row(f"{label}: smallest |epoch best+1 − epoch best| weight over seeds (training moved on)",
                         min(r["moved"] for r in runs))]
            checks.append(Evidence(f"{label}: share of the final tensors identical to the best val_loss epoch's",
                                   [r["equal"] if t else math.nan for r, t in zip(runs, tested)], at_least=ALL_EQUAL,
                                   source="notes: keep the best model, not the last — bit for bit", seeds=seeds))
            series[label] = (list(range(1, runs[0]["last"] + 1)), runs[0]["val"])
            marks[f"best ({label})"] = runs[0]["best"]
    figure = curves(series, "epoch", "val_loss", f"val_loss (seed {seeds[0]}); dashed: the best epochs restored",
                    marks=marks)
    note = (f"{seeds_phrase(seeds).capitalize()}; each seed draws the data, split, init and batch order. Moons (200 "
            "examples, noise 0.35, 30 % validation), MLP 2→128→128→2, Adam 0.01, batch 16: it overfits within a few "
            "epochs, so val_loss has a clear minimum. Early stopping stops at the patience-th epoch in a row without "
            "improvement (Keras). A seed whose best epoch is its last would make equality trivial: it gets no value "
            "(NaN, counted). 'Training moved on' shows the later epochs did change the weights, so ending on the best "
            "epoch's tensors is the restore at work, not a standstill. The criterion is judged by the 95 % bootstrap "
            "interval of its median over the seeds; the rows give the worst seed, since the claim is exact. Nothing "
            "diverges here (Adam 0.01 on a small MLP).")
    return LabResult(rows, checks, {"c13_val_loss": figure}, note)

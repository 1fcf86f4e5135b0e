"""C13: early stopping with ``restore_best_weights`` ends with the best validation epoch's weights (seed 004).

Two runs of an overfitting MLP with a checkpoint every epoch: one that early stopping ends after
``patience`` epochs without improvement, and one that reaches its last epoch first (where Keras
would keep the last weights; trainlab restores in both cases). The final weights (the newest
checkpoint, which is what ``trainlab.load_model`` and resuming read) are compared tensor by tensor
with the checkpoint of the epoch with the lowest val_loss.
"""
from __future__ import annotations

from pathlib import Path
from tempfile import TemporaryDirectory

import torch

from trainlab.labs import Check, Lab, LabResult, Row
from trainlab.labs.figures import curves
from trainlab.recipe import load_recipe
from trainlab.run import latest_checkpoint, run_recipe
from trainlab.train.checkpoint import load_checkpoint, split_prefix

SCENARIOS = {"stops early": (100, 5), "runs all epochs": (25, 100)}  # (epochs, patience)
QUICK_SEEDS, FULL_SEEDS = (0,), (0, 1, 2)


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


def run(quick: bool, out_dir: Path | None) -> LabResult:
    rows, checks, series, marks = [], [], {}, {}
    with TemporaryDirectory() as scratch:
        runs_dir = Path(out_dir or scratch) / "runs"
        for label, (epochs, patience) in SCENARIOS.items():
            for seed in QUICK_SEEDS if quick else FULL_SEEDS:
                result = run_recipe(load_recipe(recipe(seed, epochs, patience)), runs_dir)
                val = [h["val_loss"] for h in result.history]
                best, last = val.index(min(val)) + 1, len(val)
                final = model_tensors(result.run_dir)
                at_best = model_tensors(result.run_dir, f"epoch-{best:04d}")
                equal = sum(torch.equal(final[k], at_best[k]) for k in final)
                moved = largest_difference(final, model_tensors(result.run_dir, f"epoch-{best + 1:04d}")) \
                    if best < last else 0.0
                tag = f"{label}, seed {seed}"
                rows += [Row(f"{tag}: best val_loss epoch / last epoch", f"{best} / {last}"),
                         Row(f"{tag}: tensors equal to epoch {best}'s", f"{equal} / {len(final)}",
                             f"{len(final)} / {len(final)}"),
                         Row(f"{tag}: largest |final − best-epoch| weight", largest_difference(final, at_best), 0.0),
                         Row(f"{tag}: largest |epoch {best + 1} − epoch {best}| weight (training moved on)", moved)]
                checks.append(Check(f"{tag}: the final weights are epoch {best}'s (best val_loss {min(val):.4f}), "
                                    f"{equal}/{len(final)} tensors identical, though training went on to epoch {last}",
                                    equal == len(final) and best < last and moved > 0))
                if seed == (QUICK_SEEDS if quick else FULL_SEEDS)[0]:
                    series[label] = (list(range(1, last + 1)), val)
                    marks[f"best ({label})"] = best
    figure = curves(series, "epoch", "val_loss", "val_loss; dashed: the best epochs restored", marks=marks)
    note = ("Moons (200 examples, noise 0.35, 30 % validation), MLP 2→128→128→2, Adam 0.01, batch 16: it overfits "
            "within a few epochs, so val_loss has a clear minimum. 'Training moved on' shows the last epochs did "
            "change the weights, so ending on the best epoch's tensors is the restore at work, not a standstill.")
    return LabResult(rows, checks, {"c13_val_loss": figure}, note)


LAB = Lab(
    id="C13", name="early stopping restores the best weights",
    claim="Early stopping's restore_best_weights: instead of keeping the last model, keep the best one "
          "(monitor val_loss, min_delta, patience).",
    measures="final weights vs the best-val_loss epoch's checkpoint, tensor by tensor, stopping early and not",
    source="004_95ad34fad61cb9b4.txt", experiment=run)

"""C20: MC dropout spreads wider on inputs far from the data than near it (seed 003).

MC dropout (Gal & Ghahramani 2016) keeps dropout on at prediction and makes T passes; with ŷ_t the
t-th pass, the prediction is ȳ = (1/T) Σ_t ŷ_t and its spread σ = √((1/T) Σ_t (ŷ_t − ȳ)²)
(:meth:`trainlab.predict.Predictor.predict` with ``mc_samples=T``). The notes use that spread as an
idea of the network's uncertainty; the claim is that it grows away from the data.

Noisy sine regression, y = sin x + N(0, 0.1²) with x ~ U(−π, π), MLP 1→64→64→1 with dropout 0.1
after each hidden layer, Adam 0.01, 30 epochs, T = 50 passes. Measured: the mean σ over 50 inputs
spread evenly over the training range ("near") and over 50 inputs with 2.5π ≤ |x| ≤ 4π ("far"),
for ReLU units and for tanh units.
"""
from __future__ import annotations

from pathlib import Path
from tempfile import TemporaryDirectory

import numpy as np
from matplotlib.figure import Figure

from trainlab import registry
from trainlab.data.split import split_dataset
from trainlab.labs import Check, Lab, LabResult, Row, seeds_phrase
from trainlab.predict import Predictor
from trainlab.recipe import load_recipe
from trainlab.report.svg import svg_text
from trainlab.run import run_recipe

ACTIVATIONS = ("relu", "tanh")
PASSES = 50
N_SAMPLES = 400
WIDER = 1.5  # "clearly wider": far σ ≥ 1.5 × near σ; ReLU measured 2.5–3.3×, tanh 1.04–1.07×, so any
# threshold between 1.1 and 2.4 gives the same verdicts
NEAR = np.linspace(-np.pi, np.pi, 50)[:, None]  # the training inputs cover [−π, π]
FAR = np.concatenate([np.linspace(-4 * np.pi, -2.5 * np.pi, 25), np.linspace(2.5 * np.pi, 4 * np.pi, 25)])[:, None]
GRID = np.linspace(-4 * np.pi, 4 * np.pi, 241)[:, None]
QUICK_SEEDS, FULL_SEEDS = (0,), (0, 1, 2, 3, 4)


def recipe(activation: str, seed: int) -> dict:
    return {"name": f"c20-{activation}-seed{seed}", "seed": seed,
            "data": {"name": "sine", "n_samples": N_SAMPLES, "batch_size": 32, "preprocess": "zscore"},
            "model": {"name": "mlp", "hidden": [64, 64], "dropout": 0.1, "activation": activation},
            "optim": {"name": "adam", "lr": 0.01}, "stopping": {"epochs": 30}}


def training_points(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The run's training split, rebuilt the way trainlab.run.build splits it."""
    data = registry.datasets.get("sine").factory(seed=seed, n_samples=N_SAMPLES)
    x, y = split_dataset(data, 0.1, 0.2, seed).train
    return x[:, 0], y


def figure(bands: dict[str, tuple[np.ndarray, np.ndarray]], points: tuple[np.ndarray, np.ndarray]) -> str:
    fig = Figure(figsize=(11, 3.8))
    axes = fig.subplots(1, len(bands), sharey=True)
    x = GRID[:, 0]
    for ax, (activation, (mean, std)) in zip(axes, bands.items()):
        ax.scatter(*points, s=4, color="0.6", label="training points")
        ax.fill_between(x, mean - 2 * std, mean + 2 * std, color="C0", alpha=0.3, label="mean ± 2σ (MC dropout)")
        ax.plot(x, mean, color="C0", label="MC mean")
        ax.plot(x, np.sin(x), color="k", lw=0.8, ls=":", label="sin x")
        for edge in (2.5 * np.pi, -2.5 * np.pi):
            ax.axvline(edge, color="C3", ls="--", lw=1)
        ax.set_ylim(-4, 4)
        ax.set_xlabel("x (training inputs in [−π, π]; 'far' beyond the red lines)")
        ax.set_title(f"{activation}: MC dropout, {PASSES} passes", fontsize=10)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("y")
    axes[0].legend(fontsize=7, loc="lower left")
    return svg_text(fig)


def run(quick: bool, out_dir: Path | None) -> LabResult:
    seeds = QUICK_SEEDS if quick else FULL_SEEDS
    rows, checks, bands = [], [], {}
    with TemporaryDirectory() as scratch:
        runs_dir = Path(out_dir or scratch) / "runs"
        for activation in ACTIVATIONS:
            ratios = []
            for seed in seeds:
                predictor = Predictor(run_recipe(load_recipe(recipe(activation, seed)), runs_dir).run_dir)
                near = float(predictor.predict(NEAR, mc_samples=PASSES).std.mean())
                far = float(predictor.predict(FAR, mc_samples=PASSES).std.mean())
                ratios.append(far / near)
                rows += [Row(f"{activation}, seed {seed}: mean σ near the data", near),
                         Row(f"{activation}, seed {seed}: mean σ far from the data", far),
                         Row(f"{activation}, seed {seed}: far / near", far / near)]
                if seed == seeds[0]:
                    grid = predictor.predict(GRID, mc_samples=PASSES)
                    bands[activation] = (grid.mean[:, 0], grid.std[:, 0])
            rows.append(Row(f"{activation}: smallest far / near over seeds", min(ratios)))
            checks.append(Check(f"{activation}: σ far from the data ≥ {WIDER} × σ near it in every seed "
                                f"(far / near {', '.join(f'{r:.2f}' for r in ratios)})",
                                min(ratios) >= WIDER))
    note = (f"{seeds_phrase(seeds)} per activation. With ReLU units the spread grows away from the data: a ReLU "
            "net is piecewise linear, so far out its outputs, and the differences between dropout masks, grow "
            "with |x|. With tanh units the hidden units saturate far from the data, every mask gives a nearly "
            "constant output there, and the spread stays at its in-distribution level: the claim holds for ReLU "
            "nets, not in general, so MC dropout's spread is no reliable out-of-distribution signal by itself.")
    figures = {"c20_mc_dropout": figure(bands, training_points(seeds[0]))}
    return LabResult(rows, checks, figures, note)


LAB = Lab(
    id="C20", name="MC dropout: wider spread far from the data",
    claim="Dropout can give an idea of the uncertainty of the network's predictions: predict several times on "
          "the evaluation sample with dropout switched on; if the predictions vary a lot, the network is unsure. "
          "Claimed: the spread is wider on inputs far from the training data than near it.",
    measures="mean MC-dropout σ (50 passes) on inputs inside the training range and far beyond it, sine "
             "regression, ReLU and tanh MLPs",
    source="003_5bed7eaae0bb2515.txt", experiment=run)

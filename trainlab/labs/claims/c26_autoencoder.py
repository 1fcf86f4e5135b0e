"""C26: an autoencoder as a regularizer for a classifier with few labels (seed 004, slides 24–26).

The notes give three options: (1) train an autoencoder, then train the classifier on the codes u;
(2) train the autoencoder, then train the classifier on the reconstructions x̂; (3) train both at once
on J(θ) = β·J_clas(θ) + (1 − β)·J_ae(θ). The slide's title says what for: regularization, that is, a
classifier that generalizes better than plain training on the same few labels.

MNIST-1D (4000 training signals, the official 1000 test signals), 100 of them labelled (10 per class,
drawn per seed: ``data.val_fraction: 0.975`` keeps 100 signals for training and 3900 whose labels no
arm trains on). Every arm is the recipe feature a user would write:

- **plain**: an mlp 40 → 100 → 100 → 10 on the 100 labelled signals;
- **codes** (option 1): ``pretrain: {autoencoder: {hidden: [64], code: 16}, use: codes}``: the
  autoencoder trains on all 4000 training inputs (labels unused), then the same mlp trains on u (16);
- **reconstructions** (option 2): the same, ``use: reconstructions``: the mlp trains on x̂ (40);
- **joint** (option 3): ``model.ae_weight: 0.5`` (β = 0.5), a decoder head on the mlp's last hidden
  layer, trained on the 100 labelled signals (the library's joint loss sees labelled batches only).

Criteria (fixed before the first run): each option − plain, test accuracy on the same seed, ≥ 0.01
(10 of the 1000 test signals). The lab reports which options help and by how much.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from trainlab.labs import Evidence, LabResult, Row, lab, seeds_phrase
from trainlab.recipe import load_recipe
from trainlab.report.svg import svg_text
from trainlab.run import build

LABELLED_SHARE = 0.025  # 100 of the 4000 training signals: val_fraction 0.975
THRESHOLD = 0.01  # 10 of the 1000 test signals
BETA = 0.5
AUTOENCODER = {"hidden": [64], "code": 16}
ARMS = ("plain", "codes", "reconstructions", "joint")


def recipe(arm: str, seed: int, epochs: int, ae_epochs: int) -> dict:
    model = {"name": "mlp", "hidden": [100, 100]}
    pretrain = None
    if arm in ("codes", "reconstructions"):
        pretrain = {"autoencoder": AUTOENCODER, "use": arm, "epochs": ae_epochs, "batch_size": 100,
                    "optim": {"name": "adam", "lr": 0.003}}
    if arm == "joint":
        model["ae_weight"] = 1 - BETA
    return {"name": f"c26-{arm}-seed{seed}", "seed": seed, "model": model, "optim": {"name": "adam", "lr": 0.003},
            "data": {"name": "mnist1d", "batch_size": 25, "val_fraction": 1 - LABELLED_SHARE, "preprocess": "zscore"},
            "stopping": {"epochs": epochs}, **({"pretrain": pretrain} if pretrain else {})}


def train(arm: str, seed: int, epochs: int, ae_epochs: int) -> tuple[float, float, float]:
    """Test accuracy and training accuracy of one arm, and its autoencoder's validation reconstruction
    error (NaN without one)."""
    setup = build(load_recipe(recipe(arm, seed, epochs, ae_epochs)))
    setup.trainer.fit(setup.train, None, epochs)  # no validation pass: nothing is chosen on it
    reconstruction = setup.sources.get("pretrain", {}).get("val_loss", float("nan"))
    return (setup.trainer.evaluate(setup.test)["accuracy"], setup.trainer.evaluate(setup.train)["accuracy"],
            reconstruction)


def figure(per_seed: dict[str, list[float]]) -> str:
    """Test accuracy per seed and arm, a line per seed."""
    fig = Figure(figsize=(6.2, 3.8))
    ax = fig.add_subplot()
    values = np.array([per_seed[arm] for arm in ARMS])
    for s in range(values.shape[1]):
        ax.plot(range(len(ARMS)), values[:, s], color="gray", alpha=0.4, lw=1)
    for i, arm in enumerate(ARMS):
        ax.scatter([i] * values.shape[1], values[i], color=f"C{i}", zorder=3, s=18)
        ax.hlines(np.median(values[i]), i - 0.25, i + 0.25, color=f"C{i}", lw=2)
    ax.set_xticks(range(len(ARMS)), ["plain", "1: codes u", "2: reconstructions x̂", f"3: joint, β = {BETA}"])
    ax.set_ylabel("test accuracy (MNIST-1D, 1000 signals)")
    ax.set_title("100 labelled signals; a line per seed, bar: median", fontsize=10)
    ax.grid(alpha=0.3)
    return svg_text(fig)


@lab(
    id="C26", name="an autoencoder as regularizer with few labels",
    claim="Autoencoder as regularization for classification: train the autoencoder and then the classifier on the "
          "codes u (option 1) or on the reconstructions x̂ (option 2), or train both at once on "
          "J = β·J_clas + (1 − β)·J_ae (option 3).",
    measures="MNIST-1D test accuracy with 100 labelled signals (the other 3900 unlabelled): plain mlp vs the three "
             "options, per seed",
    source="004_95ad34fad61cb9b4.txt")
def run(quick: bool, out_dir: Path | None, seeds: tuple[int, ...]) -> LabResult:
    epochs, ae_epochs = (40, 10) if quick else (100, 30)
    per_seed: dict[str, list[float]] = {arm: [] for arm in ARMS}
    gaps: dict[str, list[float]] = {arm: [] for arm in ARMS}
    reconstruction = []
    for seed in seeds:
        for arm in ARMS:
            test, train_accuracy, error = train(arm, seed, epochs, ae_epochs)
            per_seed[arm].append(test)
            gaps[arm].append(train_accuracy - test)
            if arm == "codes":
                reconstruction.append(error)
    rows = [Row("autoencoder: validation reconstruction MSE of the z-scored inputs (median)",
                float(np.median(reconstruction)))]
    rows += [Row(f"{arm}: test accuracy (median)", float(np.median(per_seed[arm]))) for arm in ARMS]
    rows += [Row(f"{arm}: training − test accuracy (median)", float(np.median(gaps[arm]))) for arm in ARMS]
    checks = [Evidence(f"{name} − plain: test accuracy (same seed)", list(np.subtract(per_seed[arm], per_seed["plain"])),
                       at_least=THRESHOLD, seeds=seeds,
                       source="notes 004, slides 25–26: the autoencoder regularizes the classifier; 10 of 1000 test "
                              "signals")
              for arm, name in (("codes", "option 1 (classifier on the codes u)"),
                                ("reconstructions", "option 2 (classifier on the reconstructions x̂)"),
                                ("joint", f"option 3 (joint, β = {BETA})"))]
    note = (f"{seeds_phrase(seeds)}; seed s fixes which 100 signals are labelled (10 per class), the autoencoder's and "
            f"the classifier's initialization and batch order. The {'quick' if quick else 'full'} variant trains each "
            f"classifier {epochs} epochs (Adam, η = 0.003, batch 25, no early stopping) and each autoencoder "
            f"{ae_epochs} epochs on all 4000 training inputs (the 3900 unlabelled ones included, never the test "
            "split). Inputs are z-scored with the statistics of the 100 labelled signals, as a run with 100 "
            "training examples does; the autoencoder sees the same preprocessed inputs. Option 3 trains on the "
            "labelled batches only (the library's joint loss), so it does not see the unlabelled signals. "
            "Criteria are per-seed paired contrasts against plain training, judged by the 95 % bootstrap "
            "interval of their median; thresholds fixed before the first run.")
    return LabResult(rows, checks, {"c26_autoencoder": figure(per_seed)}, note)

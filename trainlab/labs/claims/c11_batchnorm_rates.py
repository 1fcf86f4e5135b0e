"""C11: batch norm trains at learning rates where the same net without it diverges or crawls (seeds 000, 001, 002).

Batch normalization standardizes each unit's pre-activation over the mini-batch B and rescales it,
x̂ = (x − μ_B)/√(σ_B² + ε), y = γx̂ + β (moving averages of μ_B, σ_B² at evaluation). The
output of a BN layer does not change when the weights before it are scaled, so a large step that
would blow the next layer's inputs up (ReLU) is normalized away; and the pre-activations are kept
in the range where a saturating activation (sigmoid) still has a gradient. The notes list both:
"permite lr mayores", "evita vanishing/exploding grads".

Measured: the same MLP (4 hidden layers × 100 on z-scored digits, SGD, batch 32) with and without
``model.batchnorm``, for ReLU + He init (where the plain net diverges at large rates) and sigmoid +
Xavier init (where it crawls), at the high rates lr 1 and 3. Each seed draws the split, the
weights and the batch order, and runs both arms; the criterion per (net, rate) is the paired
contrast validation accuracy with BN − without BN on the same seed. A run whose loss becomes
non-finite (diverged) is scored at chance accuracy 1/10 — the most a net without a usable output
can be credited with, so the scoring favours the arm that diverged. The full variant also sweeps
lower and higher rates on its first seeds (rows and figure, not criteria).
"""
from __future__ import annotations

import math
import statistics
from pathlib import Path

from trainlab.labs import Evidence, LabResult, Row, lab, seeds_phrase
from trainlab.labs.figures import curves
from trainlab.recipe import load_recipe
from trainlab.run import build
from trainlab.train.trainer import NonFiniteLoss

NETS = {"ReLU + He": ("relu", "he_normal"), "sigmoid + Xavier": ("sigmoid", "xavier_normal")}
HIDDEN = [100] * 4
HIGH_RATES = (1.0, 3.0)  # "higher learning rates": where the plain ReLU net diverges (notes give no number)
SWEEP_RATES, SWEEP_SEEDS = (0.01, 0.1, 10.0), 3  # full variant only: the rest of the picture, first 3 seeds
EPOCHS = 5
CHANCE = 0.1  # 10 classes: the accuracy a diverged run is scored at
# ≈ 3 standard errors of a difference of two accuracies (0.8 with BN vs chance 0.1 without) on the ≈ 180
# validation examples of digits (val_fraction 0.1): √(0.8·0.2/180 + 0.1·0.9/180) ≈ 0.037
GAIN_AT_LEAST = 0.1


def train(activation: str, init: str, batchnorm: bool, lr: float, seed: int) -> tuple[float, float]:
    """(training loss of the last epoch, validation accuracy); (inf, CHANCE) when the loss became non-finite."""
    setup = build(load_recipe({
        "name": "c11", "seed": seed, "data": {"name": "digits", "preprocess": "zscore", "batch_size": 32},
        "model": {"name": "mlp", "hidden": HIDDEN, "activation": activation, "init": init, "batchnorm": batchnorm},
        "optim": {"name": "sgd", "lr": lr}, "stopping": {"epochs": EPOCHS}}))
    try:
        history = setup.trainer.fit(setup.train, setup.val, EPOCHS)
    except NonFiniteLoss:
        return math.inf, CHANCE
    return history[-1]["loss"], history[-1]["val_accuracy"]


@lab(
    id="C11", name="batch norm trains at rates where the plain net fails",
    claim="Batch normalization improves convergence and gradient flow, avoids vanishing/exploding gradients and "
          "allows higher learning rates.",
    measures="validation accuracy (and training loss) at high learning rates with and without batch norm, paired by "
             "seed; the full variant adds a sweep of lower and higher rates",
    source="000_e75dfcc04a46b84b.txt, 001_9bc84d7af71e22b3.txt, 002_fbb29f398f0f5956.txt")
def run(quick: bool, out_dir: Path | None, seeds: tuple[int, ...]) -> LabResult:
    rows, checks, loss_series, accuracy_series = [], [], {}, {}
    for label, (activation, init) in NETS.items():
        results = {}  # (batchnorm, lr) → [(loss, accuracy) per seed]
        for lr in HIGH_RATES:
            for batchnorm in (False, True):
                results[batchnorm, lr] = [train(activation, init, batchnorm, lr, seed) for seed in seeds]
        if not quick:
            for lr in SWEEP_RATES:
                for batchnorm in (False, True):
                    results[batchnorm, lr] = [train(activation, init, batchnorm, lr, s) for s in seeds[:SWEEP_SEEDS]]
        for (batchnorm, lr), runs in sorted(results.items(), key=lambda item: (item[0][1], item[0][0])):
            tag = f"{label}{' + BN' if batchnorm else ''}, lr {lr:g}"
            diverged = sum(math.isinf(loss) for loss, _ in runs)
            finite = [loss for loss, _ in runs if math.isfinite(loss)]
            rows += [Row(f"{tag}: training loss after {EPOCHS} epochs (median over the runs that did not diverge)",
                         statistics.median(finite) if finite else "every run diverged"),
                     Row(f"{tag}: validation accuracy (median, diverged = {CHANCE})",
                         statistics.median(a for _, a in runs)),
                     Row(f"{tag}: runs diverged", f"{diverged} of {len(runs)}")]
        for lr in HIGH_RATES:
            gain = [with_bn[1] - without[1] for with_bn, without in zip(results[True, lr], results[False, lr])]
            checks.append(Evidence(f"{label}, lr {lr:g}: validation accuracy with BN − without BN (same seed)", gain,
                                   at_least=GAIN_AT_LEAST, source="3 standard errors of an accuracy difference on "
                                   "≈ 180 validation examples", seeds=seeds))
        for batchnorm in (False, True):
            rates = sorted(lr for bn, lr in results if bn == batchnorm)
            tag = f"{label}{' + BN' if batchnorm else ''}"
            loss = [statistics.median(l for l, _ in results[batchnorm, lr]) for lr in rates]
            shown = [i for i, value in enumerate(loss) if math.isfinite(value)]
            loss_series[tag] = ([rates[i] for i in shown], [loss[i] for i in shown])
            accuracy_series[tag] = (rates, [statistics.median(a for _, a in results[batchnorm, lr]) for lr in rates])
    figures = {"c11_loss": curves(loss_series, "learning rate (SGD)", f"training loss after {EPOCHS} epochs (median)",
                                  "final loss vs rate (missing points: the median run diverged)", log_x=True,
                                  log_y=True),
               "c11_accuracy": curves(accuracy_series, "learning rate (SGD)", "validation accuracy (median)",
                                      f"validation accuracy vs rate (diverged = {CHANCE})", log_x=True)}
    sweep = (f" The full variant also ran lr {', '.join(f'{r:g}' for r in SWEEP_RATES)} on the first {SWEEP_SEEDS} "
             "seeds (rows only): at the smallest rates the plain ReLU net is ahead of the BN one, so BN widens the "
             "usable range upward rather than being faster at every rate." if not quick else "")
    note = (f"Digits (z-scored), MLP 64→{'→'.join(map(str, HIDDEN))}→10, plain SGD, batch 32, {EPOCHS} epochs, "
            f"{seeds_phrase(seeds)}; with BN the Linear layers before it have no bias. Each criterion is the paired "
            "per-seed contrast validation accuracy with BN − without BN at one high rate, judged by the 95 % bootstrap "
            f"interval of its median over the seeds (with 3 seeds: their range) against {GAIN_AT_LEAST}. A diverged "
            f"run (non-finite loss) is scored at chance accuracy {CHANCE}, which favours the arm that diverged; "
            "whether a given seed diverges at a given rate is not part of any criterion. The training loss rows are "
            "the mean loss of the last epoch (BN in training mode), median over the runs that stayed finite." + sweep)
    return LabResult(rows, checks, figures, note)

"""C4: with ReLU, Xavier halves the variance at every layer; He initialization keeps it (seeds 001, 004).

The notes' derivation (004): E[z_l²] = (n v / 2) E[z_{l-1}²] for ReLU inputs, so v = 1/n
(Xavier, n_in = n_out) halves the variance per layer and v = 2/n (He) keeps it. ReLU outputs are
a fixed multiple of their pre-activations' spread, so the activations' std follows the same ratio.
"""
from __future__ import annotations

from pathlib import Path

from trainlab.labs import Check, Lab, LabResult, Row, seeds_phrase
from trainlab.labs.deep_net import DEPTH, FULL_SEEDS, QUICK_SEEDS, WIDTH, deep_activations, mean_over_seeds
from trainlab.labs.figures import layer_histograms

INITS = {"Xavier": ("xavier_normal", 0.5), "He": ("he_normal", 1.0)}  # init, the notes' variance ratio per layer
TOLERANCE = 0.10  # on the per-layer variance ratio; over 10 seeds it ranged 0.495–0.513 (Xavier), 0.991–1.026 (He)


def variance_ratio(stds: list[float]) -> float:
    """The geometric mean of Var(h_{l+1}) / Var(h_l) over the layers: (std_L / std_1)^(2/(L-1))."""
    return (stds[-1] / stds[0]) ** (2 / (len(stds) - 1))


def run(quick: bool, out_dir: Path | None) -> LabResult:
    seeds = QUICK_SEEDS if quick else FULL_SEEDS
    rows, checks = [], []
    for label, (init, expected_ratio) in INITS.items():
        stds = mean_over_seeds("relu", init, seeds)
        rows += [Row(f"{label}: layer {k} std", s, stds[0] * expected_ratio ** ((k - 1) / 2), "notes' formula")
                 for k, s in enumerate(stds, start=1)]
        ratio = variance_ratio(stds)
        rows.append(Row(f"{label}: variance ratio per layer", ratio, expected_ratio, "notes' formula"))
        checks.append(Check(f"{label}: variance ratio per layer {ratio:.3f} within {TOLERANCE:.0%} of "
                            f"{expected_ratio:g}", abs(ratio - expected_ratio) <= TOLERANCE * expected_ratio))
    figure = layer_histograms({f"{label} + ReLU": deep_activations("relu", init, seeds[0], keep_values=True)
                               for label, (init, _) in INITS.items()},
                              f"{DEPTH} ReLU layers × {WIDTH} units: Xavier vs He", log_std=True)
    note = (f"{seeds_phrase(seeds).capitalize()}. Expected stds: layer 1's measured std times the notes' ratio "
            "(½ per layer for Xavier, 1 for He) to the power (k−1)/2. After 10 Xavier layers the std is "
            f"≈ 2^(-4.5) ≈ {2 ** -4.5:.3f} of layer 1's; He keeps it level.")
    return LabResult(rows, checks, {"c4_layers": figure}, note)


LAB = Lab(
    id="C4", name="ReLU: Xavier halves the variance, He keeps it",
    claim="With ReLU only half the variance passes each layer, so Xavier (Var W = 1/n) halves it layer by layer; "
          "He initialization (Var W = 2/n) keeps the variability.",
    measures="std per layer for Xavier and He; the per-layer variance ratio (0.5 and 1 by the notes' formula)",
    source="001_9bc84d7af71e22b3.txt, 004_95ad34fad61cb9b4.txt", experiment=run)

"""C4: with ReLU, Xavier halves the variance at every layer; He initialization keeps it (seeds 001, 004).

The notes' derivation (004): E[z_l²] = (n v / 2) E[z_{l-1}²] for ReLU inputs, so v = 1/n
(Xavier, n_in = n_out) halves the variance per layer and v = 2/n (He) keeps it. ReLU outputs are
a fixed multiple of their pre-activations' spread, so the activations' std follows the same ratio.
Per seed (one network and input draw each): the geometric-mean variance ratio per layer.
"""
from __future__ import annotations

import statistics
from pathlib import Path

from trainlab.labs import Evidence, LabResult, Row, lab, seeds_phrase
from trainlab.labs.deep_net import DEPTH, WIDTH, over_seeds
from trainlab.labs.figures import layer_histograms

INITS = {"Xavier": ("xavier_normal", 0.5), "He": ("he_normal", 1.0)}  # init, the notes' variance ratio per layer
TOLERANCE = 0.10  # on the per-layer variance ratio; the same 10 % as LECTURES.md's acceptance for C1


def variance_ratio(stds: list[float]) -> float:
    """The geometric mean of Var(h_{l+1}) / Var(h_l) over the layers: (std_L / std_1)^(2/(L-1)).

    >>> variance_ratio([1.0, 0.5 ** 0.5, 0.5])
    0.5
    """
    return (stds[-1] / stds[0]) ** (2 / (len(stds) - 1))


@lab(
    id="C4", name="ReLU: Xavier halves the variance, He keeps it",
    claim="With ReLU only half the variance passes each layer, so Xavier (Var W = 1/n) halves it layer by layer; "
          "He initialization (Var W = 2/n) keeps the variability.",
    measures="std per layer for Xavier and He; per seed, the variance ratio per layer (0.5 and 1 by the notes' "
             "formula)",
    source="001_9bc84d7af71e22b3.txt, 004_95ad34fad61cb9b4.txt")
def run(quick: bool, out_dir: Path | None, seeds: tuple[int, ...]) -> LabResult:
    rows, checks, first = [], [], {}
    for label, (init, expected_ratio) in INITS.items():
        runs = over_seeds("relu", init, seeds)
        stds = runs.median()
        first[f"{label} + ReLU"] = runs.first
        rows += [Row(f"{label}: layer {k} std (median over seeds)", s, stds[0] * expected_ratio ** ((k - 1) / 2),
                     "notes' formula") for k, s in enumerate(stds, start=1)]
        ratios = [variance_ratio(s) for s in runs.per_seed["std"]]
        rows.append(Row(f"{label}: variance ratio per layer (median over seeds)", statistics.median(ratios),
                        expected_ratio, "notes' formula"))
        checks.append(Evidence(f"{label}: |variance ratio per layer / {expected_ratio:g} − 1|",
                               [abs(r / expected_ratio - 1) for r in ratios], at_most=TOLERANCE,
                               source=f"notes' formula n·v/2 = {expected_ratio:g}, within 10 %", seeds=seeds))
    figure = layer_histograms(first, f"{DEPTH} ReLU layers × {WIDTH} units: Xavier vs He (seed {seeds[0]})",
                              log_std=True)
    note = (f"{seeds_phrase(seeds).capitalize()}, one network and input draw per seed. Expected stds: layer 1's "
            "measured std times the notes' ratio (½ per layer for Xavier, 1 for He) to the power (k−1)/2. After 10 "
            f"Xavier layers the std is ≈ 2^(-4.5) ≈ {2 ** -4.5:.3f} of layer 1's; He keeps it level. Each criterion "
            "is judged by the 95 % bootstrap interval of its median over the seeds; nothing is trained, so nothing "
            "can diverge.")
    return LabResult(rows, checks, {"c4_layers": figure}, note)

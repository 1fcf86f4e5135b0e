"""C2: with W ~ N(0, 1) the units of a deep tanh network saturate at ±1 (seed 001).

Pre-activations have std ≈ √500 ≈ 22, so tanh outputs sit at ±1: the std is ≈ 0.98 at every
layer and tanh' ≈ 0 there, which stops the gradients.
"""
from __future__ import annotations

from pathlib import Path

from trainlab.labs import Check, Lab, LabResult, Row, seeds_phrase
from trainlab.labs.deep_net import DEPTH, FULL_SEEDS, QUICK_SEEDS, WIDTH, deep_activations, mean_over_seeds
from trainlab.labs.figures import layer_histograms

INIT = "standard_normal"
NOTES_STD = [0.981879, 0.981649, 0.981601, 0.981755, 0.981614, 0.981560, 0.981520, 0.981913, 0.981728, 0.981736]
TOLERANCE = 0.01  # saturated, the std is pinned near 0.98: over 10 seeds it varied 0.9816–0.9821 at every layer
SATURATED_AT_LEAST = 0.5  # "las neuronas se saturan": most outputs within 1 % of ±1


def run(quick: bool, out_dir: Path | None) -> LabResult:
    seeds = QUICK_SEEDS if quick else FULL_SEEDS
    stds = mean_over_seeds("tanh", INIT, seeds)
    saturated = mean_over_seeds("tanh", INIT, seeds, field="saturated")
    rows = [Row(f"layer {k} std", s, e) for k, (s, e) in enumerate(zip(stds, NOTES_STD), start=1)]
    rows += [Row(f"layer {k} fraction |h| > 0.99", f) for k, f in enumerate(saturated, start=1)]
    worst = max(range(DEPTH), key=lambda i: abs(stds[i] - NOTES_STD[i]) / NOTES_STD[i])
    checks = [
        Check(f"every layer's std within {TOLERANCE:.0%} of the notes' (worst: layer {worst + 1}, {stds[worst]:.4g} "
              f"vs {NOTES_STD[worst]:g})", abs(stds[worst] - NOTES_STD[worst]) <= TOLERANCE * NOTES_STD[worst]),
        Check(f"units saturated: fraction |h| > 0.99 at least {SATURATED_AT_LEAST:.0%} at every layer "
              f"(lowest {min(saturated):.1%})", min(saturated) >= SATURATED_AT_LEAST),
    ]
    figure = layer_histograms({"W ~ N(0, 1)": deep_activations("tanh", INIT, seeds[0], keep_values=True)},
                              f"{DEPTH} tanh layers × {WIDTH} units, W ~ N(0, 1): std per layer")
    note = (f"{seeds_phrase(seeds).capitalize()}. Pre-activations have std ≈ √{WIDTH}·0.98 ≈ "
            f"{WIDTH ** 0.5 * 0.98:.0f}, "
            "so tanh sits at ±1 for most inputs (the histograms pile up at both ends) and tanh' ≈ 0 there.")
    return LabResult(rows, checks, {"c2_layers": figure}, note)


LAB = Lab(
    id="C2", name="large init: tanh units saturate",
    claim="Same network with W ~ N(0, 1): the std is ≈ 0.98 at every layer (0.981879, 0.981649, …) and the "
          "neurons saturate, taking the values −1 or 1.",
    measures="std per layer (within 1 % of the notes') and the fraction of outputs with |h| > 0.99",
    source="001_9bc84d7af71e22b3.txt", experiment=run)

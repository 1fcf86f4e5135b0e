"""C3: Xavier/Glorot initialization keeps tanh activations spread across all 10 layers (seeds 001, 002).

Var(W) = 1/n keeps Var(z) ≈ Var(h_{l-1}) (the notes' derivation, n = n_in = n_out = 500 here, so
Glorot's 2/(n_in+n_out) and the notes' 1/n_in coincide): the std decays only slowly, neither
collapsing as with N(0, 0.01²) (C1) nor saturating as with N(0, 1) (C2).
"""
from __future__ import annotations

from pathlib import Path

from trainlab.labs import Check, Lab, LabResult, Row, seeds_phrase
from trainlab.labs.deep_net import DEPTH, FULL_SEEDS, QUICK_SEEDS, WIDTH, deep_activations, mean_over_seeds
from trainlab.labs.figures import layer_histograms

INITS = {"Xavier": "xavier_normal", "N(0, 0.01²)": {"name": "normal", "std": 0.01}, "N(0, 1)": "standard_normal"}
RATIO_AT_LEAST = 0.1  # "far from 0": N(0, 0.01²) gives ≈ 1.4e-6; over 10 seeds Xavier gave 0.362–0.365
SATURATED_AT_MOST = 0.05  # "not saturated": N(0, 1) gives ≈ 90 %; over 10 seeds Xavier's worst layer ≈ 0.9 %


def run(quick: bool, out_dir: Path | None) -> LabResult:
    seeds = QUICK_SEEDS if quick else FULL_SEEDS
    stds = {label: mean_over_seeds("tanh", init, seeds) for label, init in INITS.items()}
    saturated = {label: mean_over_seeds("tanh", init, seeds, field="saturated") for label, init in INITS.items()}
    ratio = {label: s[-1] / s[0] for label, s in stds.items()}
    rows = [Row(f"Xavier: layer {k} std", s) for k, s in enumerate(stds["Xavier"], start=1)]
    rows += [Row(f"{label}: std layer {DEPTH} / layer 1", r) for label, r in ratio.items()]
    rows += [Row(f"{label}: largest fraction |h| > 0.99 over layers", max(s)) for label, s in saturated.items()]
    checks = [
        Check(f"Xavier: std ratio layer {DEPTH}/layer 1 = {ratio['Xavier']:.3g} ≥ {RATIO_AT_LEAST} "
              f"(N(0, 0.01²): {ratio['N(0, 0.01²)']:.2g})", ratio["Xavier"] >= RATIO_AT_LEAST),
        Check(f"Xavier: fraction |h| > 0.99 at most {SATURATED_AT_MOST:.0%} at every layer "
              f"(worst {max(saturated['Xavier']):.2%}; N(0, 1): {max(saturated['N(0, 1)']):.0%})",
              max(saturated["Xavier"]) <= SATURATED_AT_MOST),
    ]
    figure = layer_histograms({label: deep_activations("tanh", init, seeds[0], keep_values=True)
                               for label, init in INITS.items()},
                              f"{DEPTH} tanh layers × {WIDTH} units: Xavier vs too small vs too large", log_std=True)
    note = (f"{seeds_phrase(seeds).capitalize()}. With Xavier the std still shrinks slowly (tanh'(z) < 1 away from "
            "0), but every layer keeps a wide, unsaturated distribution of activations, unlike both extremes.")
    return LabResult(rows, checks, {"c3_layers": figure}, note)


LAB = Lab(
    id="C3", name="Xavier keeps tanh activations spread",
    claim="Scaling the weights by the number of inputs, W ~ N(0, 1/n) (Xavier/Glorot), preserves the "
          "distribution of each layer's outputs across all 10 tanh layers.",
    measures="std per layer, last/first layer std ratio, and the fraction of saturated outputs",
    source="001_9bc84d7af71e22b3.txt, 002_fbb29f398f0f5956.txt", experiment=run)

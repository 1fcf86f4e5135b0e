"""C7: zero initialization keeps all hidden units of a layer identical, even after training (seeds 001, 003).

With W = 0 every unit of a layer computes the same function, receives the same gradient and takes
the same update (for any optimizer), so the symmetry is never broken: the layer acts as one unit.
With sigmoid units the zero-initialised net does train (σ(0) = ½ feeds the output layer), which
shows that the units move yet stay identical; with tanh or ReLU (f(0) = 0) every weight gradient
is 0 and nothing but the output bias moves. Per seed (data draw, split, batch order and the
he_normal draw): the zero-initialised net's largest unit spread and smallest weight movement, and
the he_normal net's smallest unit spread.
"""
from __future__ import annotations

import statistics
from pathlib import Path

import torch

from trainlab.diagnose.forward_stats import activation_statistics
from trainlab.labs import Evidence, LabResult, Row, lab, seeds_phrase
from trainlab.labs.figures import curves
from trainlab.labs.training import ArmTraining

HIDDEN = [16, 16]
IDENTICAL_BELOW = 1e-6  # identical units differ by 0 or float32 rounding (≈ 1e-7 of their size)
DISTINCT_ABOVE = 0.1  # independently drawn units differ by a size comparable to their own: a tenth is far from 0
MOVED_ABOVE = 0.1  # the zero-initialised weights must have moved (row norm), or identity would be trivial


def recipe(init: str, activation: str, epochs: int, seed: int) -> dict:
    return {"name": f"c7-{init}-{activation}", "seed": seed,
            "data": {"name": "moons", "n_samples": 400, "preprocess": "zscore", "batch_size": 32},
            "model": {"name": "mlp", "hidden": HIDDEN, "activation": activation, "init": init},
            "optim": {"name": "adam", "lr": 0.01}, "stopping": {"epochs": epochs}}


def unit_spread(h: torch.Tensor) -> float:
    """max over unit pairs of ‖h_i − h_j‖ / mean ‖h_i‖, h (examples, units): 0 when all units are identical.

    >>> unit_spread(torch.ones(5, 3))
    0.0
    """
    columns = h.T
    return (torch.cdist(columns, columns).max() / columns.norm(dim=1).mean().clamp_min(1e-30)).item()


def train(training: ArmTraining, init: str, activation: str, epochs: int, seeds: tuple[int, ...]):
    """Train every seed; per seed (the setup, the last epoch's metrics, hidden-layer statistics with
    values, hidden weights)."""
    fits = training.fit(f"{init} + {activation}", [recipe(init, activation, epochs, seed) for seed in seeds], epochs)
    trained = []
    for setup, history in zip(fits.setups, fits.histories):
        hidden = [s for s in activation_statistics(setup.model, setup.train.x, keep_values=True) if s.activation]
        weights = [m.weight.detach() for m in setup.model.modules() if isinstance(m, torch.nn.Linear)][:len(HIDDEN)]
        trained.append((setup, history[-1], hidden, weights))
    return trained


def first_layer_curves(setup, init: str) -> dict[str, tuple[list[float], list[float]]]:
    """Layer 1's units along a line through the (z-scored) input space, one curve per unit."""
    grid = torch.zeros(101, 2)
    grid[:, 0] = torch.linspace(-2.5, 2.5, 101)
    first = next(s for s in activation_statistics(setup.model, grid, keep_values=True) if s.activation)
    return {f"{init}, unit {u + 1}": (grid[:, 0].tolist(), first.values[:, u].tolist()) for u in range(HIDDEN[0])}


@lab(
    id="C7", name="zero init: units stay identical",
    claim="If all weights start at W = 0, all neurons do the same operations, get the same gradients and are "
          "updated alike: the layer lacks asymmetry and cannot learn different features.",
    measures="per seed, pairwise spread of a layer's units (activations and weight vectors) after training, zeros "
             "vs he_normal",
    source="001_9bc84d7af71e22b3.txt, 003_5bed7eaae0bb2515.txt")
def run(quick: bool, out_dir: Path | None, seeds: tuple[int, ...]) -> LabResult:
    epochs = 10 if quick else 40
    measured: dict[str, list[dict[str, list[float]]]] = {"zeros": [], "he_normal": []}
    accuracy: dict[str, list[float]] = {"zeros": [], "he_normal": []}
    lines, training = {}, ArmTraining()
    for init, per_seed in measured.items():
        for seed, (setup, last, hidden, weights) in zip(seeds, train(training, init, "sigmoid", epochs, seeds)):
            per_seed.append({"activations": [unit_spread(s.values) for s in hidden],
                                   "weights": [unit_spread(w.T) for w in weights],
                                   "moved": [w.norm(dim=1).mean().item() for w in weights]})
            accuracy[init].append(last["val_accuracy"])
            if seed == seeds[0]:
                lines[init] = first_layer_curves(setup, init)
    rows = []
    for init, runs in measured.items():
        for k in range(len(HIDDEN)):
            rows += [Row(f"{init}: layer {k + 1} spread of unit activations (median over seeds)",
                         statistics.median(r["activations"][k] for r in runs)),
                     Row(f"{init}: layer {k + 1} spread of unit weight vectors (median over seeds)",
                         statistics.median(r["weights"][k] for r in runs)),
                     Row(f"{init}: layer {k + 1} mean ‖w_unit‖ after training (median over seeds)",
                         statistics.median(r["moved"][k] for r in runs))]
        rows.append(Row(f"{init}: validation accuracy (median over seeds)", statistics.median(accuracy[init])))
    zeros, he = measured["zeros"], measured["he_normal"]
    checks = [
        Evidence("zeros: largest spread between a layer's units (activations or weight vectors, both layers)",
                 [max(r["activations"] + r["weights"]) for r in zeros], at_most=IDENTICAL_BELOW,
                 source="notes: identical units; float32 rounding ≈ 1e-7", seeds=seeds),
        Evidence("zeros: smallest mean ‖w_unit‖ of a hidden layer after training (the weights did move)",
                 [min(r["moved"]) for r in zeros], at_least=MOVED_ABOVE,
                 source="else identity would be a standstill", seeds=seeds),
        Evidence("he_normal: smallest spread between a layer's units (activations)",
                 [min(r["activations"]) for r in he], at_least=DISTINCT_ABOVE,
                 source="randomly drawn units differ by about their own size", seeds=seeds),
    ]
    for activation in ("tanh", "relu"):
        largest = [max(w.abs().max().item() for w in weights)
                   for _, _, _, weights in train(training, "zeros", activation, epochs, seeds)]
        rows.append(Row(f"zeros + {activation}: largest |W| of the hidden layers after training (largest over seeds)",
                        max(largest)))
    figures = {f"c7_units_{init}": curves(series, "input x₁ (x₂ = 0, z-scored)", "layer-1 unit output",
                                          f"{init} init, sigmoid, seed {seeds[0]}: the {HIDDEN[0]} units of layer 1 "
                                          "(one line each)", legend=False)
               for init, series in lines.items()}
    note = (f"{seeds_phrase(seeds).capitalize()}; each seed draws the data, split, batch order and the he_normal "
            "weights. Spread = largest distance between two units (their activations on the training set, or their "
            "weight vectors) relative to the mean size of a unit. Moons, MLP 2→16→16→2 with sigmoid units, Adam "
            f"0.01, {epochs} epochs. With zeros the {HIDDEN[0]} curves of the figure coincide: one unit drawn "
            f"{HIDDEN[0]} times. With tanh or ReLU and zero init the hidden weights never leave 0 at all (f(0) = 0 "
            "blocks every weight gradient). Each criterion is judged by the 95 % bootstrap interval of its median "
            "over the seeds; nothing diverges here (Adam 0.01 on moons). " + training.note())
    return LabResult(rows, checks, figures, note)

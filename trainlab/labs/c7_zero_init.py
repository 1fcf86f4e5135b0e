"""C7: zero initialization keeps all hidden units of a layer identical, even after training (seeds 001, 003).

With W = 0 every unit of a layer computes the same function, receives the same gradient and takes
the same update (for any optimizer), so the symmetry is never broken: the layer acts as one unit.
With sigmoid units the zero-initialised net does train (σ(0) = ½ feeds the output layer), which
shows that the units move yet stay identical; with tanh or ReLU (f(0) = 0) every weight gradient
is 0 and nothing but the output bias moves.
"""
from __future__ import annotations

from pathlib import Path

import torch

from trainlab.diagnose.forward_stats import activation_statistics
from trainlab.labs import Check, Lab, LabResult, Row
from trainlab.labs.figures import curves
from trainlab.recipe import load_recipe
from trainlab.run import build

HIDDEN = [16, 16]
IDENTICAL_BELOW = 1e-6  # relative spread of identical float32 units is 0 or rounding (~1e-7)
DISTINCT_ABOVE = 0.1  # independently drawn units differ by a fraction of their own size (≈ 1 measured)
MOVED_ABOVE = 0.1  # the zero-initialised weights must have moved (row norm), or identity would be trivial


def recipe(init: str, activation: str, epochs: int) -> dict:
    return {"name": f"c7-{init}-{activation}", "seed": 0,
            "data": {"name": "moons", "n_samples": 400, "preprocess": "zscore", "batch_size": 32},
            "model": {"name": "mlp", "hidden": HIDDEN, "activation": activation, "init": init},
            "optim": {"name": "adam", "lr": 0.01}, "stopping": {"epochs": epochs}}


def unit_spread(h: torch.Tensor) -> float:
    """max over unit pairs of ‖h_i − h_j‖ / mean ‖h_i‖, h (examples, units): 0 when all units are identical."""
    columns = h.T
    return (torch.cdist(columns, columns).max() / columns.norm(dim=1).mean().clamp_min(1e-30)).item()


def train(init: str, activation: str, epochs: int):
    setup = build(load_recipe(recipe(init, activation, epochs)))
    history = setup.trainer.fit(setup.train, setup.val, epochs)
    hidden = [s for s in activation_statistics(setup.model, setup.train.x, keep_values=True) if s.activation]
    weights = [m.weight.detach() for m in setup.model.modules() if isinstance(m, torch.nn.Linear)][:len(HIDDEN)]
    return setup, history[-1], hidden, weights


def run(quick: bool, out_dir: Path | None) -> LabResult:
    epochs = 10 if quick else 40
    rows, checks, lines = [], [], {}
    for init in ("zeros", "he_normal"):
        setup, last, hidden, weights = train(init, "sigmoid", epochs)
        spreads = [unit_spread(s.values) for s in hidden]
        weight_spreads = [unit_spread(w.T) for w in weights]
        moved = [w.norm(dim=1).mean().item() for w in weights]
        for k, (a, w, m) in enumerate(zip(spreads, weight_spreads, moved), start=1):
            rows += [Row(f"{init}: layer {k} spread of unit activations", a),
                     Row(f"{init}: layer {k} spread of unit weight vectors", w),
                     Row(f"{init}: layer {k} mean ‖w_unit‖ after training", m)]
        rows.append(Row(f"{init}: validation accuracy", last["val_accuracy"]))
        if init == "zeros":
            largest = max(spreads + weight_spreads)
            checks.append(Check(f"zeros: every layer's units identical (largest spread {largest:.2g}"
                                f" < {IDENTICAL_BELOW:g}) although their weights moved (smallest mean ‖w‖ "
                                f"{min(moved):.3g} > {MOVED_ABOVE})",
                                largest < IDENTICAL_BELOW and min(moved) > MOVED_ABOVE))
        else:
            checks.append(Check(f"he_normal: units distinct (smallest spread {min(spreads):.3g} > {DISTINCT_ABOVE})",
                                min(spreads) > DISTINCT_ABOVE))
        grid = torch.zeros(101, 2)
        grid[:, 0] = torch.linspace(-2.5, 2.5, 101)  # a line through the (z-scored) input space
        first = next(s for s in activation_statistics(setup.model, grid, keep_values=True) if s.activation)
        lines[init] = {f"{init}, unit {u + 1}": (grid[:, 0].tolist(), first.values[:, u].tolist())
                       for u in range(HIDDEN[0])}
    for activation in ("tanh", "relu"):
        _, _, _, weights = train("zeros", activation, epochs)
        rows.append(Row(f"zeros + {activation}: largest |W| of the hidden layers after training",
                        max(w.abs().max().item() for w in weights)))
    figures = {f"c7_units_{init}": curves(series, "input x₁ (x₂ = 0, z-scored)", "layer-1 unit output",
                                          f"{init} init, sigmoid: the {HIDDEN[0]} units of layer 1 (one line each)",
                                          legend=False)
               for init, series in lines.items()}
    note = ("Spread = largest distance between two units (their activations on the training set, or their weight "
            "vectors) relative to the mean size of a unit. Moons, MLP 2→16→16→2 with sigmoid units, Adam 0.01, "
            f"{epochs} epochs. With zeros the {HIDDEN[0]} curves of the figure coincide: one unit drawn {HIDDEN[0]} "
            "times. With tanh or ReLU and zero init the hidden weights never leave 0 at all (f(0) = 0 blocks every "
            "weight gradient).")
    return LabResult(rows, checks, figures, note)


LAB = Lab(
    id="C7", name="zero init: units stay identical",
    claim="If all weights start at W = 0, all neurons do the same operations, get the same gradients and are "
          "updated alike: the layer lacks asymmetry and cannot learn different features.",
    measures="pairwise spread of a layer's units (activations and weight vectors) after training, zeros vs he_normal",
    source="001_9bc84d7af71e22b3.txt, 003_5bed7eaae0bb2515.txt", experiment=run)

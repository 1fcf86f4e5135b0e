"""C16: the LR finder's suggestion trains well, and 10× above it diverges (seed 001).

The range test (Smith 2017; :func:`trainlab.tools.lr_find.lr_find`) trains one mini-batch per rate
η_i = start · (end/start)^{i/(N−1)}, smooths the losses (s_i = a_i / (1 − β^{i+1}),
a_i = β a_{i−1} + (1 − β) L_i, β = 0.98) and stops when s_i > 4 · min_{j≤i} s_j (the blow-up).
Its recommended suggestion is η_min/10 (η_min: the rate of the smallest s); the other rule is the
rate of steepest descent, arg min ds/d log η.

For moons and digits, each with SGD and with Adam, the lab runs the range test, then trains a fresh
model (same seed) for 10 epochs at the suggestion and at 10× the suggestion. With L₀ the training
loss of the untrained model (≈ ln K for K classes):

- *trains well*: the final training loss is finite and ≤ L₀/2;
- *diverges*: the loss becomes NaN/inf, or the final training loss is ≥ L₀ (no better than not training).

The same is measured for the steepest rule and for 10× the blow-up rate.
"""
from __future__ import annotations

import math
from pathlib import Path

from matplotlib.figure import Figure

from trainlab.labs import Check, Lab, LabResult, Row, seeds_phrase
from trainlab.recipe import load_recipe
from trainlab.report.svg import svg_text
from trainlab.run import build
from trainlab.tools.lr_find import LRFindResult, lr_find
from trainlab.train.trainer import NonFiniteLoss

EPOCHS = 10
END = 100.0  # SGD on moons blows up only near η ≈ 50, so the default end (10) would not reach it
TRAINS_WELL = 0.5  # final loss ≤ L₀/2: half the untrained loss (ln 2 → 0.35 on moons, ln 10 → 1.15 on digits)
CASES = {"moons, SGD": ("moons", "sgd"), "moons, Adam": ("moons", "adam"),
         "digits, SGD": ("digits", "sgd"), "digits, Adam": ("digits", "adam")}
DATA = {"moons": ({"name": "moons", "n_samples": 500, "batch_size": 32, "preprocess": "zscore"}, [32, 32]),
        "digits": ({"name": "digits", "batch_size": 32, "preprocess": "zscore"}, [64])}
QUICK_SEEDS, FULL_SEEDS = (0,), (0, 1, 2)
CLIP = 10.0  # the figure draws losses above 10 L₀ at 10 L₀ (a diverging run reaches 1e35)


def recipe(data: str, optimizer: str, seed: int, lr: float = 0.01) -> dict:
    spec, hidden = DATA[data]
    return {"name": f"c16-{data}-{optimizer}", "seed": seed, "data": spec,
            "model": {"name": "mlp", "hidden": hidden}, "optim": {"name": optimizer, "lr": lr}}


def train(data: str, optimizer: str, seed: int, lr: float) -> tuple[float, list[float]]:
    """The untrained training loss L₀ and the training loss after each epoch (inf once it is not finite)."""
    setup = build(load_recipe(recipe(data, optimizer, seed, lr)))
    start = setup.trainer.evaluate(setup.train)["loss"]
    losses: list[float] = []
    try:
        for epoch in range(1, EPOCHS + 1):
            losses.append(setup.trainer.fit(setup.train, None, epoch)[-1]["loss"])
    except NonFiniteLoss:
        losses += [math.inf] * (EPOCHS - len(losses))
    return start, [v if math.isfinite(v) else math.inf for v in losses]


def outcome(start: float, final: float) -> str:
    if final <= TRAINS_WELL * start:
        return "trains well"
    if not math.isfinite(final) or final >= start:
        return "diverges"
    return "trains poorly"


def shown(loss: float) -> str | float:
    return "diverged (NaN/inf)" if not math.isfinite(loss) else loss


def figure(finds: dict[str, LRFindResult], curves: dict[str, dict[str, tuple[float, list[float]]]]) -> str:
    """Left: each range test (smoothed loss / L₀) with its suggestion (●) and 10× it (×).
    Right: training loss / L₀ per epoch at the suggestion (solid) and at 10× (dashed)."""
    fig = Figure(figsize=(11, 4))
    left, right = fig.subplots(1, 2)
    for i, (case, found) in enumerate(finds.items()):
        start = curves[case]["suggestion"][0]
        color = f"C{i}"
        left.plot(found.lrs, [s / start for s in found.smoothed], color=color, label=case)
        for rate, marker in ((found.suggestion, "o"), (10 * found.suggestion, "x")):
            k = min(range(len(found.lrs)), key=lambda j: abs(math.log(found.lrs[j] / rate)))
            left.plot([rate], [found.smoothed[k] / start], marker=marker, color=color, ms=8, mew=2)
        for label, style in (("suggestion", "-"), ("10× suggestion", "--")):
            start, losses = curves[case][label]
            finite = [(e, min(v / start, CLIP)) for e, v in enumerate(losses, start=1) if math.isfinite(v)]
            right.plot([e for e, _ in finite], [v for _, v in finite], ls=style, color=color, marker="o", ms=3,
                       label=f"{case}, {label}")
    left.set_xscale("log")
    left.set_ylim(0, 2.5)
    left.set_xlabel("learning rate η (range test)")
    left.set_ylabel("smoothed loss / L₀")
    left.set_title("range tests; ● suggestion (η_min/10), × 10× it", fontsize=10)
    right.set_yscale("log")
    right.axhline(1.0, color="gray", lw=1)
    right.axhline(TRAINS_WELL, color="gray", lw=1, ls=":")
    right.set_xlabel("epoch")
    right.set_ylabel("training loss / L₀")
    right.set_ylim(top=2 * CLIP)
    right.set_title(f"training at the suggestion (—) and 10× it (--); > {CLIP:g} drawn at {CLIP:g}, NaN left out",
                    fontsize=9)
    for ax in (left, right):
        ax.grid(alpha=0.3)
    left.legend(fontsize=7)
    right.legend(fontsize=6, ncol=2)
    return svg_text(fig)


def run(quick: bool, out_dir: Path | None) -> LabResult:
    seeds = QUICK_SEEDS if quick else FULL_SEEDS
    rows: list[Row] = []
    counts = {key: 0 for key in ("suggestion trains", "10× suggestion diverges", "steepest trains",
                                 "10× steepest diverges", "10× blow-up diverges")}
    finds: dict[str, LRFindResult] = {}
    curves: dict[str, dict[str, tuple[float, list[float]]]] = {}
    total = 0
    for case, (data, optimizer) in CASES.items():
        for seed in seeds:
            total += 1
            found = lr_find(recipe(data, optimizer, seed), end=END)
            rates = {"suggestion": found.suggestion, "10× suggestion": 10 * found.suggestion,
                     "steepest": found.suggestions["steepest"], "10× steepest": 10 * found.suggestions["steepest"],
                     "10× blow-up": 10 * found.diverged_at if found.diverged_at else None}
            tag = f"{case}, seed {seed}"
            rows.append(Row(f"{tag}: blow-up η of the range test", found.diverged_at or "none"))
            trained = {}
            for label, rate in rates.items():
                if rate is None:
                    continue
                trained[label] = train(data, optimizer, seed, rate)
                start, losses = trained[label]
                result = outcome(start, losses[-1])
                if label == "suggestion":
                    rows.append(Row(f"{tag}: L₀ (untrained training loss)", start))
                rows += [Row(f"{tag}: {label}: η", rate),
                         Row(f"{tag}: {label}: final training loss", shown(losses[-1]))]
                rows.append(Row(f"{tag}: {label}: outcome", result))
                key = {"suggestion": "suggestion trains", "steepest": "steepest trains"}.get(label, f"{label} diverges")
                counts[key] += result == ("trains well" if key.endswith("trains") else "diverges")
            if seed == seeds[0]:
                finds[case], curves[case] = found, trained
    for key, n in counts.items():
        rows.append(Row(f"cases where the {key}", f"{n} / {total}", f"{total} / {total}" if key in (
            "suggestion trains", "10× suggestion diverges") else None))
    checks = [
        Check(f"the suggestion (η_min/10, the recommended rule) trains well (final training loss ≤ L₀/2 within "
              f"{EPOCHS} epochs) in every case: {counts['suggestion trains']} / {total}",
              counts["suggestion trains"] == total),
        Check(f"10× the suggestion diverges (NaN/inf, or final loss ≥ L₀) in every case: "
              f"{counts['10× suggestion diverges']} / {total}", counts["10× suggestion diverges"] == total),
    ]
    note = (f"{len(CASES)} problems × {seeds_phrase(seeds)}; range test from 1e-7 to {END:g} over 100 batches, then "
            f"{EPOCHS} epochs of training from the same initial weights at each rate. L₀ is the untrained model's "
            "training loss. Besides the claim's two checks the rows give the steepest-descent rule and 10× the "
            "blow-up rate: 10× the blow-up is the part that fails reliably; whether 10× the *suggestion* "
            "still trains depends on the problem (the η_min/10 rule is built to leave a margin, docs/tools.md).")
    return LabResult(rows, checks, {"c16_lr_finder": figure(finds, curves)}, note)


LAB = Lab(
    id="C16", name="LR finder: suggestion trains, 10× diverges",
    claim="LR finder: start with a very small learning rate and increase it every batch; pick a high rate where "
          "the loss still improves (e.g. 1e-2). Claimed: that rate trains well, and 10× above it diverges.",
    measures="training loss after 10 epochs at the finder's suggestion and at 10× it (and the steepest rule, "
             "10× the blow-up), moons and digits with SGD and Adam",
    source="001_9bc84d7af71e22b3.txt", experiment=run)

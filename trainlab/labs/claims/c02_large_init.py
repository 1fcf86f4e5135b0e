"""C2: with W ~ N(0, 1) the units of a deep tanh network saturate at ±1 (seed 001).

Pre-activations have std ≈ √500 ≈ 22, so tanh outputs sit at ±1: the std is ≈ 0.98 at every
layer and tanh' ≈ 0 there, which stops the gradients. One network and input draw per seed; per
seed, the worst layer's |std/notes − 1| and the least saturated layer's fraction |h| > 0.99.
"""
from __future__ import annotations

from pathlib import Path

from trainlab.labs import Evidence, LabResult, Row, lab, seeds_phrase
from trainlab.labs.deep_net import DEPTH, WIDTH, over_seeds
from trainlab.labs.figures import layer_histograms

INIT = "standard_normal"
NOTES_STD = [0.981879, 0.981649, 0.981601, 0.981755, 0.981614, 0.981560, 0.981520, 0.981913, 0.981728, 0.981736]
TOLERANCE = 0.01  # LECTURES.md / the notes: "≈ 0.98 at every layer" — within 1 % of the notes' table
SATURATED_AT_LEAST = 0.5  # "las neuronas se saturan, tomando valores −1 o 1": most outputs within 1 % of ±1


@lab(
    id="C2", name="large init: tanh units saturate",
    claim="Same network with W ~ N(0, 1): the std is ≈ 0.98 at every layer (0.981879, 0.981649, …) and the "
          "neurons saturate, taking the values −1 or 1.",
    measures="std per layer (within 1 % of the notes') and the fraction of outputs with |h| > 0.99, per seed",
    source="001_9bc84d7af71e22b3.txt")
def run(quick: bool, out_dir: Path | None, seeds: tuple[int, ...]) -> LabResult:
    runs = over_seeds("tanh", INIT, seeds, fields=("std", "saturated"))
    stds, saturated = runs.per_seed["std"], runs.per_seed["saturated"]
    rows = [Row(f"layer {k} std (median over seeds)", s, e)
            for k, (s, e) in enumerate(zip(runs.median(), NOTES_STD), start=1)]
    rows += [Row(f"layer {k} fraction |h| > 0.99 (median over seeds)", f)
             for k, f in enumerate(runs.median("saturated"), start=1)]
    worst = [max(abs(s / e - 1) for s, e in zip(run, NOTES_STD)) for run in stds]
    checks = [
        Evidence("every layer's std near the notes': largest |std/notes − 1| over the 10 layers", worst,
                 at_most=TOLERANCE, source="notes' table, ≈ 0.98 at every layer: within 1 %", seeds=seeds),
        Evidence("units saturated: smallest fraction |h| > 0.99 over the 10 layers", [min(run) for run in saturated],
                 at_least=SATURATED_AT_LEAST, source="notes: the neurons saturate at −1 or 1 (most outputs)",
                 seeds=seeds),
    ]
    figure = layer_histograms({"W ~ N(0, 1)": runs.first},
                              f"{DEPTH} tanh layers × {WIDTH} units, W ~ N(0, 1): std per layer (seed {seeds[0]})")
    note = (f"{seeds_phrase(seeds).capitalize()}, one network and input draw per seed. Pre-activations have std ≈ "
            f"√{WIDTH}·0.98 ≈ {WIDTH ** 0.5 * 0.98:.0f}, so tanh sits at ±1 for most inputs (the histograms pile up "
            "at both ends) and tanh' ≈ 0 there. Each criterion is judged by the 95 % bootstrap interval of its median "
            "over the seeds (with 3 seeds: their range). Nothing is trained, so nothing can diverge.")
    return LabResult(rows, checks, {"c2_layers": figure}, note)

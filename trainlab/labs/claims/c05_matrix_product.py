"""C5: the product of 100 random Gaussian 5×5 matrices explodes to ~1e28 (seed 000).

The notes' code (after d2l.ai): M = N(0, 1)^{5×5}; then 100 times M ← M · N(0, 1)^{5×5}. The log of
the product's size grows linearly with the number of factors; its rate is the top Lyapunov
exponent of Gaussian matrices, λ₁ = ½(ln 2 + ψ(n/2)) per factor for n × n (Newman 1986), so
101 factors give magnitudes near 10^(101 λ₁ / ln 10) ≈ 1e30, with seed-to-seed spread of a few decades.

Each lab seed draws a batch of independent products. Per seed: the growth rate of ln max|entry|
per factor over factors 51–101 (after the product's direction has settled, so the rate is λ₁'s
without the transient of the first factors), averaged over the batch, against λ₁; and where the
notes' own draw (1.31e29) falls among the batch — a typical draw if within the central 95 %.
"""
from __future__ import annotations

import math
import statistics
from pathlib import Path

import torch

from trainlab.labs import Evidence, LabResult, Row, lab, seeds_phrase
from trainlab.labs.figures import curves, histogram

SIZE, PRODUCTS = 5, 100  # one matrix, then 100 more multiplied in (101 factors), as in the notes
NOTES_LARGEST = 1.3111e29  # the largest |entry| of the notes' product
QUICK_BATCH, FULL_BATCH = 1000, 10_000  # products per seed
SETTLED = 50  # the rate is measured from factor 51 on: the direction converges like e^{-(λ₁−λ₂)k}, λ₁−λ₂ = 0.14
# One product's rate over 50 factors has sd ≈ 0.05 (measured over 20 000 products), so a 1000-product
# mean has a standard error ≈ 0.0016 ≈ 0.23 % of λ₁: 1 % is over 4 standard errors, and 20 times
# smaller than the gap to the neighbouring sizes' exponents (4×4: 0.558, 6×6: 0.808).
RATE_TOLERANCE = 0.01
TAIL = 0.025  # "a typical draw": the notes' number within the central 95 % of the products


def lyapunov_exponent(n: int) -> float:
    """λ₁ = ½(ln 2 + ψ(n/2)): the growth rate of log‖M‖ per factor for n × n N(0, 1) matrices.

    >>> round(lyapunov_exponent(5), 4)
    0.6982
    """
    return 0.5 * (math.log(2) + torch.special.digamma(torch.tensor(n / 2, dtype=torch.float64)).item())


def products(count: int, generator_seed: int = 0) -> torch.Tensor:
    """log10 of max|entry| after each factor, shape (count, PRODUCTS + 1); float64, so nothing overflows."""
    generator = torch.Generator().manual_seed(generator_seed)
    m = torch.randn(count, SIZE, SIZE, generator=generator, dtype=torch.float64)
    first = m.abs().amax(dim=(1, 2), keepdim=True)
    sizes, m = [first.flatten().log10()], m / first
    for _ in range(PRODUCTS):
        m = m @ torch.randn(count, SIZE, SIZE, generator=generator, dtype=torch.float64)
        scale = m.abs().amax(dim=(1, 2), keepdim=True)  # renormalise: only the direction is carried on
        sizes.append(sizes[-1] + scale.flatten().log10())
        m = m / scale
    return torch.stack(sizes, dim=1)


@lab(
    id="C5", name="a product of 100 random matrices explodes",
    claim="Exploding gradients: multiplying 100 random Gaussian 5×5 matrices gives entries of order 1e28 "
          "(the notes' product: up to 1.3111e29).",
    measures="per seed, over a batch of products: the growth rate of ln max|entry| per factor vs the Lyapunov "
             "exponent, and where the notes' 1.31e29 falls in the distribution of max|entry|",
    source="000_e75dfcc04a46b84b.txt")
def run(quick: bool, out_dir: Path | None, seeds: tuple[int, ...]) -> LabResult:
    batch = QUICK_BATCH if quick else FULL_BATCH
    theory = lyapunov_exponent(SIZE)
    sizes = {seed: products(batch, seed) for seed in seeds}
    rates = [((s[:, -1] - s[:, SETTLED]).mean().item() * math.log(10)) / (PRODUCTS - SETTLED) for s in sizes.values()]
    ranks = [(s[:, -1] < math.log10(NOTES_LARGEST)).double().mean().item() for s in sizes.values()]
    final = torch.cat([s[:, -1] for s in sizes.values()])
    quantiles = torch.quantile(final, torch.tensor([0.05, 0.25, 0.5, 0.75, 0.95], dtype=torch.float64)).tolist()
    rows = [Row("median of max|entry| (all products)", 10 ** quantiles[2], NOTES_LARGEST)]
    rows += [Row(f"{int(q * 100)} % quantile of max|entry|", 10 ** v)
             for q, v in zip((0.05, 0.25, 0.75, 0.95), quantiles[:2] + quantiles[3:])]
    rows += [Row("smallest max|entry|", 10 ** final.min().item()), Row("largest max|entry|", 10 ** final.max().item()),
             Row("fraction of products in [1e20, 1e35]", ((final >= 20) & (final <= 35)).double().mean().item()),
             Row("quantile of the notes' 1.31e29 among the products (median over seeds)", statistics.median(ranks)),
             Row(f"growth of ln max|entry| per factor, factors {SETTLED + 1}–{PRODUCTS + 1} (median over seeds)",
                 statistics.median(rates), theory, "theory: ½(ln 2 + ψ(5/2))")]
    checks = [
        Evidence(f"|growth rate per factor / λ₁ − 1|, λ₁ = {theory:.4f}", [abs(r / theory - 1) for r in rates],
                 at_most=RATE_TOLERANCE, source="theory (Newman 1986); 1 % > 4 standard errors of a 1000-product mean",
                 seeds=seeds),
        Evidence("the notes' 1.31e29 is a typical draw: its distance to the nearer tail, min(q, 1 − q), q its "
                 "quantile among the products", [min(q, 1 - q) for q in ranks], at_least=TAIL,
                 source="the notes' single draw within the central 95 % of products", seeds=seeds),
    ]
    first = sizes[seeds[0]]
    shown = min(batch, 20)
    figures = {
        "c5_distribution": histogram(final.tolist(), "log10 max|entry| of the product of 101 matrices",
                                     f"{len(final)} products ({seeds_phrase(seeds)})",
                                     {"the notes (1.31e29)": math.log10(NOTES_LARGEST),
                                      "theory 101·λ₁/ln 10": (PRODUCTS + 1) * theory / math.log(10)}),
        "c5_growth": curves({f"_product {i}": (list(range(1, PRODUCTS + 2)), first[i].tolist()) for i in range(shown)}
                            | {"theory λ₁·k/ln 10": (list(range(1, PRODUCTS + 2)),
                                                      [theory * k / math.log(10) for k in range(1, PRODUCTS + 2)])},
                            "matrices multiplied", "log10 max|entry|",
                            f"growth of the product ({shown} products of seed {seeds[0]})",  # "_": not in the legend
                            styles={"theory λ₁·k/ln 10": {"color": "black", "lw": 2.5, "ls": "--"}}),
    }
    note = (f"{seeds_phrase(seeds).capitalize()}, {batch} independent products per seed, each one matrix then "
            f"{PRODUCTS} more multiplied in, as in the notes' code (computed in float64 and renormalised after each "
            "factor, so nothing overflows; the notes' float32 would overflow beyond 3.4e38). The rate is taken over "
            f"factors {SETTLED + 1}–{PRODUCTS + 1}: over all 101 factors max|entry| grows ≈ 1 % faster than λ₁ while "
            "the product's direction settles. Each criterion is judged by the 95 % bootstrap interval of its median "
            "over the seeds; nothing is trained, so nothing diverges.")
    return LabResult(rows, checks, figures, note)

"""C5: the product of 100 random Gaussian 5×5 matrices explodes to ~1e28 (seed 000).

The notes' code (after d2l.ai): M = N(0, 1)^{5×5}; then 100 times M ← M · N(0, 1)^{5×5}. The log of
the product's size grows linearly with the number of factors; its rate is the top Lyapunov
exponent of Gaussian matrices, λ₁ = ½(ln 2 + ψ(n/2)) per factor for n × n (Newman 1986), so
101 factors give magnitudes near 10^(101 λ₁ / ln 10) ≈ 1e30, with seed-to-seed spread of a few decades.
"""
from __future__ import annotations

import math
from pathlib import Path

import torch

from trainlab.labs import Check, Lab, LabResult, Row
from trainlab.labs.figures import curves, histogram

SIZE, PRODUCTS = 5, 100  # one matrix, then 100 more multiplied in (101 factors), as in the notes
NOTES_LARGEST = 1.3111e29  # the largest |entry| of the notes' product
RANGE = (20.0, 35.0)  # log10 of "of order 1e20–1e35" (the brief's acceptance)
MOST = 0.9  # "in most seeds": at least 90 % of them
QUICK_SEEDS, FULL_SEEDS = 1000, 100_000


def lyapunov_exponent(n: int) -> float:
    """λ₁ = ½(ln 2 + ψ(n/2)): the growth rate of log‖M‖ per factor for n × n N(0, 1) matrices."""
    return 0.5 * (math.log(2) + torch.special.digamma(torch.tensor(n / 2, dtype=torch.float64)).item())


def products(seeds: int, generator_seed: int = 0) -> torch.Tensor:
    """log10 of max|entry| after each factor, shape (seeds, PRODUCTS + 1); float64, so nothing overflows."""
    generator = torch.Generator().manual_seed(generator_seed)
    m = torch.randn(seeds, SIZE, SIZE, generator=generator, dtype=torch.float64)
    first = m.abs().amax(dim=(1, 2), keepdim=True)
    sizes, m = [first.flatten().log10()], m / first
    for _ in range(PRODUCTS):
        m = m @ torch.randn(seeds, SIZE, SIZE, generator=generator, dtype=torch.float64)
        scale = m.abs().amax(dim=(1, 2), keepdim=True)  # renormalise: only the direction is carried on
        sizes.append(sizes[-1] + scale.flatten().log10())
        m = m / scale
    return torch.stack(sizes, dim=1)


def run(quick: bool, out_dir: Path | None) -> LabResult:
    n = QUICK_SEEDS if quick else FULL_SEEDS
    sizes = products(n)
    final = sizes[:, -1]
    quantiles = torch.quantile(final, torch.tensor([0.05, 0.25, 0.5, 0.75, 0.95], dtype=torch.float64)).tolist()
    inside = ((final >= RANGE[0]) & (final <= RANGE[1])).double().mean().item()
    rate = (final.mean().item() * math.log(10)) / (PRODUCTS + 1)
    theory = lyapunov_exponent(SIZE)
    notes_rank = (final < math.log10(NOTES_LARGEST)).double().mean().item()
    rows = [Row("median of max|entry|", 10 ** quantiles[2], NOTES_LARGEST)]
    rows += [Row(f"{int(q * 100)} % quantile of max|entry|", 10 ** v)
             for q, v in zip((0.05, 0.25, 0.75, 0.95), quantiles[:2] + quantiles[3:])]
    rows += [Row("smallest max|entry|", 10 ** final.min().item()), Row("largest max|entry|", 10 ** final.max().item()),
             Row(f"fraction of seeds in [1e{RANGE[0]:.0f}, 1e{RANGE[1]:.0f}]", inside),
             Row("quantile of the notes' 1.31e29 among the seeds", notes_rank),
             Row("growth of ln max|entry| per factor", rate, theory, "theory: ½(ln 2 + ψ(5/2))")]
    checks = [Check(f"max|entry| within [1e{RANGE[0]:.0f}, 1e{RANGE[1]:.0f}] in {inside:.1%} of {n} seeds "
                    f"(at least {MOST:.0%}); median {10 ** quantiles[2]:.2g}, notes {NOTES_LARGEST:.3g}",
                    inside >= MOST)]
    shown = min(n, 20)
    figures = {
        "c5_distribution": histogram(final.tolist(), "log10 max|entry| of the product of 101 matrices",
                                     f"{n} seeds", {"the notes (1.31e29)": math.log10(NOTES_LARGEST),
                                                    f"acceptance from 1e{RANGE[0]:.0f}": RANGE[0],
                                                    f"acceptance to 1e{RANGE[1]:.0f}": RANGE[1]}),
        "c5_growth": curves({f"_seed {i}": (list(range(1, PRODUCTS + 2)), sizes[i].tolist()) for i in range(shown)}
                            | {"theory λ₁·k/ln 10": (list(range(1, PRODUCTS + 2)),
                                                      [theory * k / math.log(10) for k in range(1, PRODUCTS + 2)])},
                            "matrices multiplied", "log10 max|entry|",
                            f"growth of the product ({shown} seeds)",  # labels starting "_" stay out of the legend
                            styles={"theory λ₁·k/ln 10": {"color": "black", "lw": 2.5, "ls": "--"}}),
    }
    note = (f"{n} independent products, each one matrix then {PRODUCTS} more multiplied in, as in the notes' code "
            "(computed in float64 and renormalised after each factor, so no seed overflows; the notes' float32 "
            "would overflow beyond 3.4e38). The notes' single draw lies at the "
            f"{notes_rank:.0%} quantile of the measured distribution; the mean growth rate matches the Lyapunov "
            f"exponent {theory:.4f} to {abs(rate - theory) / theory:.1%}.")
    return LabResult(rows, checks, figures, note)


LAB = Lab(
    id="C5", name="a product of 100 random matrices explodes",
    claim="Exploding gradients: multiplying 100 random Gaussian 5×5 matrices gives entries of order 1e28 "
          "(the notes' product: up to 1.3111e29).",
    measures="max|entry| of the product over many seeds: its distribution, and the fraction within 1e20–1e35",
    source="000_e75dfcc04a46b84b.txt", experiment=run)

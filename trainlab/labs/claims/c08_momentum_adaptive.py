"""C8: momentum and Nesterov cut the zigzag on an elongated quadratic; Adagrad's steps die out, RMSProp's do not (seeds 001, 002).

Elongated quadratic f = ½(0.1x₁² + 10x₂²) (curvatures 0.1 and 10, condition number κ = 100) from
(−5, −2): the gradient is small and steady along x₁ and large along x₂. Update rules (trainlab's
optimizer registry, torch's implementations):

- SGD w ← w − ηg: fast only near η ≈ 2/λ_max, where x₂ is multiplied by 1 − ηλ₂ < 0 each step —
  the gradient along x₂ changes sign every step (the zigzag across the valley) while x₁ crawls.
- momentum v ← μv + g, w ← w − ηv (μ = 0.9); Nesterov w ← w − η(g + μv): velocities add up along
  the steady x₁ gradient and cancel along the alternating x₂ gradient.
- Adagrad cache ← cache + g², w ← w − ηg/(√cache + ε); RMSProp cache ← ρcache + (1−ρ)g² with the
  notes' ρ = 0.9 (trainlab's default; torch's is 0.99).
  With gradients that do not vanish (noise of mini-batches: g = ∇f + N(0, 1)) Adagrad's cache
  grows ∝ t, so its step shrinks ∝ 1/√t; RMSProp's cache is an average and its step stays ≈ η.

Measured: for each of SGD, momentum, Nesterov, Adagrad, RMSProp and Adam, the fewest steps after
which ‖x‖ stays below 10⁻³‖x₀‖ over a grid of learning rates, and at that rate how often x₂ changes
sign (the x₂ gradient changing direction: zigzag) and the total x₂ travel Σ|Δx₂|/|x₂⁰| (1 = no
overshoot); then the mean step ‖Δx_t‖ of Adagrad and RMSProp over long noisy runs, from x₀ and from
the optimum (where |g| is stationary, so Adagrad's step ∝ 1/√t exactly), and its log-log slope;
and steps to leave the saddle point of f = x² − y² (figure).

The noiseless runs have no randomness (float64, a fixed start), so their criteria are exact
:class:`~trainlab.labs.Check` s. The noisy runs are judged over seeds: lab seed s is a group of 100
trajectories whose noise comes from a generator seeded s, and each criterion is a statistic of the
group's mean step (one value per seed).
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from torch import nn

from trainlab import registry
from trainlab.labs import Check, Evidence, LabResult, Row, lab, seeds_phrase
from trainlab.labs.figures import curves
from trainlab.labs.surfaces import contour_paths

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam")
CURVATURE = torch.tensor([0.1, 10.0], dtype=torch.float64)  # f = ½(0.1x₁² + 10x₂²), κ = 100
START, TOLERANCE = (-5.0, -2.0), 1e-3  # tolerance relative to ‖x₀‖
QUICK_GRID, FULL_GRID = (10, 600), (25, 3000)  # (learning rates in [0.003, 3], step horizon)
NOISY_RATE, GROUP = 0.01, 100  # Adagrad vs RMSProp on noisy gradients: same η, 100 trajectories per seed
RHO = 0.9  # RMSProp's decay: the notes' (seed 001: 'MeanSquare(w, t) = 0.9 MeanSquare(w, t−1) + …'), Keras'
QUICK_NOISY_STEPS, FULL_NOISY_STEPS = 2000, 20000
SADDLE_START, SADDLE_RATE, SADDLE_STEPS = (1.5, 1e-3), 0.05, 120  # f = x² − y², saddle at 0
ZIGZAG_SHARE = 0.5  # momentum/Nesterov: x₂ changes sign on at most half as many steps as SGD's (SGD: every step)
SLOPE_ADAGRAD, SLOPE_SLACK = -0.5, 0.1  # step ∝ t^(−1/2) at the optimum; 0.1 absorbs the noise over 100 seeds
RMSPROP_KEEPS = 0.8  # RMSProp's step over the last decade of t keeps ≥ 80 % of its size (theory 100 %)
ADAGRAD_KEEPS = 0.4  # Adagrad's falls to ≤ 40 % over that decade (1/√10 = 32 % for a stationary gradient)


class Points(nn.Module):
    """One or many points x ∈ ℝ² as a single parameter ((2,) or (seeds, 2)), float64."""

    def __init__(self, start: torch.Tensor) -> None:
        super().__init__()
        self.x = nn.Parameter(start.clone().double())


def descend(name: str, lr: float, steps: int, start: torch.Tensor, gradient, noise: torch.Tensor | None = None,
            ) -> tuple[torch.Tensor, torch.optim.Optimizer]:
    """``steps`` updates of the named optimizer on ``gradient(x)`` (+ ``noise[t]``); the path (steps+1, *shape)
    and the optimizer. Stops early (path padded with NaN) when x leaves every sane range."""
    points = Points(start)
    params = {"alpha": RHO} if name == "rmsprop" else {}
    optimizer = registry.optimizers.get(name).factory(points, lr=lr, **params)
    path = torch.full((steps + 1, *start.shape), math.nan, dtype=torch.float64)
    path[0] = points.x.detach()
    for t in range(steps):
        g = gradient(points.x.detach())
        points.x.grad = g if noise is None else g + noise[t]
        optimizer.step()
        path[t + 1] = points.x.detach()
        if not torch.isfinite(path[t + 1]).all() or path[t + 1].abs().max() > 1e6:
            break
    return path, optimizer


def steps_to_tolerance(path: torch.Tensor) -> int | None:
    """The first t after which ‖x‖ stays ≤ TOLERANCE·‖x₀‖ up to the horizon; None if it never does."""
    distance = path.norm(dim=1)
    limit = TOLERANCE * distance[0]
    if not torch.isfinite(distance).all() or distance[-1] > limit:
        return None
    above = torch.nonzero(distance > limit)
    return int(above[-1]) + 1 if len(above) else 0


def elongated(x: torch.Tensor) -> torch.Tensor:
    return CURVATURE * x


def best_rate(name: str, rates: np.ndarray, horizon: int) -> dict:
    """The rate of the grid that reaches tolerance in the fewest steps, with its path and zigzag measures."""
    best = {"steps": None, "lr": math.nan, "path": None}
    for lr in rates:
        path, _ = descend(name, float(lr), horizon, torch.tensor(START), elongated)
        n = steps_to_tolerance(path)
        if n is not None and (best["steps"] is None or n < best["steps"]):
            best = {"steps": n, "lr": float(lr), "path": path}
    if best["path"] is not None:
        x2 = best["path"][: best["steps"] + 1, 1]
        best["sign_changes"] = int((x2[1:] * x2[:-1] < 0).sum())
        best["travel"] = ((x2[1:] - x2[:-1]).abs().sum() / abs(START[1])).item()
    return best


def mean_steps(name: str, steps: int, origin: tuple[float, float], seeds: tuple[int, ...]) -> tuple[np.ndarray, float]:
    """Mean ‖Δx_t‖ per seed over its GROUP noisy runs from ``origin`` (seeds × steps, t = 1 … steps) and the final
    mean effective rate η/(√cache + ε). All seeds' runs form one (seeds·GROUP × 2) tensor."""
    noise = torch.cat([torch.randn(steps, GROUP, 2, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
                       for seed in seeds], 1)
    start = torch.tensor(origin, dtype=torch.float64).repeat(GROUP * len(seeds), 1)
    path, optimizer = descend(name, NOISY_RATE, steps, start, elongated, noise)
    state = optimizer.state[next(iter(optimizer.state))]
    cache = state["sum"] if name == "adagrad" else state["square_avg"]
    eps = optimizer.param_groups[0]["eps"]
    sizes = (path[1:] - path[:-1]).norm(dim=2).reshape(steps, len(seeds), GROUP).mean(2).T
    return sizes.numpy(), (NOISY_RATE / (cache.sqrt() + eps)).mean().item()


def slope(sizes: np.ndarray, first: int) -> float:
    """Least-squares slope of log(step) against log(t) for t ≥ first."""
    t = np.arange(1, len(sizes) + 1)
    return float(np.polyfit(np.log(t[first - 1:]), np.log(sizes[first - 1:]), 1)[0])


def saddle(x: torch.Tensor) -> torch.Tensor:
    return torch.stack([2 * x[0], -2 * x[1]])


@lab(
    id="C8", name="momentum cuts the zigzag; Adagrad's steps die out, RMSProp's do not",
    claim="On a loss with large, alternating vertical gradients and small, steady horizontal ones, momentum (and "
          "Nesterov) grow along the steady direction and cancel the alternating one: faster convergence, less "
          "oscillation. Adagrad's cache grows without bound, so in long runs its learning degrades to ~0; RMSProp's "
          "moving average does not.",
    measures="steps to tolerance and zigzag on an elongated quadratic per optimizer; step size over a long noisy run",
    source="001_9bc84d7af71e22b3.txt, 002_fbb29f398f0f5956.txt")
def run(quick: bool, out_dir: Path | None, seeds: tuple[int, ...]) -> LabResult:
    n_rates, horizon = QUICK_GRID if quick else FULL_GRID
    noisy_steps = QUICK_NOISY_STEPS if quick else FULL_NOISY_STEPS
    rates = np.geomspace(0.003, 3.0, n_rates)
    rows, checks = [], []
    best = {name: best_rate(name, rates, horizon) for name in OPTIMIZERS}
    for name, b in best.items():
        reached = b["steps"] is not None
        rows += [Row(f"{name}: fewest steps to ‖x‖ ≤ 10⁻³‖x₀‖", b["steps"] if reached else f"> {horizon}"),
                 Row(f"{name}: at learning rate", round(b["lr"], 5) if reached else "none of the grid")]
        if reached:
            rows += [Row(f"{name}: steps on which x₂ changes sign (zigzag)", f"{b['sign_changes']} / {b['steps']}"),
                     Row(f"{name}: x₂ travel Σ|Δx₂| / |x₂⁰|", b["travel"], 1.0, "no overshoot")]
    sgd, mom, nes = best["sgd"], best["momentum"], best["nesterov"]
    if all(b["steps"] is not None for b in (sgd, mom, nes)):
        zig = {k: best[k]["sign_changes"] / max(best[k]["steps"], 1) for k in ("sgd", "momentum", "nesterov")}
        checks.append(Check(f"momentum and Nesterov converge faster: {mom['steps']} and {nes['steps']} steps vs SGD's "
                            f"{sgd['steps']} (each at its best rate of {n_rates}; float64, fixed start: no randomness)",
                            max(mom["steps"], nes["steps"]) < sgd["steps"]))
        checks.append(Check(f"momentum and Nesterov cut the zigzag: x₂'s gradient changes direction on "
                            f"{zig['momentum']:.0%} and {zig['nesterov']:.0%} of their steps, ≤ {ZIGZAG_SHARE} × "
                            f"SGD's {zig['sgd']:.0%}", max(zig["momentum"], zig["nesterov"]) <= ZIGZAG_SHARE * zig["sgd"]))
    else:
        checks.append(Check("SGD, momentum and Nesterov all reach the tolerance within the horizon", False))
    sizes, slopes, keeps = {}, {}, {}
    decade = noisy_steps // 10
    for origin, where in ((START, "from x₀"), ((0.0, 0.0), "from the optimum")):
        for name in ("adagrad", "rmsprop"):
            size, rate = mean_steps(name, noisy_steps, origin, seeds)  # (seeds, steps)
            key = f"{name}, {where}"
            sizes[key] = np.median(size, axis=0)
            slopes[key] = np.array([slope(group, decade) for group in size])
            keeps[key] = size[:, -1] / size[:, decade - 1]
            rows += [Row(f"noisy, {key}: mean step ‖Δx‖ at t = {t} (median over seeds)", float(sizes[key][t - 1]))
                     for t in (10, decade, noisy_steps)]
            rows += [Row(f"noisy, {key}: log-log slope of the step over t ≥ {decade} (median over seeds)",
                         float(np.median(slopes[key])), SLOPE_ADAGRAD if name == "adagrad" else 0.0,
                         "theory (stationary gradient)"),
                     Row(f"noisy, {key}: step at t = {noisy_steps} / step at t = {decade} (median over seeds)",
                         float(np.median(keeps[key])), round(10 ** -0.5, 4) if name == "adagrad" else 1.0,
                         "theory (stationary gradient)"),
                     Row(f"noisy, {key}: final effective rate η/(√cache + ε) (mean over runs)", rate)]
    span = f"t = {decade} … {noisy_steps}"
    checks += [
        Evidence(f"from x₀, Adagrad's steps die out: its mean step at t = {noisy_steps} / at t = {decade}",
                 keeps["adagrad, from x₀"], at_most=ADAGRAD_KEEPS,
                 source="theory: 1/√10 = 0.32 for a stationary gradient, less while |g| still falls", seeds=seeds),
        Evidence(f"from x₀, RMSProp's do not: its mean step at t = {noisy_steps} / at t = {decade}",
                 keeps["rmsprop, from x₀"], at_least=RMSPROP_KEEPS,
                 source="theory: 1 (the cache is an average of g², not a sum)", seeds=seeds),
        Evidence(f"at the optimum Adagrad's step shrinks like 1/√t: |log-log slope over {span} + 0.5|",
                 np.abs(slopes["adagrad, from the optimum"] - SLOPE_ADAGRAD), at_most=SLOPE_SLACK,
                 source="theory: slope −1/2; 0.1 absorbs the noise of a 100-run mean", seeds=seeds),
        Evidence(f"at the optimum RMSProp's step stays: |log-log slope over {span}|",
                 np.abs(slopes["rmsprop, from the optimum"]), at_most=SLOPE_SLACK,
                 source="theory: slope 0; 0.1 absorbs the noise of a 100-run mean", seeds=seeds)]
    saddle_paths = {}
    for name in OPTIMIZERS:
        path, _ = descend(name, SADDLE_RATE, SADDLE_STEPS, torch.tensor(SADDLE_START), saddle)
        escaped = torch.nonzero(path[:, 1].abs() >= 1)
        rows.append(Row(f"saddle x² − y², η = {SADDLE_RATE}: {name} steps until |y| ≥ 1",
                        int(escaped[0]) if len(escaped) else f"> {SADDLE_STEPS}"))
        saddle_paths[name] = path[: int(escaped[0]) + 1 if len(escaped) else None].tolist()
    panels = {f"{name}: {b['steps']} steps, η = {b['lr']:.3g}" if b["steps"] is not None else f"{name}: not reached":
              {name: (b["path"][: b["steps"] + 1] if b["path"] is not None else torch.tensor([START])).tolist()}
              for name, b in best.items()}
    figures = {
        "c8_elongated": contour_paths(lambda a, b: 0.05 * a ** 2 + 5 * b ** 2, panels, (-6, 1.5, -2.5, 2.5),
                                      "f = ½(0.1x₁² + 10x₂²): each optimizer at its fastest rate", log_levels=True),
        "c8_saddle": contour_paths(lambda a, b: a ** 2 - b ** 2, {f"saddle f = x² − y², η = {SADDLE_RATE}":
                                                                 saddle_paths}, (-2, 2, -1.5, 1.5), columns=1),
        "c8_step_size": curves({key: (list(range(1, noisy_steps + 1)), s.tolist()) for key, s in sizes.items()},
                               "step t", "mean ‖Δx_t‖ (median over seeds)",
                               f"noisy gradients, η = {NOISY_RATE}, {seeds_phrase(seeds)} × {GROUP} runs",
                               log_x=True, log_y=True)}
    travel = ", ".join(f"{k} {best[k]['travel']:.2f}" for k in ("sgd", "momentum", "nesterov") if "travel" in best[k])
    note = (f"Learning-rate grid: {n_rates} rates from 0.003 to 3 (log-spaced), horizon {horizon} steps; other "
            f"parameters: μ = 0.9, RMSProp ρ = {RHO} (the notes' value, given explicitly; trainlab's default too, "
            "torch's is 0.99), Adam β = (0.9, 0.999). The noiseless runs (float64, fixed start) have no randomness: "
            "their criteria are exact checks. The zigzag is the notes' "
            "'dimensions whose gradients change direction': the x₂ gradient is 10·x₂, so it changes direction when "
            f"x₂ changes sign. The claim is about the zigzag and the speed, not the overshoot: x₂ travel {travel} "
            "(the notes also say momentum 'sobrepasa el target en un inicio'). f is axis-aligned, so Adagrad's "
            "per-coordinate scaling is an exact diagonal preconditioner here, which is why it is fastest at a large "
            "rate; RMSProp keeps steps of order η near the optimum, so it reaches 10⁻³‖x₀‖ only at small rates. "
            f"Noisy runs: ∇f + N(0, 1) per coordinate, η = {NOISY_RATE}, {seeds_phrase(seeds)}, each a group of "
            f"{GROUP} runs drawn from a generator seeded with it; each noisy criterion is a statistic of the group's "
            "mean step, judged by the 95 % bootstrap interval of its median over the seeds (with 3 seeds: their "
            "range). A run that leaves every sane range stops (NaN); none does at these rates. "
            "From x₀ Adagrad is still descending the x₂ valley, its gradient shrinking, so its step falls faster than "
            "1/√t (step ∝ |g_t|/√Σg²); the 1/√t law is measured from the optimum, where the gradient is stationary "
            f"noise. Saddle: start {SADDLE_START}, the same η = {SADDLE_RATE} for all; the rates that divide by the "
            "gradient's own recent size (RMSProp, Adam) leave along y fastest, Adagrad is slowed by the large x "
            "gradients its cache remembers.")
    return LabResult(rows, checks, figures, note)

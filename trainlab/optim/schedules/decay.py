"""Decaying learning-rate schedules: the rate is a fixed function of t alone.

``t`` counts scheduler intervals from 0 (epochs or optimizer steps, as the recipe's
``schedule.interval`` says); η₀ is ``optim.lr``. ``step``, ``exponential`` and ``linear_decay`` are torch's
StepLR, ExponentialLR and LinearLR. torch has no time-based, power, Darken–Moody, κ/t or piecewise schedule with
free rates (MultiStepLR has one γ), so those are ``LambdaLR`` over a closed form; LambdaLR saves
no lambda in its state, and a resumed run rebuilds the same one from the recipe.
"""
from __future__ import annotations

import bisect
import itertools
import math

import torch
from torch.optim.lr_scheduler import ExponentialLR, LambdaLR, LinearLR, LRScheduler, StepLR

from trainlab.optim.schedules.base import base_rate, require
from trainlab.registry import schedules


@schedules.register("constant")
def constant(optimizer: torch.optim.Optimizer) -> LRScheduler | None:
    """Constant rate: η_t = η₀.

    Returns None: the rate never changes, so there is nothing to step.
    """
    return None


@schedules.register("step")
def step(optimizer: torch.optim.Optimizer, step_size: int = 10, gamma: float = 0.5) -> LRScheduler:
    """Step decay: η_t = η₀ · γ^⌊t/s⌋ with s = ``step_size`` (γ = 0.5 halves the rate every s).

    Parameters:

    - ``step_size``: s, intervals between drops (≥ 1).
    - ``gamma``: γ, the factor applied at each drop (> 0).
    """
    require(step_size >= 1, "step_size", step_size, "at least 1")
    require(gamma > 0, "gamma", gamma, "positive")
    return StepLR(optimizer, step_size=step_size, gamma=gamma)


@schedules.register("piecewise")
def piecewise(optimizer: torch.optim.Optimizer, boundaries: list[int] | None = None,
              rates: list[float] | None = None) -> LRScheduler:
    """Piecewise constant: η_t = rates[i] for boundaries[i-1] ≤ t < boundaries[i].

    ``rates`` are learning rates (for η₀; a layer with its own rate gets them times its ratio to
    η₀), one more than ``boundaries``: rates[0] before boundaries[0], rates[-1] from the last
    boundary on. Example: ``{boundaries: [30, 60], rates: [0.1, 0.01, 0.001]}``.

    Parameters:

    - ``boundaries``: interval indices where the rate changes, increasing, ≥ 1.
    - ``rates``: positive rates, ``len(boundaries) + 1`` of them.
    """
    require(boundaries is not None and rates is not None, "boundaries/rates", (boundaries, rates),
            "given (piecewise needs both lists)")
    require(len(rates) == len(boundaries) + 1, "rates", rates, f"{len(boundaries) + 1} values (one more than boundaries)")
    require(all(r > 0 for r in rates), "rates", rates, "positive")
    require(all(b >= 1 for b in boundaries) and all(a < b for a, b in itertools.pairwise(boundaries)),
            "boundaries", boundaries, "increasing integers ≥ 1")
    eta0, bounds, values = base_rate(optimizer), list(boundaries), list(rates)
    return LambdaLR(optimizer, lambda t: values[bisect.bisect_right(bounds, t)] / eta0)


@schedules.register("exponential")
def exponential(optimizer: torch.optim.Optimizer, k: float | None = None, gamma: float = 0.1,
                step_size: float = 10.0) -> LRScheduler:
    """Exponential decay: η_t = η₀ · γ^{t/s}, or η₀ · e^{−kt} when ``k`` is given.

    The two forms are one schedule (γ = e^{−k}, s = 1); give ``k`` or ``gamma``/``step_size``.

    Parameters:

    - ``k``: decay rate per interval (≥ 0); replaces gamma and step_size.
    - ``gamma``: γ, the factor over ``step_size`` intervals (> 0; default 0.1: ten times smaller every s).
    - ``step_size``: s, intervals over which the rate is multiplied by γ (> 0, need not be whole).
    """
    if k is not None:
        require(gamma == 0.1 and step_size == 10.0, "k", k, "given without gamma or step_size (the same decay twice)")
        require(k >= 0, "k", k, "non-negative")
        per_interval = math.exp(-k)
    else:
        require(gamma > 0, "gamma", gamma, "positive")
        require(step_size > 0, "step_size", step_size, "positive")
        per_interval = gamma ** (1.0 / step_size)
    return ExponentialLR(optimizer, gamma=per_interval)


@schedules.register("linear_decay")
def linear_decay(optimizer: torch.optim.Optimizer, total: int | None = None, min_lr: float = 0.0) -> LRScheduler:
    """Linear decay: η_t = η₀ − (η₀ − η_min) · min(t, T)/T; with η_min = 0, η_t = η₀ (1 − t/T).

    Seed 000's ``linear_decay`` (η₀(1 − epoch/epochs)): the rate falls in a straight line from η₀
    to the floor η_min over T intervals and stays there. torch's LinearLR, whose factors
    1 → η_min/η₀ give exactly this line.

    Parameters:

    - ``total``: T, intervals of the decay (≥ 1; default: the run's length after any warm-up, so
      the last epoch trains at η₀/T when η_min = 0).
    - ``min_lr``: η_min, the floor, a rate in [0, η₀] (default 0: the seed's form).
    """
    require(total is not None, "total", total, "given (the run fills it in from stopping.epochs)")
    require(total >= 1, "total", total, "at least 1")
    eta0 = base_rate(optimizer)
    require(0 <= min_lr <= eta0, "min_lr", min_lr, f"in [0, η₀ = {eta0:g}]")
    return LinearLR(optimizer, start_factor=1.0, end_factor=min_lr / eta0, total_iters=total)


@schedules.register("time_decay")
def time_decay(optimizer: torch.optim.Optimizer, k: float = 0.01) -> LRScheduler:
    """Time-based decay (Keras' ``decay``): η_t = η₀ / (1 + k·t).

    Parameters:

    - ``k``: decay per interval (≥ 0).
    """
    require(k >= 0, "k", k, "non-negative")
    return LambdaLR(optimizer, lambda t: 1.0 / (1.0 + k * t))


@schedules.register("power")
def power(optimizer: torch.optim.Optimizer, beta: float = 0.1, alpha: float = 0.5) -> LRScheduler:
    """Power (polynomial) decay: η_t = η₀ · (1 + β·t)^{−α}.

    The form η₀ / (1 + t/s)^c is β = 1/s, α = c; α = 1 is ``time_decay`` and ``darken_moody``.

    Parameters:

    - ``beta``: β, time scale of the decay per interval (≥ 0).
    - ``alpha``: α, the exponent (≥ 0).
    """
    require(beta >= 0, "beta", beta, "non-negative")
    require(alpha >= 0, "alpha", alpha, "non-negative")
    return LambdaLR(optimizer, lambda t: (1.0 + beta * t) ** -alpha)


@schedules.register("darken_moody")
def darken_moody(optimizer: torch.optim.Optimizer, tau: float = 10.0) -> LRScheduler:
    """Darken–Moody search-then-converge: η_t = η₀ / (1 + t/τ).

    Nearly constant while t ≪ τ (search), then ≈ η₀τ/t (converge).

    Parameters:

    - ``tau``: τ, the search time in intervals (> 0).
    """
    require(tau > 0, "tau", tau, "positive")
    return LambdaLR(optimizer, lambda t: 1.0 / (1.0 + t / tau))


@schedules.register("stochastic_approx")
def stochastic_approx(optimizer: torch.optim.Optimizer, kappa: float | None = None) -> LRScheduler:
    """Stochastic approximation (Robbins–Monro): η_t = κ / (t + 1).

    The textbook κ/t counts t from 1; with t from 0 it is κ/(t+1), so η_0 = κ. Σ η_t diverges
    and Σ η_t² converges, the conditions for SGD to converge.

    Parameters:

    - ``kappa``: κ, the first rate (> 0; default η₀).
    """
    require(kappa is None or kappa > 0, "kappa", kappa, "positive")
    first = 1.0 if kappa is None else kappa / base_rate(optimizer)
    return LambdaLR(optimizer, lambda t: first / (t + 1.0))

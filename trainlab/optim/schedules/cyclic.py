"""Cyclical learning-rate schedules: triangular cycles, 1cycle and SGDR warm restarts.

All three are torch classes (CyclicLR, OneCycleLR, CosineAnnealingWarmRestarts). ``t`` counts
scheduler intervals from 0. torch cycles momentum by default, and on an optimizer without
momentum it either fails or, for SGD, quietly turns momentum on; here momentum cycling is opt-in
(``cycle_momentum``) and refused for an optimizer that has neither momentum nor Adam's β₁.
"""
from __future__ import annotations

from typing import Literal

import torch
from torch.optim.lr_scheduler import CosineAnnealingWarmRestarts, CyclicLR, LRScheduler, OneCycleLR

from trainlab.optim.schedules.base import base_rate, group_scales, require
from trainlab.registry import schedules


def _check_momentum(optimizer: torch.optim.Optimizer, cycle_momentum: bool, base: float, top: float) -> None:
    if not cycle_momentum:
        return
    group = optimizer.param_groups[0]
    require("betas" in group or group.get("momentum", 0) > 0, "cycle_momentum", cycle_momentum,
            f"false for {type(optimizer).__name__}, which has no momentum to cycle")
    require(0 <= base <= top < 1, "base_momentum/max_momentum", (base, top), "0 ≤ base ≤ max < 1")


@schedules.register("cyclic")
def cyclic(optimizer: torch.optim.Optimizer, base_lr: float | None = None, max_lr: float | None = None,
           step_size: int | None = None, step_epochs: float = 4.0,
           mode: Literal["triangular", "triangular2", "exp_range"] = "triangular",
           gamma: float = 1.0, cycle_momentum: bool = False, base_momentum: float = 0.8,
           max_momentum: float = 0.9, intervals_per_epoch: int = 1) -> LRScheduler:
    """Cyclical rate (Smith 2017): triangles between base_lr and max_lr, 2·step_size intervals each.

    With s = ``step_size``, c = ⌊1 + t/(2s)⌋ the cycle and x = |t/s − 2c + 1|:
    η_t = base_lr + (max_lr − base_lr) · max(0, 1 − x) · f, where f = 1 (triangular),
    1/2^{c−1} (triangular2: the amplitude halves each cycle) or γ^t (exp_range).
    The notes (seed 000) and Smith set the half cycle to 2–10 epochs: by default s is
    ``step_epochs`` = 4 epochs' worth of intervals (4 with ``interval: epoch``, 4 × steps per epoch with
    ``interval: step``); torch's CyclicLR default, 2000 intervals, would be a 2000-epoch half cycle
    with trainlab's default per-epoch interval.

    Parameters:

    - ``base_lr``: lower bound (> 0; default η₀ = optim.lr).
    - ``max_lr``: upper bound (≥ base_lr; default 4 · base_lr, Smith's "base = max/3 or /4"; the
      notes' PyTorch example uses 1e-4 and 1e-3, a factor 10 — set it explicitly for that).
    - ``step_size``: s, intervals in each half cycle (≥ 1); overrides ``step_epochs``.
    - ``step_epochs``: the half cycle in epochs when ``step_size`` is not given (> 0; default 4).
    - ``mode``: triangular, triangular2 or exp_range.
    - ``gamma``: γ of exp_range (0 < γ ≤ 1).
    - ``cycle_momentum``: also cycle momentum (β₁ for Adam) inversely, from max_momentum to base_momentum.
    - ``base_momentum``, ``max_momentum``: its bounds.
    - ``intervals_per_epoch``: set by the run (1, or the steps per epoch with ``interval: step``).
    """
    require(step_epochs > 0, "step_epochs", step_epochs, "positive")
    step_size = max(1, round(step_epochs * intervals_per_epoch)) if step_size is None else step_size
    low = base_rate(optimizer) if base_lr is None else base_lr
    high = 4.0 * low if max_lr is None else max_lr
    require(low > 0, "base_lr", base_lr, "positive")
    require(high >= low, "max_lr", max_lr, f"at least base_lr ({low:g})")
    require(step_size >= 1, "step_size", step_size, "at least 1")
    require(0 < gamma <= 1, "gamma", gamma, "in (0, 1]")
    _check_momentum(optimizer, cycle_momentum, base_momentum, max_momentum)
    scales = group_scales(optimizer)
    return CyclicLR(optimizer, base_lr=[low * s for s in scales], max_lr=[high * s for s in scales],
                    step_size_up=step_size, mode=mode, gamma=gamma, cycle_momentum=cycle_momentum,
                    base_momentum=base_momentum, max_momentum=max_momentum)


@schedules.register("one_cycle")
def one_cycle(optimizer: torch.optim.Optimizer, total: int | None = None, max_lr: float | None = None,
              pct_start: float = 0.3, div_factor: float = 25.0, final_div_factor: float = 1e4,
              anneal_strategy: Literal["cos", "linear"] = "cos", three_phase: bool = False,
              cycle_momentum: bool = False, base_momentum: float = 0.85, max_momentum: float = 0.95) -> LRScheduler:
    """1cycle (Smith 2018): one rise from max_lr/div_factor to max_lr, then a long fall far below.

    With T = ``total``, p = ``pct_start``, η_max = ``max_lr``, η_s = η_max/div_factor,
    η_e = η_s/final_div_factor and t₁ = pT − 1, t₂ = T − 1 (cos: a(u, v, r) = v + (u − v)(1 + cos πr)/2):
    η_t = a(η_s, η_max, t/t₁) for t ≤ t₁, then a(η_max, η_e, (t − t₁)/(t₂ − t₁)); linear anneals
    straight. three_phase: up to t₁, back down to η_s at 2t₁, then to η_e at t₂.
    The schedule ends at t = T − 1; stepping it more than T times is an error.

    Convention: ``optim.lr`` (or ``max_lr``) is the **peak**, as in torch's OneCycleLR and fastai.
    The notes (seed 002) describe 1cycle from the starting rate η₀: a linear rise to η₁ ≈ 10·η₀ at
    mid-training, a linear fall back to η₀, then a few epochs far below. That shape is
    ``{name: one_cycle, max_lr: 10·η₀, div_factor: 10, pct_start: 0.45, anneal_strategy: linear,
    three_phase: true, final_div_factor: 1000}`` (what lab C25 runs).

    Parameters:

    - ``total``: T, the number of intervals of the whole run (epochs, or epochs × steps per epoch).
    - ``max_lr``: the peak (> 0; default η₀ = optim.lr).
    - ``pct_start``: p, the share of T spent rising (0 < p < 1).
    - ``div_factor``, ``final_div_factor``: start = max_lr/div_factor, end = start/final_div_factor.
    - ``anneal_strategy``: cos or linear.
    - ``three_phase``: fastai's variant with a symmetric fall back to the start rate before the end.
    - ``cycle_momentum``: also cycle momentum (β₁ for Adam) inversely, max → base → max.
    - ``base_momentum``, ``max_momentum``: its bounds.
    """
    require(total is not None, "total", total,
            "given: one_cycle needs the run's number of scheduler intervals (epochs, or epochs × steps per epoch)")
    require(total >= 2, "total", total, "at least 2")
    peak = base_rate(optimizer) if max_lr is None else max_lr
    require(peak > 0, "max_lr", max_lr, "positive")
    require(0 < pct_start < 1 and pct_start * total > 1, "pct_start", pct_start,
            f"in (0, 1) with pct_start · total > 1 (total = {total})")
    require(not three_phase or 2 * pct_start * total < total + 1, "pct_start", pct_start,
            "below about 0.5 with three_phase (the fall back to the start must end before the last phase)")
    require(div_factor > 0, "div_factor", div_factor, "positive")
    require(final_div_factor > 0, "final_div_factor", final_div_factor, "positive")
    _check_momentum(optimizer, cycle_momentum, base_momentum, max_momentum)
    return OneCycleLR(optimizer, max_lr=[peak * s for s in group_scales(optimizer)], total_steps=total,
                      pct_start=pct_start, anneal_strategy=anneal_strategy, div_factor=div_factor,
                      final_div_factor=final_div_factor, three_phase=three_phase, cycle_momentum=cycle_momentum,
                      base_momentum=base_momentum, max_momentum=max_momentum)


@schedules.register("sgdr")
def sgdr(optimizer: torch.optim.Optimizer, first_cycle: int = 10, cycle_mult: int = 2,
         min_lr: float = 0.0) -> LRScheduler:
    """SGDR (Loshchilov & Hutter 2017): cosine annealing from η₀ to min_lr, restarted at each cycle's end.

    Cycle i lasts T_i = first_cycle · cycle_mult^i intervals (1, 2, 4, … for 1 and 2). With T_cur the
    intervals since the last restart: η_t = min_lr + (η₀ − min_lr)(1 + cos(π T_cur / T_i)) / 2.
    torch's CosineAnnealingWarmRestarts(T_0=first_cycle, T_mult=cycle_mult, eta_min=min_lr).

    Parameters:

    - ``first_cycle``: T_0, length of the first cycle in intervals (≥ 1).
    - ``cycle_mult``: T_mult, growth factor of the cycle length (integer ≥ 1).
    - ``min_lr``: η_min, the rate at the end of a cycle (≥ 0; one absolute floor for every layer).
    """
    require(first_cycle >= 1, "first_cycle", first_cycle, "at least 1")
    require(cycle_mult >= 1, "cycle_mult", cycle_mult, "an integer ≥ 1")
    require(min_lr >= 0, "min_lr", min_lr, "non-negative")
    return CosineAnnealingWarmRestarts(optimizer, T_0=first_cycle, T_mult=cycle_mult, eta_min=min_lr)

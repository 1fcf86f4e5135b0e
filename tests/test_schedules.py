"""Learning-rate schedules against formulas written here, independently of trainlab.optim.

Every schedule is stepped 1,000 times on a one-parameter SGD with rate η₀ and compared with its
closed form (rtol 1e-6: torch's StepLR/ExponentialLR/LinearLR multiply the previous rate each
step, which drifts by ~1e-13 over 1,000 steps). Metric-driven schedules are compared with a
reference loop of their rule and with hand-derived cut/grow points. Every state round-trips
through JSON, as in a checkpoint, and a rebuilt scheduler continues with identical rates.
"""
from __future__ import annotations

import json
import math
import random

import pytest
import torch

from trainlab import registry
from trainlab.optim.schedules import needs_metric, with_warmup

pytestmark = pytest.mark.filterwarnings("error")  # no deprecated torch paths, no step-order warnings

ETA0, T = 0.1, 1000


def optimizer(lrs: tuple[float, ...] = (ETA0,), kind: type[torch.optim.Optimizer] = torch.optim.SGD):
    groups = [{"params": [torch.nn.Parameter(torch.zeros(1))], "lr": lr} for lr in lrs]
    return kind(groups, lr=lrs[0])


def build(opt, name: str, params: dict, warm: tuple[int, float] | None = None):
    entry = registry.schedules.get(name)
    scheduler = entry.factory(opt, **entry.validate(params))
    return scheduler if warm is None else with_warmup(opt, scheduler, *warm)


def drive(opt, scheduler, ts, metrics=None, group: int = 0) -> list[float]:
    """The rate of each interval t in ``ts``, stepping as the Trainer does (metric of epoch t after it)."""
    rates = []
    for t in ts:
        rates.append(opt.param_groups[group]["lr"])
        opt.step()
        if scheduler is None:
            continue
        scheduler.step(metrics[t]) if needs_metric(scheduler) else scheduler.step()
    return rates


# ---- closed forms, written from the lecture notes and the papers ----

def piece(t, boundaries=(100, 300, 700), rates=(0.1, 0.05, 0.01, 0.002)):
    for boundary, rate in zip(boundaries, rates):
        if t < boundary:
            return rate
    return rates[-1]


def smith(t, low, high, s, mode, gamma=1.0):  # Smith 2017, section 3.1 and the CLR reference code
    cycle = math.floor(1 + t / (2 * s))
    x = abs(t / s - 2 * cycle + 1)
    scale = {"triangular": 1.0, "triangular2": 1 / 2 ** (cycle - 1), "exp_range": gamma ** t}[mode]
    return low + (high - low) * max(0.0, 1 - x) * scale


def one_cycle(t, total, peak, pct=0.3, div=25.0, final=1e4):
    start, t1, t2 = peak / div, pct * total - 1, total - 1
    end = start / final

    def anneal(a, b, r):  # cosine from a (r = 0) to b (r = 1)
        return b + (a - b) * (1 + math.cos(math.pi * r)) / 2

    return anneal(start, peak, t / t1) if t <= t1 else anneal(peak, end, (t - t1) / (t2 - t1))


def sgdr(t, first, mult, low):
    start, length = 0, first
    while t >= start + length:
        start, length = start + length, length * mult
    return low + (ETA0 - low) * (1 + math.cos(math.pi * (t - start) / length)) / 2


def plateau_reference(metrics, factor, patience, min_delta, floor):
    """Keras/torch rule, mode min, relative threshold: a cut after more than ``patience`` bad epochs."""
    rates, rate, best, bad = [], ETA0, math.inf, 0
    for m in metrics:
        rates.append(rate)
        if m < best * (1 - min_delta):
            best, bad = m, 0
        else:
            bad += 1
        if bad > patience:
            rate, bad = max(rate * factor, floor), 0
    return rates


def hinton_reference(metrics, grow, cut, window, ceiling):
    rates, rate = [], ETA0
    for t, m in enumerate(metrics):
        rates.append(rate)
        if t >= 1 and m > metrics[t - 1]:
            rate *= cut
        elif t >= window and all(metrics[i] < metrics[i - 1] for i in range(t - window + 1, t + 1)):
            rate = min(rate * grow, ceiling)
    return rates


_rng = random.Random(0)
NOISY = [math.exp(-t / 300) + 0.02 * _rng.random() for t in range(T)]  # a falling, noisy loss
FLAT_AFTER_100 = [1 / (t + 1) if t < 100 else 0.01 for t in range(T)]
SPIKY = [math.exp(-t / 300) + (0.05 if t % 50 == 49 else 0.0) for t in range(T)]  # falls, one spike per 50
PLATEAU_FLAT = plateau_reference(FLAT_AFTER_100, 0.5, 10, 1e-4, 1e-4)
PLATEAU_NOISY = plateau_reference(NOISY, 0.3, 5, 0.01, 1e-5)
HINTON_SPIKY = hinton_reference(SPIKY, 1.02, 0.5, 3, 1.0)

# id: (name, params, closed form of t, metric sequence or None)
CASES = {
    "constant": ("constant", {}, lambda t: ETA0, None),
    "step": ("step", {"step_size": 7, "gamma": 0.5}, lambda t: ETA0 * 0.5 ** (t // 7), None),
    "piecewise": ("piecewise", {"boundaries": [100, 300, 700], "rates": [0.1, 0.05, 0.01, 0.002]}, piece, None),
    "exponential-k": ("exponential", {"k": 0.005}, lambda t: ETA0 * math.exp(-0.005 * t), None),
    "exponential-gamma": ("exponential", {"gamma": 0.1, "step_size": 250}, lambda t: ETA0 * 0.1 ** (t / 250), None),
    "linear_decay": ("linear_decay", {"total": 600}, lambda t: ETA0 * (1 - min(t, 600) / 600), None),  # seed 000's form
    "linear_decay-floor": ("linear_decay", {"total": 400, "min_lr": 0.01},
                           lambda t: ETA0 - (ETA0 - 0.01) * min(t, 400) / 400, None),
    "time_decay": ("time_decay", {"k": 0.01}, lambda t: ETA0 / (1 + 0.01 * t), None),
    "power": ("power", {"beta": 0.05, "alpha": 0.75}, lambda t: ETA0 * (1 + 0.05 * t) ** -0.75, None),
    "darken_moody": ("darken_moody", {"tau": 50}, lambda t: ETA0 / (1 + t / 50), None),
    "stochastic_approx": ("stochastic_approx", {}, lambda t: ETA0 / (t + 1), None),
    "stochastic_approx-kappa": ("stochastic_approx", {"kappa": 0.5}, lambda t: 0.5 / (t + 1), None),
    "cyclic": ("cyclic", {"base_lr": 0.01, "max_lr": 0.1, "step_size": 60},
               lambda t: smith(t, 0.01, 0.1, 60, "triangular"), None),
    "cyclic-default-bounds": ("cyclic", {"step_size": 60}, lambda t: smith(t, ETA0, 4 * ETA0, 60, "triangular"), None),
    "cyclic-triangular2": ("cyclic", {"base_lr": 0.01, "max_lr": 0.1, "step_size": 45, "mode": "triangular2"},
                           lambda t: smith(t, 0.01, 0.1, 45, "triangular2"), None),
    "cyclic-exp_range": ("cyclic", {"base_lr": 0.01, "max_lr": 0.1, "step_size": 50, "mode": "exp_range",
                                    "gamma": 0.998}, lambda t: smith(t, 0.01, 0.1, 50, "exp_range", 0.998), None),
    "one_cycle": ("one_cycle", {"total": T}, lambda t: one_cycle(t, T, ETA0), None),
    "one_cycle-peak": ("one_cycle", {"total": T, "max_lr": 0.4, "pct_start": 0.25, "div_factor": 10},
                       lambda t: one_cycle(t, T, 0.4, pct=0.25, div=10), None),
    "sgdr": ("sgdr", {"first_cycle": 10, "cycle_mult": 2, "min_lr": 0.001}, lambda t: sgdr(t, 10, 2, 0.001), None),
    "sgdr-fixed": ("sgdr", {"first_cycle": 37, "cycle_mult": 1}, lambda t: sgdr(t, 37, 1, 0.0), None),
    "plateau": ("plateau", {"monitor": "loss", "factor": 0.5, "patience": 10, "min_lr": 1e-4},
                PLATEAU_FLAT.__getitem__, FLAT_AFTER_100),
    "plateau-noisy": ("plateau", {"monitor": "loss", "factor": 0.3, "patience": 5, "min_delta": 0.01, "min_lr": 1e-5},
                      PLATEAU_NOISY.__getitem__, NOISY),
    "hinton_adaptive": ("hinton_adaptive", {"grow": 1.02, "cut": 0.5, "window": 3, "max_lr": 1.0},
                        HINTON_SPIKY.__getitem__, SPIKY),
    "warmup": ("warmup", {"steps": 50, "start_factor": 0.1},
               lambda t: ETA0 * (0.1 + 0.9 * min(t, 50) / 50), None),
}


def test_every_registered_schedule_has_a_closed_form_case():
    assert {case[0] for case in CASES.values()} == set(registry.schedules.names())


@pytest.mark.parametrize("case", CASES)
def test_thousand_rates_match_the_closed_form(case):
    name, params, formula, metrics = CASES[case]
    opt = optimizer()
    rates = drive(opt, build(opt, name, params), range(T), metrics)
    expected = [formula(t) for t in range(T)]
    assert rates == pytest.approx(expected, rel=1e-6, abs=0)


@pytest.mark.parametrize("case", CASES)
def test_state_round_trips_through_json_and_resumes_identically(case):
    name, params, _, metrics = CASES[case]
    opt = optimizer()
    scheduler = build(opt, name, params)
    drive(opt, scheduler, range(400), metrics)
    saved = json.loads(json.dumps({"optimizer": opt.state_dict(),
                                   "scheduler": None if scheduler is None else scheduler.state_dict()}))
    rest = drive(opt, scheduler, range(400, T), metrics)

    fresh_opt = optimizer()
    fresh = build(fresh_opt, name, params)  # as run.restore does: build, load optimizer, load schedule
    fresh_opt.load_state_dict(saved["optimizer"])
    if fresh is not None:
        fresh.load_state_dict(saved["scheduler"])
    assert drive(fresh_opt, fresh, range(400, T), metrics) == rest


# ---- metric-driven schedules: cut and grow points derived by hand ----

def test_plateau_cuts_after_patience_bad_epochs():
    metrics = [1.0, 0.9, 0.8, 0.8, 0.8, 0.8, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7]
    opt = optimizer()
    scheduler = build(opt, "plateau", {"monitor": "loss", "factor": 0.5, "patience": 2,
                                       "min_delta": 0.0, "delta_mode": "abs"})
    assert needs_metric(scheduler) and scheduler.monitor == "loss"
    rates = drive(opt, scheduler, range(len(metrics)), metrics)
    # epochs 3, 4, 5 do not improve on 0.8: more than 2 bad → cut for epoch 6; likewise 7–9 → epoch 10
    assert [r / ETA0 for r in rates] == pytest.approx([1] * 6 + [0.5] * 4 + [0.25] * 2)


def test_plateau_on_accuracy_maximizes():
    accuracy = [0.5, 0.6, 0.7, 0.7, 0.7, 0.8]
    opt = optimizer()
    scheduler = build(opt, "plateau", {"monitor": "val_accuracy", "factor": 0.5, "patience": 1,
                                       "delta_mode": "abs", "min_delta": 0.0})
    rates = drive(opt, scheduler, range(len(accuracy)), accuracy)
    assert [r / ETA0 for r in rates] == pytest.approx([1, 1, 1, 1, 1, 0.5])


def test_hinton_grows_on_steady_fall_and_cuts_on_rise():
    metrics = [5, 4, 3, 2, 1.5, 1.6, 1.4, 1.3, 1.2, 1.1, 1.15, 1.0]
    opt = optimizer()
    scheduler = build(opt, "hinton_adaptive", {"grow": 1.1, "cut": 0.5, "window": 3})
    assert needs_metric(scheduler) and scheduler.monitor == "loss"
    rates = drive(opt, scheduler, range(len(metrics)), metrics)
    # 3 falls after epoch 3 → ×1.1 (twice); rise at epoch 5 → ×0.5; 3 falls again after epoch 8
    expected = [1, 1, 1, 1, 1.1, 1.21, 0.605, 0.605, 0.605, 0.6655, 0.73205, 0.366025]
    assert [r / ETA0 for r in rates] == pytest.approx(expected)


def test_hinton_cuts_an_oscillating_loss_and_never_grows():
    metrics = [1.0, 0.9, 1.0, 0.9, 1.0, 0.9, 1.0]
    opt = optimizer()
    rates = drive(opt, build(opt, "hinton_adaptive", {"cut": 0.5}), range(len(metrics)), metrics)
    assert [r / ETA0 for r in rates] == pytest.approx([1, 1, 1, 0.5, 0.5, 0.25, 0.25])


def test_hinton_on_accuracy_grows_while_it_rises_within_bounds():
    accuracy = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]
    opt = optimizer()
    scheduler = build(opt, "hinton_adaptive", {"monitor": "accuracy", "grow": 2.0, "window": 2, "max_lr": 0.3})
    assert [r / ETA0 for r in drive(opt, scheduler, range(6), accuracy)] == pytest.approx([1, 1, 1, 2, 3, 3])


# ---- warm-up in front of any schedule ----

WRAPPED = {
    "constant": ("constant", {}, None),
    "step": ("step", {"step_size": 7, "gamma": 0.5}, None),
    "exponential": ("exponential", {"k": 0.005}, None),
    "stochastic_approx-kappa": ("stochastic_approx", {"kappa": 0.5}, None),
    "cyclic": ("cyclic", {"base_lr": 0.01, "max_lr": 0.1, "step_size": 60}, None),
    "one_cycle": ("one_cycle", {"total": T - 20}, None),
    "sgdr": ("sgdr", {"first_cycle": 10, "cycle_mult": 2}, None),
    "plateau": ("plateau", {"monitor": "loss", "factor": 0.5, "patience": 3}, NOISY),
    "hinton_adaptive": ("hinton_adaptive", {"window": 2}, NOISY),
}


@pytest.mark.parametrize("case", WRAPPED)
def test_warmup_rises_linearly_then_follows_the_shifted_schedule(case):
    name, params, metrics = WRAPPED[case]
    steps, start = 20, 0.1
    alone_opt = optimizer()
    alone = build(alone_opt, name, params)  # the inner schedule on its own, fed from epoch S on
    inner = drive(alone_opt, alone, range(T - steps), None if metrics is None else metrics[steps:])
    opt = optimizer()
    scheduler = build(opt, name, params, warm=(steps, start))
    assert needs_metric(scheduler) == (metrics is not None)
    rates = drive(opt, scheduler, range(T), metrics)
    ramp = [inner[0] * (start + (1 - start) * t / steps) for t in range(steps)]
    assert rates == pytest.approx(ramp + inner, rel=1e-12, abs=0)


def test_warmup_composition_resumes_identically_mid_warmup_and_after():
    for cut in (10, 400):
        opt = optimizer()
        scheduler = build(opt, "plateau", {"monitor": "loss", "patience": 3}, warm=(20, 0.1))
        drive(opt, scheduler, range(cut), NOISY)
        saved = json.loads(json.dumps({"optimizer": opt.state_dict(), "scheduler": scheduler.state_dict()}))
        rest = drive(opt, scheduler, range(cut, T), NOISY)
        fresh_opt = optimizer()
        fresh = build(fresh_opt, "plateau", {"monitor": "loss", "patience": 3}, warm=(20, 0.1))
        fresh_opt.load_state_dict(saved["optimizer"])
        fresh.load_state_dict(saved["scheduler"])
        assert drive(fresh_opt, fresh, range(cut, T), NOISY) == rest


def test_with_warmup_zero_steps_returns_the_schedule_itself():
    opt = optimizer()
    scheduler = build(opt, "step", {})
    assert with_warmup(opt, scheduler, 0) is scheduler
    assert with_warmup(opt, None, 0) is None
    assert not needs_metric(None) and not needs_metric(scheduler)


# ---- layers with their own rates (lr_fan_in) keep their ratio under every absolute-rate schedule ----

@pytest.mark.parametrize("case", ["piecewise", "stochastic_approx-kappa", "cyclic", "one_cycle-peak", "hinton_adaptive"])
def test_per_group_rates_keep_their_ratio(case):
    name, params, _, metrics = CASES[case]
    opt = optimizer(lrs=(ETA0, ETA0 / 4))
    scheduler = build(opt, name, params)
    first = drive(opt, scheduler, range(T), metrics, group=0)
    opt2 = optimizer(lrs=(ETA0, ETA0 / 4))
    second = drive(opt2, build(opt2, name, params), range(T), metrics, group=1)
    assert [b / a for a, b in zip(first, second)] == pytest.approx([0.25] * T, rel=1e-9)


# ---- momentum cycling is opt-in ----

def test_cyclic_leaves_momentum_alone_by_default():
    opt = optimizer()
    scheduler = build(opt, "cyclic", {"step_size": 5})
    drive(opt, scheduler, range(12))
    assert opt.param_groups[0]["momentum"] == 0  # torch's default would have switched momentum on


def test_cycle_momentum_works_on_adam_and_is_refused_without_momentum():
    adam = optimizer(kind=torch.optim.Adam)
    build(adam, "one_cycle", {"total": 100, "cycle_momentum": True})
    assert adam.param_groups[0]["betas"][0] == pytest.approx(0.95)
    with pytest.raises(ValueError, match="cycle_momentum"):
        build(optimizer(kind=torch.optim.Adagrad), "cyclic", {"cycle_momentum": True})


# ---- bad parameters name themselves ----

BAD = [
    ("step", {"step_size": 0}, "step_size"),
    ("step", {"gamma": -0.5}, "gamma"),
    ("piecewise", {}, "boundaries"),
    ("piecewise", {"boundaries": [10], "rates": [0.1, -0.01]}, "rates"),
    ("piecewise", {"boundaries": [10, 5], "rates": [0.1, 0.01, 0.001]}, "boundaries"),
    ("piecewise", {"boundaries": [10], "rates": [0.1]}, "rates"),
    ("exponential", {"k": -0.1}, "k"),
    ("exponential", {"k": 0.1, "gamma": 0.5}, "k"),
    ("exponential", {"step_size": 0}, "step_size"),
    ("linear_decay", {}, "total"),
    ("linear_decay", {"total": 10, "min_lr": 0.5}, "min_lr"),
    ("time_decay", {"k": -1}, "k"),
    ("power", {"alpha": -1}, "alpha"),
    ("darken_moody", {"tau": 0}, "tau"),
    ("stochastic_approx", {"kappa": -0.1}, "kappa"),
    ("cyclic", {"base_lr": 0.1, "max_lr": 0.01}, "max_lr"),
    ("cyclic", {"step_size": 0}, "step_size"),
    ("cyclic", {"base_lr": -0.1}, "base_lr"),
    ("one_cycle", {}, "total"),
    ("one_cycle", {"total": 100, "max_lr": -1.0}, "max_lr"),
    ("one_cycle", {"total": 3}, "pct_start"),
    ("sgdr", {"first_cycle": 0}, "first_cycle"),
    ("sgdr", {"min_lr": -1.0}, "min_lr"),
    ("plateau", {"factor": 1.5}, "factor"),
    ("plateau", {"patience": -1}, "patience"),
    ("hinton_adaptive", {"cut": 1.0}, "cut"),
    ("hinton_adaptive", {"grow": 0.5}, "grow"),
    ("hinton_adaptive", {"window": 0}, "window"),
    ("warmup", {"steps": 0}, "steps"),
    ("warmup", {"start_factor": 0.0}, "start_factor"),
]


@pytest.mark.parametrize(("name", "params", "parameter"), BAD)
def test_bad_parameter_is_a_value_error_naming_it(name, params, parameter):
    with pytest.raises(ValueError, match=rf"\b{parameter}\b"):
        build(optimizer(), name, params)


def test_with_warmup_rejects_bad_warmup():
    opt = optimizer()
    with pytest.raises(ValueError, match="start_factor"):
        with_warmup(opt, build(opt, "step", {}), 5, start_factor=2.0)
    with pytest.raises(ValueError, match="steps"):
        with_warmup(opt, None, -1)


# ---- cyclic: the half cycle defaults to 4 epochs (the notes: 2–10), whatever the interval ----

@pytest.mark.parametrize("interval, steps_per_epoch", [("epoch", 1), ("step", 7)])
def test_cyclic_half_cycle_defaults_to_four_epochs(interval, steps_per_epoch):
    from trainlab.recipe import load_recipe
    from trainlab.run import _scheduler

    recipe = load_recipe({"name": "t", "data": {"name": "moons"}, "model": {"name": "mlp"},
                          "optim": {"name": "sgd", "lr": ETA0}, "stopping": {"epochs": 20},
                          "schedule": {"name": "cyclic", "interval": interval}})
    opt = optimizer()
    scheduler = _scheduler(recipe, opt, steps_per_epoch)
    half = 4 * steps_per_epoch
    rates = drive(opt, scheduler, range(2 * half + 1))
    assert rates[0] == pytest.approx(ETA0) and rates[2 * half] == pytest.approx(ETA0)
    assert max(rates) == pytest.approx(4 * ETA0) and rates.index(max(rates)) == half  # the peak after 4 epochs

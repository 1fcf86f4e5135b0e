"""C14: Adam then L-BFGS reaches a lower loss than Adam alone for the same budget on a physics-informed problem (seed 000).

The problem is the library's ``pde`` data set ``poisson1d``, the 1-D Poisson equation of the
physics-informed networks the notes train with Adam + L-BFGS: u''(x) = −π² sin(πx) on [0, 1],
u(0) = u(1) = 0, whose solution is u = sin(πx). Each run is an ordinary recipe (``data: {name: pde,
problem: poisson1d, points: 64}``, ``model: mlp`` 1 → 32 → 32 → 1 with tanh), so the network sits
inside the library's residual wrapper and the loss is the library's ``pde`` loss: the mean squared
residual r(x) = u''(x) + π² sin(πx) at 64 collocation points (u'' from autograd) plus the mean
squared boundary error at x = 0 and x = 1.

Both contenders get the same budget of loss-and-gradient evaluations (training forward passes of
the network, line-search evaluations included), on the whole collocation set as one batch: Adam
(η = 0.01) for all of it, or the ``chain`` optimizer: the same Adam for half the budget, then L-BFGS
(strong-Wolfe line search, 20 iterations per epoch) until the budget is spent. Measured per seed
(the seed draws the network's initial weights): the mean squared residual on the 1001 points of the
test grid and the relative L2 error against sin(πx) there (the metric ``rel_l2``); the criteria are
the per-seed ratios Adam / chain, judged over the seeds.

The verdict is taken with the library's defaults: float32 (the recipe's ``precision``) and L-BFGS's
torch defaults (``tolerance_change`` 1e-9, ``tolerance_grad`` 1e-7, ``max_iter`` 20,
``history_size`` 100). In float32 most L-BFGS steps end after about one iteration (the line search
finds no float32 decrease of a small loss), so the chain wins by reaching float32's floor sooner,
not by L-BFGS's own progress. Going below the floor takes float64 *and* ``tolerance_change: 0``
(examples/pinn_poisson.yaml); the full variant measures that setting too (rows, not a criterion).
"""
from __future__ import annotations

import statistics
from collections import Counter
from pathlib import Path
from typing import Any

import torch
from torch import nn

from trainlab.labs import Evidence, LabResult, Row, lab, seeds_phrase
from trainlab.labs.figures import curves
from trainlab.recipe import load_recipe
from trainlab.run import build
from trainlab.train.callbacks import Callback, LoopState

COLLOCATION, TEST_POINTS, HIDDEN = 64, 1001, [32, 32]
ADAM_LR = 0.01
QUICK_BUDGET, FULL_BUDGET = 400, 1000  # loss-and-gradient evaluations per run (the CPU-time budget of the lab)
FLOAT64_SEEDS = 3  # the full variant's float64 arm runs on the first 3 seeds (rows only: it is not the default)
TUNED = {"name": "lbfgs", "tolerance_change": 0.0, "tolerance_grad": 0.0}  # steps end on max_iter or max_eval only
DEFAULTS = "library defaults (float32, L-BFGS tolerance_change 1e-9)"
FLOAT64 = "float64, L-BFGS tolerance_change 0"
LOWER = 1.0  # the claim: a lower loss (and error) than Adam alone for the same budget, i.e. a ratio above 1


class Budget(Callback):
    """Counts the network's training evaluations (forward passes in training mode: every loss and
    gradient evaluation, line searches included), stops the fit once ``budget`` are spent, and
    records the loss against evaluations and, after a chain's switch, why each L-BFGS step ended."""

    def __init__(self, model: nn.Module, budget: int):
        self.budget, self.evaluations = budget, 0
        self.curve: list[tuple[int, float]] = []
        self.stops: list[dict] = []
        model.register_forward_pre_hook(self._count)

    def _count(self, module: nn.Module, inputs: Any) -> None:
        if module.training:
            self.evaluations += 1

    def on_epoch_end(self, state: LoopState) -> None:
        self.curve.append((self.evaluations, state.logs["loss"]))
        stages = getattr(state.optimizer, "stages", None)
        if stages is not None and state.optimizer.stage == 1 and stages[1].last_stop:
            self.stops.append(dict(stages[1].last_stop))
        state.should_stop = self.evaluations >= self.budget


def recipe(optimizer: str, seed: int, budget: int, precision: str, then: str | dict = TUNED) -> dict:
    """The recipe of one run: the library's poisson1d PINN with Adam, or Adam → L-BFGS switching at half the budget."""
    optim: dict[str, Any] = {"name": optimizer, "lr": ADAM_LR}
    if optimizer == "chain":
        optim.update(first="adam", then=then, switch_epoch=budget // 2, then_lr=1.0)
    return {"name": f"c14-{optimizer}", "seed": seed, "precision": precision, "device": "cpu",
            "data": {"name": "pde", "problem": "poisson1d", "points": COLLOCATION, "grid": TEST_POINTS,
                     "batch_mode": "fullbatch", "val_fraction": 0},
            "model": {"name": "mlp", "hidden": HIDDEN, "activation": "tanh"}, "optim": optim,
            "stopping": {"epochs": budget}}


def solve(optimizer: str, seed: int, budget: int, dtype: torch.dtype, then: str | dict = TUNED) -> dict:
    """Train one PINN; its test residual, error, evaluations spent, loss curve and L-BFGS stops."""
    precision = "float64" if dtype == torch.float64 else "float32"
    setup = build(load_recipe(recipe(optimizer, seed, budget, precision, then)))
    budget_callback = Budget(setup.model, budget)
    setup.trainer.callbacks.append(budget_callback)
    setup.trainer.fit(setup.train, None, budget)
    test = setup.trainer.evaluate(setup.test)
    setup.model.eval()
    with torch.no_grad():
        residual = setup.model(setup.test.x)[:, 0].pow(2).mean().item()  # output column 0: r(x) on the grid
    return {"residual": residual, "error": test["rel_l2"], "evaluations": budget_callback.evaluations,
            "curve": budget_callback.curve, "stops": budget_callback.stops}


def stop_summary(stops: list[dict]) -> str:
    """'tolerance_change ×971 (1.0 iterations per step)' for the L-BFGS steps of a run."""
    counts = Counter(s["reason"] for s in stops)
    per_step = statistics.fmean(s["iterations"] for s in stops) if stops else 0.0
    return ", ".join(f"{reason} ×{n}" for reason, n in counts.most_common()) + f" ({per_step:.1f} iterations per step)"


def contest(seeds: tuple[int, ...], budget: int, dtype: torch.dtype, then: str | dict) -> tuple[list[dict], list[dict]]:
    """Per seed, the chain's run and Adam's run with exactly as many evaluations as the chain spent (L-BFGS's last
    step may overshoot the budget by a few)."""
    chain = [solve("chain", seed, budget, dtype, then) for seed in seeds]
    return chain, [solve("adam", seed, c["evaluations"], dtype) for seed, c in zip(seeds, chain)]


@lab(
    id="C14", name="Adam then L-BFGS beats Adam alone on a PINN",
    claim="There are many optimizers, but the combination Adam + L-BFGS usually gives the best results "
          "(physics-informed networks: Adam first, then L-BFGS to finish).",
    measures="PDE residual and error vs the exact solution of a 1-D Poisson PINN, Adam vs Adam → L-BFGS, same "
             "number of loss-and-gradient evaluations, with the library's defaults (float32); float64 in the full "
             "variant",
    source="000_e75dfcc04a46b84b.txt")
def run(quick: bool, out_dir: Path | None, seeds: tuple[int, ...]) -> LabResult:
    budget = QUICK_BUDGET if quick else FULL_BUDGET
    settings = {DEFAULTS: (seeds, torch.float32, "lbfgs")}
    if not quick:
        settings[FLOAT64] = (seeds[:FLOAT64_SEEDS], torch.float64, TUNED)
    rows, checks, series, gains = [], [], {}, {}
    for label, (used, dtype, then) in settings.items():
        chain, adam = contest(used, budget, dtype, then)
        for name, runs in (("Adam", adam), ("Adam → L-BFGS", chain)):
            rows += [Row(f"{label}: {name}: test residual (mean r², median over seeds)",
                         statistics.median(r["residual"] for r in runs)),
                     Row(f"{label}: {name}: relative L2 error vs sin(πx) (median over seeds)",
                         statistics.median(r["error"] for r in runs)),
                     Row(f"{label}: {name}: evaluations spent (most over seeds)", max(r["evaluations"] for r in runs),
                         budget, "the budget")]
            curve = runs[0]["curve"]
            short = "float32" if dtype == torch.float32 else "float64"
            series[f"{name}, {short}"] = ([e for e, _ in curve], [loss for _, loss in curve])
        residual = [a["residual"] / c["residual"] for a, c in zip(adam, chain)]
        error = [a["error"] / c["error"] for a, c in zip(adam, chain)]
        gains[label] = statistics.median(residual)
        rows += [Row(f"{label}: why the L-BFGS steps ended", stop_summary([s for r in chain for s in r["stops"]])),
                 Row(f"{label}: residual ratio Adam / (Adam → L-BFGS) (median over seeds)", gains[label]),
                 Row(f"{label}: error ratio Adam / (Adam → L-BFGS) (median over seeds)", statistics.median(error))]
        if dtype == torch.float32:
            claim = "the claim: a lower loss than Adam alone for the same budget (ratio > 1)"
            checks += [Evidence(f"{label}: same evaluations, PDE residual Adam / (Adam → L-BFGS)", residual,
                                at_least=LOWER, source=claim, seeds=used),
                       Evidence(f"{label}: same evaluations, error vs sin(πx) Adam / (Adam → L-BFGS)", error,
                                at_least=LOWER, source=claim + ", measured against the exact solution", seeds=used)]
    figure = curves(series, "loss-and-gradient evaluations", "training loss (mean r² at the collocation points)",
                    f"Poisson PINN, seed {seeds[0]}: Adam vs Adam → L-BFGS at evaluation {budget // 2}", log_y=True)
    float64 = (f" Float64 with tolerance_change 0 (seeds {', '.join(map(str, seeds[:FLOAT64_SEEDS]))}): median gain "
               f"{gains[FLOAT64]:.3g}×, its L-BFGS steps ending on max_iter or max_eval." if FLOAT64 in gains else "")
    note = (f"{seeds_phrase(seeds).capitalize()} (the seed draws the initial weights), {budget} evaluations per run; "
            "Adam alone gets exactly as many as the chain spent. Every run is a recipe of the library's pde task "
            "family (data pde/poisson1d, loss pde: residual plus boundary terms, metric rel_l2 on the 1001-point test "
            "grid), the same code a user's `trainlab run examples/pinn_poisson.yaml` runs. Each criterion is a "
            "per-seed ratio Adam / chain, judged by the 95 % bootstrap interval of its median over the seeds (with 3 "
            "seeds: their range); no run diverges (a non-finite loss would stop the fit and be reported as an error). "
            "The verdict uses the library's defaults, which were not changed: float32 and torch's L-BFGS tolerances. "
            f"Median residual gain with them: {gains[DEFAULTS]:.3g}×, although most L-BFGS steps end early (see 'why "
            "the L-BFGS steps ended'): in float32 the line search soon finds no decrease of a small loss, so the chain "
            "wins because L-BFGS reaches float32's floor sooner than Adam. In float64 with tolerance_change 0 (the "
            "full variant's second setting) the steps end on max_iter or max_eval, about 20 iterations each, and go "
            "far below that floor: the setting examples/pinn_poisson.yaml uses (`precision: float64`, `then: {name: "
            f"lbfgs, tolerance_change: 0}}`).{float64}")
    return LabResult(rows, checks, {"c14_adam_lbfgs": figure}, note)

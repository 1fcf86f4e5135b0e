"""C14: Adam then L-BFGS reaches a lower loss than Adam alone for the same budget on a physics-informed problem (seed 000).

The problem is the 1-D Poisson equation of the physics-informed networks the notes train with
Adam + L-BFGS: u''(x) = −π² sin(πx) on [0, 1], u(0) = u(1) = 0, whose solution is u = sin(πx).
The network N (trainlab's ``mlp``, 1 → 32 → 32 → 1, tanh) enters through u(x) = x(1 − x)·N(x), so
the boundary conditions hold exactly, and the loss is the mean squared PDE residual
r(x) = u''(x) + π² sin(πx) at 64 collocation points, with u'' from autograd.

Both contenders get the same budget of loss-and-gradient evaluations (forward + backward passes of
the residual, counted in the model, line-search evaluations included), on the whole collocation
set as one batch: Adam (η = 0.01) for all of it, or the ``chain`` optimizer: the same Adam for half
the budget, then L-BFGS (strong-Wolfe line search, 20 iterations per epoch) until the budget is
spent. Measured per seed (the seed draws the network's initial weights): the mean squared residual
on 1001 test points and the relative L2 error against sin(πx); the criteria are the per-seed ratios
Adam / chain, judged over the seeds.

The verdict is taken with the library's defaults: float32 (the recipe's ``precision``) and L-BFGS's
torch defaults (``tolerance_change`` 1e-9, ``tolerance_grad`` 1e-7, ``max_iter`` 20,
``history_size`` 100). In float32 most L-BFGS steps end after about one iteration; setting
``tolerance_change`` to 0 does not change that (the line search finds no decrease below float32's
rounding of a ~1e-6 loss), so no L-BFGS default was changed: the chain still beats Adam at these
budgets because it reaches that float32 floor sooner. Going below the floor takes float64 *and*
``tolerance_change: 0``; the full variant measures that setting too (rows, not a criterion).
"""
from __future__ import annotations

import math
import statistics
from collections import Counter
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from trainlab.data.batching import TensorBatches
from trainlab.labs import Evidence, LabResult, Row, lab, seeds_phrase
from trainlab.labs.figures import curves
from trainlab.nn.models import mlp
from trainlab.registry import optimizers
from trainlab.train.callbacks import Callback, LoopState
from trainlab.train.trainer import Trainer

COLLOCATION, TEST_POINTS, HIDDEN = 64, 1001, [32, 32]
ADAM_LR = 0.01
QUICK_BUDGET, FULL_BUDGET = 400, 1000  # loss-and-gradient evaluations per run (the CPU-time budget of the lab)
FLOAT64_SEEDS = 3  # the full variant's float64 arm runs on the first 3 seeds (rows only: it is not the default)
TUNED = {"name": "lbfgs", "tolerance_change": 0.0, "tolerance_grad": 0.0}  # steps end on max_iter or max_eval only
DEFAULTS = "library defaults (float32, L-BFGS tolerance_change 1e-9)"
FLOAT64 = "float64, L-BFGS tolerance_change 0"
LOWER = 1.0  # the claim: a lower loss (and error) than Adam alone for the same budget, i.e. a ratio above 1


class PoissonResidual(nn.Module):
    """r(x) = u''(x) + π² sin(πx) with u(x) = x(1 − x)·N(x); counts its training evaluations."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net, self.evaluations = net, 0

    def u(self, x: torch.Tensor) -> torch.Tensor:
        return x * (1 - x) * self.net(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            self.evaluations += 1
        with torch.enable_grad():
            x = x.detach().requires_grad_(True)
            (du,) = torch.autograd.grad(self.u(x).sum(), x, create_graph=True)
            (d2u,) = torch.autograd.grad(du.sum(), x, create_graph=True)
        return d2u + math.pi ** 2 * torch.sin(math.pi * x)


class Budget(Callback):
    """Stops the fit once ``budget`` evaluations are spent; records the loss against evaluations
    and, after a chain's switch, why each L-BFGS step ended."""

    def __init__(self, model: PoissonResidual, budget: int):
        self.model, self.budget = model, budget
        self.curve: list[tuple[int, float]] = []
        self.stops: list[dict] = []

    def on_epoch_end(self, state: LoopState) -> None:
        self.curve.append((self.model.evaluations, state.logs["loss"]))
        stages = getattr(state.optimizer, "stages", None)
        if stages is not None and state.optimizer.stage == 1 and stages[1].last_stop:
            self.stops.append(dict(stages[1].last_stop))
        state.should_stop = self.model.evaluations >= self.budget


def solve(optimizer: str, seed: int, budget: int, dtype: torch.dtype, then: str | dict = TUNED) -> dict:
    """Train one PINN; its test residual, error, evaluations spent, loss curve and L-BFGS stops."""
    torch.manual_seed(seed)
    model = PoissonResidual(mlp((1,), 1, hidden=HIDDEN, activation="tanh")).to(dtype)
    params = {"lr": ADAM_LR}
    if optimizer == "chain":
        params.update(first="adam", then=then, switch_epoch=budget // 2, then_lr=1.0)
    budget_callback = Budget(model, budget)
    built = optimizers.get(optimizer).factory(model, **params)
    trainer = Trainer(model, built, F.mse_loss, callbacks=[budget_callback])
    x = torch.linspace(0, 1, COLLOCATION, dtype=dtype).unsqueeze(1)
    trainer.fit(TensorBatches(x, torch.zeros_like(x), COLLOCATION, shuffle=False), epochs=budget)
    model.eval()
    test = torch.linspace(0, 1, TEST_POINTS, dtype=dtype).unsqueeze(1)
    residual = model(test).detach().pow(2).mean().item()
    with torch.no_grad():
        exact = torch.sin(math.pi * test)
        error = ((model.u(test) - exact).norm() / exact.norm()).item()
    return {"residual": residual, "error": error, "evaluations": model.evaluations,
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
               f"{gains[FLOAT64]:.3g}×, its L-BFGS steps run their 20 iterations." if FLOAT64 in gains else "")
    note = (f"{seeds_phrase(seeds).capitalize()} (the seed draws the initial weights), {budget} evaluations per run; "
            "Adam alone gets exactly as many as the chain spent. Each criterion is a per-seed ratio Adam / chain, "
            "judged by the 95 % bootstrap interval of its median over the seeds (with 3 seeds: their range); no run "
            "diverges (a non-finite loss would stop the fit and be reported as an error). The verdict uses the "
            f"library's defaults, which were not changed: float32 and torch's L-BFGS tolerances. Median residual gain "
            f"with them: {gains[DEFAULTS]:.3g}×, although almost every L-BFGS step ends after about one iteration "
            "(see 'why the L-BFGS steps ended'). Setting tolerance_change to 0 in float32 does not fix that (measured "
            "on seeds 0–3 at 400, 1000 and 2000 evaluations: the same residuals to 3 digits, the steps then end "
            "because the line search finds no float32 decrease): the chain wins because L-BFGS reaches float32's floor "
            "(residual ~1e-6) sooner than Adam. With a budget that lets Adam reach that floor too the float32 gain "
            "fades (2000 evaluations, seeds 0–3: 1.01×, 148×, 1.1×, 1.36×, and on seed 3 a higher error). Below the "
            "floor only float64 with tolerance_change 0 keeps going (400 evaluations, seeds 2 and 3: 434× and "
            "30 000× against 9.5× and 352× in float32); float64 with tolerance_change 1e-9 stalls like float32. "
            "The setting to use for a PINN is therefore `precision: float64` and `then: {name: lbfgs, "
            f"tolerance_change: 0}}`.{float64}")
    return LabResult(rows, checks, {"c14_adam_lbfgs": figure}, note)

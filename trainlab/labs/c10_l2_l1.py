"""C10: L2 by gradient descent reaches the ridge solution; L1 gives exact zeros, L2 does not (seed 000).

trainlab's penalty is J = (1/n)‖y − Xw − b‖² + λ‖w‖² (mean squared error, R = ΣW², biases free).
Setting ∇_w J = 0 gives (XᵀX + nλI) w = Xᵀy on centred data, so the notes' closed form
w = (XᵀX + αI)⁻¹Xᵀy (their J = ½‖y − Xw‖² + (α/2)‖w‖²) holds with **α = nλ**, n the number of
training examples; with a free intercept, X and y are centred first and b = ȳ − x̄·w.
L1 (``l1_proximal``, full batch: ISTA) minimises (1/n)‖y − Xw − b‖² + λ‖w‖₁, whose optimum
satisfies |∇_j MSE| ≤ λ where w_j = 0 and ∇_j MSE = −λ sign(w_j) elsewhere (the KKT conditions).
"""
from __future__ import annotations

from pathlib import Path

import torch

from trainlab.labs import Check, Lab, LabResult, Row
from trainlab.labs.figures import curves
from trainlab.recipe import load_recipe
from trainlab.run import build
from trainlab.train.callbacks import Callback, LoopState

TRUE_WEIGHTS = [2.0, -3.0, 0.5, 0.0, 0.0, 0.0, 0.0, 0.0]  # 5 irrelevant inputs: L1 should zero them
N, EPOCHS, LR = 200, 300, 0.1  # full-batch GD contracts by ≈ 1 − 2·LR per epoch: 300 epochs reach float32 rounding
QUICK_LAMBDAS, FULL_LAMBDAS = (0.1,), (0.01, 0.1, 1.0)
CLOSE = 1e-5  # relative distance to the closed form; float32 rounding leaves ≈ 1e-7
KKT_TOLERANCE = 1e-4  # float32 gradients of a loss of order 1


class WeightTrace(Callback):
    """Records the last Linear layer's weights and bias after every epoch."""

    def __init__(self) -> None:
        self.weights: list[torch.Tensor] = []

    def on_epoch_end(self, state: LoopState) -> None:
        layer = [m for m in state.model.modules() if isinstance(m, torch.nn.Linear)][-1]
        self.weights.append(layer.weight.detach().double().flatten().clone())


def fit(penalty: str, weight: float) -> tuple[torch.Tensor, float, torch.Tensor, torch.Tensor, list[torch.Tensor]]:
    """Train the linear model with one penalty by full-batch GD: (w, b, X, y, per-epoch weights)."""
    recipe = load_recipe({
        "name": f"c10-{penalty}", "seed": 0,
        "data": {"name": "linear", "n_samples": N, "weights": TRUE_WEIGHTS, "bias": 1.0, "noise": 0.5,
                 "batch_mode": "fullbatch", "val_fraction": 0, "test_fraction": 0},
        "model": {"name": "mlp", "hidden": [], "init": "zeros"}, "optim": {"name": "sgd", "lr": LR},
        "penalties": [{"name": penalty, "weight": weight}], "stopping": {"epochs": EPOCHS}})
    trace = WeightTrace()
    setup = build(recipe, [trace])
    setup.trainer.fit(setup.train, None, EPOCHS)
    layer = [m for m in setup.model.modules() if isinstance(m, torch.nn.Linear)][-1]
    x, y = setup.train.x.double(), setup.train.y.double().flatten()
    return layer.weight.detach().double().flatten(), layer.bias.item(), x, y, trace.weights


def ridge(x: torch.Tensor, y: torch.Tensor, alpha: float) -> tuple[torch.Tensor, float]:
    """The notes' closed form on centred data: w = (XcᵀXc + αI)⁻¹Xcᵀyc, b = ȳ − x̄·w."""
    xc, yc = x - x.mean(0), y - y.mean()
    w = torch.linalg.solve(xc.T @ xc + alpha * torch.eye(x.shape[1], dtype=x.dtype), xc.T @ yc)
    return w, (y.mean() - x.mean(0) @ w).item()


def lasso_kkt_violation(x: torch.Tensor, y: torch.Tensor, w: torch.Tensor, b: float, lam: float) -> float:
    """How far (w, b) is from the optimum of (1/n)‖y − Xw − b‖² + λ‖w‖₁ (0 at the optimum)."""
    g = -2 / len(x) * x.T @ (y - x @ w - b)
    zero = w == 0
    return torch.cat([(g[~zero] + lam * w[~zero].sign()).abs(), (g[zero].abs() - lam).clamp_min(0)]).max().item()


def _listed(w: torch.Tensor) -> str:
    return ", ".join(f"{v + 0.0:.3g}" for v in w.tolist())  # + 0.0 prints -0.0 as 0


def run(quick: bool, out_dir: Path | None) -> LabResult:
    lambdas = QUICK_LAMBDAS if quick else FULL_LAMBDAS
    rows, checks, series = [], [], {}
    for lam in lambdas:
        w, b, x, y, trace = fit("l2", lam)
        n = len(x)
        w_ridge, b_ridge = ridge(x, y, n * lam)
        w_unscaled, _ = ridge(x, y, lam)
        distance = ((w - w_ridge).norm() / w_ridge.norm()).item()
        rows += [Row(f"L2 λ={lam:g}: ‖w_GD − w_ridge‖/‖w_ridge‖, α = nλ = {n * lam:g}", distance, 0.0,
                     "notes' closed form"),
                 Row(f"L2 λ={lam:g}: same distance with α = λ (scaling ignored)",
                     ((w - w_unscaled).norm() / w_unscaled.norm()).item()),
                 Row(f"L2 λ={lam:g}: |b_GD − b_ridge|", abs(b - b_ridge)),
                 Row(f"L2 λ={lam:g}: fraction of weights exactly 0", (w == 0).double().mean().item())]
        checks.append(Check(f"L2 λ={lam:g}: GD within {CLOSE:g} of the ridge solution with α = nλ "
                            f"(relative distance {distance:.2g})", distance <= CLOSE))
        series[f"λ={lam:g}"] = (list(range(1, len(trace) + 1)),
                                [((t - w_ridge).norm() / w_ridge.norm()).item() for t in trace])
        w_l1, b_l1, _, _, _ = fit("l1_proximal", lam)
        w_sub, _, _, _, _ = fit("l1", lam)
        l1_zeros, l2_zeros = (w_l1 == 0).double().mean().item(), (w == 0).double().mean().item()
        kkt = lasso_kkt_violation(x, y, w_l1, b_l1, lam)
        rows += [Row(f"L1 (l1_proximal) λ={lam:g}: fraction of weights exactly 0", l1_zeros),
                 Row(f"L1 (l1_proximal) λ={lam:g}: weights", _listed(w_l1)),
                 Row(f"L1 (l1_proximal) λ={lam:g}: lasso optimality (KKT) violation", kkt, 0.0, "theory"),
                 Row(f"L1 (l1, subgradient) λ={lam:g}: fraction of weights exactly 0",
                     (w_sub == 0).double().mean().item()),
                 Row(f"L2 λ={lam:g}: weights", _listed(w))]
        checks.append(Check(f"λ={lam:g}: L1 gives exact zeros ({l1_zeros:.0%} of the weights), "
                            f"L2 none ({l2_zeros:.0%})", l1_zeros > 0 and l2_zeros == 0))
        checks.append(Check(f"λ={lam:g}: the L1 weights are the lasso optimum (KKT violation {kkt:.2g} ≤ "
                            f"{KKT_TOLERANCE:g})", kkt <= KKT_TOLERANCE))
    rows.append(Row("true weights", ", ".join(f"{v:g}" for v in TRUE_WEIGHTS)))
    figure = curves(series, "epoch (one full-batch GD step each)", "‖w_t − w_ridge‖ / ‖w_ridge‖",
                    "L2 by gradient descent → ridge closed form (α = nλ)", log_y=True)
    note = (f"Linear regression y = x·w + 1 + N(0, 0.5²), {N} examples, 8 inputs of which 5 are irrelevant; a linear "
            f"model trained by full-batch SGD (η = {LR}) for {EPOCHS} epochs. The notes' α corresponds to nλ for a "
            "penalty λΣW² added to a mean squared error. The proximal L1 step sets weights to exactly 0; the "
            "subgradient λ·sign(w) (``l1``) makes them oscillate around 0 instead, so it leaves no exact zeros. "
            "What the notes leave out: the lasso optimum has w_j = 0 only where |∂MSE/∂w_j| at w_j = 0 is at most λ; "
            f"the noise alone makes that gradient of order 2·0.5/√{N} ≈ {2 * 0.5 / N ** 0.5:.2f} for an irrelevant "
            "input, so a smaller λ zeroes nothing (the KKT check shows GD still reached the optimum).")
    return LabResult(rows, checks, {"c10_ridge": figure}, note)


LAB = Lab(
    id="C10", name="L2 reaches ridge; L1 gives exact zeros",
    claim="L2 (ridge) regularization has the closed form w = (XᵀX + αI)⁻¹Xᵀy for linear regression; L1 (lasso) "
          "promotes sparse solutions: some parameters have an optimal value of exactly zero.",
    measures="distance of GD's L2 weights to the closed form; fraction of exactly-zero weights with L1 and L2",
    source="000_e75dfcc04a46b84b.txt", experiment=run)

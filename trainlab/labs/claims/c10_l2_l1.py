"""C10: L2 by gradient descent reaches the ridge solution; L1 gives exact zeros, L2 does not (seed 000).

trainlab's penalty is J = (1/n)‖y − Xw − b‖² + λ‖w‖² (mean squared error, R = ΣW², biases free).
Setting ∇_w J = 0 gives (XᵀX + nλI) w = Xᵀy on centred data, so the notes' closed form
w = (XᵀX + αI)⁻¹Xᵀy (their J = ½‖y − Xw‖² + (α/2)‖w‖²) holds with **α = nλ**, n the number of
training examples; with a free intercept, X and y are centred first and b = ȳ − x̄·w.
L1 (``l1_proximal``, full batch: ISTA) minimises (1/n)‖y − Xw − b‖² + λ‖w‖₁, whose optimum
satisfies |∇_j MSE| ≤ λ where w_j = 0 and ∇_j MSE = −λ sign(w_j) elsewhere (the KKT conditions).

The notes' claim — "some parameters have an optimal value of exactly zero" — needs a λ at which
the lasso optimum has zeros. For an irrelevant input, ∇_j MSE at w_j = 0 is noise of size
2σ/√n; the zeros appear once λ exceeds it, and Donoho–Johnstone's universal threshold
λ* = 2σ√(2 ln p / n) (σ = 0.5, p = 8, n = 200: 0.144) zeroes every irrelevant input with high
probability. The sparsity criterion is judged at λ* rounded up (0.15); the full variant adds
λ = 0.01, where the exact optimum (float64 coordinate descent) has almost no zeros, and λ = 1.
Each seed draws a new data set (x, noise); per seed: GD's distance to the ridge solution, the
L1 − L2 share of exact zeros at λ*, and the L1 weights' KKT violation.
"""
from __future__ import annotations

import math
import statistics
from pathlib import Path

import torch

from trainlab.labs import Evidence, LabResult, Row, lab, seeds_phrase
from trainlab.labs.figures import curves
from trainlab.recipe import load_recipe
from trainlab.run import build
from trainlab.train.callbacks import Callback, LoopState

TRUE_WEIGHTS = [2.0, -3.0, 0.5, 0.0, 0.0, 0.0, 0.0, 0.0]  # 5 irrelevant inputs: L1 should zero them
NOISE = 0.5  # σ of y's noise
N, EPOCHS, LR = 200, 300, 0.1  # full-batch GD contracts by ≈ 1 − 2·LR per epoch: 300 epochs reach float32 rounding
UNIVERSAL = 2 * NOISE * math.sqrt(2 * math.log(len(TRUE_WEIGHTS)) / N)  # λ* ≈ 0.144 (Donoho & Johnstone 1994)
SPARSE_LAMBDA = math.ceil(100 * UNIVERSAL) / 100  # 0.15: where the claim is judged
QUICK_LAMBDAS, FULL_LAMBDAS = (SPARSE_LAMBDA,), (0.01, SPARSE_LAMBDA, 1.0)
CLOSE = 1e-5  # relative distance to the closed form; float32 rounding leaves ≈ 1e-7
KKT_TOLERANCE = 1e-4  # float32 gradients of a loss of order 1
SOME_ZERO = 1 / len(TRUE_WEIGHTS)  # "algunos parámetros … valor óptimo de cero": at least one weight of 8


class WeightTrace(Callback):
    """Records the last Linear layer's weights and bias after every epoch."""

    def __init__(self) -> None:
        self.weights: list[torch.Tensor] = []

    def on_epoch_end(self, state: LoopState) -> None:
        layer = [m for m in state.model.modules() if isinstance(m, torch.nn.Linear)][-1]
        self.weights.append(layer.weight.detach().double().flatten().clone())


def fit(penalty: str, weight: float, seed: int = 0) -> tuple[torch.Tensor, float, torch.Tensor, torch.Tensor,
                                                             list[torch.Tensor]]:
    """Train the linear model with one penalty by full-batch GD: (w, b, X, y, per-epoch weights)."""
    recipe = load_recipe({
        "name": f"c10-{penalty}", "seed": seed,
        "data": {"name": "linear", "n_samples": N, "weights": TRUE_WEIGHTS, "bias": 1.0, "noise": NOISE,
                 "batch_mode": "fullbatch", "val_fraction": 0, "test_fraction": 0,
                 "target_scale": "none"},  # the closed forms below are for the raw targets y
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


def lasso(x: torch.Tensor, y: torch.Tensor, lam: float, sweeps: int = 1000) -> torch.Tensor:
    """The exact optimum of (1/n)‖y − Xw − b‖² + λ‖w‖₁ by cyclic coordinate descent on centred data
    (float64): w_j ← S((1/n)x_jᵀr_{−j}, λ/2) / ((1/n)‖x_j‖²), S the soft threshold; stops when a
    sweep changes no weight by more than 1e-12.

    >>> x = torch.randn(50, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    >>> y = x @ torch.tensor([1.0, -2.0, 0.0], dtype=torch.float64)
    >>> torch.allclose(lasso(x, y, 0.0), ridge(x, y, 0.0)[0])  # λ = 0: least squares
    True
    >>> lasso(x, y, 100.0).abs().max().item()  # λ above every |∂MSE/∂w_j| at 0: all zero
    0.0
    """
    xc, yc = x - x.mean(0), y - y.mean()
    n, scale = len(x), (xc * xc).mean(0)
    w = torch.zeros(x.shape[1], dtype=x.dtype)
    residual = yc.clone()
    for _ in range(sweeps):
        largest = 0.0
        for j in range(len(w)):
            rho = xc[:, j] @ residual / n + scale[j] * w[j]
            new = torch.sign(rho) * (rho.abs() - lam / 2).clamp_min(0) / scale[j]
            residual -= xc[:, j] * (new - w[j])
            largest = max(largest, abs((new - w[j]).item()))
            w[j] = new
        if largest <= 1e-12:
            break
    return w


def _listed(w: torch.Tensor) -> str:
    return ", ".join(f"{v + 0.0:.3g}" for v in w.tolist())  # + 0.0 prints -0.0 as 0


def zero_share(w: torch.Tensor) -> float:
    return (w == 0).double().mean().item()


def one_seed(lam: float, seed: int) -> dict:
    """Every measurement at one λ on one seed's data set."""
    w, b, x, y, trace = fit("l2", lam, seed)
    w_ridge, b_ridge = ridge(x, y, len(x) * lam)
    w_unscaled, _ = ridge(x, y, lam)
    w_l1, b_l1, _, _, _ = fit("l1_proximal", lam, seed)
    w_sub, _, _, _, _ = fit("l1", lam, seed)
    return {"distance": ((w - w_ridge).norm() / w_ridge.norm()).item(),
            "unscaled": ((w - w_unscaled).norm() / w_unscaled.norm()).item(), "bias": abs(b - b_ridge),
            "l2 zeros": zero_share(w), "l1 zeros": zero_share(w_l1), "subgradient zeros": zero_share(w_sub),
            "optimum zeros": zero_share(lasso(x, y, lam)), "kkt": lasso_kkt_violation(x, y, w_l1, b_l1, lam),
            "l1 weights": w_l1, "l2 weights": w,
            "trace": [((t - w_ridge).norm() / w_ridge.norm()).item() for t in trace]}


@lab(
    id="C10", name="L2 reaches ridge; L1 gives exact zeros",
    claim="L2 (ridge) regularization has the closed form w = (XᵀX + αI)⁻¹Xᵀy for linear regression; L1 (lasso) "
          "promotes sparse solutions: some parameters have an optimal value of exactly zero.",
    measures="per seed: distance of GD's L2 weights to the closed form; share of exactly-zero weights with L1 and "
             "L2 at λ above the universal threshold; the L1 weights' KKT violation",
    source="000_e75dfcc04a46b84b.txt")
def run(quick: bool, out_dir: Path | None, seeds: tuple[int, ...]) -> LabResult:
    lambdas = QUICK_LAMBDAS if quick else FULL_LAMBDAS
    measured = {lam: [one_seed(lam, seed) for seed in seeds] for lam in lambdas}
    rows, series = [], {}
    for lam, runs in measured.items():
        def median(key: str) -> float:
            return statistics.median(r[key] for r in runs)

        rows += [Row(f"L2 λ={lam:g}: ‖w_GD − w_ridge‖/‖w_ridge‖, α = nλ = {N * lam:g} (median over seeds)",
                     median("distance"), 0.0, "notes' closed form"),
                 Row(f"L2 λ={lam:g}: same distance with α = λ (scaling ignored)", median("unscaled")),
                 Row(f"L2 λ={lam:g}: |b_GD − b_ridge| (median)", median("bias")),
                 Row(f"L2 λ={lam:g}: fraction of weights exactly 0 (median)", median("l2 zeros"), 0.0, "notes"),
                 Row(f"L1 (l1_proximal) λ={lam:g}: fraction of weights exactly 0 (median)", median("l1 zeros")),
                 Row(f"lasso optimum (float64 coordinate descent) λ={lam:g}: fraction of weights 0 (median)",
                     median("optimum zeros")),
                 Row(f"L1 (l1_proximal) λ={lam:g}: largest lasso optimality (KKT) violation over seeds",
                     max(r["kkt"] for r in runs), 0.0, "theory"),
                 Row(f"L1 (l1, subgradient) λ={lam:g}: fraction of weights exactly 0 (median)",
                     median("subgradient zeros")),
                 Row(f"L1 (l1_proximal) λ={lam:g}: weights, seed {seeds[0]}", _listed(runs[0]["l1 weights"])),
                 Row(f"L2 λ={lam:g}: weights, seed {seeds[0]}", _listed(runs[0]["l2 weights"]))]
        series[f"λ={lam:g}"] = (list(range(1, len(runs[0]["trace"]) + 1)), runs[0]["trace"])
    rows.append(Row("true weights", ", ".join(f"{v:g}" for v in TRUE_WEIGHTS)))
    rows.append(Row("universal threshold λ* = 2σ√(2 ln p / n)", UNIVERSAL))
    sparse = measured[SPARSE_LAMBDA]
    checks = [
        Evidence("L2: largest relative distance of GD's weights to the ridge solution (α = nλ) over the λs",
                 [max(measured[lam][i]["distance"] for lam in lambdas) for i in range(len(seeds))], at_most=CLOSE,
                 source="notes' closed form; float32 rounding ≈ 1e-7", seeds=seeds),
        Evidence(f"λ={SPARSE_LAMBDA:g} (≥ λ*): share of L1 weights exactly 0 − share of L2 weights exactly 0",
                 [r["l1 zeros"] - r["l2 zeros"] for r in sparse], at_least=SOME_ZERO,
                 source="notes: some parameters are exactly 0 with L1 — at least one of 8 more than L2", seeds=seeds),
        Evidence("L1: largest lasso optimality (KKT) violation over the λs",
                 [max(measured[lam][i]["kkt"] for lam in lambdas) for i in range(len(seeds))], at_most=KKT_TOLERANCE,
                 source="theory: 0 at the optimum; float32 gradients", seeds=seeds),
    ]
    figure = curves(series, "epoch (one full-batch GD step each)", "‖w_t − w_ridge‖ / ‖w_ridge‖",
                    f"L2 by gradient descent → ridge closed form (α = nλ), seed {seeds[0]}", log_y=True)
    note = (f"{seeds_phrase(seeds).capitalize()}, each a new data set: y = x·w + 1 + N(0, {NOISE:g}²), {N} examples, "
            f"8 inputs of which 5 are irrelevant; a linear model trained by full-batch SGD (η = {LR}) for {EPOCHS} "
            "epochs. The notes' α corresponds to nλ for a penalty λΣW² added to a mean squared error. The proximal "
            "L1 step sets weights to exactly 0; the notes' subgradient rule λ·sign(w) (``l1``) makes them oscillate "
            "around 0 instead, so it leaves no exact zeros. Sparsity is judged at λ = "
            f"{SPARSE_LAMBDA:g} ≥ the universal threshold λ* = {UNIVERSAL:.3f}: the lasso optimum has w_j = 0 only "
            f"where |∂MSE/∂w_j| at w_j = 0 is at most λ, and the noise alone makes it of order 2·{NOISE:g}/√{N} ≈ "
            f"{2 * NOISE / N ** 0.5:.2f} for an irrelevant input, so at λ = 0.01 the optimum itself has almost no "
            "zero (the coordinate-descent row) and a missing zero there says nothing against the claim. Each "
            "criterion is judged by the 95 % bootstrap interval of its median over the seeds; GD on this convex "
            "quadratic cannot diverge at η = 0.1.")
    return LabResult(rows, checks, {"c10_ridge": figure}, note)

"""Optimizers by name: torch.optim's implementations behind names a recipe can use.

Notation in the update rules: w a parameter, g = ∂L/∂w its gradient on the batch, η = ``lr``,
t the step count from 1; operations are element-wise.

Weight decay is applied to weights only: biases and normalization parameters (every parameter
with fewer than two dimensions) go to a group with ``weight_decay=0``. ``weight_decay`` λ is the
coupled L2 term everywhere (λw added to g before the update: the l2 penalty with weight λ/2);
the decoupled form, which shrinks w by ηλ outside the adaptive scaling, is the optimizer ``adamw``.

``lr_fan_in=True`` (every first-order optimizer) gives each layer its own rate η/√fan_in, where
fan_in is the number of inputs per unit of the layer's weight (``weight[0].numel()``: n_in for a
linear layer, c_in·k_h·k_w for a convolution). A layer's bias keeps its layer's rate; a layer
without a weight matrix (normalization, PReLU) has fan-in 1 and keeps η. Schedules scale every
layer's rate by the same factor.
"""
from __future__ import annotations

import math
from typing import Annotated, Any, Literal

import pydantic
import torch
from torch import nn

from trainlab.optim.chain import Chain
from trainlab.optim.quasi_newton import BFGS, LBFGS, FullBatchOptimizer
from trainlab.registry import UnknownName, optimizers


def fan_in(module: nn.Module) -> int:
    """Inputs per unit of ``module``'s first weight matrix; 1 when it has none."""
    weight = next((p for p in module.parameters(recurse=False) if p.dim() >= 2), None)
    return 1 if weight is None else weight[0].numel()


def param_groups(model: nn.Module, weight_decay: float, fan_in_lr: float | None = None) -> list[dict]:
    """Parameter groups with weight decay on weights only.

    Without ``fan_in_lr``: two groups, weights (decayed) and biases/normalization parameters
    (never decayed). With ``fan_in_lr`` = η: that pair for each layer, both with the layer's rate
    η/√fan_in (empty groups left out).
    """
    trainable = [p for p in model.parameters() if p.requires_grad]
    if fan_in_lr is None:
        return [{"params": [p for p in trainable if p.dim() >= 2], "weight_decay": weight_decay},
                {"params": [p for p in trainable if p.dim() < 2], "weight_decay": 0.0}]
    groups, seen = [], set()
    for module in model.modules():
        own = [p for p in module.parameters(recurse=False) if p.requires_grad and id(p) not in seen]
        seen.update(id(p) for p in own)
        rate = fan_in_lr / math.sqrt(fan_in(module))
        for params, decay in (([p for p in own if p.dim() >= 2], weight_decay), ([p for p in own if p.dim() < 2], 0.0)):
            if params:
                groups.append({"params": params, "weight_decay": decay, "lr": rate})
    return groups


def _groups(model: nn.Module, lr: float, weight_decay: float, lr_fan_in: bool) -> list[dict]:
    return param_groups(model, weight_decay, lr if lr_fan_in else None)


def discriminative_rates(optimizer: torch.optim.Optimizer, rates: dict[int, float]) -> None:
    """Discriminative learning rates (``optim.lr_groups``): each parameter whose ``id`` is in ``rates``
    moves to a parameter group with that rate η_g (a copy of its group's other settings, such as weight
    decay); the rest keep η. Call it before any step and before the schedule is made: a schedule then
    scales every group alike, η_g(t) = η_g · s(t). The groups stay in place (even when emptied), so
    ``param_groups[0]`` keeps the rate η the run logs. Optimizers with one group (L-BFGS, BFGS) and
    chains cannot take several rates (ValueError); nor ``lr_fan_in``, which sets its own per-layer rates."""
    if not rates:
        return
    if isinstance(optimizer, (Chain, LBFGS, BFGS)):
        raise ValueError(f"'{type(optimizer).__name__}' keeps one parameter group, so it cannot take per-group rates; "
                         "use a first-order optimizer (sgd, adam, …)")
    if len({group["lr"] for group in optimizer.param_groups}) > 1:
        raise ValueError("lr_fan_in already gives each layer its own rate; use either lr_fan_in or lr_groups")
    if optimizer.state:
        raise ValueError("per-group rates must be set before the optimizer takes a step")
    for group in list(optimizer.param_groups):
        by_rate: dict[float, list[torch.Tensor]] = {}
        for p in group["params"]:
            if id(p) in rates:
                by_rate.setdefault(rates[id(p)], []).append(p)
        group["params"] = [p for p in group["params"] if id(p) not in rates]
        for rate, params in by_rate.items():
            optimizer.add_param_group({**{k: v for k, v in group.items() if k != "params"}, "params": params,
                                       "lr": rate})


# ---- first-order methods ----


@optimizers.register("sgd")
def sgd(model: nn.Module, lr: float, momentum: float = 0.0, nesterov: bool = False,
        weight_decay: float = 0.0, lr_fan_in: bool = False) -> torch.optim.Optimizer:
    """Stochastic gradient descent: w ← w − η·g (with momentum, see ``momentum`` and ``nesterov``).

    With μ = ``momentum`` > 0 this is torch's form: v ← μ·v + g, w ← w − η·v
    (``nesterov=True``: w ← w − η·(g + μ·v)).
    """
    return torch.optim.SGD(_groups(model, lr, weight_decay, lr_fan_in), lr=lr, momentum=momentum, nesterov=nesterov)


@optimizers.register("momentum")
def momentum(model: nn.Module, lr: float, momentum: float = 0.9, weight_decay: float = 0.0,
             lr_fan_in: bool = False) -> torch.optim.Optimizer:
    """SGD with (heavy-ball) momentum: v ← μ·v + η·g, w ← w − v.

    Wraps torch.optim.SGD, which keeps v' = v/η instead (v' ← μ·v' + g, w ← w − η·v'): the same
    steps while η is constant. Under a schedule they differ: torch rescales the whole velocity by
    the new η at once, the notes' form only each new gradient. μ = ``momentum``.
    """
    return torch.optim.SGD(_groups(model, lr, weight_decay, lr_fan_in), lr=lr, momentum=momentum)


@optimizers.register("nesterov")
def nesterov(model: nn.Module, lr: float, momentum: float = 0.9, weight_decay: float = 0.0,
             lr_fan_in: bool = False) -> torch.optim.Optimizer:
    """Nesterov momentum: v ← μ·v + g, w ← w − η·(g + μ·v).

    This is torch's form of Sutskever's look-ahead update v ← μ·v − η∇L(w + μ·v), w ← w + v,
    rewritten in terms of the look-ahead point (equal while η is constant). μ = ``momentum``.
    """
    return torch.optim.SGD(_groups(model, lr, weight_decay, lr_fan_in), lr=lr, momentum=momentum, nesterov=True)


@optimizers.register("adagrad")
def adagrad(model: nn.Module, lr: float, eps: float = 1e-10, weight_decay: float = 0.0,
            lr_fan_in: bool = False) -> torch.optim.Optimizer:
    """Adagrad: cache ← cache + g², w ← w − η·g/(√cache + ε); steps shrink as the cache grows.

    ε = ``eps``. The cache never forgets, so in long runs the steps die out (compare rmsprop).
    """
    return torch.optim.Adagrad(_groups(model, lr, weight_decay, lr_fan_in), lr=lr, eps=eps)


@optimizers.register("rmsprop")
def rmsprop(model: nn.Module, lr: float, alpha: float = 0.9, eps: float = 1e-8, momentum: float = 0.0,
            weight_decay: float = 0.0, lr_fan_in: bool = False) -> torch.optim.Optimizer:
    """RMSProp: cache ← ρ·cache + (1−ρ)·g², w ← w − η·g/(√cache + ε).

    ρ = ``alpha`` (torch's name), default 0.9 as in the notes (seed 001: "MeanSquare(w, t) =
    0.9 MeanSquare(w, t−1) + 0.1 (∂E/∂w)²", Hinton's lecture 6.5, and Keras' ``RMSprop(rho=0.9)``);
    torch.optim.RMSprop's own default is 0.99 (a longer average: about 100 steps instead of 10).
    ε = ``eps``. With ``momentum`` μ > 0: b ← μ·b + g/(√cache + ε), w ← w − η·b.
    """
    return torch.optim.RMSprop(_groups(model, lr, weight_decay, lr_fan_in), lr=lr, alpha=alpha, eps=eps,
                               momentum=momentum)


@optimizers.register("adam")
def adam(model: nn.Module, lr: float, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
         weight_decay: float = 0.0, lr_fan_in: bool = False) -> torch.optim.Optimizer:
    """Adam: m ← β₁m + (1−β₁)g, v ← β₂v + (1−β₂)g², w ← w − η·m̂/(√v̂ + ε).

    Bias-corrected m̂ = m/(1−β₁ᵗ), v̂ = v/(1−β₂ᵗ); (β₁, β₂) = ``betas``, ε = ``eps``.
    """
    return torch.optim.Adam(_groups(model, lr, weight_decay, lr_fan_in), lr=lr, betas=betas, eps=eps)


@optimizers.register("adamw")
def adamw(model: nn.Module, lr: float, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
          weight_decay: float = 0.01, lr_fan_in: bool = False) -> torch.optim.Optimizer:
    """Adam with decoupled weight decay: w ← w − η·λ·w, then the Adam step on g alone.

    λ = ``weight_decay`` (weights only) shrinks w directly instead of entering m and v, so the
    decay is not divided by √v̂ (Loshchilov & Hutter, 2019). Other symbols as in ``adam``.
    """
    return torch.optim.AdamW(_groups(model, lr, weight_decay, lr_fan_in), lr=lr, betas=betas, eps=eps)


@optimizers.register("nadam")
def nadam(model: nn.Module, lr: float, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
          momentum_decay: float = 4e-3, weight_decay: float = 0.0, lr_fan_in: bool = False) -> torch.optim.Optimizer:
    """Nadam: Adam with a Nesterov look-ahead on the first moment.

    μ_t = β₁(1 − ½·0.96^{tψ}) with ψ = ``momentum_decay``; m and v as in ``adam``;
    v̂ = v/(1−β₂ᵗ); w ← w − η(1−μ_t)/(1−Π_{i≤t}μ_i)·g/(√v̂+ε) − η·μ_{t+1}/(1−Π_{i≤t+1}μ_i)·m/(√v̂+ε)
    (Dozat, 2016; torch.optim.NAdam).
    """
    return torch.optim.NAdam(_groups(model, lr, weight_decay, lr_fan_in), lr=lr, betas=betas, eps=eps,
                             momentum_decay=momentum_decay)


@optimizers.register("rprop")
def rprop(model: nn.Module, lr: float, etas: tuple[float, float] = (0.5, 1.2),
          step_sizes: tuple[float, float] = (1e-6, 50.0), full_batch: bool = True,
          lr_fan_in: bool = False) -> torch.optim.Optimizer:
    """Rprop: a step per weight from the sign of g alone, grown while the sign holds.

    Each weight's step Δ starts at η. If g·g_prev > 0: Δ ← min(η₊Δ, Δ_max); if g·g_prev < 0:
    Δ ← max(η₋Δ, Δ_min) and g is taken as 0 for this step; then w ← w − sign(g)·Δ.
    (η₋, η₊) = ``etas``, (Δ_min, Δ_max) = ``step_sizes``. The sign is only meaningful on the full
    loss, so by default the Trainer gives Rprop the whole training set as one batch
    (``full_batch``). No weight decay option: use a penalty.
    """
    return Rprop(_groups(model, lr, 0.0, lr_fan_in), lr=lr, etas=etas, step_sizes=step_sizes, full_batch=full_batch)


class Rprop(torch.optim.Rprop, FullBatchOptimizer):
    """torch.optim.Rprop that says whether it wants the whole training set as one batch."""

    def __init__(self, params: Any, *, full_batch: bool = True, **options: Any):
        super().__init__(params, **options)
        self.full_batch = full_batch


# ---- quasi-Newton methods ----


def _trainable(model: nn.Module) -> list[nn.Parameter]:
    return [p for p in model.parameters() if p.requires_grad]


@optimizers.register("lbfgs")
def lbfgs(model: nn.Module, lr: float, max_iter: int = 20, history_size: int = 100,
          line_search_fn: Literal["strong_wolfe"] | None = "strong_wolfe", tolerance_grad: float = 1e-7,
          tolerance_change: float = 1e-9, max_eval: int | None = None, full_batch: bool = True) -> torch.optim.Optimizer:
    """L-BFGS: quasi-Newton steps d = −H·g from the last ``history_size`` curvature pairs.

    H·g comes from the two-loop recursion over the pairs (s, y) = (Δw, Δg) with H₀ = (sᵀy/yᵀy)·I;
    w ← w + α·d with α from a strong-Wolfe line search starting at η (``line_search_fn=None``: α = η).
    Each epoch's ``step(closure)`` runs up to ``max_iter`` iterations and ``max_eval`` loss evaluations
    (default 1.25·max_iter), stopping early when max|g| ≤ ``tolerance_grad`` or a step changes w or L
    by less than ``tolerance_change`` (absolute: with a loss near 1e-6, set it to 0 and use float64);
    the optimizer's ``last_stop`` says which. The tolerances are torch's defaults (tolerance_grad 1e-7,
    tolerance_change 1e-9). In float32 a small loss ends most steps after about one iteration whatever
    ``tolerance_change`` is (0 included: the line search finds no float32 decrease; lab C14), so the
    default is kept; only float64 with ``tolerance_change: 0`` goes below float32's floor.
    Whole training set as one batch by default (``full_batch``). One parameter group, so no weight
    decay (use a penalty) and no ``lr_fan_in``. Wraps torch.optim.LBFGS; checkpoints resume exactly.
    """
    return LBFGS(_trainable(model), lr=lr, max_iter=max_iter, history_size=history_size,
                 line_search_fn=line_search_fn, tolerance_grad=tolerance_grad, tolerance_change=tolerance_change,
                 max_eval=max_eval, full_batch=full_batch)


@optimizers.register("bfgs")
def bfgs(model: nn.Module, lr: float, max_iter: int = 20, tolerance_grad: float = 1e-7,
         full_batch: bool = True) -> torch.optim.Optimizer:
    """BFGS with a dense inverse Hessian (SciPy), for small models up to 10,000 parameters.

    d = −H·g; w ← w + α·d with α from a Wolfe line search; with s = Δw, y = Δg, ρ = 1/yᵀs:
    H ← (I − ρsyᵀ)H(I − ρysᵀ) + ρssᵀ, starting from H = I. Each epoch's ``step(closure)`` runs
    up to ``max_iter`` iterations (stopping when max|g| ≤ ``tolerance_grad``) and then forgets H,
    so a resumed run matches an uninterrupted one. ``lr`` is not used: the line search sets every
    step length. Whole training set as one batch by default (``full_batch``); no weight decay
    (use a penalty).
    """
    return BFGS(_trainable(model), lr=lr, max_iter=max_iter, tolerance_grad=tolerance_grad, full_batch=full_batch)


# ---- sequences ----


def stage_spec(value: str | dict[str, Any]) -> dict[str, Any]:
    """A chain stage as ``{"name": …, **parameters}``, checked against the named optimizer.

    Accepts a bare name (``"adam"``) or a dict (``{"name": "adam", "betas": [0.9, 0.99]}``). The
    stage's rate is not set here: the first stage runs at the chain's ``lr``, the second at
    ``then_lr``. Raises ValueError (which pydantic reports against the recipe field).
    """
    spec = {"name": value} if isinstance(value, str) else dict(value)
    name = str(spec.pop("name", ""))
    if not name:
        raise ValueError("a chain stage needs a name, e.g. {name: adam, betas: [0.9, 0.99]}")
    if name == "chain":
        raise ValueError("a chain stage cannot itself be a chain")
    if "lr" in spec:
        raise ValueError("set the first stage's rate with optim.lr and the second's with then_lr, not inside a stage")
    try:
        entry = optimizers.get(name)
    except UnknownName as e:
        raise ValueError(str(e)) from None
    try:
        params = entry.validate({"lr": 1.0, **spec})  # the rate comes from the chain; 1.0 stands in
    except pydantic.ValidationError as e:
        problems = "; ".join(f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in e.errors())
        accepted = [p for p in entry.recipe_parameters() if p != "lr"]
        raise ValueError(f"{name}: {problems}; accepted: {', '.join(accepted)}") from None
    params.pop("lr")
    return {"name": name, **params}


StageSpec = Annotated[str | dict[str, Any], pydantic.AfterValidator(stage_spec)]


@optimizers.register("chain")
def chain(model: nn.Module, lr: float, first: StageSpec = "adam", then: StageSpec = "lbfgs",
          switch_epoch: int | None = 50, plateau_patience: int | None = None, min_delta: float = 0.0,
          then_lr: float = 1.0) -> torch.optim.Optimizer:
    """Two optimizers in sequence: ``first`` (at ``lr``) to get close, then ``then`` (at ``then_lr``) to finish.

    The switch comes after epoch ``switch_epoch``, or earlier once the training loss has not
    improved by more than ``min_delta`` for ``plateau_patience`` epochs (either may be null, not
    both). Each stage is a name or ``{name: …, parameters…}``, e.g.
    ``optim: {name: chain, lr: 0.01, first: adam, then: {name: lbfgs, history_size: 50}, switch_epoch: 50}``.
    A learning-rate schedule drives the first stage only. The Trainer gives each stage the batches
    it asks for (L-BFGS: the whole training set) and calls ``advance`` after every epoch. To refine
    a small loss (physics-informed nets, lab C14), train in ``precision: float64`` with
    ``then: {name: lbfgs, tolerance_change: 0}``: the default tolerance stops L-BFGS after one iteration.
    """
    stages = []
    for spec, rate in ((first, lr), (then, then_lr)):
        params = stage_spec(spec)
        stages.append(optimizers.get(params.pop("name")).factory(model, lr=rate, **params))
    return Chain(*stages, switch_epoch=switch_epoch, plateau_patience=plateau_patience, min_delta=min_delta)

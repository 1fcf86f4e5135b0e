"""Physics-informed training in the ordinary loop: the network inside its residual, the ``pde`` loss,
the ``rel_l2`` metric, per-epoch resampling and the solution on the test grid.

The run wraps the recipe's network N in :class:`PhysicsInformed`, whose output per point is
``[r(x, N), N(x)]``; the loss ``pde`` picks the residual on interior rows and u − g on boundary and
initial rows (the target layout of :mod:`trainlab.pde.dataset`). So the Trainer, checkpoints,
resume, the Adam → L-BFGS chain, probes and the doctor work unchanged.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from trainlab.data.batching import TensorBatches
from trainlab.errors import RecipeError
from trainlab.pde.dataset import KNOWN, RESIDUAL, TERM, TERMS, VALUE, WEIGHT, PDEData
from trainlab.pde.problems import Problem
from trainlab.recipe import Recipe
from trainlab.registry import losses, metrics
from trainlab.train.callbacks import Callback, LoopState
from trainlab.train.metrics import DEFAULT_METRICS


class PhysicsInformed(nn.Module):
    """``net`` inside ``problem``'s residual: forward(x) = [r(x, u), u] with u = net(x), shape (n, 2).

    The residual needs derivatives of u with respect to x, so autograd is on inside the forward pass
    even in evaluation (whose output is then detached). ``state_dict``/``load_state_dict`` are the
    network's own, so checkpoints hold its plain keys and ``trainlab predict`` reloads the network
    alone and predicts u(x).
    """

    def __init__(self, net: nn.Module, problem: Problem):
        super().__init__()
        self.net, self.problem = net, problem

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outside = torch.is_grad_enabled()
        with torch.enable_grad():
            x = x.detach().requires_grad_(True)
            u = self.net(x)
            if u.shape != (len(x), 1):
                raise RuntimeError(f"the network must output one value per point, shape ({len(x)}, 1); "
                                   f"it gave {tuple(u.shape)}")
            r = self.problem.residual(x, u)
        out = torch.cat([r, u], dim=1)
        return out if outside else out.detach()

    def state_dict(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return self.net.state_dict(*args, **kwargs)

    def load_state_dict(self, state_dict: dict[str, Any], strict: bool = True, assign: bool = False):
        return self.net.load_state_dict(state_dict, strict=strict, assign=assign)


def physics_loss(out: torch.Tensor, y: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Σ_k w_k · mean_{i ∈ term k} e_i² with e = r(x) on interior rows and u − g elsewhere."""
    term = y[:, TERM].long()
    error = torch.where(term == RESIDUAL, out[:, 0], out[:, 1] - y[:, VALUE]).square()
    weighted = y[:, WEIGHT] * error
    if reduction == "none":
        return weighted
    counts = F.one_hot(term, len(TERMS)).sum(dim=0).to(out.dtype)  # rows per term in this batch
    return (weighted / counts[term]).sum()


@losses.register("pde")
def pde_loss() -> Callable[..., torch.Tensor]:
    """Physics-informed loss: L = w_r·mean r(x, u)² (interior) + w_b·mean (u − g)² (boundary) + w_0·mean (u − g)² (t = t₀).

    r is the problem's residual from torch.autograd, g its Dirichlet/initial values, the weights
    ``data.weights``; a term without points in a batch adds 0. For data ``pde`` (the default there).
    """
    return physics_loss


@metrics.register("rel_l2", task="pde", higher_is_better=False)
def rel_l2() -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """Relative L2 error against the exact solution: ‖u − u*‖₂ / ‖u*‖₂ over the interior points.

    Exact for a split evaluated as one batch, which the test grid of a ``pde`` run always is (and the
    training points with full batches); with mini-batches the epoch's value is the batch-size-weighted
    mean of the batches' errors. NaN when the problem has no exact solution.
    """

    def metric(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        known = (y[:, TERM] == RESIDUAL) & (y[:, KNOWN] > 0)
        error = torch.where(known, out[:, 1] - y[:, VALUE], 0.0).norm()
        return error / torch.where(known, y[:, VALUE], 0.0).norm() * len(y)  # the Trainer divides by n

    return metric


class Resample(Callback):
    """At every epoch's start, fresh collocation points: ``draw(epoch)`` (seeded by the run's seed and
    the epoch, so a resumed run draws the same) is copied into the training tensors in place."""

    def __init__(self, train: TensorBatches, draw: Callable[[int], tuple[np.ndarray, np.ndarray]]):
        self.train, self.draw = train, draw

    def on_epoch_start(self, state: LoopState) -> None:
        x, y = self.draw(state.epoch)
        self.train.x.copy_(torch.from_numpy(x))
        self.train.y.copy_(torch.from_numpy(y))


def physics_informed(recipe: Recipe, data: PDEData, model: nn.Module, train: Any, val: Any,
                     test: Any) -> tuple[nn.Module, TensorBatches, list[Callback]]:
    """The run's pieces for a ``pde`` data set: the wrapped model, the test grid as one batch (so
    ``rel_l2`` is exact) and the loop parts (resampling); a recipe that cannot work is an error."""
    problems = []
    if recipe.data.preprocess.name != "none":
        problems.append(f"data.preprocess: '{recipe.data.preprocess.name}' would change the coordinates the "
                        "derivatives are taken in; a pde problem takes 'none'")
    if val is not None:
        problems.append(f"data.val_fraction: {recipe.data.val_fraction} would hold out collocation and boundary "
                        "points (the test split is already the exact solution's grid); set it to 0")
    if not isinstance(train, TensorBatches):
        problems.append(f"data.loader: '{recipe.data.loader}'; collocation points live on the device: use 'auto' "
                        "or 'tensor'")
    if any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules()):
        problems.append("model.batchnorm: batch statistics mix the points, so u(x) and its derivatives would "
                        "depend on the other points; remove it")
    wanted = DEFAULT_METRICS["pde"] if recipe.metrics == "auto" else list(recipe.metrics)
    if data.problem.exact is None and "rel_l2" in wanted:
        problems.append(f"metrics: rel_l2 needs the exact solution, which problem '{data.problem.name}' does not "
                        "have; set metrics: []")
    if problems:
        raise RecipeError(problems)
    parts: list[Callback] = [Resample(train, data.draw)] if data.draw is not None else []
    return PhysicsInformed(model, data.problem), TensorBatches(test.x, test.y, len(test.x), False), parts


def solution(model: PhysicsInformed, test: TensorBatches) -> dict[str, np.ndarray]:
    """The trained u, the residual r and (where known) the exact u* on the test grid, with the
    coordinates' names, for the report."""
    was_training = model.training
    model.eval()
    with torch.no_grad():  # the forward pass turns autograd on for the residual itself
        out = model(test.x).double().cpu().numpy()
    model.train(was_training)
    y = test.y.double().cpu().numpy()
    arrays = {"points": test.x.double().cpu().numpy(), "u": out[:, 1], "residual": out[:, 0],
              "coordinates": np.array(model.problem.coordinates)}
    if (y[:, KNOWN] > 0).all():
        arrays["exact"] = y[:, VALUE]
    return arrays

"""Quasi-Newton optimizers: L-BFGS (torch's, made checkpointable) and dense BFGS (through SciPy).

Both need a closure: ``step(closure)`` evaluates the loss and gradient as often as its line search
asks, so the Trainer hands them a function that zeroes the gradients, computes the loss on the
current batch, calls backward and returns the loss (``needs_closure = True``). Both are meant for
the whole training set as one batch (``full_batch``): their line searches assume the same function
at every evaluation.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from trainlab.train.callbacks import Callback, LoopAware
from trainlab.train.loop_parts import FullBatch

if TYPE_CHECKING:
    import scipy.optimize

MAX_BFGS_PARAMETERS = 10_000  # a dense 10,000 × 10,000 inverse Hessian in float64 is 800 MB

# L-BFGS's scratch buffer: rebuilt by torch when missing, and may hold None, so it is not saved.
_LBFGS_SCRATCH = "al"


def _flatten_lists(entries: dict[str, Any]) -> dict[str, Any]:
    """``{"old_dirs": [t0, t1]}`` → ``{"old_dirs.count": 2, "old_dirs.0": t0, "old_dirs.1": t1}``."""
    flat: dict[str, Any] = {}
    for key, value in entries.items():
        if key == _LBFGS_SCRATCH:
            continue
        if isinstance(value, list):
            flat[f"{key}.count"] = len(value)
            flat.update({f"{key}.{i}": item for i, item in enumerate(value)})
        else:
            flat[key] = value
    return flat


def _unflatten_lists(flat: dict[str, Any]) -> dict[str, Any]:
    """Inverse of :func:`_flatten_lists`."""
    entries = {k: v for k, v in flat.items() if "." not in k}
    for key in (k.removesuffix(".count") for k in flat if k.endswith(".count")):
        entries[key] = [flat[f"{key}.{i}"] for i in range(int(flat[f"{key}.count"]))]
    return entries


class FullBatchOptimizer(LoopAware):
    """An optimizer that may want the whole training set as one batch (``full_batch``): line searches
    assume the same function at every evaluation, Rprop's sign rule the full loss."""

    full_batch: bool = True

    def loop_parts(self) -> list[Callback]:
        return [FullBatch(lambda: self.full_batch)] if self.full_batch else []


class LBFGS(torch.optim.LBFGS, FullBatchOptimizer):
    """torch.optim.LBFGS whose state_dict holds only tensors and JSON scalars.

    torch keeps the curvature pairs as Python lists of tensors, which a safetensors + JSON
    checkpoint cannot hold; here each list is saved as ``name.count`` plus ``name.0``, ``name.1``, …
    so a resumed run continues with the same memory and matches an uninterrupted one.
    """

    needs_closure = True

    def __init__(self, params: Iterable[torch.Tensor], *, full_batch: bool = True, **options: Any):
        super().__init__(params, **options)
        self.full_batch = full_batch
        self.last_stop: dict[str, Any] = {}  # why the last step() ended: reason, iterations, evaluations

    def step(self, closure: Callable[[], torch.Tensor]) -> torch.Tensor:  # type: ignore[override]
        """torch's step, then :attr:`last_stop` says why it ended (torch does not): ``max_iter``,
        ``max_eval``, ``tolerance_grad`` (max|g| ≤ tolerance_grad) or ``tolerance_change`` (a step
        or a loss change ≤ tolerance_change, or no descent direction) — the last one after a single
        iteration is the classic silent stall of a float32 L-BFGS stage whose loss is already small."""
        group = self.param_groups[0]
        state = self.state[group["params"][0]]
        iterations, evaluations = state.get("n_iter", 0), state.get("func_evals", 0)
        loss = super().step(closure)
        iterations, evaluations = state["n_iter"] - iterations, state["func_evals"] - evaluations
        grads = [p.grad.abs().max() for p in group["params"] if p.grad is not None]
        small_gradient = bool(grads) and float(torch.stack(grads).max()) <= group["tolerance_grad"]
        if iterations >= group["max_iter"]:
            reason = "max_iter"
        elif evaluations >= group["max_eval"]:
            reason = "max_eval"
        elif iterations == 0 or small_gradient:
            reason = "tolerance_grad"
        else:
            reason = "tolerance_change"
        self.last_stop = {"reason": reason, "iterations": iterations, "evaluations": evaluations}
        return loss

    def state_dict(self) -> dict[str, Any]:
        packed = super().state_dict()
        return {**packed, "state": {pid: _flatten_lists(e) for pid, e in packed["state"].items()}}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state = {pid: _unflatten_lists(e) for pid, e in state_dict["state"].items()}
        super().load_state_dict({**state_dict, "state": state})


def _assign(params: list[torch.Tensor], flat: torch.Tensor) -> None:
    """Copy the flat vector ``flat`` (shape [n]) into ``params`` in order, keeping their storage."""
    with torch.no_grad():
        for p, chunk in zip(params, torch.split(flat, [p.numel() for p in params])):
            p.copy_(chunk.view_as(p))


class BFGS(torch.optim.Optimizer, FullBatchOptimizer):
    """Dense BFGS: ``scipy.optimize.minimize(method="BFGS")`` on the flattened parameters.

    Each ``step(closure)`` runs up to ``max_iter`` BFGS iterations from the current parameters,
    starting from the inverse Hessian H₀ = I, and ends on SciPy's best point. The loss and its
    gradient come from the closure (torch autograd), evaluated in the parameters' dtype and handed
    to SciPy as float64. Nothing carries over between steps, so the state holds only counters and
    a resumed run matches an uninterrupted one; the price is that each step rebuilds its curvature
    estimate from scratch. The returned loss is the one at the start of the step, as in L-BFGS.
    """

    needs_closure = True

    def __init__(self, params: Iterable[torch.Tensor], lr: float = 1.0, max_iter: int = 20,
                 tolerance_grad: float = 1e-7, full_batch: bool = True):
        super().__init__(params, {"lr": lr, "max_iter": max_iter, "tolerance_grad": tolerance_grad})
        if len(self.param_groups) != 1:
            raise ValueError("BFGS takes one parameter group (it has no per-parameter options)")
        n = sum(p.numel() for p in self.param_groups[0]["params"])
        if n > MAX_BFGS_PARAMETERS:
            raise ValueError(f"bfgs keeps a dense n×n inverse Hessian; n = {n:,} parameters would need "
                             f"{8 * n * n / 1e9:.1f} GB. Use lbfgs above {MAX_BFGS_PARAMETERS:,} parameters")
        self.full_batch = full_batch
        self.result: scipy.optimize.OptimizeResult | None = None  # SciPy's report on the last step

    def step(self, closure: Callable[[], torch.Tensor]) -> torch.Tensor:  # type: ignore[override]
        if closure is None:
            raise ValueError("BFGS.step needs a closure that returns the loss after calling backward")
        group = self.param_groups[0]
        params: list[torch.Tensor] = group["params"]
        like = params[0]
        losses: list[torch.Tensor] = []

        def objective(x: np.ndarray) -> tuple[float, np.ndarray]:
            _assign(params, torch.from_numpy(x).to(dtype=like.dtype, device=like.device))
            with torch.enable_grad():
                loss = closure()
            losses.append(loss.detach())
            grad = torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in params])
            return loss.item(), grad.detach().to(device="cpu", dtype=torch.float64).numpy()

        with torch.no_grad():
            x0 = torch.cat([p.reshape(-1) for p in params]).to(device="cpu", dtype=torch.float64).numpy()
        import scipy.optimize  # here: registering the optimizers (`trainlab list`) need not import SciPy

        self.result = scipy.optimize.minimize(
            objective, x0, jac=True, method="BFGS",
            options={"maxiter": group["max_iter"], "gtol": group["tolerance_grad"]},
        )
        _assign(params, torch.from_numpy(self.result.x).to(dtype=like.dtype, device=like.device))
        state = self.state[params[0]]
        state["n_iter"] = state.get("n_iter", 0) + int(self.result.nit)
        state["func_evals"] = state.get("func_evals", 0) + len(losses)
        return losses[0]

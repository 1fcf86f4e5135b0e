"""Vectorized seeds: K runs of one recipe that differ only in ``seed``, trained in one process as one
batched model, each writing the run directory a separate run of its seed writes.

Each copy is built by :func:`trainlab.run.build` exactly as a separate run builds it: its own data
split, preprocessing and initial weights (``torch.manual_seed(seed)``), its own batch order (the
permutation its ``TensorBatches`` draws from ``epoch_generator(seed, e)``). Then every parameter is stacked
along a new leading axis of length K (``p_k`` becomes a view of ``stack[k]``, so each copy's own
model, checkpoints, evaluation and report see its weights without copying). One step is

    out_k = f(θ_k, x_k) for all k at once (batched matmuls: :class:`StackedLinear`),
    L = Σ_k ℓ(out_k, y_k)   (each copy's mean loss: :func:`_batched_loss`),
    ∂L/∂θ_k = ∂ℓ_k/∂θ_k    (the copies share no parameter, so each gets exactly its own gradient),

followed by one step of the recipe's optimizer over the stacked parameters. That is per-copy exact
for the supported optimizers (SGD with momentum/Nesterov, Adam, AdamW, Adagrad, RMSprop, NAdam,
Adamax, RAdam): their updates, weight decay included, are elementwise, and their only non-elementwise
state, the step count, is the same for every copy. L-BFGS, BFGS, Rprop, chains (line searches,
full batches, stage switches) and anything else are refused with the reason.

Random numbers: every copy keeps its own CPU generator, started from the global state its ``build``
left (what its separate run draws dropout and noise from). Dropout draws ``bernoulli_(1 − p)`` on
each copy's ``(batch, features)`` from its generator and noise ``randn`` likewise, which is what
``nn.Dropout``/``GaussianNoise`` draw on the CPU, so the masks are the separate run's. Checkpoints
save each copy's generator as the run's RNG state (so a separate ``--resume`` continues its
stream). On CUDA the separate run's fused dropout kernel draws differently: there the masks have
the same distribution per copy but other values.

What matches a separate run, on the CPU: everything, bit for bit, in float64 and float32 —
metrics.csv, every checkpoint tensor (weights, optimizer state, RNG stream), test metrics,
findings (tests/test_vectorized.py). The batched matmuls give each copy its own products' bits
(:class:`StackedLinear`), the optimizer is elementwise, and the logged loss and float metrics are
computed copy by copy with the recipe's own functions (a batched mean would add in another order:
≤ 4e-16 relative in float64, ≤ 1.2e-7 in float32 — measured before they were). Only ``seconds``
differs: it is the copy's share of the batched epoch's wall time. The products that batched and
single BLAS calls compute differently (matrix-vector and tiny ones) run copy by copy
(:func:`stacked_linear`). These bits are those of torch's CPU build with MKL on one intra-op
thread; on CUDA (the dropout masks differ, above), another BLAS, or several threads (a copy's own
product may split its sums between threads where the batched one splits the copies; measured
≤ 1e-5 relative in float32) expect agreement to float tolerance, not bits.

Supported (checked up front by :func:`why_not_vectorized` and :func:`why_not_stacked`): sequential
models of Flatten, Linear, elementwise activations, Dropout and Gaussian noise (the ``mlp``
without batch norm), the tensor data path without a sampler, per-epoch schedules that do not
monitor a metric, classification and regression, early stopping, best checkpoints; no penalties,
probes, snapshots, step checkpoints, gradient clipping, mixed precision or gradual unfreezing. Early stopping, a non-finite loss or the live
doctor stop each copy on its own; a stopped copy's weights are taken out of the stack.
"""
from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from trainlab.data.batching import TensorBatches, epoch_generator
from trainlab.errors import TrainlabError
from trainlab.nn.activations import LeCunTanh
from trainlab.nn.noise import GaussianNoise
from trainlab.optim.schedules.base import monitored
from trainlab.recipe import Recipe
from trainlab.run import RunResult, Setup, StartedRun, build, end_run, fail_run, start_run
from trainlab.rundir import RunDir
from trainlab.train.callbacks import EVENTS, Callback, LoopState, overrides
from trainlab.train.trainer import NonFiniteLoss

ELEMENTWISE_OPTIMIZERS = (torch.optim.SGD, torch.optim.Adam, torch.optim.AdamW, torch.optim.Adagrad,
                          torch.optim.RMSprop, torch.optim.NAdam, torch.optim.Adamax, torch.optim.RAdam)
ACTIVATIONS = (nn.ReLU, nn.Tanh, nn.Sigmoid, nn.LeakyReLU, nn.ELU, nn.SELU, nn.GELU, nn.SiLU, nn.Softplus,
               nn.Identity, LeCunTanh)
PER_STEP_EVENTS = ("after_backward", "after_step")


class NotVectorized(TrainlabError):
    """These runs cannot train as one batched model; the message says why (they run separately)."""


def why_not_vectorized(recipe: Recipe) -> str | None:
    """Why runs of ``recipe`` cannot train vectorized, from the recipe alone (None: they may; the
    built model and optimizer are checked again by :func:`why_not_stacked`)."""
    reasons = {
        "precision": recipe.precision not in ("float32", "float64"),
        "accumulate": getattr(recipe, "accumulate", 1) not in (None, 1),
        "compile": bool(getattr(recipe, "compile", False)),
        "pretrain": getattr(recipe, "pretrain", None) is not None,
        "model.unfreeze_at": bool(getattr(recipe.model, "unfreeze_at", None)),
        "data.loader": recipe.data.loader not in ("auto", "tensor"),
        "data.sampler": recipe.data.sampler.name != "shuffle" and recipe.data.shuffle,
        "schedule.interval: step": recipe.schedule.interval != "epoch",
        "penalties": bool(recipe.penalties),
        "diagnose": recipe.diagnose is not None,
        "snapshots": recipe.snapshots is not None,
        "checkpoint.every_steps": bool(recipe.checkpoint.every_steps),
        "optim.clip": any(getattr(recipe.optim, k, None) is not None for k in ("clip_norm", "clip_value")),
    }
    found = [name for name, refused in reasons.items() if refused]
    return f"vectorized seeds do not support {', '.join(found)}" if found else None


def _layer_reason(module: nn.Module) -> str | None:
    if isinstance(module, nn.Flatten):
        return None if (module.start_dim, module.end_dim) == (1, -1) else "a Flatten other than (1, -1)"
    if isinstance(module, (nn.Linear, nn.Dropout, GaussianNoise, *ACTIVATIONS)):  # activations without parameters
        return None
    return f"the layer {type(module).__name__}"


def why_not_stacked(setups: list[Setup]) -> str | None:
    """Why these built copies cannot train as one batched model (None: they can)."""
    first = setups[0]
    model, optimizer = first.model, first.trainer.optimizer
    if first.task not in ("classification", "regression"):
        return f"{first.task} tasks"
    if not isinstance(model, nn.Sequential):
        return f"model '{first.recipe.model.name}' is not a sequence of layers"
    for module in model:
        reason = _layer_reason(module)
        if reason:
            return f"model '{first.recipe.model.name}' has {reason} (supported: Flatten, Linear, elementwise " \
                   "activations, Dropout, Gaussian noise)"
    if any(not p.requires_grad for p in model.parameters()):
        return "frozen parameters"
    if type(optimizer) not in ELEMENTWISE_OPTIMIZERS:
        return f"optimizer '{first.recipe.optim.name}' ({type(optimizer).__name__}) does not update elementwise"
    if monitored(first.scheduler) is not None:
        return f"schedule '{first.recipe.schedule.name}' follows each copy's own '{monitored(first.scheduler)}'"
    if first.device.type not in ("cpu", "cuda"):
        return f"device {first.device.type}"
    for setup in setups:
        if not isinstance(setup.train, TensorBatches) or setup.train.sampler is not None:
            return "data that is not on the tensor path (data.loader) or a sampler"
        if (len(setup.train), setup.train.n_examples) != (len(first.train), first.train.n_examples):
            return "copies with splits of different sizes"
        busy = [type(c).__name__ for c in setup.trainer.callbacks for e in PER_STEP_EVENTS if overrides(c, e)]
        if busy:
            return f"per-step loop parts ({', '.join(sorted(set(busy)))})"
    return None


# ---- the batched model ----


class StackedLinear(torch.autograd.Function):
    """y_k = x_k W_kᵀ + b_k for every copy k, with each product laid out as ``F.linear``'s own
    forward and backward lay it out, so every copy gets its separate run's bits on the CPU:
    forward ``baddbmm(b, x, Wᵀ)``, ∂W = ``bmm(gᵀ, x)``, ∂x = ``bmm(g, W)``, ∂b = Σ_batch g.
    (autograd's own backward of ``baddbmm`` computes ∂W as ``bmm(xᵀ, g)ᵀ``, which rounds
    differently.) Written here because torch has no batched linear with that backward."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        ctx.save_for_backward(x, weight)  # (forward with ctx: apply then binds no signature per call)
        if bias is None:
            return torch.bmm(x, weight.transpose(1, 2))
        return torch.baddbmm(bias.unsqueeze(1), x, weight.transpose(1, 2))

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        x, weight = ctx.saved_tensors
        grad_x = torch.bmm(grad, weight) if ctx.needs_input_grad[0] else None
        grad_weight = torch.bmm(grad.transpose(1, 2), x) if ctx.needs_input_grad[1] else None
        grad_bias = grad.sum(1) if ctx.needs_input_grad[2] else None
        return grad_x, grad_weight, grad_bias


def stacked_linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """:class:`StackedLinear`, except where ``bmm`` and ``mm`` take different kernels: matrix-vector
    products (one example, input or output: BLAS's gemv) and products of fewer than 400 multiply-adds
    (ATen's own small-matrix ``bmm`` loop); those small cases are each copy's own ``F.linear``."""
    batch, n_out, n_in = x.shape[1], weight.shape[1], weight.shape[2]
    if 1 in (batch, n_out, n_in) or batch * n_out * n_in < 400:
        return torch.stack([F.linear(x[k], weight[k], None if bias is None else bias[k]) for k in range(len(x))])
    return StackedLinear.apply(x, weight, bias)


class StackedSequential:
    """The copies' sequential models as one function of stacked inputs ``(K, batch, …)``.

    Parameters are stacked once; each copy's parameter (and, after the first backward, its
    gradient) becomes a view of its slice. Linear layers are :class:`StackedLinear`, which gives the
    copies' ``F.linear`` bit for bit on the CPU; Dropout and noise draw from each copy's generator."""

    def __init__(self, models: list[nn.Module], generators: list[torch.Generator]):
        self.models, self.generators = models, generators
        template = models[0]
        self.stacked: dict[str, nn.Parameter] = {}
        for name, _ in template.named_parameters():
            own = [m.get_parameter(name) for m in models]
            stack = nn.Parameter(torch.stack([p.detach() for p in own]))
            for k, p in enumerate(own):
                p.data = stack.data[k]
            self.stacked[name] = stack
        self.layers = [self._layer(str(i), module) for i, module in enumerate(template)]
        self.training = True
        self._grads_linked = False

    def _layer(self, prefix: str, module: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
        if isinstance(module, nn.Linear):
            weight = self.stacked[f"{prefix}.weight"]
            bias = self.stacked.get(f"{prefix}.bias")
            return lambda h: stacked_linear(h, weight, bias)
        if isinstance(module, nn.Flatten):
            return lambda h: h.flatten(2)
        if isinstance(module, nn.Dropout):
            return lambda h: self._dropout(h, module.p)
        if isinstance(module, GaussianNoise):
            return lambda h: self._noise(h, module.std)
        return module  # elementwise activation

    def _dropout(self, h: torch.Tensor, p: float) -> torch.Tensor:
        """Inverted dropout as ``torch.dropout`` computes it on the CPU: η ~ Bernoulli(1 − p) per
        copy from its own generator, h ⊙ η / (1 − p)."""
        if not self.training or p == 0:
            return h
        noise = torch.stack([torch.empty(h.shape[1:], dtype=h.dtype, device=h.device).bernoulli_(1 - p, generator=g)
                             for g in self.generators])
        return h * noise.div_(1 - p)

    def _noise(self, h: torch.Tensor, std: float) -> torch.Tensor:
        if not self.training or std == 0:
            return h
        eps = torch.stack([torch.randn(h.shape[1:], dtype=h.dtype, device=h.device, generator=g)
                           for g in self.generators])
        return h + std * eps

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        return x

    def link_grads(self) -> None:
        """Make each copy's ``p.grad`` a view of its slice of the stacked gradient (kept in place by
        ``zero_grad(set_to_none=False)``), for callbacks that read gradients (the live doctor)."""
        if self._grads_linked:
            return
        for name, stack in self.stacked.items():
            if stack.grad is None:
                return
            for k, model in enumerate(self.models):
                model.get_parameter(name).grad = stack.grad[k]
        self._grads_linked = True


def _stacked_optimizer(setups: list[Setup], stacked: dict[str, nn.Parameter]) -> torch.optim.Optimizer:
    """The first copy's optimizer class with its parameter groups (every hyperparameter copied)
    over the stacked parameters."""
    template = setups[0]
    names = {id(p): n for n, p in template.model.named_parameters()}
    optimizer = template.trainer.optimizer
    groups = [{**{k: v for k, v in group.items() if k != "params"},
               "params": [stacked[names[id(p)]] for p in group["params"]]}
              for group in optimizer.param_groups]
    return type(optimizer)(groups, lr=optimizer.defaults["lr"])


def _batched_loss(loss_fn: Callable) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """Each copy's mean loss, ``(K, batch, …) → (K,)``, differentiated as its own run differentiates
    it: ``torch.vmap`` of the recipe's loss; for cross-entropy the same numbers without vmap's
    slower decomposition (per-example losses, then each copy's mean: the gradient 1/B·∂ℓ is the
    one ``F.cross_entropy``'s mean gives, bit for bit); likewise for the mean squared error."""
    if loss_fn is F.cross_entropy:
        return lambda out, y: F.cross_entropy(out.flatten(0, 1), y.flatten(0, 1), reduction="none").view(
            y.shape[:2]).mean(1)
    if loss_fn is F.mse_loss:  # ∂ = (2/n)(ŷ − y), as mse_loss's mean computes it, when the shapes agree
        vmapped = torch.vmap(loss_fn)
        return lambda out, y: (F.mse_loss(out, y, reduction="none").flatten(1).mean(1) if out.shape == y.shape
                               else vmapped(out, y))
    return torch.vmap(loss_fn)


# ---- one copy's bookkeeping: what Trainer.fit does for a run, event by event ----


@dataclass
class Copy:
    index: int
    setup: Setup
    generator: torch.Generator
    params: list[nn.Parameter]  # in the optimizer's order
    handlers: dict[str, list[Callback]] = field(default_factory=dict)
    started: StartedRun | None = None  # its run directory's bookkeeping (None: a setup trained in memory)
    active: bool = True
    failed: TrainlabError | None = None
    stopped_at: tuple[list[float], int] | None = None  # sums and seen when the copy stopped inside an epoch

    @property
    def state(self) -> LoopState:
        return self.setup.trainer.state

    def fire(self, event: str) -> None:
        """Run this copy's handlers of ``event`` with its generator as torch's global CPU one
        (checkpoints save that state: what a separate run's global generator holds at this point)."""
        if not self.handlers[event]:
            return
        swap = self.generator.device.type == "cpu"
        if swap:
            rng = torch.get_rng_state()
            torch.set_rng_state(self.generator.get_state())
        try:
            with warnings.catch_warnings():  # the copy's own optimizer never steps (the stack's does)
                warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler.step\(\)` before")
                for callback in self.handlers[event]:
                    getattr(callback, event)(self.state)
        finally:
            if swap:
                self.generator.set_state(torch.get_rng_state())
                torch.set_rng_state(rng)


class VectorizedSeeds:
    """Trains the built ``setups`` (one recipe, different seeds; with their started runs, if they
    have run directories) as one batched model."""

    def __init__(self, setups: list[Setup], generators: list[torch.Generator],
                 started: list[StartedRun] | None = None):
        self.model = StackedSequential([s.model for s in setups], generators)
        self.optimizer = _stacked_optimizer(setups, self.model.stacked)
        first = setups[0].trainer
        self.loss_fn, self.loss = first.loss_fn, _batched_loss(first.loss_fn)
        # each copy's own metric functions: a regression metric undoes that copy's target scaling
        self.metrics = [list(s.trainer.metrics.values()) for s in setups]
        self.copies = []
        for k, setup in enumerate(setups):
            trainer = setup.trainer
            trainer.callbacks.sort(key=lambda c: c.order)
            handlers = {e: [c for c in trainer.callbacks if overrides(c, e)] for e in EVENTS}
            params = [p for g in trainer.optimizer.param_groups for p in g["params"]]
            self.copies.append(Copy(k, setup, generators[k], params, handlers, started[k] if started else None))
        self.stacked_params = [p for g in self.optimizer.param_groups for p in g["params"]]
        trains = [c.setup.train for c in self.copies]
        self.x, self.y = torch.stack([t.x for t in trains]), torch.stack([t.y for t in trains])
        self.rows = torch.arange(len(trains), device=self.x.device).unsqueeze(1)

    def _batches(self, epoch: int):
        """Epoch ``epoch``'s batches of every copy at once, ``(K, batch, …)``: each copy's order is
        the permutation its ``TensorBatches.epoch`` draws (``epoch_generator(seed, epoch)``)."""
        trains = [c.setup.train for c in self.copies]
        n, size = trains[0].n_examples, trains[0].batch_size
        if trains[0].shuffle:
            order = torch.stack([torch.randperm(n, generator=epoch_generator(t.seed, epoch)) for t in trains])
        else:
            order = torch.arange(n).expand(len(trains), n)
        order = (order.to(self.x.device) + self.rows * n)  # rows of the copies' training sets laid end to end
        x, y = self.x.flatten(0, 1), self.y.flatten(0, 1)
        for start in range(0, n, size):
            index = order[:, start:start + size]
            shape = index.shape
            index = index.flatten()
            yield x.index_select(0, index).unflatten(0, shape), y.index_select(0, index).unflatten(0, shape)

    # -- state shared with the copies' own optimizers, for checkpoints --

    def _link_state(self, copy: Copy) -> None:
        """Copy k's optimizer state as views of its slices of the stacked state (a separate run's state)."""
        optimizer = copy.setup.trainer.optimizer
        for own, stack in zip(copy.params, self.stacked_params):
            state = self.optimizer.state.get(stack)
            if state:
                optimizer.state[own] = {key: value[copy.index] if torch.is_tensor(value) and value.shape == stack.shape
                                        else value.clone() if torch.is_tensor(value) else value
                                        for key, value in state.items()}

    def _release(self, copy: Copy) -> None:
        """Take a stopped copy's weights, optimizer state and generator out of the stack (the stack
        goes on computing its slice, which nobody reads any more)."""
        self._link_state(copy)
        generator = torch.Generator(copy.generator.device)
        generator.set_state(copy.generator.get_state())
        copy.generator = generator
        for p in copy.params:
            p.data = p.data.clone()
            p.grad = None
        state = copy.setup.trainer.optimizer.state
        for p in copy.params:
            if p in state:
                state[p] = {k: v.clone() if torch.is_tensor(v) else v for k, v in state[p].items()}
        copy.active = False

    # -- the loop --

    def fit(self, epochs: int, validate: bool = True) -> None:
        """Train every copy for ``epochs`` epochs (or until it stops), each epoch's validation split
        evaluated unless ``validate`` is False (``Trainer.fit(train, None, epochs)``)."""
        for copy in self.copies:
            copy.state.epochs, copy.state.should_stop = epochs, False
            copy.fire("on_fit_start")
        for epoch in range(epochs):
            active = [c for c in self.copies if c.active]
            if not active:
                break
            self._start_epoch(active, epoch)
            started = time.perf_counter()
            sums, seen = self._train_epoch(active, epoch)
            val = self._evaluate() if validate and active[0].setup.val is not None else None
            for copy in active:
                self._end_epoch(copy, epoch, sums, seen, val, started, active)
        for copy in self.copies:
            if copy.active:
                self._link_state(copy)
                copy.fire("on_fit_end")

    def _start_epoch(self, active: list[Copy], epoch: int) -> None:
        for copy in active:
            state = copy.state
            state.epoch, state.batch, state.seen, state.full_batch = epoch, 0, 0, False
            state.steps_per_epoch = len(copy.setup.train)
            copy.fire("on_epoch_start")
            state.lr = copy.setup.trainer.optimizer.param_groups[0]["lr"]
        # every copy follows the same schedule: its hyperparameters are the stack's
        groups = [c.setup.trainer.optimizer.param_groups for c in active]
        for index, group in enumerate(self.optimizer.param_groups):
            settings = {k: v for k, v in groups[0][index].items() if k != "params"}
            if any({k: v for k, v in g[index].items() if k != "params"} != settings for g in groups[1:]):
                raise TrainlabError("vectorized seeds: the copies' optimizer settings diverged (a callback changed "
                                    "one copy's rate); run these seeds separately")
            group.update(settings)

    def _train_epoch(self, active: list[Copy], epoch: int) -> tuple[torch.Tensor, int]:
        model, optimizer, loss_fn = self.model, self.optimizer, self.loss
        model.training = True
        weight = next(iter(model.stacked.values()))
        sums = torch.zeros(len(self.copies), 1 + len(self.metrics[0]), dtype=weight.dtype, device=weight.device)
        batch_end = [c for c in active if c.handlers["on_batch_end"]]
        seen = 0
        for x, y in self._batches(epoch):
            out = model(x)
            losses = loss_fn(out, y)
            optimizer.zero_grad(set_to_none=False)
            losses.sum().backward()
            optimizer.step()
            losses, out = losses.detach(), out.detach()
            n = y.shape[1]
            self._add_sums(sums, out, y)
            seen += n
            model.link_grads()
            for copy in active:
                if copy.active:
                    state = copy.state
                    state.step, state.batch, state.seen = state.step + 1, state.batch + 1, state.seen + n
            for copy in batch_end:
                if not copy.active:
                    continue
                state = copy.state
                state.out, state.y = out[copy.index], y[copy.index]
                loss = losses[copy.index]
                for callback in copy.handlers["on_batch_end"]:
                    callback.on_batch_end(state, loss)
                if state.should_stop:  # this copy's epoch ends here, as Trainer.fit's would: out of the stack
                    copy.stopped_at = (sums[copy.index].tolist(), seen)
                    self._release(copy)
        return sums, seen

    @torch.no_grad()
    def _add_sums(self, sums: torch.Tensor, out: torch.Tensor, y: torch.Tensor) -> None:
        """Add each copy's batch loss × batch size and metric sums to its row of ``sums``, as its
        Trainer adds them, computed copy by copy with its own functions: a batched mean would add
        in another order (the last bits of the logged values would differ), and a regression
        metric undoes its own copy's target scaling."""
        copies = range(len(out))
        sums[:, 0].add_(torch.stack([self.loss_fn(out[k], y[k]) for k in copies]), alpha=y.shape[1])
        for j in range(sums.shape[1] - 1):
            sums[:, j + 1].add_(torch.stack([self.metrics[k][j](out[k], y[k]) for k in copies]))

    @torch.no_grad()
    def _evaluate(self) -> torch.Tensor:
        """Each copy's mean loss and metrics on its own validation split in evaluation mode (a row per copy)."""
        model = self.model
        model.training = False
        weight = next(iter(model.stacked.values()))
        sums = torch.zeros(len(self.copies), 1 + len(self.metrics[0]), dtype=weight.dtype, device=weight.device)
        splits = [c.setup.val for c in self.copies]
        for batches in zip(*(s.epoch(0) for s in splits)):
            x = torch.stack([b[0] for b in batches])
            y = torch.stack([b[1] for b in batches])
            out = model(x)
            self._add_sums(sums, out, y)
        model.training = True
        return sums.div_(splits[0].n_examples).cpu()

    def _end_epoch(self, copy: Copy, epoch: int, sums: torch.Tensor, seen: int, val: torch.Tensor | None,
                   started: float, active: list[Copy]) -> None:
        state, names = copy.state, ["loss", *copy.setup.trainer.metrics]
        own, own_seen = copy.stopped_at if copy.stopped_at is not None else (sums[copy.index].tolist(), seen)
        logs = {"epoch": epoch + 1, "lr": state.lr}
        logs.update(zip(names, (torch.tensor(own, dtype=sums.dtype) / max(own_seen, 1)).tolist()))
        if not math.isfinite(logs["loss"]):
            error = NonFiniteLoss(f"the training loss became {logs['loss']} in epoch {epoch + 1}; "
                                  f"lower optim.lr (now {state.lr:g}) or check the inputs for NaN/inf")
            if copy.active:
                self._release(copy)
            copy.failed = error
            return
        if val is not None and copy.active:
            logs.update({f"val_{k}": v for k, v in zip(names, val[copy.index].tolist())})
        elif val is not None:  # stopped inside the epoch: the stack's slice trained on, its own model did not
            logs.update({f"val_{k}": v for k, v in copy.setup.trainer.evaluate(copy.setup.val).items()})
        logs["seconds"] = (time.perf_counter() - started) / len(active)  # this copy's share of the epoch
        state.logs = logs
        state.history.append(logs)
        if copy.active:
            self._link_state(copy)
        copy.fire("on_epoch_end")
        if state.should_stop:  # early stopping, the live doctor: this copy's fit ends here
            if copy.active:
                self._release(copy)
            copy.fire("on_fit_end")


def build_copies(run_dirs: list[Path]) -> tuple[list[Setup], list[torch.Generator]]:
    """Each run directory's recipe built as its separate run builds it, and the generator its dropout
    and noise draw from (the CPU state ``build`` left; on CUDA one seeded with the run's seed)."""
    return build_recipes([RunDir(run_dir).recipe() for run_dir in run_dirs])


def build_recipes(recipes: list[Recipe], callbacks: Callable[[Setup], list[Callback]] | None = None
                  ) -> tuple[list[Setup], list[torch.Generator]]:
    """:func:`build_copies` for recipes without run directories (each setup's trainer with ``callbacks(setup)``)."""
    setups, generators = [], []
    for recipe in recipes:
        setup = _build(recipe, callbacks)
        generator = torch.Generator()  # the CPU stream a separate run draws dropout and noise from
        generator.set_state(torch.get_rng_state())
        if setup.device.type == "cuda":  # CUDA draws: same distribution, not the separate run's values
            generator = torch.Generator(setup.device).manual_seed(setup.recipe.seed)
        setups.append(setup)
        generators.append(generator)
    return setups, generators


def train_vectorized(run_dirs: list[str | Path], lock_wait: float = 0.0,
                     finish: bool = True) -> list[RunResult | TrainlabError]:
    """Train the runs in ``run_dirs`` (created by ``RunDir.start``, one recipe with different seeds,
    none started) as one batched model; each directory ends as its separate run's would. Returns
    each run's result, or the error that failed it (run.json says so too). Raises
    :class:`NotVectorized`, before any directory is touched, when the copies cannot be stacked.
    The directories stay locked while they train (another process waits up to ``lock_wait`` s).
    ``finish=False`` leaves the doctor's findings and the report of each finished run to the caller
    (:func:`trainlab.run.finish_run`, which compare runs in parallel worker processes); runs that
    track to TensorBoard/MLflow are finished here all the same, before their trackers close."""
    with ExitStack() as locks:
        for run_dir in run_dirs:
            locks.enter_context(RunDir(run_dir).lock("training", lock_wait))
        return _train_locked([Path(d) for d in run_dirs], finish)


def _train_locked(run_dirs: list[Path], finish: bool) -> list[RunResult | TrainlabError]:
    recipes = [RunDir(d).recipe() for d in run_dirs]
    reason = why_not_vectorized(recipes[0]) or _differ(recipes)
    if reason:
        raise NotVectorized(reason)
    setups, generators = build_copies(run_dirs)
    reason = why_not_stacked(setups)
    if reason:
        raise NotVectorized(reason)
    started = [start_run(RunDir(d), s, [], None) for d, s in zip(run_dirs, setups)]
    engine = VectorizedSeeds(setups, generators, started)
    engine.fit(recipes[0].stopping.epochs)
    results: list[RunResult | TrainlabError] = []
    for copy in engine.copies:
        if copy.failed is not None:
            fail_run(copy.started, copy.failed)
            results.append(copy.failed)
        else:
            tracked = getattr(copy.setup.recipe, "tracking", None) is not None
            results.append(end_run(copy.started, copy.state.history, finish=finish or tracked))
    return results


def _build(recipe: Recipe, callbacks: Callable[[Setup], list[Callback]] | None) -> Setup:
    setup = build(recipe)
    if callbacks is not None:
        setup.trainer.callbacks.extend(callbacks(setup))
    return setup


def _differ(recipes: list[Recipe]) -> str | None:
    """Why these recipes are not one recipe with different seeds (their names may differ too)."""
    same = {"seed": 0, "name": recipes[0].name}
    first = recipes[0].model_copy(update=same)
    if any(r.model_copy(update=same) != first for r in recipes):
        return "recipes that differ in more than the seed"
    return None


@dataclass
class SeedFits:
    """What :func:`fit_seeds` trained, in the order of its recipes."""

    setups: list[Setup]  # each built and trained as ``build(recipe)`` then ``trainer.fit`` leave it
    histories: list[list[dict[str, float]]]
    errors: list[TrainlabError | None]  # a copy whose loss became non-finite (it stopped there)
    rng_states: list[torch.Tensor]  # the CPU generator state each copy's training left behind
    separately: str | None  # why the copies trained one after another (None: as one batched model)

    def use_rng(self, k: int) -> None:
        """Set torch's CPU generator to where copy ``k``'s training left it (what it is after a
        separate ``trainer.fit``), for random draws after training (MC dropout)."""
        torch.set_rng_state(self.rng_states[k])


def fit_seeds(recipes: list[Recipe], epochs: int | None = None, validate: bool = True,
              vectorize: bool = True, callbacks: Callable[[Setup], list[Callback]] | None = None) -> SeedFits:
    """Build ``recipes`` (one recipe with different seeds) and train each for ``epochs`` epochs
    (default: the recipe's ``stopping.epochs``), validating every epoch unless ``validate`` is
    False: as one batched model where :func:`why_not_vectorized` and :func:`why_not_stacked` allow,
    else one after another (``separately`` says why). Either way copy k ends as
    ``setup = build(recipes[k]); setup.trainer.fit(setup.train, setup.val or None, epochs)`` leaves
    it, bit for bit on one CPU thread (the labs' setting): in memory, no run directories.
    ``callbacks(setup)`` gives each copy's own callbacks (epoch events only: a per-step one is refused)."""
    epochs = epochs if epochs is not None else recipes[0].stopping.epochs
    reason = ((None if vectorize else "vectorize=False") or (None if len(recipes) > 1 else "a single seed")
              or why_not_vectorized(recipes[0]) or _differ(recipes))
    if reason is None:
        setups, generators = build_recipes(recipes, callbacks)
        reason = why_not_stacked(setups)
        if reason is None:
            engine = VectorizedSeeds(setups, generators)
            engine.fit(epochs, validate)
            return SeedFits(setups, [c.state.history for c in engine.copies], [c.failed for c in engine.copies],
                            [c.generator.get_state() if c.generator.device.type == "cpu" else torch.get_rng_state()
                             for c in engine.copies], None)
    setups, histories, errors, after = [], [], [], []
    for recipe in recipes:  # the separate path itself: each built just before it trains
        setup = _build(recipe, callbacks)
        setups.append(setup)
        try:
            histories.append(setup.trainer.fit(setup.train, setup.val if validate else None, epochs))
            errors.append(None)
        except NonFiniteLoss as e:
            histories.append(setup.trainer.state.history)
            errors.append(e)
        after.append(torch.get_rng_state())
    return SeedFits(setups, histories, errors, after, reason)

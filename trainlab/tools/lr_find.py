"""LR range test (Smith 2017, "Cyclical learning rates", section 3.3; fastai's ``lr_find``).

The rate grows geometrically, one step per mini-batch, from ``start`` to ``end``; the loss is
smoothed and the test stops once it blows up. Two pure rules read a rate off the curve. The
model, the optimizer (per-parameter state and every group's rate) and torch's random state are
restored afterwards, so a fit after the test equals a fit without it.
"""
from __future__ import annotations

import copy
import csv
import html
import io
import math
import shutil
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import yaml
from matplotlib.figure import Figure
from torch import nn

from trainlab.errors import TrainlabError
from trainlab.optim.schedules.base import group_scales
from trainlab.optim.stages import uses_line_search, wants_full_batch
from trainlab.recipe import Recipe, apply_overrides, load_recipe, validate_recipe
from trainlab.report.page import render_page
from trainlab.report.style import log_axis
from trainlab.run import Setup, build
from trainlab.safety.strict_yaml import read_yaml
from trainlab.tools.lr_suggestions import (  # noqa: F401  (part of this module's API)
    LABELS,
    SUGGESTIONS,
    suggest_minimum,
    suggest_steepest,
)
from trainlab.train.callbacks import Callback
from trainlab.train.checkpoint import atomic_write
from trainlab.train.metrics import LossFn
from trainlab.train.trainer import Trainer


def geometric_rates(start: float, end: float, steps: int) -> np.ndarray:
    """η_i = start · (end/start)^{i/(N−1)} for i = 0 … N−1 (N = ``steps``), in float64.

    >>> geometric_rates(1e-3, 1.0, 4).round(6).tolist()
    [0.001, 0.01, 0.1, 1.0]
    """
    if not (math.isfinite(start) and start > 0):
        raise TrainlabError(f"lr-find start: {start!r} is not valid; give a positive rate such as 1e-7")
    if not (math.isfinite(end) and end > start):
        raise TrainlabError(f"lr-find end: {end!r} is not valid; give a rate above start ({start:g}), such as 10")
    if steps < 2:
        raise TrainlabError(f"lr-find steps: {steps!r} is not valid; give at least 2 (100 is typical)")
    return start * (end / start) ** (np.arange(steps) / (steps - 1))


def smooth(losses: list[float], beta: float = 0.98) -> list[float]:
    """Bias-corrected exponential moving average: a_i = β a_{i−1} + (1 − β) L_i, a_{−1} = 0,
    s_i = a_i / (1 − β^{i+1}).

    >>> [round(s, 3) for s in smooth([1.0, 2.0, 3.0], beta=0.5)]
    [1.0, 1.667, 2.429]
    """
    average, out = 0.0, []
    for i, loss in enumerate(losses):
        average = beta * average + (1 - beta) * loss
        out.append(average / (1 - beta ** (i + 1)))
    return out


RECOMMENDED = "minimum"  # η_min/10 leaves a margin: 10× it still trained in every case measured (docs/tools.md)


@dataclass
class LRFindResult:
    """The range test's curve, why it stopped, and the suggested rates (base rates η₀ = optim.lr)."""

    lrs: list[float]
    losses: list[float]
    smoothed: list[float]
    stop_reason: str
    diverged_at: float | None = None  # the rate at which the smoothed loss blew up, if it did
    suggestions: dict[str, float | None] = field(default_factory=dict)
    recommended: str = RECOMMENDED

    @property
    def suggestion(self) -> float | None:
        """The recommended rate, or the other rule's if the recommended one found none."""
        best = self.suggestions.get(self.recommended)
        return best if best is not None else next((v for v in self.suggestions.values() if v is not None), None)

    def summary(self) -> str:
        lines = [f"lr-find: {len(self.lrs)} steps from {self.lrs[0]:.3g} to {self.lrs[-1]:.3g}; {self.stop_reason}"]
        for name, value in self.suggestions.items():
            mark = "  (recommended)" if name == self.recommended else ""
            lines.append(f"  {LABELS.get(name, name):<17} {'none found' if value is None else f'{value:.3g}'}{mark}")
        return "\n".join(lines)

    def figure(self) -> Figure:
        """Raw and smoothed loss against the rate (log x), each suggestion and the blow-up marked."""
        fig = Figure(figsize=(6, 3.8))
        ax = fig.add_subplot()
        ax.plot(self.lrs, self.losses, color="0.75", lw=0.8, label="loss per batch")
        ax.plot(self.lrs, self.smoothed, color="C0", label="smoothed loss")
        for (name, value), color in zip(self.suggestions.items(), ("C2", "C1")):
            if value is not None:
                ax.axvline(value, color=color, ls="--", label=f"{LABELS.get(name, name)}: {value:.3g}")
        if self.diverged_at is not None:
            ax.axvline(self.diverged_at, color="C3", ls=":", label=f"blow-up: {self.diverged_at:.3g}")
        finite = [s for s in self.smoothed if math.isfinite(s)]
        if finite:  # the blow-up would squash the interesting part of the curve
            low, first = min(finite), finite[0]
            ax.set_ylim(low - 0.1 * (first - low + 1e-12), max(first, low) + 0.5 * (first - low + 1e-12))
        log_axis(ax, "x")
        ax.set_xlabel("learning rate η")
        ax.set_ylabel("training loss")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        return fig

    def save(self, out_dir: str | Path) -> dict[str, Path]:
        """Write lr_find.csv (lr, loss, smoothed), lr_find.svg, lr_find.png and lr_find.html."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = {kind: out / f"lr_find.{kind}" for kind in ("csv", "svg", "png", "html")}
        text = io.StringIO()
        writer = csv.writer(text)
        writer.writerow(["lr", "loss", "smoothed"])
        writer.writerows(zip(self.lrs, self.losses, self.smoothed))
        atomic_write(paths["csv"], text.getvalue().encode())
        fig = self.figure()
        svg = io.StringIO()
        fig.savefig(svg, format="svg", bbox_inches="tight")
        atomic_write(paths["svg"], svg.getvalue().encode())
        png = io.BytesIO()
        fig.savefig(png, format="png", dpi=120, bbox_inches="tight")
        atomic_write(paths["png"], png.getvalue())
        atomic_write(paths["html"], self._page(svg.getvalue()).encode())
        return paths

    def _page(self, svg: str) -> str:
        rows = "".join(f"<tr><th>{html.escape(LABELS.get(name, name))}</th><td>{'—' if v is None else f'{v:.3g}'}</td>"
                       f"<td>{'recommended' if name == self.recommended else ''}</td></tr>"
                       for name, v in self.suggestions.items())
        body = (f"<p>{html.escape(self.summary().splitlines()[0])}</p>"
                f"<table>{rows}</table><div class='figs'>{svg[svg.index('<svg'):]}</div>")
        return render_page("trainlab lr-find", body, heading="LR range test")


def _batches(train, whole: bool) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Mini-batches epoch after epoch, for as long as the test needs them."""
    epoch = 0
    while True:
        yield from (train.whole() if whole else train.epoch(epoch))
        epoch += 1


def range_test(model: nn.Module, optimizer: torch.optim.Optimizer, loss_fn: LossFn, train, *,
               start: float = 1e-7, end: float = 10.0, steps: int = 100, beta: float = 0.98,
               diverge: float = 4.0, penalty: Callable[[], torch.Tensor] | None = None,
               callbacks: Sequence[Callback] = ()) -> LRFindResult:
    """Run the range test on ``model`` with ``optimizer`` over ``train`` batches, then restore both.

    Step i trains one batch at η_i = start · (end/start)^{i/(N−1)} (each parameter group at
    η_i times its own ratio to η₀) with the Trainer's own step — the loss plus ``penalty``, and the
    ``after_backward``/``after_step`` parts of ``callbacks`` (clipping, the proximal L1 step) — and
    records that batch's loss L_i.
    The test stops after N steps, or as soon as the smoothed loss s_i (:func:`smooth`,
    β = ``beta``) exceeds ``diverge`` × min_{j≤i} s_j or is not finite.

    Args:
        train: ``TensorBatches`` or ``LoaderBatches`` (epochs are drawn as needed).
        penalty, callbacks: the run's penalty term and loop parts (a built run's Trainer has both).

    Returns the curve and both suggestions (:data:`SUGGESTIONS`).
    """
    trainer = Trainer(model, optimizer, loss_fn, penalty=penalty, callbacks=callbacks)
    rates = geometric_rates(start, end, steps)
    if uses_line_search(optimizer):
        raise TrainlabError(f"lr-find: optimizer {type(optimizer).__name__} uses a line search, whose step length "
                            "is not a learning rate; run the range test with a first-order optimizer (sgd, adam, …)")
    device = next(model.parameters()).device
    saved_model, saved_optimizer = copy.deepcopy(model.state_dict()), copy.deepcopy(optimizer.state_dict())
    saved_rng, was_training = torch.get_rng_state(), model.training
    saved_cuda = torch.cuda.get_rng_state(device) if device.type == "cuda" else None
    scales = group_scales(optimizer)
    lrs: list[float] = []
    losses: list[float] = []
    smoothed: list[float] = []
    average, best, reason, diverged = 0.0, math.inf, f"ran all {steps} steps", None
    try:
        model.train()
        for i, (lr, (x, y)) in enumerate(zip(rates, _batches(train, wants_full_batch(optimizer)))):
            for group, scale in zip(optimizer.param_groups, scales):
                group["lr"] = float(lr) * scale
            _, loss = trainer.step(x, y)
            value = loss.item()  # the stop rule needs every step's loss on the host
            average = beta * average + (1 - beta) * value
            current = average / (1 - beta ** (i + 1))
            lrs.append(float(lr))
            losses.append(value)
            smoothed.append(current)
            if not math.isfinite(current):
                reason, diverged = f"stopped at η = {lr:.3g}: the loss is not finite", float(lr)
                break
            if current > diverge * best:
                reason = f"stopped at η = {lr:.3g}: smoothed loss {current:.3g} > {diverge:g} × its minimum {best:.3g}"
                diverged = float(lr)
                break
            best = min(best, current)
    finally:
        model.load_state_dict(saved_model)
        optimizer.load_state_dict(saved_optimizer)
        model.train(was_training)
        torch.set_rng_state(saved_rng)
        if saved_cuda is not None:
            torch.cuda.set_rng_state(saved_cuda, device)
    curve_lrs, curve = np.asarray(lrs), np.asarray(smoothed)
    suggestions = {name: rule(curve_lrs, curve) for name, rule in SUGGESTIONS.items()}
    return LRFindResult(lrs, losses, smoothed, reason, diverged, suggestions)


def lr_find(recipe: Recipe | Setup | str | Path | dict, *, start: float = 1e-7, end: float = 10.0,
            steps: int = 100, overrides: list[str] | None = None, beta: float = 0.98,
            diverge: float = 4.0) -> LRFindResult:
    """The range test with a recipe's model, optimizer, training data and loss (see :func:`range_test`).

    ``recipe`` is a Recipe, a YAML file, plain recipe data, or an already built
    :class:`~trainlab.run.Setup` (restored afterwards, so it trains as if the test never ran).

    Example::

        >>> from trainlab.tools.lr_find import lr_find
        >>> result = lr_find({"data": {"name": "moons", "n_samples": 200}, "optim": {"name": "sgd", "lr": 0.1},
        ...                   "model": {"name": "mlp", "hidden": [16]}}, steps=60)
        >>> 1e-4 < result.suggestion < 10
        True
    """
    setup = recipe if isinstance(recipe, Setup) else build(
        recipe if isinstance(recipe, Recipe) else load_recipe(recipe, overrides))
    trainer = setup.trainer
    return range_test(setup.model, trainer.optimizer, trainer.loss_fn, setup.train, start=start, end=end, steps=steps,
                      beta=beta, diverge=diverge, penalty=trainer.penalty, callbacks=trainer.callbacks)


def _backups(path: Path) -> list[Path]:
    """``<name>.bak``, ``<name>.bak.1``, … that exist, oldest first."""
    numbered = [p for p in path.parent.glob(f"{path.name}.bak.*") if p.suffix[1:].isdigit()]
    first = path.with_name(f"{path.name}.bak")
    return ([first] if first.exists() else []) + sorted(numbered, key=lambda p: int(p.suffix[1:]))


def write_backup(path: str | Path) -> Path:
    """Copy ``path`` to the first free name of ``<name>.bak``, ``<name>.bak.1``, ``<name>.bak.2``, …;
    the name is claimed with ``O_EXCL``, so no backup is ever overwritten, even by a concurrent copy."""
    path = Path(path)
    data = path.read_bytes()
    for n in range(10_000):
        target = path.with_name(f"{path.name}.bak" + (f".{n}" if n else ""))
        try:
            with open(target, "xb") as f:
                f.write(data)
        except FileExistsError:
            continue
        shutil.copystat(path, target)
        return target
    raise TrainlabError(f"{path}: 10000 backups exist already; remove some")


def newest_backup(path: str | Path) -> Path | None:
    """The newest backup :func:`write_backup` made of ``path``, or None."""
    found = _backups(Path(path))
    return found[-1] if found else None


def apply_to_recipe_file(path: str | Path, lr: float, *, overrides: list[str] | None = None,
                         rule: str = RECOMMENDED, in_place: bool = False) -> Path:
    """Write the recipe file ``path`` (with its ``--set`` overrides) with ``optim.lr`` = ``lr``.

    By default the result goes to ``<stem>.lrfind.yaml`` beside the original, which is left
    untouched. With ``in_place`` the original is first copied to a new backup (:func:`write_backup`:
    ``<name>.bak``, then ``.bak.1``, … — an existing backup is never overwritten) and then replaced.
    Either way the file is rewritten by the YAML writer, so comments of the original are not kept
    (the backup keeps them). Returns the path written.
    """
    path = Path(path)
    recipe = load_recipe(path, overrides)  # the recipe the test ran with, validated
    data = apply_overrides(read_yaml(path) or {}, list(overrides or []))
    optim = data.get("optim")
    data["optim"] = {**({"name": optim} if isinstance(optim, str) else optim or {"name": recipe.optim.name}),
                     "lr": float(f"{lr:.3g}")}
    validate_recipe(data)
    target = path.with_name(f"{path.stem}.lrfind.yaml")
    if in_place:
        target = path
        write_backup(path)
    header = f"# optim.lr = {lr:.3g} from trainlab lr-find ({LABELS.get(rule, rule)} rule) on {path.name}\n"
    atomic_write(target, (header + yaml.safe_dump(data, sort_keys=False)).encode())
    return target

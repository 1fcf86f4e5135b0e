"""Losses and metrics by name.

A metric maps a batch's outputs and targets to the *sum* of a per-example quantity as a 0-dim
tensor on the device; the Trainer adds these sums over an epoch and divides once by the number
of examples, so nothing is read back to the host during the epoch. Its registration states its
``task`` and whether ``higher_is_better``; :func:`higher_is_better` and :func:`metric_task` read
them (a loss, ``seconds`` or any unregistered column is lower-is-better).
"""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch.nn import functional as F

from trainlab.registry import losses, metrics

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@losses.register("cross_entropy")
def cross_entropy() -> LossFn:
    """Cross-entropy of softmax outputs: L = −(1/n) Σᵢ log softmax(zᵢ)[yᵢ] (classification)."""
    return F.cross_entropy


@losses.register("mse")
def mse() -> LossFn:
    """Mean squared error: L = (1/n) Σᵢ ‖ŷᵢ − yᵢ‖² / k over k targets (regression)."""
    return F.mse_loss


@metrics.register("accuracy", task="classification", higher_is_better=True)
def accuracy() -> LossFn:
    """Fraction of examples whose arg-max output is the true class (classification)."""
    return lambda out, y: (out.argmax(dim=1) == y).sum()


@metrics.register("mae", task="regression", higher_is_better=False)
def mae() -> LossFn:
    """Mean absolute error: (1/n) Σᵢ |ŷᵢ − yᵢ| averaged over targets (regression)."""
    return lambda out, y: (out - y).abs().mean(dim=1).sum()


def per_example_loss(loss_fn: LossFn, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Each example's loss (a vector of length n), for losses that take ``reduction="none"``."""
    losses = loss_fn(out, y, reduction="none")
    return losses.reshape(len(y), -1).mean(dim=1)


def _metric_name(column: str) -> str:
    """``val_accuracy``, ``test_accuracy``, ``train_eval_accuracy`` → ``accuracy``."""
    for prefix in ("train_eval_", "val_", "test_"):
        if column.startswith(prefix):
            return column[len(prefix):]
    return column


def higher_is_better(column: str) -> bool:
    """Whether larger values of a logged column are better: its metric's registered fact; losses,
    seconds and unregistered names are minimized.

    >>> higher_is_better("val_accuracy"), higher_is_better("val_loss"), higher_is_better("test_mae")
    (True, False, False)
    """
    name = _metric_name(column)
    return name in metrics and bool(metrics.get(name).facts.get("higher_is_better", False))


def resolve_mode(monitor: str, mode: str) -> str:
    """``auto`` → ``max`` for a metric registered as higher-is-better (accuracy), ``min`` for losses
    and errors; ``min`` and ``max`` stay (early stopping, best checkpoints and monitored schedules).

    >>> resolve_mode("val_accuracy", "auto"), resolve_mode("loss", "auto"), resolve_mode("loss", "max")
    ('max', 'min', 'max')
    """
    if mode != "auto":
        return mode
    return "max" if higher_is_better(monitor) else "min"


def metric_task(name: str) -> str | None:
    """The task a metric is for ("classification", "regression"), or None if it fits any."""
    return metrics.get(name).facts.get("task") if name in metrics else None


DEFAULT_LOSS = {"classification": "cross_entropy", "regression": "mse", "pde": "pde"}  # pde: trainlab.pde
DEFAULT_METRICS = {"classification": ["accuracy"], "regression": ["mae"], "pde": ["rel_l2"]}

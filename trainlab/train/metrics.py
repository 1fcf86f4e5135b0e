"""Losses and metrics by name.

A metric maps a batch's outputs and targets to the *sum* of a per-example quantity as a 0-dim
tensor on the device; the Trainer adds these sums over an epoch and divides once by the number
of examples, so nothing is read back to the host during the epoch.
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


@metrics.register("accuracy")
def accuracy() -> LossFn:
    """Fraction of examples whose arg-max output is the true class (classification)."""
    return lambda out, y: (out.argmax(dim=1) == y).sum()


@metrics.register("mae")
def mae() -> LossFn:
    """Mean absolute error: (1/n) Σᵢ |ŷᵢ − yᵢ| averaged over targets (regression)."""
    return lambda out, y: (out - y).abs().mean(dim=1).sum()


def per_example_loss(loss_fn: LossFn, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Each example's loss (a vector of length n), for losses that take ``reduction="none"``."""
    losses = loss_fn(out, y, reduction="none")
    return losses.reshape(len(y), -1).mean(dim=1)


DEFAULT_LOSS = {"classification": "cross_entropy", "regression": "mse"}
DEFAULT_METRICS = {"classification": ["accuracy"], "regression": ["mae"]}
TASK_OF_METRIC = {"accuracy": "classification", "mae": "regression"}

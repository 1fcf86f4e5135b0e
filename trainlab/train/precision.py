"""Mixed precision: autocast for the forward pass and the loss, and a gradient scaler for fp16.

``precision`` names what a run computes in: ``float32`` and ``float64`` are the weights' dtype and
need nothing here; ``bf16`` and ``fp16`` keep float32 weights (and optimizer state) and run the
forward pass and the loss under :func:`torch.autocast` with that dtype, so matrix products and
convolutions take half the memory traffic while reductions and losses stay in float32 (torch's
autocast op lists). fp16's 5-bit exponent underflows small gradients, so fp16 also scales the loss
by S before backward and the gradients by 1/S before the step (:class:`torch.amp.GradScaler`):

    g = ∇(S·L) / S,  S halved after a step with inf/NaN gradients (the step is skipped),
    doubled after ``growth_interval`` finite steps.

bf16 has float32's exponent range and needs no scaler.
"""
from __future__ import annotations

from typing import Any

import torch

from trainlab.train.callbacks import Callback

AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
WEIGHT_DTYPES = {"float32": torch.float32, "float64": torch.float64, "bf16": torch.float32, "fp16": torch.float32}


def weight_dtype(precision: str) -> torch.dtype:
    """The dtype of the weights and inputs for a recipe's ``precision`` (float32 under bf16/fp16)."""
    try:
        return WEIGHT_DTYPES[precision]
    except KeyError:
        raise ValueError(f"precision: {precision!r} is not known; accepted: {', '.join(WEIGHT_DTYPES)}") from None


def autocast_dtype(precision: str) -> torch.dtype | None:
    """The autocast dtype for ``precision``, None for float32/float64 (no autocast)."""
    weight_dtype(precision)  # rejects unknown names
    return AUTOCAST_DTYPES.get(precision)


class GradScaling(Callback):
    """Holds fp16's :class:`torch.amp.GradScaler` so that its scale S and growth counter travel in the
    run's checkpoints (``state_dict``), which keeps a resumed fp16 run exact. The Trainer calls the
    scaler itself; this callback handles no event."""

    def __init__(self, device_type: str):
        self.scaler = torch.amp.GradScaler(device_type)

    def state_dict(self) -> dict[str, Any]:
        return dict(self.scaler.state_dict())

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state:
            self.scaler.load_state_dict(state)

"""``compile: true``: the training forward pass through :func:`torch.compile`, with a fallback.

torch.compile traces the model's forward into graphs and generates fused kernels (Inductor: C++ on
the CPU, Triton on CUDA). It compiles lazily, at the first call, and fails there where it is not
supported (no C++ compiler, an unsupported Python or platform, an operation the backend cannot
lower). :func:`compile_forward` therefore tries the first call and, if compiling fails, says so in
one line and trains with the eager model, which computes the same function.
"""
from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import torch
from torch import nn


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _reason(error: BaseException) -> str:
    """The error's first two lines: torch puts the backend's own error on the line after its summary."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()] or [type(error).__name__]
    return " ".join(lines[:2])[:300]


class CompiledForward:
    """Calls ``compiled``; if its first call raises, warns once and calls ``eager`` from then on."""

    def __init__(self, compiled: Callable[..., Any], eager: nn.Module, warn: Callable[[str], None]):
        self.compiled, self.eager, self.warn = compiled, eager, warn
        self.call: Callable[..., Any] | None = None  # decided by the first call
        self.failure = ""  # why compiling failed, if it did

    def __call__(self, *args: Any) -> Any:
        if self.call is not None:
            return self.call(*args)
        try:
            out = self.compiled(*args)
        except Exception as e:  # noqa: BLE001  (any compiler failure; a real model error recurs in eager mode)
            self.failure = _reason(e)
            self.warn(f"compile: torch.compile does not work here ({self.failure}); training without it")
            self.call = self.eager
            return self.eager(*args)
        self.call = self.compiled
        return out

    @property
    def active(self) -> bool:
        """Whether the compiled forward is in use (False before the first call and after a fallback)."""
        return self.call is self.compiled


def compile_forward(module: nn.Module, backend: str | Callable = "inductor",
                    warn: Callable[[str], None] = _stderr) -> CompiledForward:
    """``module``'s forward through ``torch.compile(module, backend=backend)`` with the eager
    fallback described above. The module itself is unchanged: its ``state_dict`` keys stay the same,
    so checkpoints of compiled and uncompiled runs are interchangeable."""
    try:
        compiled = torch.compile(module, backend=backend)
    except Exception as e:  # noqa: BLE001  (torch.compile refuses up front on unsupported Pythons)
        forward = CompiledForward(module, module, warn)
        forward.failure = _reason(e)
        warn(f"compile: torch.compile is not available ({forward.failure}); training without it")
        forward.call = module
        return forward
    return CompiledForward(compiled, module, warn)

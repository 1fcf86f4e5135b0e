"""Checkpoints: safetensors for every tensor, JSON for everything else; never pickle.

A checkpoint is two files, ``<name>.safetensors`` and ``<name>.json``. Each is written to a
temporary file, fsync'd and renamed into place, tensors first: the JSON is the commit record,
so a checkpoint whose JSON exists is complete. The JSON holds the SHA-256 of the tensor file
and of its own body; both are verified on load, so a truncated or edited checkpoint is refused
with an error naming the file.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

from trainlab.errors import CheckpointError
from trainlab.safety.atomic import atomic_write  # noqa: F401  (re-exported: the writers of run files import it from here)

FORMAT = 1


def _body_digest(body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def save_checkpoint(path: Path, tensors: dict[str, torch.Tensor], state: dict[str, Any]) -> Path:
    """Save ``tensors`` and the JSON-able ``state`` as ``path``.safetensors + ``path``.json."""
    return write_checkpoint(path, *encode_checkpoint(tensors, state))


def encode_checkpoint(tensors: dict[str, torch.Tensor], state: dict[str, Any]) -> tuple[bytes, bytes]:
    """The two files' bytes: the safetensors blob and the JSON commit record with both checksums.
    A copy of the tensors as they are now, so training may go on while :func:`write_checkpoint` runs."""
    blob = save_safetensors({k: v.detach().cpu().contiguous() for k, v in tensors.items()})
    body = {"format": FORMAT, "state": state, "tensors_sha256": hashlib.sha256(blob).hexdigest()}
    record = {**body, "sha256": _body_digest(body)}
    return blob, json.dumps(record, indent=1, sort_keys=True).encode()


def write_checkpoint(path: Path, blob: bytes, record: bytes) -> Path:
    """Write :func:`encode_checkpoint`'s bytes as ``path``.safetensors, then the commit record ``path``.json."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path.with_suffix(".safetensors"), blob)
    atomic_write(path.with_suffix(".json"), record)
    return path.with_suffix(".json")


def load_checkpoint(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Load and verify a checkpoint given either of its two files (or their common stem)."""
    path = Path(path)
    meta_file, tensor_file = path.with_suffix(".json"), path.with_suffix(".safetensors")
    for f in (meta_file, tensor_file):
        if not f.is_file():
            raise CheckpointError(f"checkpoint file {f} is missing")
    try:
        record = json.loads(meta_file.read_text())
        digest = record.pop("sha256")
    except (ValueError, KeyError, AttributeError, UnicodeDecodeError):
        raise CheckpointError(f"checkpoint file {meta_file} is truncated or not a trainlab checkpoint") from None
    if _body_digest(record) != digest:
        raise CheckpointError(f"checkpoint file {meta_file} was modified after it was written (checksum mismatch)")
    blob = tensor_file.read_bytes()
    if hashlib.sha256(blob).hexdigest() != record["tensors_sha256"]:
        raise CheckpointError(f"checkpoint file {tensor_file} is truncated or modified (checksum mismatch)")
    try:
        tensors = load_safetensors(blob)
    except SafetensorError as e:
        raise CheckpointError(f"checkpoint file {tensor_file} cannot be read: {e}") from None
    return tensors, record["state"]


def split_prefix(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """The tensors whose key starts with ``prefix + '.'``, with the prefix removed."""
    start = len(prefix) + 1
    return {k[start:]: v for k, v in tensors.items() if k.startswith(prefix + ".")}


def optimizer_to_parts(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split an optimizer's state_dict into tensors and a JSON-able rest."""
    sd = optimizer.state_dict()
    tensors, scalars = {}, {}
    for pid, entries in sd["state"].items():
        for key, value in entries.items():
            if torch.is_tensor(value):
                tensors[f"{pid}.{key}"] = value
            else:
                scalars.setdefault(str(pid), {})[key] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def optimizer_from_parts(tensors: dict[str, torch.Tensor], rest: dict[str, Any]) -> dict[str, Any]:
    """Rebuild an optimizer state_dict from :func:`optimizer_to_parts`' output."""
    state: dict[int, dict[str, Any]] = {int(pid): dict(v) for pid, v in rest["scalars"].items()}
    for key, value in tensors.items():
        pid, name = key.split(".", 1)
        state.setdefault(int(pid), {})[name] = value
    return {"state": state, "param_groups": rest["param_groups"]}

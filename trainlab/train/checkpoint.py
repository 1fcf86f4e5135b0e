"""Checkpoints: safetensors for every tensor, JSON for everything else; never pickle.

A checkpoint is two files, ``<name>.safetensors`` and ``<name>.json``. Each is written to a
temporary file, fsync'd and renamed into place, tensors first: the JSON is the commit record,
so a checkpoint whose JSON exists is complete. The JSON holds the SHA-256 of the tensor file
and of its own body; both are verified on load, so a truncated or edited checkpoint is refused
with an error naming the file.

A run takes a checkpoint in two steps: :func:`snapshot_checkpoint` on the training loop's thread
(copies of the tensors and the state's JSON text, ~0.3 ms for the benchmark MLP), then
:func:`encode_snapshot` and :func:`write_checkpoint` on the run's writer thread (safetensors
serialization, both checksums, the fsync'd files).
"""
from __future__ import annotations

import hashlib
import json
import os
import struct
import sys
from pathlib import Path
from typing import Any, NamedTuple

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

from trainlab.errors import CheckpointError
from trainlab.safety.atomic import atomic_write, fsync_dir  # atomic_write: the writers of run files import it from here

FORMAT = 1


def _body_digest(body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def save_checkpoint(path: Path, tensors: dict[str, torch.Tensor], state: dict[str, Any]) -> Path:
    """Save ``tensors`` and the JSON-able ``state`` as ``path``.safetensors + ``path``.json."""
    return write_checkpoint(path, *encode_checkpoint(tensors, state))


class PackedTensors(NamedTuple):
    """Tensors as the safetensors format lays them out: ``layout`` (name, dtype code, shape, bytes) in
    file order and ``data``, one uint8 tensor on the CPU holding all their bytes in that order."""

    layout: list[tuple[str, str, tuple[int, ...], int]]
    data: torch.Tensor


class CheckpointSnapshot(NamedTuple):
    """A checkpoint's content as it was when taken: its tensors copied (packed, or as a dict of copies for
    dtypes :func:`pack_tensors` does not take) and its state as JSON text, canonical
    (``json.dumps(state, sort_keys=True)``, what the checksum covers) and laid out for the file (one key
    per line, a ``history`` one epoch per line)."""

    tensors: PackedTensors | dict[str, torch.Tensor]
    state_json: tuple[str, str]


class HistoryJSON:
    """Each epoch of a run's history as JSON text, encoded once: a run's checkpoints hold its whole history,
    and encoding it anew for each was most of a checkpoint's cost on the loop's thread (the floats' repr).
    An epoch's text is reused only while its dict is the same object with the same values (of types that
    cannot change in place); anything else is encoded again."""

    _SCALARS = (int, float, str, bool, type(None))

    def __init__(self) -> None:
        self._rows: list[tuple[dict, dict, str]] = []  # (row, a copy of it, its text)

    def texts(self, rows: list[Any]) -> list[str]:
        cached, texts = self._rows, []
        for i, row in enumerate(rows):
            if i < len(cached) and cached[i][0] is row and cached[i][1] == row:
                texts.append(cached[i][2])
                continue
            text = json.dumps(row, sort_keys=True)
            texts.append(text)
            if isinstance(row, dict) and all(isinstance(v, self._SCALARS) for v in row.values()):
                entry = (row, dict(row), text)
                if i < len(cached):
                    cached[i] = entry
                elif i == len(cached):
                    cached.append(entry)
        del cached[len(rows):]
        return texts


def _state_json(state: dict[str, Any], history: HistoryJSON | None) -> tuple[str, str]:
    if not state or not all(isinstance(k, str) for k in state):
        text = json.dumps(state, sort_keys=True)
        return text, text
    canonical, lines = [], []
    for key, value in sorted(state.items()):
        name = json.dumps(key)
        if key == "history" and isinstance(value, list) and value:
            rows = history.texts(value) if history is not None else [json.dumps(r, sort_keys=True) for r in value]
            canonical.append(f"{name}: [{', '.join(rows)}]")
            lines.append(f"{name}: [\n   " + ",\n   ".join(rows) + "\n  ]")
        else:
            text = json.dumps(value, sort_keys=True)
            canonical.append(f"{name}: {text}")
            lines.append(f"{name}: {text}")
    return "{" + ", ".join(canonical) + "}", "{\n  " + ",\n  ".join(lines) + "\n }"


# The safetensors format, written here for the dtypes checkpoints hold: little-endian u64 header length,
# the JSON header (name → dtype, shape, data_offsets; padded with spaces to 8 bytes), then the data,
# laid out as safetensors.torch.save lays it out (by dtype, widest first, then name): the same bytes
# (tests/test_run_fixed_costs.py compares them). The tensors are copied into one buffer by one torch.cat
# on the training loop's thread; safetensors' own writer costs ~12 µs of Python per tensor, and each
# torch call on the writer's thread lets the two threads trade the interpreter lock.
_SAFETENSORS_DTYPES = {torch.int64: "I64", torch.float64: "F64", torch.float32: "F32", torch.int32: "I32",
                       torch.bfloat16: "BF16", torch.float16: "F16", torch.int16: "I16", torch.int8: "I8",
                       torch.uint8: "U8", torch.bool: "BOOL"}
_LAYOUT_RANK = {dtype: rank for rank, dtype in enumerate(_SAFETENSORS_DTYPES)}


def pack_tensors(tensors: dict[str, torch.Tensor]) -> PackedTensors | None:
    """A copy of ``tensors`` in safetensors' layout (:class:`PackedTensors`), or None for a dtype it does
    not take here or a big-endian machine. Few torch calls: a flat view of each tensor, then one
    concatenation per dtype (the layout groups them)."""
    if sys.byteorder != "little" or any(t.dtype not in _LAYOUT_RANK for t in tensors.values()):
        return None
    names = sorted(tensors, key=lambda k: (_LAYOUT_RANK[tensors[k].dtype], k))
    layout, groups = [], {}
    with torch.no_grad():
        for name in names:
            tensor = tensors[name]
            layout.append((name, _SAFETENSORS_DTYPES[tensor.dtype], tuple(tensor.shape),
                           tensor.numel() * tensor.element_size()))
            flat = (tensor if tensor.device.type == "cpu" else tensor.to("cpu")).reshape(-1)
            groups.setdefault(tensor.dtype, []).append(flat)
        parts = [torch.cat(flats).view(torch.uint8) for flats in groups.values()]  # cat copies, even one tensor
    data = parts[0] if len(parts) == 1 else torch.cat(parts) if parts else torch.empty(0, dtype=torch.uint8)
    return PackedTensors(layout, data)


def unpack_tensors(packed: PackedTensors, prefix: str = "") -> dict[str, torch.Tensor]:
    """The tensors of ``packed`` whose names start with ``prefix`` (views of its data), as loading its file
    would give them."""
    dtypes = {code: dtype for dtype, code in _SAFETENSORS_DTYPES.items()}
    tensors, offset = {}, 0
    for name, code, shape, size in packed.layout:
        if name.startswith(prefix):
            tensors[name] = packed.data[offset:offset + size].view(dtypes[code]).reshape(shape)
        offset += size
    return tensors


def packed_bytes(packed: PackedTensors) -> bytes:
    """The safetensors file of :func:`pack_tensors`' output."""
    header, offset = [], 0
    for name, dtype, shape, size in packed.layout:
        dims = ",".join(str(n) for n in shape)
        header.append(f'{json.dumps(name)}:{{"dtype":"{dtype}","shape":[{dims}],"data_offsets":[{offset},{offset + size}]}}')
        offset += size
    text = ("{" + ",".join(header) + "}").encode()
    text += b" " * (-len(text) % 8)
    return b"".join([struct.pack("<Q", len(text)), text, packed.data.numpy()])


def tensor_bytes(tensors: dict[str, torch.Tensor]) -> bytes:
    """``tensors`` in the safetensors format, the bytes ``safetensors.torch.save`` writes (through it for
    dtypes :func:`pack_tensors` does not take)."""
    packed = pack_tensors(tensors)
    return save_safetensors(tensors) if packed is None else packed_bytes(packed)


def _copy(tensor: torch.Tensor) -> torch.Tensor:
    tensor = tensor.detach()
    if tensor.device.type == "cpu":
        return tensor.clone(memory_format=torch.contiguous_format)
    return tensor.to("cpu").contiguous()  # a copy already (and a wait for the device)


def snapshot_checkpoint(tensors: dict[str, torch.Tensor], state: dict[str, Any],
                        history: HistoryJSON | None = None) -> CheckpointSnapshot:
    """Copies of ``tensors`` and the JSON-able ``state`` as text, taken now, so that training may go on
    while :func:`encode_snapshot` and :func:`write_checkpoint` run on another thread. ``history``: the
    run's cache of its epochs' JSON (the state's ``history``), kept from one checkpoint to the next."""
    packed = pack_tensors(tensors)
    copies = packed if packed is not None else {k: _copy(v) for k, v in tensors.items()}
    return CheckpointSnapshot(copies, _state_json(state, history))


def encode_snapshot(snapshot: CheckpointSnapshot) -> tuple[bytes, bytes]:
    """The two files' bytes: the safetensors blob and the JSON commit record with both checksums. The
    record's ``sha256`` is the digest of the canonical body ``json.dumps({"format", "state",
    "tensors_sha256"}, sort_keys=True)`` (what :func:`load_checkpoint` recomputes), assembled from the
    state's canonical text."""
    tensors = snapshot.tensors
    blob = packed_bytes(tensors) if isinstance(tensors, PackedTensors) else save_safetensors(tensors)
    canonical, readable = snapshot.state_json
    tensors_sha256 = hashlib.sha256(blob).hexdigest()
    body = f'{{"format": {FORMAT}, "state": {canonical}, "tensors_sha256": "{tensors_sha256}"}}'
    digest = hashlib.sha256(body.encode()).hexdigest()
    record = (f'{{\n "format": {FORMAT},\n "sha256": "{digest}",\n "state": {readable},\n '
              f'"tensors_sha256": "{tensors_sha256}"\n}}')
    return blob, record.encode()


def encode_checkpoint(tensors: dict[str, torch.Tensor], state: dict[str, Any]) -> tuple[bytes, bytes]:
    """The two files' bytes at once (:func:`snapshot_checkpoint` then :func:`encode_snapshot`)."""
    return encode_snapshot(snapshot_checkpoint(tensors, state))


def write_checkpoint(path: Path, blob: bytes, record: bytes) -> Path:
    """Write :func:`encode_checkpoint`'s bytes as ``path``.safetensors, then the commit record ``path``.json."""
    path = Path(path)
    try:
        atomic_write(path.with_suffix(".safetensors"), blob, sync_dir=False)
    except FileNotFoundError:  # the run's first checkpoint: its folder is made now (no check before each one)
        if path.parent.is_dir():
            raise
        path.parent.mkdir(parents=True, exist_ok=True)
        fsync_dir(path.parent.parent)  # the new folder's own name, durable like the files in it
        atomic_write(path.with_suffix(".safetensors"), blob, sync_dir=False)
    folder = os.open(path.parent, os.O_RDONLY)  # one descriptor for both fsyncs of the folder
    try:
        os.fsync(folder)  # the tensor file's name is durable before the commit record is written
        atomic_write(path.with_suffix(".json"), record, sync_dir=False)
        os.fsync(folder)
    finally:
        os.close(folder)
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

"""Atomic file writes: a file is either its old or its new content, never a torn mix (no torch here,
so the run directory's readers load fast); and JSON that reads like ``indent=1`` at the C encoder's speed."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def atomic_write(path: Path, data: bytes, sync_dir: bool = True) -> None:
    """Write ``data`` to ``path`` through a temporary file, fsync and rename, then fsync the directory.

    ``sync_dir=False`` leaves the directory's fsync to the caller (:func:`fsync_dir`), which then makes
    several renames in one directory durable with one fsync: until then a crash may undo the rename
    (the old content or no file), never leave a half-written file."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:  # os-level calls: each system call lets the training loop's thread take the interpreter lock back
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0), 0o666)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if sync_dir:
        fsync_dir(path.parent)


def fsync_dir(directory: Path) -> None:
    """fsync ``directory``: the renames and new names in it reach the disk."""
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def readable_json(value: Any, depth: int = 2, sort_keys: bool = False, level: int = 0) -> str:
    """``value`` as JSON with its outer ``depth`` levels of objects and arrays one item per line (indented
    like ``json.dumps(indent=1)``; ``level``: as if nested that deep) and everything deeper on one line.
    ``json.dumps`` with ``indent`` runs the pure-Python encoder, several times slower than this, which
    uses the C encoder for the one-line parts. ``json.loads`` reads it back to the same value as
    ``json.dumps``' output.

    >>> print(readable_json({"a": 1, "b": {"c": [1, 2]}, "d": []}, depth=1))
    {
     "a": 1,
     "b": {"c": [1, 2]},
     "d": []
    }
    """
    newline = "\n" + " " * level
    if depth > 0 and isinstance(value, dict) and value and all(isinstance(k, str) for k in value):
        items = sorted(value.items()) if sort_keys else value.items()
        parts = [f"{json.dumps(k)}: {readable_json(v, depth - 1, sort_keys, level + 1)}" for k, v in items]
    elif depth > 0 and isinstance(value, list) and value:
        parts = [readable_json(v, depth - 1, sort_keys, level + 1) for v in value]
    else:
        return json.dumps(value, sort_keys=sort_keys)
    opening, closing = ("{", "}") if isinstance(value, dict) else ("[", "]")
    return opening + newline + " " + ("," + newline + " ").join(parts) + newline + closing

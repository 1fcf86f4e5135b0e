"""An exclusive lock on a directory, held while a process trains or writes in it.

``fcntl.flock`` on ``DIR/.lock``: the kernel drops the lock when the holder's process ends, even
by SIGKILL, so no stale lock survives a crash. The holder writes its PID and host into the file, so
a second process is told who holds it. Re-entering the lock of a directory this process already
holds is allowed (a comparison worker locks a run directory, then resumes the run in it).
Without ``fcntl`` (Windows) nothing is locked.

The directory a lock was held on when Ctrl-C arrived is remembered (:func:`interrupted_dir`), so
the command line can print the real path in its resume hint.
"""
from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from trainlab.errors import TrainlabError

try:
    import fcntl
except ImportError:  # Windows: no advisory locks
    fcntl = None

LOCK_FILE = ".lock"
_held: dict[Path, int] = {}  # directories this process holds → nesting depth
_interrupted: list[Path] = []


def _holder(lock_file: Path) -> str:
    try:
        info = json.loads(lock_file.read_text())
        return f"process {int(info['pid'])} on {info.get('host', '?')}"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"


@contextmanager
def exclusive(directory: str | Path, purpose: str, wait_s: float = 0.0) -> Iterator[None]:
    """Hold ``directory``'s lock for the ``with`` block; wait up to ``wait_s`` seconds for another
    holder, then fail with a one-line error naming the holder's PID and ``purpose``."""
    directory = Path(directory).resolve()
    if directory in _held or fcntl is None:
        _held[directory] = _held.get(directory, 0) + 1
        try:
            yield
        finally:
            _release(directory)
        return
    lock_file = directory / LOCK_FILE
    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise TrainlabError(f"{directory} is in use by {_holder(lock_file)} ({purpose}); "
                                        "wait for it to end, or stop it first") from None
                time.sleep(0.1)
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname()}).encode(), 0)
        _held[directory] = 1
        try:
            yield
        except KeyboardInterrupt:
            _interrupted.append(directory)
            raise
        finally:
            _release(directory)
    finally:
        os.close(fd)  # closing the descriptor releases the flock


def _release(directory: Path) -> None:
    _held[directory] -= 1
    if not _held[directory]:
        del _held[directory]


def interrupted_dir() -> Path | None:
    """The directory whose lock was held when the newest KeyboardInterrupt passed through, or None."""
    return _interrupted[-1] if _interrupted else None

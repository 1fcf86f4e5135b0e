"""File writes off the training loop's critical path: one background thread, jobs in order.

A checkpoint of the benchmark MLP takes ~0.3 ms to snapshot but 2–40 ms to make durable (two files, each
fsync'd with its directory, on a quiet or a busy disk); the training loop need not wait for the disk. The
tensors are copied on the loop's thread (:func:`trainlab.train.checkpoint.snapshot_checkpoint`),
serialized and written here, each file still atomic and fsync'd. The run drains the writer before it commits run.json, so
nothing a run records as finished is missing from the disk.

A submit costs the loop a queue append; waking the writer's thread costs it ~30 µs more on a virtual
machine (a cross-CPU wake-up), so small jobs are queued without waking it (``wake=False``): they run
with the next job that wakes it, when the writer is waited for, or at the latest :data:`LAZY_S`
seconds later. Lines appended to a file (metrics.csv rows, events.jsonl lines: :meth:`append`) join
the previous append to that file while it is the last job queued, so a run's 50 rows take a few
writes, not 50 (each job's system calls hand the interpreter lock back and forth with the loop).
"""
from __future__ import annotations

import itertools
import locale
import os
import threading
from collections import deque
from collections.abc import Callable
from pathlib import Path

_names = itertools.count()
LAZY_S = 0.5  # the longest a job submitted with wake=False waits for the writer's thread to look


class BackgroundWriter:
    """Runs write jobs one at a time, in the order submitted, on its own thread.

    ``submit(job, limit=N)`` marks a job whose bytes are large (a checkpoint) and first waits until
    at most N earlier such jobs are unfinished: a run passes 1, so one checkpoint may still be on its
    way to the disk while the next is queued, never more. ``submit(job, wake=False)``: the job may wait
    up to :data:`LAZY_S` seconds to start (jobs still run in order). A failed job's error is raised by
    the next ``submit``, ``wait`` or ``close`` on the caller's thread; the jobs after it still run."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queued = threading.Condition(self._lock)  # a job to run, or the thread to stop
        self._finished = threading.Condition(self._lock)  # a job has finished
        self._jobs: deque[Callable[[], object]] = deque()
        self._thread: threading.Thread | None = None
        self._stop = False
        self._submitted = 0  # jobs submitted (the caller's thread only)
        self._done = 0  # jobs finished, failed ones included (written by the writer's thread)
        self._limited: deque[int] = deque()  # numbers of the limited jobs that may be unfinished
        self._errors: list[BaseException] = []

    def submit(self, job: Callable[[], object], limit: int | None = None, wake: bool = True) -> None:
        self._raise_failed()
        if limit is not None:
            with self._lock:
                while True:
                    while self._limited and self._limited[0] <= self._done:
                        self._limited.popleft()
                    if len(self._limited) <= limit:
                        break
                    self._finished.wait()
        if self._thread is None:
            self._stop = False
            self._thread = threading.Thread(target=self._work, name=f"trainlab-writer_{next(_names)}")
            self._thread.start()
        self._submitted += 1
        if limit is not None:
            self._limited.append(self._submitted)
        if wake:
            with self._lock:
                self._jobs.append(job)
                self._queued.notify()
        else:
            self._jobs.append(job)  # the writer's thread finds it when it next looks

    def append(self, path: Path, text: str, newline: str | None = "") -> None:
        """Append ``text`` to the file ``path`` (created if absent; ``newline`` as for ``open``), in order
        with the other jobs, lazily (``wake=False``), in one write with the appends to ``path`` queued
        right before it."""
        self._raise_failed()
        with self._lock:
            last = self._jobs[-1] if self._jobs else None
            if isinstance(last, _Append) and (last.path, last.newline) == (path, newline):  # not started yet:
                last.texts.append(text)  # the thread takes jobs off the queue under this lock
                return
        self.submit(_Append(path, newline, [text]), wake=False)

    def _work(self) -> None:
        jobs = self._jobs
        while True:
            with self._lock:
                while not jobs:
                    if self._stop:
                        return
                    if not self._queued.wait(LAZY_S) and not jobs and not threading.main_thread().is_alive():
                        return  # the program is ending without close(): nothing is left to write
                job = jobs.popleft()
            error = None
            try:
                job()
            except BaseException as e:  # noqa: BLE001  (handed to the caller's thread)
                error = e
            with self._lock:
                if error is not None:
                    self._errors.append(error)
                self._done += 1
                self._finished.notify_all()

    def _raise_failed(self) -> None:
        if self._errors:
            with self._lock:
                errors, self._errors = self._errors, []
            raise errors[0]

    def wait(self) -> None:
        """Block until every submitted job has finished; raise the first failed one's error, if any."""
        with self._lock:
            if self._jobs:
                self._queued.notify()  # jobs queued without waking the thread: run them now
            while self._done < self._submitted:
                self._finished.wait()
        self._limited.clear()
        self._raise_failed()

    def close(self) -> None:
        """Wait for every job, then end the thread (it is started again by a later ``submit``)."""
        try:
            self.wait()
        finally:
            if self._thread is not None:
                with self._lock:
                    self._stop = True
                    self._queued.notify()
                self._thread.join()
                self._thread = None


class _Append:
    """A writer job: append ``texts`` to ``path`` in one write, as ``open(path, "a", newline=newline)``
    would, in three system calls (the text layer's open adds a few more)."""

    def __init__(self, path: Path, newline: str | None, texts: list[str]):
        self.path, self.newline, self.texts = path, newline, texts

    def __call__(self) -> None:
        text = "".join(self.texts)
        if self.newline is None and os.linesep != "\n":
            text = text.replace("\n", os.linesep)
        data = text.encode(locale.getpreferredencoding(False))
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_BINARY", 0), 0o666)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)

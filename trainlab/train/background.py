"""File writes off the training loop's critical path: one background thread, jobs in order.

A checkpoint of the benchmark MLP takes ~1 ms to encode but ~40 ms to make durable (two files, each
fsync'd with its directory); the training loop need not wait for the disk. The bytes are taken on
the loop's thread (:func:`trainlab.train.checkpoint.encode_checkpoint`) and written here, each file
still atomic and fsync'd. The run drains the writer before it commits run.json, so nothing a run
records as finished is missing from the disk.
"""
from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor


class BackgroundWriter:
    """Runs write jobs one at a time, in the order submitted, on its own thread.

    ``submit(job, limit=N)`` marks a job whose bytes are large (a checkpoint) and first waits until
    at most N earlier such jobs are unfinished: a run passes 1, so one checkpoint may still be on its
    way to the disk while the next is queued, never more. A failed job's error is raised by the next
    ``submit``, ``wait`` or ``close`` on the caller's thread."""

    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="trainlab-writer")
        self._pending: list[Future] = []
        self._limited: list[Future] = []

    def submit(self, job: Callable[[], object], limit: int | None = None) -> None:
        self._raise_failed()
        if limit is not None:
            self._limited = [f for f in self._limited if not f.done()]
            while len(self._limited) > limit:
                self._limited.pop(0).result()
        future = self._executor.submit(job)
        self._pending.append(future)
        if limit is not None:
            self._limited.append(future)

    def _raise_failed(self) -> None:
        done = [f for f in self._pending if f.done()]
        self._pending = [f for f in self._pending if not f.done()]
        for future in done:
            future.result()  # re-raises the job's error here

    def wait(self) -> None:
        """Block until every submitted job has finished; raise the first one's error, if any."""
        pending, self._pending, self._limited = self._pending, [], []
        for future in pending:
            future.result()

    def close(self) -> None:
        """Wait for every job, then end the thread (it is started again by a later ``submit``)."""
        try:
            self.wait()
        finally:
            self._executor.shutdown(wait=True)
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="trainlab-writer")

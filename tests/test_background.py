"""Checkpoints and events written off the loop's thread: in order, errors raised on the caller's
thread, memory bounded, and everything on disk before run_recipe returns or re-raises a crash."""
from __future__ import annotations

import json
import threading
import time

import pytest

from trainlab.recipe import load_recipe
from trainlab.run import run_recipe
from trainlab.train.background import BackgroundWriter
from trainlab.train.callbacks import Callback
from trainlab.train.checkpoint import load_checkpoint


def _writer_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("trainlab-writer")]


def test_jobs_run_in_order_on_another_thread():
    writer, done = BackgroundWriter(), []
    for i in range(20):
        writer.submit(lambda i=i: done.append((i, threading.current_thread().name)))
    writer.close()
    assert [i for i, _ in done] == list(range(20))
    assert all(name.startswith("trainlab-writer") for _, name in done)
    assert _writer_threads() == []  # close ends the thread


def test_a_failed_job_is_raised_on_the_callers_thread_and_later_jobs_still_run():
    writer, done, release = BackgroundWriter(), [], threading.Event()

    def fails() -> None:
        release.wait(10)
        raise OSError("disk full")

    writer.submit(fails)
    writer.submit(lambda: done.append("after"))  # queued while the first is still running
    release.set()
    with pytest.raises(OSError, match="disk full"):
        writer.close()
    assert done == ["after"]
    writer.submit(lambda: done.append("reused"))  # a closed writer starts a new thread
    writer.close()
    assert done == ["after", "reused"]
    writer.submit(fails)  # already released: once it has failed, the next submit raises its error
    with pytest.raises(OSError, match="disk full"):
        for _ in range(100):  # up to 10 s on a loaded machine
            writer.submit(lambda: None)
            time.sleep(0.1)
    writer.close()


def test_a_limited_job_waits_for_older_limited_jobs_only():
    writer, release = BackgroundWriter(), threading.Event()
    first_done = []
    writer.submit(lambda: (release.wait(10), first_done.append(True)), limit=1)
    writer.submit(lambda: None)  # unlimited jobs (event lines, metrics rows) never wait
    writer.submit(lambda: None, limit=1)  # one older limited job unfinished: queued without waiting
    assert first_done == []
    threading.Timer(0.2, release.set).start()
    started = time.perf_counter()
    writer.submit(lambda: None, limit=1)  # two unfinished: waits until the first has finished
    assert first_done == [True] and time.perf_counter() - started >= 0.15
    writer.close()


RECIPE = {"name": "bg", "seed": 0, "data": {"name": "moons", "n_samples": 200, "batch_size": 50},
          "model": {"name": "mlp", "hidden": [8]}, "optim": {"name": "adam", "lr": 0.01},
          "stopping": {"epochs": 8}, "checkpoint": {"every": 2}}


def _events(run_dir) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]


def test_every_checkpoint_is_on_disk_and_logged_in_order_when_the_run_returns(tmp_path):
    result = run_recipe(load_recipe(RECIPE), tmp_path)
    assert _writer_threads() == []
    names = [e.get("file") for e in _events(result.run_dir) if e["event"] == "checkpoint"]
    assert names == [f"epoch-{n:04d}.json" for n in (2, 4, 6, 8)]
    assert [e["event"] for e in _events(result.run_dir)][-1] == "fit_end"
    for name in names:  # verified: both files complete, checksums match
        load_checkpoint(result.run_dir / "checkpoints" / name)


class _Crash(Callback):
    order = 99  # after the checkpointer of the same epoch

    def on_epoch_end(self, state):
        if len(state.history) == 5:
            raise RuntimeError("crash after epoch 5")


def test_a_crash_in_the_loop_leaves_the_saved_checkpoints_complete(tmp_path):
    with pytest.raises(RuntimeError, match="crash after epoch 5"):
        run_recipe(load_recipe(RECIPE), tmp_path, output=[_Crash()])
    run_dir = next(tmp_path.iterdir())
    assert _writer_threads() == []  # drained and ended before the exception left run_recipe
    assert sorted(p.name for p in (run_dir / "checkpoints").glob("*.json")) == ["epoch-0002.json", "epoch-0004.json"]
    _, state = load_checkpoint(run_dir / "checkpoints" / "epoch-0004.json")
    assert state["epoch"] == 4
    assert [e["epoch"] for e in _events(run_dir) if e["event"] == "checkpoint"] == [2, 4]

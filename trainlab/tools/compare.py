"""Compare recipe variants over seeds: the grid, its directory, and the worker processes that run it.

``trainlab compare RECIPE --vary optim.lr=0.1,0.01 --seeds 3`` trains every variant (the cartesian
product of the ``--vary`` lists, in order; the first is the baseline) with seeds s, s+1, …, s+N−1,
where s is the recipe's seed. Run (variant v, seed s) is exactly ``trainlab run RECIPE --set …
--set <v's values> --set seed=s``, in its own directory ``v<v>-<values>-seed<s>``, beside
``comparison.json`` (the spec), ``summary.csv`` and ``report.html``.

Runs execute in processes forked from a server that imported trainlab once, so a run starts without
importing torch again, shares no state with the others and returns all its memory when it ends. Each worker
sets one torch thread by default and exits at once when the comparison process dies (it watches a
pipe only that process holds). Run directories are committed atomically and checkpoints are atomic,
so a killed comparison leaves runs that are finished, resumable or absent; rerunning it skips the
finished ones, resumes the others from their last checkpoint and starts the missing ones.
"""
from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path

import torch

from trainlab.errors import TrainlabError
from trainlab.recipe import Recipe
from trainlab.report.html import write_report as write_run_report
from trainlab.run import resume_run
from trainlab.rundir import REPORT, RUN_JSON, RunDir, stamped_dir
from trainlab.tools.compare_report import Summary, summarize, write_compare_report, write_summary_csv
from trainlab.tools.comparison import (  # noqa: F401  (the spec is part of this module's API)
    SPEC_FILE,
    Comparison,
    PlannedRun,
    Vary,
    comparison_from_args,
    load_comparison,
    parse_vary,
    split_values,
)
from trainlab.train.checkpoint import atomic_write

try:
    import fcntl
except ImportError:  # Windows: no advisory locks, so nothing stops two comparisons sharing a directory
    fcntl = None

DONE = ("finished", "failed")  # a failed run stopped on its own (e.g. non-finite loss): a result, not retried


def open_comparison_dir(comparison: Comparison, out_dir: str | Path | None = None,
                        parent: str | Path = "comparisons") -> Path:
    """Create ``parent/<recipe name>-<time>`` (or ``out_dir``) with ``comparison.json``; reopen an
    existing ``out_dir`` only if it holds the same comparison."""
    out_dir = stamped_dir(parent, comparison.base().name) if out_dir is None else Path(out_dir)
    spec_file = out_dir / SPEC_FILE
    if spec_file.is_file():
        if load_comparison(out_dir).spec() != comparison.spec():
            raise TrainlabError(f"--out {out_dir} holds a different comparison (recipe, --set, --vary or --seeds "
                                "differ); choose a new --out, or continue it with --resume")
        return out_dir
    if out_dir.exists() and any(out_dir.iterdir()):
        raise TrainlabError(f"--out {out_dir}: the directory is not empty and holds no {SPEC_FILE}; choose a new one")
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write(spec_file, json.dumps({**comparison.to_json(), "command": sys.argv}, indent=1).encode())
    return out_dir


# ---- run directories ----


def run_state(run_dir: Path) -> str:
    """``new``, ``finished``, ``failed``, ``resume`` (a checkpoint exists) or ``restart`` (none yet)."""
    run = RunDir(run_dir)
    if not run.file(RUN_JSON).is_file():
        return "new"
    status = run.status().get("status")
    if status in DONE:
        return status
    return "resume" if run.latest_checkpoint() is not None else "restart"


def _create_run_dir(run_dir: Path, recipe: Recipe) -> None:
    """Write recipe.yaml and run.json as ``trainlab run`` does, in a temporary directory renamed into
    place: a run directory exists only complete."""
    tmp = run_dir.with_name(f".{run_dir.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    RunDir(tmp).start(recipe)
    os.replace(tmp, run_dir)


@contextmanager
def locked(directory: Path, wait_s: float, holder: str) -> Iterator[None]:
    """Hold an exclusive lock on ``directory``; the system drops it when the process dies, even by SIGKILL."""
    if fcntl is None:
        yield
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise TrainlabError(f"{directory} is in use by {holder}; wait for it to end") from None
                time.sleep(0.1)
        yield
    finally:
        os.close(fd)


# ---- worker processes ----


def _exit_with_parent(pipe: Connection) -> None:
    try:
        pipe.recv()  # the parent never sends: this returns when its end closes, i.e. when it dies
    except (EOFError, OSError):
        pass
    os._exit(1)  # as abrupt as SIGKILL, which the run directory survives (atomic checkpoints and run.json)


def _work(run_dir: str, parent_alive: Connection, threads: int) -> None:
    """One run in a worker process: resume_run continues from the newest checkpoint, or starts afresh."""
    threading.Thread(target=_exit_with_parent, args=(parent_alive,), daemon=True).start()
    os.environ["OMP_NUM_THREADS"] = str(threads)
    torch.set_num_threads(threads)
    name = Path(run_dir).name
    try:
        with locked(Path(run_dir), 30, "a worker of an earlier comparison"):
            resume_run(run_dir)
    except TrainlabError as e:
        if run_state(Path(run_dir)) != "failed":  # a run that failed says why in run.json; the parent shows it
            for line in str(e).splitlines():
                print(f"error: {name}: {line}", file=sys.stderr, flush=True)
        sys.exit(e.exit_code)
    except OSError as e:
        print(f"error: {name}: {e.strerror or e} ({e.filename})", file=sys.stderr, flush=True)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)


def _context() -> multiprocessing.context.BaseContext:
    """Fork from a server that imported trainlab once (spawn where there is no fork)."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    # torch._dynamo: torch.optim imports it at the first optimizer, 2-3 s that every run would repeat.
    context.set_forkserver_preload(["trainlab.run", "trainlab.report.html", "torch._dynamo", __name__])
    return context


def default_workers() -> int:
    """The CPU cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def check_parallelism(workers: int | None, threads: int) -> int:
    """The number of workers (default: the cores); 0 or fewer workers or threads is an error."""
    for flag, value in (("--workers", workers), ("--threads", threads)):
        if value is not None and value < 1:
            raise TrainlabError(f"{flag}: {value} is not valid; give 1 or more")
    return default_workers() if workers is None else workers


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _outcome(run_dir: Path) -> str:
    status = RunDir(run_dir).status()
    if status.get("status") == "failed":
        return f"failed: {status.get('error', '')}"
    if status.get("status") != "finished":
        return f"did not finish (status {status.get('status')})"
    shown = status.get("test") or {k: v for k, v in status.get("final", {}).items() if k.startswith("val_")}
    return "finished" + "".join(f"  {k} {v:.4g}" for k, v in shown.items())


@dataclass
class ComparisonResult:
    out_dir: Path
    summary: Summary
    unfinished: list[str]  # runs that ended without finishing (crashed or refused); a rerun retries them


def compare(comparison: Comparison, out_dir: Path, workers: int | None = None, threads: int = 1,
            log: Callable[[str], None] = print) -> ComparisonResult:
    """Run every run of ``comparison`` not done yet, ``workers`` at a time with ``threads`` torch
    threads each, then write ``summary.csv`` and ``report.html`` from all run directories."""
    workers = check_parallelism(workers, threads)
    plan = comparison.plan()
    recipes = {run.name: comparison.recipe_of(run) for run in plan}
    with locked(out_dir, 0, "another trainlab compare"):
        for stale in out_dir.glob(".*.tmp"):  # a run directory or file a killed comparison was writing
            shutil.rmtree(stale) if stale.is_dir() else stale.unlink()
        states = {run.name: run_state(out_dir / run.name) for run in plan}
        count = {s: sum(v == s for v in states.values()) for s in ("finished", "failed", "resume", "restart", "new")}
        log(f"comparison {out_dir}: {_plural(len(comparison.variants()), 'variant')} × "
            f"{_plural(comparison.seeds, 'seed')} = {_plural(len(plan), 'run')}, {workers} at a time")
        if any(count[s] for s in ("finished", "failed", "resume", "restart")):
            failed = f" ({count['failed']} of them failed)" if count["failed"] else ""
            log(f"skipping {_plural(count['finished'] + count['failed'], 'finished run')}{failed}; "
                f"resuming {count['resume']} from a checkpoint; restarting {count['restart']} without one; "
                f"starting {count['new']}")
        todo = [run for run in plan if states[run.name] not in DONE]
        unfinished = _run_planned(todo, recipes, out_dir, workers, threads, log)
        for run in plan:  # a run killed after run.json said finished but before its report was written
            if run_state(out_dir / run.name) == "finished" and not RunDir(out_dir / run.name).file(REPORT).is_file():
                write_run_report(out_dir / run.name)
        summary = summarize(out_dir, comparison)
        write_summary_csv(out_dir / "summary.csv", summary, comparison)
        write_compare_report(out_dir, summary, comparison)
    return ComparisonResult(out_dir, summary, unfinished)


def _run_planned(todo: list[PlannedRun], recipes: dict[str, Recipe], out_dir: Path, workers: int, threads: int,
             log: Callable[[str], None]) -> list[str]:
    context = _context()
    alive_r, alive_w = context.Pipe(duplex=False)
    pending, running, unfinished = deque(todo), {}, []
    try:
        while pending or running:
            while pending and len(running) < workers:
                run = pending.popleft()
                run_dir = out_dir / run.name
                if not run_dir.exists():
                    _create_run_dir(run_dir, recipes[run.name])
                process = context.Process(target=_work, args=(str(run_dir.resolve()), alive_r, threads),
                                          name=run.name)
                process.start()
                running[process.sentinel] = (run, process, time.monotonic())
            for sentinel in wait(list(running)):
                run, process, started = running.pop(sentinel)
                process.join()
                if run_state(out_dir / run.name) not in DONE:
                    unfinished.append(run.name)
                done = len(todo) - len(pending) - len(running)
                log(f"[{done}/{len(todo)}] {run.name} ({time.monotonic() - started:.1f} s): "
                    f"{_outcome(out_dir / run.name)}")
    finally:
        for _, process, _ in running.values():
            process.kill()
            process.join()
        alive_w.close()
        alive_r.close()
    return unfinished

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
from trainlab.run import finish_run, resume_run
from trainlab.rundir import FINDINGS, REPORT, RUN_JSON, RunDir, stamped_dir
from trainlab.safety.locks import exclusive
from trainlab.safety.redaction import redact_argv
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
from trainlab.tools.vectorized import NotVectorized, train_vectorized, why_not_vectorized
from trainlab.tracking import ParentRun
from trainlab.train.checkpoint import atomic_write

NOT_VECTORIZED = 3  # a vectorized worker's exit code: the seeds could not be stacked and must run one by one
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
    atomic_write(spec_file, json.dumps({**comparison.to_json(), "command": redact_argv(sys.argv)}, indent=1).encode())
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


# ---- worker processes ----


def _exit_with_parent(pipe: Connection) -> None:
    try:
        pipe.recv()  # the parent never sends: this returns when its end closes, i.e. when it dies
    except (EOFError, OSError):
        pass
    os._exit(1)  # as abrupt as SIGKILL, which the run directory survives (atomic checkpoints and run.json)


def _start_worker(parent_alive: Connection, threads: int) -> None:
    threading.Thread(target=_exit_with_parent, args=(parent_alive,), daemon=True).start()
    os.environ["OMP_NUM_THREADS"] = str(threads)
    torch.set_num_threads(threads)


@contextmanager
def _exit_on_error(name: str, say: Callable[[], bool] = lambda: True) -> Iterator[None]:
    """A worker's errors as one line each on stderr (``say()`` false: the run's own run.json says why)
    and its exit code: the error's own, 1 for the environment, 130 for Ctrl-C."""
    try:
        yield
    except TrainlabError as e:
        if say():
            for line in str(e).splitlines():
                print(f"error: {name}: {line}", file=sys.stderr, flush=True)
        sys.exit(e.exit_code)
    except OSError as e:
        print(f"error: {name}: {e.strerror or e} ({e.filename})", file=sys.stderr, flush=True)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)


def _work(run_dir: str, parent_alive: Connection, threads: int) -> None:
    """One run in a worker process: resume_run continues from the newest checkpoint, or starts afresh."""
    _start_worker(parent_alive, threads)
    # a run that failed says why in run.json; the parent shows it
    with _exit_on_error(Path(run_dir).name, say=lambda: run_state(Path(run_dir)) != "failed"):
        resume_run(run_dir, lock_wait=30)  # a worker of an earlier, killed comparison may still be ending


def _work_vectorized(run_dirs: list[str], parent_alive: Connection, threads: int) -> None:
    """Several seeds of one variant as one batched model; exits with NOT_VECTORIZED, having changed
    nothing, when the built model or optimizer does not allow it (the parent then runs them one by one)."""
    _start_worker(parent_alive, threads)
    name = f"{Path(run_dirs[0]).name} and {len(run_dirs) - 1} more"
    with _exit_on_error(name):
        try:
            # lock_wait: a worker of an earlier comparison may be ending; findings and reports: in parallel "finish" jobs
            results = train_vectorized(run_dirs, lock_wait=30, finish=False)
        except NotVectorized as e:
            print(f"note: {name}: seeds run as separate processes: {e}", file=sys.stderr, flush=True)
            sys.exit(NOT_VECTORIZED)
    sys.exit(1 if any(isinstance(r, TrainlabError) for r in results) else 0)


def _work_finish(run_dir: str, parent_alive: Connection, threads: int) -> None:
    """The doctor's findings and the report of a run a vectorized job trained."""
    threading.Thread(target=_exit_with_parent, args=(parent_alive,), daemon=True).start()
    torch.set_num_threads(threads)
    finish_run(run_dir)


def _context() -> multiprocessing.context.BaseContext:
    """Fork from a server that imported trainlab once (spawn where there is no fork)."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    # torch._dynamo: torch.optim imports it at the first optimizer, 2-3 s that every run would repeat.
    context.set_forkserver_preload(["trainlab.run", "trainlab.report.html", "torch._dynamo", "trainlab.tools.vectorized",
                                    __name__])
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
            log: Callable[[str], None] = print, vectorize: bool = True) -> ComparisonResult:
    """Run every run of ``comparison`` not done yet, ``workers`` at a time with ``threads`` torch
    threads each, then write ``summary.csv`` and ``report.html`` from all run directories.
    ``vectorize``: a variant's seeds not started yet train as one batched model in one worker
    where the recipe allows (trainlab.tools.vectorized); otherwise, and for ``False``, each seed
    is a process of its own."""
    workers = check_parallelism(workers, threads)
    plan = comparison.plan()
    recipes = {run.name: comparison.recipe_of(run) for run in plan}
    with exclusive(out_dir, "another trainlab compare"):
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
        # MLflow: the comparison is a parent run, each new run directory's recipe names it (tracking.parent)
        varied = {f"vary.{v.key}": ",".join(v.values) for v in comparison.varies}
        parent = ParentRun.open(comparison.base(), out_dir, str(out_dir.resolve()), out_dir.name, "comparison",
                                {**varied, "seeds": comparison.seeds})
        if parent is not None:
            recipes = {name: parent.child(recipe) for name, recipe in recipes.items()}
        jobs = seed_jobs(todo, states, recipes, log) if vectorize else [Job([run]) for run in todo]
        unfinished = _run_planned(jobs, recipes, out_dir, workers, threads, log)
        for run in plan:  # a run killed after run.json said finished but before its findings and report were written
            if _unfinished_report(out_dir / run.name):
                finish_run(out_dir / run.name)
        summary = summarize(out_dir, comparison)
        write_summary_csv(out_dir / "summary.csv", summary, comparison)
        write_compare_report(out_dir, summary, comparison)
        if parent is not None:
            parent.close(not unfinished, artifacts=[out_dir / REPORT, out_dir / "summary.csv"])
    return ComparisonResult(out_dir, summary, unfinished)


@dataclass
class Job:
    """One worker process's work: a run (``run``), a variant's seeds as one batched model
    (``vectorized``), or the findings and report of a run a vectorized job trained (``finish``)."""

    runs: list[PlannedRun]
    kind: str = "run"


def seed_jobs(todo: list[PlannedRun], states: dict[str, str], recipes: dict[str, Recipe],
              log: Callable[[str], None]) -> list[Job]:
    """The runs as jobs for the workers: a variant's seeds that have not started (no checkpoint)
    form one vectorized job where :func:`why_not_vectorized` allows; every other run is a job alone
    (a resumed run continues from its checkpoint in a process of its own)."""
    jobs: list[Job] = []
    for variant in sorted({run.variant for run in todo}):
        runs = [run for run in todo if run.variant == variant]
        fresh = [run for run in runs if states[run.name] in ("new", "restart")]
        reason = why_not_vectorized(recipes[fresh[0].name]) if len(fresh) > 1 else None
        if len(fresh) > 1 and reason is None:
            log(f"v{variant}: {len(fresh)} seeds train together as one batched model (vectorized)")
            jobs.append(Job(fresh, "vectorized"))
            runs = [run for run in runs if run not in fresh]
        elif reason is not None:
            log(f"v{variant}: seeds run as separate processes: {reason}")
        jobs += [Job([run]) for run in runs]
    return jobs


def _process(job: Job, out_dir: Path, alive: Connection, threads: int, context):
    run_dirs = [str((out_dir / run.name).resolve()) for run in job.runs]
    target, first = {"run": (_work, run_dirs[0]), "vectorized": (_work_vectorized, run_dirs),
                     "finish": (_work_finish, run_dirs[0])}[job.kind]
    return context.Process(target=target, args=(first, alive, threads), name=f"{job.kind} {job.runs[0].name}")


def _unfinished_report(run_dir: Path) -> bool:
    run = RunDir(run_dir)
    return run_state(run_dir) == "finished" and not (run.file(REPORT).is_file() and run.file(FINDINGS).is_file())


def _run_planned(jobs: list[Job], recipes: dict[str, Recipe], out_dir: Path, workers: int,
                 threads: int, log: Callable[[str], None]) -> list[str]:
    context = _context()
    alive_r, alive_w = context.Pipe(duplex=False)
    pending, running, unfinished = deque(jobs), {}, []
    total, done = sum(len(job.runs) for job in jobs), 0
    try:
        while pending or running:
            while pending and len(running) < workers:
                job = pending.popleft()
                for run in job.runs:
                    if not (out_dir / run.name).exists():
                        _create_run_dir(out_dir / run.name, recipes[run.name])
                # a vectorized job stands for several runs: it takes the cores no other job is waiting for
                share = threads * min(len(job.runs), max(1, workers - len(running) - len(pending)))
                process = _process(job, out_dir, alive_r, share, context)
                process.start()
                running[process.sentinel] = (job, process, time.monotonic())
            for sentinel in wait(list(running)):
                job, process, started = running.pop(sentinel)
                process.join()
                if job.kind == "finish":
                    continue
                if process.exitcode == NOT_VECTORIZED:  # the worker said why; the seeds run one by one
                    pending.extendleft(Job([run]) for run in reversed(job.runs))
                    continue
                for run in job.runs:
                    if run_state(out_dir / run.name) not in DONE:
                        unfinished.append(run.name)
                    elif job.kind == "vectorized" and _unfinished_report(out_dir / run.name):
                        pending.appendleft(Job([run], "finish"))  # reports in parallel, before new runs
                    done += 1
                    log(f"[{done}/{total}] {run.name} ({time.monotonic() - started:.1f} s"
                        f"{', vectorized' if job.kind == 'vectorized' else ''}): {_outcome(out_dir / run.name)}")
    finally:
        for _, process, _ in running.values():
            process.kill()
            process.join()
        alive_w.close()
        alive_r.close()
    return unfinished

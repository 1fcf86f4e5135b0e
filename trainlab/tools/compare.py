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

import copy
import itertools
import json
import multiprocessing
import os
import re
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
from typing import Any

import torch
import yaml

from trainlab.errors import TrainlabError
from trainlab.recipe import Recipe, load_recipe
from trainlab.report.html import write_report as write_run_report
from trainlab.run import latest_checkpoint, resume_run, versions
from trainlab.tools.compare_report import Summary, summarize, write_report, write_summary_csv
from trainlab.train.checkpoint import atomic_write

try:
    import fcntl
except ImportError:  # Windows: no advisory locks, so nothing stops two comparisons sharing a directory
    fcntl = None

SPEC_FILE = "comparison.json"
DONE = ("finished", "failed")  # a failed run stopped on its own (e.g. non-finite loss): a result, not retried


@dataclass(frozen=True)
class Vary:
    """One ``--vary KEY=V1,V2,…``: a recipe key path and its values as YAML text."""

    key: str
    values: tuple[str, ...]


def split_values(text: str) -> list[str]:
    """Split ``V1,V2,…`` at the commas outside brackets and quotes, so lists stay whole.

    >>> split_values("[32],[64, 64],'a,b'")
    ['[32]', '[64, 64]', "'a,b'"]
    """
    parts, current, depth, quote = [], [], 0, ""
    for char in text:
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append("".join(current).strip())
            current = []
            continue
        current.append(char)
    parts.append("".join(current).strip())
    if depth or quote:
        raise TrainlabError(f"--vary value list {text!r}: unbalanced brackets or quotes")
    return parts


def parse_vary(text: str) -> Vary:
    """``optim.lr=0.1,0.01`` → ``Vary('optim.lr', ('0.1', '0.01'))``; values are parsed as YAML later."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key or not raw.strip():
        raise TrainlabError(f"--vary {text!r}: expected KEY=V1,V2,…, e.g. --vary optim.lr=0.1,0.01")
    if key == "seed":
        raise TrainlabError("--vary seed: seeds come from --seeds N (the recipe's seed, +1, …, +N−1)")
    values = split_values(raw)
    if "" in values:
        raise TrainlabError(f"--vary {text!r}: an empty value; separate values by single commas")
    repeated = sorted({v for v in values if values.count(v) > 1})
    if repeated:
        raise TrainlabError(f"--vary {key}: {', '.join(repeated)} listed twice; give each value once")
    return Vary(key, tuple(values))


@dataclass(frozen=True)
class PlannedRun:
    """One (variant, seed): its directory name and the ``--set`` list that makes ``trainlab run`` do it."""

    name: str
    variant: int
    seed: int
    overrides: tuple[str, ...]


def _slug(overrides: tuple[str, ...], limit: int = 48) -> str:
    """``('optim.lr=0.1', 'model.hidden=[4, 4]')`` → ``optim.lr=0.1+model.hidden=4,4``, safe as a file name."""
    text = "+".join(re.sub(r"[\[\]{}'\" ]", "", o) for o in overrides) or "recipe"
    return re.sub(r"[^A-Za-z0-9._=,+-]+", "_", text)[:limit]


@dataclass
class Comparison:
    """The spec: the recipe file's data, its ``--set`` overrides, the ``--vary`` lists, seeds per variant."""

    recipe: dict[str, Any]
    sets: list[str]
    varies: list[Vary]
    seeds: int
    recipe_file: str = ""

    def variants(self) -> list[tuple[str, ...]]:
        """Each variant's ``key=value`` overrides, in cartesian-product order; the first is the baseline."""
        combos = itertools.product(*(v.values for v in self.varies))
        return [tuple(f"{v.key}={value}" for v, value in zip(self.varies, combo)) for combo in combos]

    def labels(self) -> list[str]:
        return [", ".join(overrides) or "the recipe as given" for overrides in self.variants()]

    def base(self) -> Recipe:
        return load_recipe(copy.deepcopy(self.recipe), self.sets)  # load_recipe edits nested sections in place

    def plan(self) -> list[PlannedRun]:
        first = self.base().seed
        return [PlannedRun(f"v{i}-{_slug(overrides)}-seed{first + k}", i, first + k,
                           (*self.sets, *overrides, f"seed={first + k}"))
                for i, overrides in enumerate(self.variants()) for k in range(self.seeds)]

    def recipe_of(self, run: PlannedRun) -> Recipe:
        return load_recipe(copy.deepcopy(self.recipe), list(run.overrides))

    def spec(self) -> dict[str, Any]:
        """What makes two comparisons the same (the recipe file's path does not)."""
        spec = {"recipe": self.recipe, "set": list(self.sets), "seeds": self.seeds,
                "vary": [{"key": v.key, "values": list(v.values)} for v in self.varies]}
        return json.loads(json.dumps(spec))

    def to_json(self) -> dict[str, Any]:
        runs = [{"name": r.name, "variant": r.variant, "seed": r.seed, "overrides": list(r.overrides)}
                for r in self.plan()]
        return {"format": 1, "recipe_file": self.recipe_file, **self.spec(), "variants": self.labels(), "runs": runs,
                "created": time.time(), "versions": versions()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Comparison:
        return cls(data["recipe"], list(data["set"]), [Vary(v["key"], tuple(v["values"])) for v in data["vary"]],
                   int(data["seeds"]), data.get("recipe_file", ""))


def comparison_from_args(recipe_file: str | Path, varies: list[str], seeds: int, sets: list[str]) -> Comparison:
    """Build and check the spec of ``trainlab compare``; every variant's recipe is validated here,
    so a bad key or value fails with the recipe's own message before any run starts."""
    load_recipe(recipe_file, sets)  # a missing file, bad YAML or a bad --set, said the usual way
    raw = yaml.safe_load(Path(recipe_file).read_text()) or {}
    if seeds < 1:
        raise TrainlabError(f"--seeds: {seeds} is not valid; give the number of seeds per variant, 1 or more")
    parsed = [parse_vary(text) for text in varies]
    keys = [v.key for v in parsed]
    twice = sorted({k for k in keys if keys.count(k) > 1})
    if twice:
        raise TrainlabError(f"--vary {', '.join(twice)} given twice; list all values in one --vary KEY=V1,V2,…")
    comparison = Comparison(raw, list(sets), parsed, seeds, str(recipe_file))
    for run in comparison.plan()[::seeds]:  # one run per variant: the seed cannot make a recipe invalid
        comparison.recipe_of(run)
    return comparison


def load_comparison(out_dir: str | Path) -> Comparison:
    """The spec saved in ``out_dir/comparison.json`` (for ``--resume DIR``)."""
    path = Path(out_dir) / SPEC_FILE
    if not path.is_file():
        raise TrainlabError(f"--resume {out_dir}: not a comparison directory (no {SPEC_FILE})")
    return Comparison.from_json(json.loads(path.read_text()))


def open_comparison_dir(comparison: Comparison, out_dir: str | Path | None = None,
                        parent: str | Path = "comparisons") -> Path:
    """Create ``parent/<recipe name>-<time>`` (or ``out_dir``) with ``comparison.json``; reopen an
    existing ``out_dir`` only if it holds the same comparison."""
    if out_dir is None:
        stamp, n = time.strftime("%Y%m%d-%H%M%S"), 1
        out_dir = Path(parent) / f"{comparison.base().name}-{stamp}"
        while out_dir.exists():
            n += 1
            out_dir = Path(parent) / f"{comparison.base().name}-{stamp}-{n}"
    out_dir = Path(out_dir)
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
    if not (run_dir / "run.json").is_file():
        return "new"
    status = json.loads((run_dir / "run.json").read_text()).get("status")
    if status in DONE:
        return status
    return "resume" if latest_checkpoint(run_dir) is not None else "restart"


def _create_run_dir(run_dir: Path, recipe: Recipe) -> None:
    """Write recipe.yaml and run.json as ``trainlab run`` does, in a temporary directory renamed into
    place: a run directory exists only complete."""
    tmp = run_dir.with_name(f".{run_dir.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    header = "".join(f"# {k} {v}\n" for k, v in versions().items())
    (tmp / "recipe.yaml").write_text(f"# resolved recipe, written by trainlab\n{header}{recipe.to_yaml()}")
    atomic_write(tmp / "run.json", json.dumps({"status": "created", "created": time.time(), "versions": versions(),
                                               "command": sys.argv}, indent=1).encode())
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
    status = json.loads((run_dir / "run.json").read_text())
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
        unfinished = _execute(todo, recipes, out_dir, workers, threads, log)
        for run in plan:  # a run killed after run.json said finished but before its report was written
            if run_state(out_dir / run.name) == "finished" and not (out_dir / run.name / "report.html").is_file():
                write_run_report(out_dir / run.name)
        summary = summarize(out_dir, comparison)
        write_summary_csv(out_dir / "summary.csv", summary, comparison)
        write_report(out_dir, summary, comparison)
    return ComparisonResult(out_dir, summary, unfinished)


def _execute(todo: list[PlannedRun], recipes: dict[str, Recipe], out_dir: Path, workers: int, threads: int,
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

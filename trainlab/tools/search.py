"""``trainlab search``: random, staged or Optuna (TPE + median pruning) search over a recipe.

A search is an Optuna study in an RDB storage (:mod:`trainlab.tools.search_storage`). Any number
of workers (processes, machines) run :func:`search` with the same recipe, space, study and
storage; together they finish exactly ``n_trials`` trials (COMPLETE or PRUNED):

* before creating a trial a worker counts the trials that are finished or running; when they
  fill the budget it waits for the running ones instead of starting another;
* two workers may still create a trial at the same instant for the last place. Optuna gives out
  trial numbers one at a time, so each worker computes its trial's place in the budget
  (:func:`~trainlab.tools.search_samplers.slot_of`, the number of finished or running trials
  before it); a trial whose place is ``>= n_trials`` is closed at once, before anything is
  sampled or trained, as FAIL with the user attribute ``surplus`` (reports leave it out);
* a trial whose worker died (SIGKILL) stops sending heartbeats and is marked FAIL after the grace
  period by whichever worker looks next; its place in the budget opens again, so surviving or
  restarted workers finish the budget. Failed trials never count.

Each trial is a real trainlab run in ``OUT/trials/<number>/``; its objective is the last epoch's
``metric`` (``val_loss`` by default). With ``--strategy optuna`` every epoch's value is reported
to the trial, and a :class:`optuna.pruners.MedianPruner` stops runs that are worse than the
median of earlier trials at the same epoch (state PRUNED). A run whose loss becomes NaN/inf is
also PRUNED, with the reason in the user attribute ``stopped``.
"""
from __future__ import annotations

import json
import math
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.pruners import BasePruner, MedianPruner, NopPruner
from optuna.samplers import RandomSampler, TPESampler
from optuna.trial import FrozenTrial, Trial, TrialState

from trainlab import registry
from trainlab.errors import RecipeError, TrainlabError
from trainlab.recipe import Recipe, read_recipe_data, validate_recipe
from trainlab.run import RunResult, run_recipe
from trainlab.safety.redaction import redact
from trainlab.safety.strict_yaml import read_json
from trainlab.tools.search_samplers import PerTrialSeed, StagedSampler, slot_of
from trainlab.tools.search_storage import default_url, fail_stale_trials, open_storage, shown
from trainlab.tools.space import Space, apply_values, check_space, load_space
from trainlab.tracking import ParentRun
from trainlab.train.callbacks import Callback, LoopState, Order
from trainlab.train.checkpoint import atomic_write
from trainlab.train.metrics import higher_is_better
from trainlab.train.trainer import NonFiniteLoss

STRATEGIES = ("random", "staged", "optuna")
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


@dataclass
class SearchOptions:
    """Everything besides the recipe and the space; the CLI flags map one to one."""

    n_trials: int
    strategy: str = "random"
    storage: str | None = None  # default: sqlite:///OUT/study.db
    study: str | None = None  # default: the recipe's name
    out: str | Path | None = None  # default: runs/search-<study>
    overrides: list[str] = field(default_factory=list)
    metric: str = "val_loss"
    direction: str = "auto"  # minimize | maximize | auto (accuracy maximized, everything else minimized)
    seed: int = 0
    stages: int = 3  # staged: number of stages
    keep: float = 0.2  # staged: fraction of best trials whose range the next stage searches
    startup_trials: int = 5  # optuna: trials drawn at random before TPE and pruning start
    prune_warmup: int = 1  # optuna: epochs every run trains before it can be pruned
    heartbeat: int = 10  # seconds between a running trial's heartbeats
    grace: int | None = None  # seconds without heartbeat before a trial counts as dead (default 2 × heartbeat)

    def check(self) -> None:
        problems = []
        if self.n_trials < 1:
            problems.append(f"--trials: {self.n_trials} is not valid; accepted: a number >= 1")
        if self.strategy not in STRATEGIES:
            problems.append(f"--strategy: '{self.strategy}' is not known; accepted: {', '.join(STRATEGIES)}")
        if self.direction not in ("auto", "minimize", "maximize"):
            problems.append(f"--direction: '{self.direction}' is not valid; accepted: auto, minimize, maximize")
        if self.strategy == "staged" and not 1 <= self.stages <= max(self.n_trials, 1):
            problems.append(f"--stages: {self.stages} is not valid; accepted: 1 to --trials ({self.n_trials})")
        if not 0 < self.keep <= 1:
            problems.append(f"--keep: {self.keep} is not valid; accepted: a fraction in (0, 1]")
        if self.startup_trials < 0 or self.prune_warmup < 0:
            problems.append("--startup-trials/--prune-warmup: accepted: numbers >= 0")
        if self.heartbeat < 1 or (self.grace is not None and self.grace <= self.heartbeat):
            problems.append(f"--heartbeat {self.heartbeat} / --grace {self.grace}: accepted: heartbeat >= 1 second "
                            "and grace > heartbeat")
        if problems:
            raise RecipeError(problems)


def _check_metric(metric: str) -> None:
    base = metric.removeprefix("val_")
    if base != "loss" and base not in registry.metrics:
        accepted = ["val_loss", "loss", *[f"val_{m}" for m in registry.metrics.names()], *registry.metrics.names()]
        raise TrainlabError(f"--metric: '{metric}' is not a logged metric; accepted: {', '.join(accepted)}")


def direction_of(metric: str, direction: str) -> str:
    """``auto``: maximize accuracy-like metrics, minimize losses and errors."""
    if direction != "auto":
        return direction
    return "maximize" if higher_is_better(metric) else "minimize"


def load_recipe_data(source: str | Path | dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Recipe data (not yet validated per trial) with ``--set`` overrides applied; validated once."""
    data = read_recipe_data(source, overrides)
    validate_recipe(data)
    return data


# ---- one trial ----


class ReportToTrial(Callback):
    """After each epoch: ``trial.report(metric, epoch)``; stop the run when the pruner says so."""

    order = Order.SEARCH

    def __init__(self, trial: Trial, metric: str):
        self.trial, self.metric = trial, metric
        self.pruned_epoch: int | None = None

    def on_epoch_end(self, state: LoopState) -> None:
        if self.metric not in state.logs:
            logged = ", ".join(k for k in state.logs if k not in ("epoch", "lr", "seconds"))
            raise TrainlabError(f"--metric: '{self.metric}' is not logged by this recipe; logged: {logged}")
        value, epoch = state.logs[self.metric], state.epoch + 1
        if not math.isfinite(value):
            return  # the run ends with a non-finite final value and is PRUNED as diverged
        self.trial.report(value, step=epoch)
        if self.trial.should_prune():
            self.pruned_epoch = epoch
            state.should_stop = True
            state.stop_reason = f"pruned by the search: {self.metric} {value:.4g} at epoch {epoch}"


class SurplusTrial(Exception):
    """A trial created for a place in the budget that another worker took first."""


def run_in(run_dir: Path, recipe: Recipe, output: list[Callback]) -> RunResult:
    """Train ``recipe`` in the new run directory ``run_dir`` (as ``run_recipe`` does under runs/)."""
    if run_dir.exists():
        raise TrainlabError(f"{run_dir} already exists but this study has no record of it; "
                            "remove it or search into another --out")
    return run_recipe(recipe, output=output, run_dir=run_dir, writer="trainlab search")


class Objective:
    """Runs one trial: draw the values, train the recipe with them, return the final metric."""

    def __init__(self, recipe_data: dict[str, Any], space: Space, options: SearchOptions, out: Path,
                 sampler: PerTrialSeed, output: list[Callback]):
        self.recipe_data, self.space, self.options, self.out = recipe_data, space, options, out
        self.sampler, self.output = sampler, output
        self.worker = f"{socket.gethostname()}:{os.getpid()}"

    def __call__(self, trial: Trial) -> float:
        if slot_of(trial.study, trial.number) >= self.options.n_trials:
            trial.set_user_attr("surplus", True)
            raise SurplusTrial(f"the budget of {self.options.n_trials} trials was filled by other workers")
        values = self.space.suggest(trial)
        run_dir = self.out / "trials" / str(trial.number)
        attrs = {**self.sampler.trial_attrs(), "values": values, "worker": self.worker, "run_dir": str(run_dir)}
        for key, value in attrs.items():
            trial.set_user_attr(key, value)
        metric = self.options.metric
        reporter = ReportToTrial(trial, metric)
        started = time.perf_counter()
        try:
            result = run_in(run_dir, validate_recipe(apply_values(self.recipe_data, values)), [reporter, *self.output])
        except NonFiniteLoss as e:
            trial.set_user_attr("stopped", str(e))
            raise optuna.TrialPruned(str(e)) from None
        except TrainlabError as e:
            shown_values = ", ".join(f"{k}={v!r}" for k, v in values.items())
            raise TrainlabError(f"trial {trial.number} ({shown_values}): {e}") from None
        trial.set_user_attr("epochs", len(result.history))
        trial.set_user_attr("seconds", round(time.perf_counter() - started, 3))
        if reporter.pruned_epoch is not None:
            raise optuna.TrialPruned(f"at epoch {reporter.pruned_epoch}")
        value = result.history[-1][metric]
        if not math.isfinite(value):
            trial.set_user_attr("stopped", f"{metric} is {value} after the last epoch")
            raise optuna.TrialPruned(f"{metric} is {value}")
        return value


# ---- the study ----


def make_sampler(options: SearchOptions) -> PerTrialSeed:
    if options.strategy == "staged":
        return StagedSampler(options.n_trials, options.stages, options.keep, options.seed)
    if options.strategy == "optuna":
        return PerTrialSeed(lambda s: TPESampler(n_startup_trials=options.startup_trials, seed=s), options.seed)
    return PerTrialSeed(lambda s: RandomSampler(seed=s), options.seed)


def make_pruner(options: SearchOptions) -> BasePruner:
    if options.strategy != "optuna":
        return NopPruner()
    # MedianPruner compares at equal steps; step = epoch (1-based), so warm-up w allows pruning from epoch w + 1.
    return MedianPruner(n_startup_trials=options.startup_trials, n_warmup_steps=options.prune_warmup + 1)


def _identity(recipe_data: dict[str, Any], space: Space, options: SearchOptions, direction: str) -> dict[str, Any]:
    """What every worker of a study must agree on; stored in the study's user attributes."""
    return {"recipe": recipe_data, "space": space.spec(), "strategy": options.strategy,
            "metric": options.metric, "direction": direction}


def _join(study: optuna.Study, identity: dict[str, Any]) -> None:
    """Record the study's identity, or check that this worker matches the one recorded."""
    if "trainlab" not in study.user_attrs:
        study.set_user_attr("trainlab", identity)
    recorded = study.user_attrs["trainlab"]
    differs = [k for k in identity if recorded.get(k) != identity[k]]
    if differs:
        raise TrainlabError(f"--study {study.study_name}: this study was started with a different "
                            f"{' and '.join(differs)}; use the same files and flags, or a new --study name")


@dataclass
class SearchResult:
    study: optuna.Study
    out: Path
    report: Path
    best_recipe: Path | None

    @property
    def best_trial(self) -> FrozenTrial | None:
        complete = self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        return self.study.best_trial if complete else None


def open_search(recipe: str | Path | dict[str, Any], space: str | Path | dict[str, Any],
                options: SearchOptions) -> tuple[optuna.Study, dict[str, Any], Space, Path]:
    """Check everything, open (or create) the study and the output folder; run no trial."""
    options.check()
    _check_metric(options.metric)
    recipe_data = load_recipe_data(recipe, options.overrides)
    parsed = load_space(space)
    check_space(parsed, recipe_data)
    study_name = options.study or validate_recipe(recipe_data).name
    out = Path(options.out or Path("runs") / f"search-{study_name}")
    out.mkdir(parents=True, exist_ok=True)
    url = options.storage or default_url(out)
    direction = direction_of(options.metric, options.direction)
    marker = {"study": study_name, "storage": shown(url)}
    marker_path = out / "search.json"
    if marker_path.is_file() and read_json(marker_path, "search.json") != marker:
        raise TrainlabError(f"--out {out}: holds the search {marker_path.read_text().strip()}; "
                            "use another --out for another study or storage")
    storage = open_storage(url, options.heartbeat, options.grace)
    study = optuna.create_study(storage=storage, study_name=study_name, direction=direction,
                                sampler=make_sampler(options), pruner=make_pruner(options), load_if_exists=True)
    _join(study, _identity(recipe_data, parsed, options, direction))
    atomic_write(marker_path, json.dumps(marker).encode())
    return study, recipe_data, parsed, out


def _announce(log: Callable[[str], None], options: SearchOptions) -> Callable[[optuna.Study, FrozenTrial], None]:
    def announce(study: optuna.Study, trial: FrozenTrial) -> None:
        attrs = trial.user_attrs
        if attrs.get("surplus"):
            log(f"trial {trial.number}: not needed, the budget of {options.n_trials} is full")
            return
        stage = f" (stage {attrs['stage']})" if "stage" in attrs else ""
        values = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                           for k, v in attrs.get("values", {}).items())
        if trial.state == TrialState.COMPLETE:
            outcome = f"{options.metric} {trial.value:.4g}"
        elif trial.state == TrialState.PRUNED:
            outcome = attrs.get("stopped") or f"pruned at epoch {attrs.get('epochs', '?')}"
        else:
            outcome = "failed"
        done = len(study.get_trials(deepcopy=False, states=FINISHED))
        log(f"trial {trial.number}{stage}: {values} → {outcome}   [{done}/{options.n_trials} done]")
    return announce


def work(study: optuna.Study, objective: Objective, n_trials: int, poll: float,
         callbacks: list[Callable[[optuna.Study, FrozenTrial], None]] = ()) -> None:
    """Run trials until the study has ``n_trials`` finished ones (counting every worker's)."""
    while True:
        fail_stale_trials(study)
        trials = study.get_trials(deepcopy=False)
        finished = sum(t.state in FINISHED for t in trials)
        running = sum(t.state == TrialState.RUNNING for t in trials)
        if finished >= n_trials:
            return
        if finished + running >= n_trials:  # the rest is running elsewhere: wait for it (or its heartbeat to stop)
            time.sleep(poll)
            continue
        study.optimize(objective, n_trials=1, catch=(SurplusTrial,), callbacks=list(callbacks), gc_after_trial=True)


def _redacting(log: Callable[[str], None]) -> Callable[[str], None]:
    """``log`` with passwords in URIs hidden from every line."""
    return lambda line: log(redact(line))


def search(recipe: str | Path | dict[str, Any], space: str | Path | dict[str, Any], options: SearchOptions,
           log: Callable[[str], None] = print, output: list[Callback] = ()) -> SearchResult:
    """Run (or join) a search; return when the study has ``options.n_trials`` finished trials.

    Writes ``OUT/trials/<number>/`` per trial, ``OUT/report.html`` and ``OUT/best.yaml``.
    """
    from trainlab.tools.search_report import write_best_recipe, write_search_report

    log = _redacting(log)
    study, recipe_data, parsed, out = open_search(recipe, space, options)
    done = len(study.get_trials(deepcopy=False, states=FINISHED))
    log(f"search: study '{study.study_name}' in {shown(options.storage or default_url(out))}, "
        f"{options.strategy}, {study.direction.name.lower()} {options.metric}; {done}/{options.n_trials} trials done")
    # MLflow: the study is a parent run, every trial's recipe names it (tracking.parent)
    study_key = f"{study.study_name} {shown(options.storage or default_url(out))}"
    parent = ParentRun.open(validate_recipe(recipe_data), out, study_key, f"search-{study.study_name}", "search",
                            {"space": parsed.spec(), "strategy": options.strategy, "metric": options.metric,
                             "trials": options.n_trials})
    trial_data = {**recipe_data, "tracking": parent.child_spec()} if parent is not None else recipe_data
    objective = Objective(trial_data, parsed, options, out, study.sampler, list(output))
    poll = min(options.heartbeat, 2)
    work(study, objective, options.n_trials, poll, [_announce(log, options)])
    best = write_best_recipe(study, parsed, recipe_data, out)
    report = write_search_report(study, parsed, out, options.metric, shown(options.storage or default_url(out)))
    if parent is not None:
        complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        parent.close(True, {f"best_{options.metric}": study.best_value} if complete else None,
                     [report] + ([best] if best is not None else []))
    return SearchResult(study, out, report, best)

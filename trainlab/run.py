"""The Run stage: execute a recipe, write its run directory, resume a killed run, reload a model.

A run directory (:mod:`trainlab.rundir`) holds ``recipe.yaml`` (resolved, with versions), ``run.json``
(status, data shape, final metrics with the final weights' eval-mode ``train_eval_*`` metrics),
``metrics.csv``, ``events.jsonl``, ``checkpoints/``, ``findings.json`` (the doctor's, written as the
run ends) and ``report.html`` (rendered from those files); with ``diagnose`` also ``probes.csv`` and
``probe_histograms.json``.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import TensorDataset

from trainlab import registry
from trainlab.data.batching import LoaderBatches, TensorBatches
from trainlab.data.datasets import Dataset
from trainlab.data.preprocess import Preprocessor
from trainlab.data.split import split_dataset
from trainlab.diagnose.doctor import diagnose
from trainlab.diagnose.live import DoctorCallback
from trainlab.diagnose.probes import Probes
from trainlab.ensemble import evaluate_ensemble, snapshot_callback, snapshot_ends
from trainlab.errors import CheckpointError, RecipeError, TrainlabError
from trainlab.nn.augment import Augment
from trainlab.nn.init import apply_init
from trainlab.nn.noise import GaussianNoise
from trainlab.nn.penalties import make_penalty, make_proximal_step
from trainlab.optim.schedules import with_warmup
from trainlab.optim.schedules.base import monitored
from trainlab.optim.stages import has_line_search_stops, line_search_stop, uses_line_search
from trainlab.predict import Predictor
from trainlab.recipe import Recipe
from trainlab.report.html import write_report
from trainlab.rundir import RunDir, latest_checkpoint, snapshot_files, versions
from trainlab.train.callbacks import Callback, LoopState
from trainlab.train.checkpoint import (
    load_checkpoint,
    optimizer_from_parts,
    optimizer_to_parts,
    save_checkpoint,
    split_prefix,
)
from trainlab.train.early_stopping import BestCheckpoint, EarlyStopping
from trainlab.train.loop_parts import ProximalStep, RecordLosses, schedule_step
from trainlab.train.metrics import DEFAULT_LOSS, DEFAULT_METRICS, metric_task
from trainlab.train.outputs import Checkpointer, CSVLogger, EventLog, LineSearchStops, StepCheckpointer
from trainlab.train.trainer import Trainer

TENSOR_PATH_LIMIT = 2 * 1024**3  # bytes of training data kept on the device on the "auto" loader
__all__ = ["RunResult", "Setup", "build", "latest_checkpoint", "load_model", "restore", "resume_run", "run_recipe",
           "save_run_checkpoint", "versions"]  # latest_checkpoint, versions: from trainlab.rundir


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA, then MPS, then the CPU; an unavailable device is a clear error."""
    available = {"cpu": True, "cuda": torch.cuda.is_available(), "mps": torch.backends.mps.is_available()}
    if name == "auto":
        return torch.device(next(d for d in ("cuda", "mps", "cpu") if available[d]))
    if not available[name]:
        raise TrainlabError(f"device: '{name}' is not available on this machine; use 'auto' or 'cpu'")
    return torch.device(name)


@dataclass
class Setup:
    """Everything a recipe builds before training: data on the device, model, optimizer, loop."""

    recipe: Recipe
    device: torch.device
    task: str
    data_info: dict[str, Any]
    preprocessor: Preprocessor
    model: torch.nn.Module
    trainer: Trainer
    train: Any
    val: Any
    test: Any
    loss: str
    metrics: list[str] = field(default_factory=list)
    scheduler: Any = None  # the learning-rate schedule (its state goes into checkpoints), or None


def _check_data(name: str, x: np.ndarray, y: np.ndarray) -> None:
    if not np.isfinite(x).all():
        bad = np.argwhere(~np.isfinite(x))[0]
        raise TrainlabError(f"data.name '{name}': the inputs contain NaN or inf (first at example {bad[0]})")
    if y.dtype.kind == "f" and not np.isfinite(y).all():
        raise TrainlabError(f"data.name '{name}': the targets contain NaN or inf")


def _task_choices(recipe: Recipe, task: str) -> tuple[str, list[str]]:
    loss = DEFAULT_LOSS[task] if recipe.loss == "auto" else recipe.loss
    names = DEFAULT_METRICS[task] if recipe.metrics == "auto" else list(recipe.metrics)
    wrong = [m for m in names if metric_task(m) not in (None, task)]
    if wrong:
        fits = [m for m in registry.metrics.names() if metric_task(m) in (None, task)]
        raise RecipeError([f"metrics: {wrong} do not apply to {task} data '{recipe.data.name}'; use {fits}"])
    if (task == "classification") != (loss == "cross_entropy"):
        raise RecipeError([f"loss: '{loss}' does not fit {task} data '{recipe.data.name}'; use '{DEFAULT_LOSS[task]}'"])
    return loss, names


def _input_stats(x: torch.Tensor) -> dict[str, float]:
    """Per-feature statistics of the network's (preprocessed) training inputs, for the doctor."""
    flat = x.reshape(len(x), -1).double()
    std = flat.std(dim=0)
    return {"mean_abs_max": flat.mean(dim=0).abs().max().item(), "std_median": std.median().item(),
            "std_min": std.min().item(), "std_max": std.max().item()}


def _class_counts(task: str, y: np.ndarray) -> dict[str, list[int]]:
    return {"class_counts": np.bincount(y).tolist()} if task == "classification" else {}


def _check_fits(model: torch.nn.Module, x: torch.Tensor, recipe: Recipe) -> None:
    """One forward pass in evaluation mode (no statistics updated, no random numbers drawn), so a
    model that cannot take the data's shape fails here, with names, not deep inside torch."""
    model.eval()
    try:
        with torch.no_grad():
            model(x)
    except RuntimeError as e:
        raise RecipeError([(f"model: '{recipe.model.name}' cannot take inputs of shape {tuple(x.shape[1:])} from "
                           f"data '{recipe.data.name}' ({str(e).splitlines()[0]}); use a model for that shape, "
                           "e.g. mlp for flat features")]) from None
    finally:
        model.train()


def _make(section: str, factory, *args, **kwargs):
    """Call a factory; a ValueError about its parameters becomes a recipe error naming the section."""
    try:
        return factory(*args, **kwargs)
    except ValueError as e:
        raise RecipeError([f"{section}: {e}"]) from None


_RANDOM_IN_TRAINING = (torch.nn.Dropout, torch.nn.RReLU, GaussianNoise, Augment)


def _check_line_search(model: torch.nn.Module, optimizer: torch.optim.Optimizer, name: str) -> None:
    """L-BFGS/BFGS evaluate the loss several times per step and assume the same function each time;
    dropout, noise, augmentation and RReLU draw anew at every evaluation, which breaks the line search."""
    if not uses_line_search(optimizer):
        return
    random = sorted({type(m).__name__ for m in model.modules() if isinstance(m, _RANDOM_IN_TRAINING)})
    if random:
        message = (f"optim.name: '{name}' uses a line search, which needs the same loss function at every "
                   f"evaluation, but the model draws random numbers in training ({', '.join(random)}); "
                   "remove dropout/noise/augmentation/rrelu or use a first-order optimizer")
        raise RecipeError([message])


def _scheduler(recipe: Recipe, optimizer: torch.optim.Optimizer, steps_per_epoch: int):
    """The recipe's schedule, wrapped in its warm-up; schedules needing the run's length (one_cycle's
    ``total``) get the number of intervals after the warm-up unless the recipe sets it."""
    spec = recipe.schedule
    entry = registry.schedules.get(spec.name)
    params = entry.validate(spec.params())
    if "total" in entry.recipe_parameters() and params.get("total") is None:
        per_run = recipe.stopping.epochs * (1 if spec.interval == "epoch" else steps_per_epoch)
        params["total"] = per_run - spec.warmup
    if "intervals_per_epoch" in inspect.signature(entry.factory).parameters:  # cyclic: a half cycle in epochs
        params["intervals_per_epoch"] = 1 if spec.interval == "epoch" else steps_per_epoch
    scheduler = _make("schedule", entry.factory, optimizer, **params)
    return _make("schedule.warmup", with_warmup, optimizer, scheduler, spec.warmup, spec.warmup_start)


def _loop_parts(optimizer: torch.optim.Optimizer, scheduler, recipe: Recipe, train, proximal_step,
                loss_fn) -> list[Callback]:
    """The loop's optional parts this recipe needs (trainlab.train.loop_parts), and nothing else; the
    optimizer's own (full batches, a chain's switch) the Trainer adds from the optimizer."""
    parts: list[Callback] = []
    if scheduler is not None:
        parts.append(schedule_step(scheduler, recipe.schedule.interval, monitored(scheduler)))
    if proximal_step is not None:
        parts.append(ProximalStep(proximal_step))
    sampler = train.sampler
    if sampler is not None and sampler.wants_losses:
        parts.append(RecordLosses(sampler.record, lambda: train.last_index, loss_fn))
    return parts


def load_data(recipe: Recipe) -> Dataset:
    """The recipe's data set, from its registered (or imported) factory."""
    entry = registry.datasets.get(recipe.data.name)
    return _make("data", entry.factory, seed=recipe.seed, **entry.validate(recipe.data.params()))


def build(recipe: Recipe, callbacks: list[Callback] = (), data: Dataset | None = None) -> Setup:
    """Load and split the data, fit preprocessing on train, build model, optimizer and Trainer.

    ``data``: arrays already in memory (a :class:`trainlab.data.datasets.Dataset`) instead of the
    recipe's ``data.name``; the split, batching and preprocessing settings of ``recipe.data`` apply."""
    device, dtype = resolve_device(recipe.device), getattr(torch, recipe.precision)
    torch.manual_seed(recipe.seed)
    data = load_data(recipe) if data is None else data
    _check_data(recipe.data.name, data.x, data.y)
    loss_name, metric_names = _task_choices(recipe, data.task)
    splits = split_dataset(data, recipe.data.val_fraction, recipe.data.test_fraction, recipe.seed)

    prep_spec = recipe.data.preprocess
    prep_entry = registry.preprocessors.get(prep_spec.name)
    x_train = torch.as_tensor(splits.train[0])
    preprocessor = _make("data.preprocess", prep_entry.factory, **prep_entry.validate(prep_spec.params()))
    _make("data.preprocess", preprocessor.fit, x_train)

    batch_size = {"online": 1, "fullbatch": len(x_train)}.get(recipe.data.batch_mode, recipe.data.batch_size)

    # Evaluation batches only bound memory (no dropout, batch norm in eval mode): online learning
    # still evaluates data.batch_size examples at a time.
    eval_size = recipe.data.batch_size if recipe.data.batch_mode == "online" else batch_size

    def batches(split, shuffle: bool, on_device: bool, sampler=None, size: int = batch_size):
        if split is None:
            return None
        x, y = preprocessor(torch.as_tensor(split[0])).to(dtype), torch.as_tensor(split[1])
        if y.is_floating_point():  # regression targets follow the precision; class labels stay integers
            y = y.to(dtype)
        if on_device:
            return TensorBatches(x.to(device), y.to(device), size, shuffle, recipe.seed, sampler)
        return LoaderBatches(TensorDataset(x, y), size, shuffle, recipe.seed, device, sampler=sampler)

    loader = recipe.data.loader
    on_device = loader == "tensor" or (loader == "auto" and x_train.nbytes <= TENSOR_PATH_LIMIT)
    sampler = None
    if recipe.data.sampler.name != "shuffle" and recipe.data.shuffle:
        sampler_entry = registry.samplers.get(recipe.data.sampler.name)
        sampler = _make("data.sampler", sampler_entry.factory,
                        y=torch.as_tensor(splits.train[1]).to(device if on_device else "cpu"),
                        batch_size=batch_size, **sampler_entry.validate(recipe.data.sampler.params()))
    train = batches(splits.train, recipe.data.shuffle, on_device, sampler)
    val, test = (batches(split, False, on_device, size=eval_size) for split in (splits.val, splits.test))

    # Preprocessing may change the number of features (PCA with k components): build for its output.
    input_shape = tuple(preprocessor(x_train[:1]).shape[1:])
    model_entry = registry.models.get(recipe.model.name)
    model = _make("model", model_entry.factory, input_shape=input_shape, n_outputs=data.n_outputs,
                  **model_entry.validate(recipe.model.params()))
    _make("model.init", apply_init, model, recipe.model.init)
    _check_fits(model, preprocessor(x_train[:2]), recipe)
    model.to(device=device, dtype=dtype)

    optim_entry = registry.optimizers.get(recipe.optim.name)
    optimizer = _make("optim", optim_entry.factory, model, **optim_entry.validate(recipe.optim.params()))
    _check_line_search(model, optimizer, recipe.optim.name)
    scheduler = _scheduler(recipe, optimizer, len(train))
    if recipe.diagnose is not None:  # probes kept in memory; a run directory gets them as files (_execute)
        spec = recipe.diagnose
        callbacks = [*callbacks, Probes(spec.every, spec.histograms, spec.bins)]
    early = recipe.stopping.early
    if early is not None:
        callbacks = [*callbacks, EarlyStopping(early.monitor, early.mode, early.min_delta, early.patience,
                                               early.restore_best_weights)]
    penalty_specs = [(p.name, p.weight, p.params(), p.per_layer) for p in recipe.penalties]
    penalty = _make("penalties", make_penalty, model, penalty_specs)
    proximal_step = _make("penalties", make_proximal_step, model, penalty_specs, optimizer)
    loss_fn = registry.losses.get(loss_name).factory()
    callbacks = [*callbacks, *_loop_parts(optimizer, scheduler, recipe, train, proximal_step, loss_fn)]
    trainer = Trainer(model, optimizer, loss_fn, metrics={m: registry.metrics.get(m).factory() for m in metric_names},
                      penalty=penalty, callbacks=callbacks)
    info = {"task": data.task, "input_shape": list(data.input_shape), "model_input_shape": list(input_shape),
            "n_outputs": data.n_outputs,
            "class_names": data.class_names, "n_train": len(splits.train[0]),
            "n_val": 0 if splits.val is None else len(splits.val[0]),
            "n_test": 0 if splits.test is None else len(splits.test[0]),
            "input_stats": _input_stats(preprocessor(x_train)), **_class_counts(data.task, splits.train[1])}
    setup = Setup(recipe, device, data.task, info, preprocessor, model, trainer, train, val, test, loss_name, metric_names,
                  scheduler)
    if recipe.snapshots is not None:
        snapshot_ends(setup)  # a schedule with no cycle end inside the run fails now, not after training
    return setup


# ---- checkpoints of a whole run ----


def _rng_tensors(device: torch.device) -> dict[str, torch.Tensor]:
    tensors = {"rng.torch": torch.get_rng_state()}
    if device.type == "cuda":
        tensors["rng.cuda"] = torch.cuda.get_rng_state(device)
    return tensors


def save_run_checkpoint(run_dir: Path, setup: Setup, state: LoopState, name: str | None = None,
                        within_epoch: bool = False) -> Path:
    """Write ``checkpoints/epoch-NNNN`` (or ``checkpoints/NAME``): weights, optimizer, schedule, RNG,
    preprocessing, sampler and callback states, history. ``within_epoch``: a checkpoint inside the
    epoch after NNNN, ``epoch-NNNN-batch-BBBBBB``, which also holds the position in the epoch and its
    running sums; it replaces older such checkpoints once it is written."""
    trainer = setup.trainer
    optim_tensors, optim_rest = optimizer_to_parts(trainer.optimizer)
    tensors = {f"model.{k}": v for k, v in setup.model.state_dict().items()}
    tensors.update({f"optimizer.{k}": v for k, v in optim_tensors.items()})
    tensors.update({f"preprocess.{k}": v for k, v in setup.preprocessor.state_dict().items()})
    tensors.update(_rng_tensors(setup.device))
    sampler = setup.train.sampler
    if sampler is not None:
        tensors.update({f"sampler.{k}": v for k, v in sampler.state_dict().items()})
    callbacks = {}
    for callback in trainer.callbacks:
        cb_state = dict(callback.state_dict())
        name_ = type(callback).__name__
        tensors.update({f"callback.{name_}.{k}": v for k, v in cb_state.pop("tensors", {}).items()})
        callbacks[name_] = cb_state
    body = {
        "epoch": len(state.history), "step": state.step, "history": state.history, "optimizer": optim_rest,
        "scheduler": setup.scheduler.state_dict() if setup.scheduler is not None else None,
        "callbacks": callbacks,
    }
    name = name or f"epoch-{len(state.history):04d}"
    if within_epoch:
        name += f"-batch-{state.batch:06d}"
        body["within_epoch"] = {"batch": state.batch, "seen": state.seen, "lr": state.lr,
                                "sums": torch.stack(state.sums).tolist()}
    run = RunDir(run_dir)
    path = save_checkpoint(run.checkpoint(name), tensors, body)
    for old in run.within_epoch_checkpoints():
        if old != path and old.stem < path.stem:  # superseded: the commit record goes first
            old.unlink(missing_ok=True)
            old.with_suffix(".safetensors").unlink(missing_ok=True)
    return path


def restore(setup: Setup, checkpoint: Path) -> None:
    """Load a run checkpoint into ``setup`` so training continues exactly where it stopped."""
    tensors, body = load_checkpoint(checkpoint)
    trainer = setup.trainer
    try:
        setup.model.load_state_dict(split_prefix(tensors, "model"))
        trainer.optimizer.load_state_dict(optimizer_from_parts(split_prefix(tensors, "optimizer"), body["optimizer"]))
        if setup.scheduler is not None:
            setup.scheduler.load_state_dict(body["scheduler"])
    except (RuntimeError, KeyError, ValueError) as e:
        raise CheckpointError(f"checkpoint {checkpoint} does not match this recipe's model: {e}") from None
    setup.preprocessor.load_state_dict(split_prefix(tensors, "preprocess"))
    torch.set_rng_state(tensors["rng.torch"])
    if "rng.cuda" in tensors and setup.device.type == "cuda":
        torch.cuda.set_rng_state(tensors["rng.cuda"], setup.device)
    sampler = setup.train.sampler
    if sampler is not None:
        sampler.load_state_dict(split_prefix(tensors, "sampler"))
    for callback in trainer.callbacks:
        name = type(callback).__name__
        cb_state = dict(body["callbacks"].get(name, {}))
        cb_tensors = split_prefix(tensors, f"callback.{name}")
        if cb_tensors:
            cb_state["tensors"] = cb_tensors
        callback.load_state_dict(cb_state)
    trainer.state.history = list(body["history"])
    trainer.state.step = body["step"]
    if body.get("within_epoch"):
        trainer.resume_within_epoch(**body["within_epoch"], replay=sampler.replay if sampler is not None else None)


# ---- run directories ----


@dataclass
class RunResult:
    run_dir: Path
    history: list[dict[str, float]]
    test: dict[str, float]


def _columns(setup: Setup) -> list[str]:
    metrics = ["loss", *setup.metrics]
    val = [f"val_{m}" for m in metrics] if setup.val is not None else []
    return ["epoch", "lr", *metrics, *val, "seconds"]


def _line_search(stops: LineSearchStops | None) -> dict:
    """run.json's ``lbfgs`` entry: why the L-BFGS steps ended (torch does not say)."""
    return {"lbfgs": stops.summary()} if stops is not None else {}


def _save_within_epoch(run_dir: Path, setup: Setup, state: LoopState) -> Path:
    for callback in setup.trainer.callbacks:  # probe rows up to this step belong with the checkpoint
        if isinstance(callback, Probes):
            callback.flush()
    return save_run_checkpoint(run_dir, setup, state, within_epoch=True)


def _train_in_order(setup: Setup) -> TensorBatches | LoaderBatches:
    """The training split once, in order and without the sampler, to evaluate the final weights on it
    in evaluation mode, like the validation split (dropout and noise off, batch norm frozen)."""
    train, data = setup.train, setup.recipe.data
    size = data.batch_size if data.batch_mode == "online" else train.batch_size  # batches only bound memory
    if isinstance(train, TensorBatches):
        return TensorBatches(train.x, train.y, size, shuffle=False)  # the same tensors, no copy
    return LoaderBatches(train.dataset, size, shuffle=False, device=train.device)


def _execute(run: RunDir, setup: Setup, output: list[Callback], checkpoint: Path | None) -> RunResult:
    recipe, trainer, run_dir = setup.recipe, setup.trainer, run.path
    events = EventLog(run.events_file)
    trainer.callbacks = sorted(
        [*trainer.callbacks, *output, CSVLogger(run.metrics_file, _columns(setup)), events,
         Checkpointer(recipe.checkpoint.every, lambda s: save_run_checkpoint(run_dir, setup, s), events)]
        + ([StepCheckpointer(recipe.checkpoint.every_steps, lambda s: _save_within_epoch(run_dir, setup, s), events)]
           if recipe.checkpoint.every_steps else [])
        + ([BestCheckpoint(recipe.checkpoint.keep_best, lambda s: save_run_checkpoint(run_dir, setup, s, "best"))]
           if recipe.checkpoint.keep_best else []),
        key=lambda c: c.order,
    )
    probes = [c for c in trainer.callbacks if isinstance(c, Probes)]
    for probe in probes:
        probe.run_dir = run_dir
    # Live doctor: rules on the history and the last probe step's rows, once per epoch.
    latest = (lambda: probes[0].latest) if probes else None
    trainer.callbacks.append(DoctorCallback(recipe.to_dict(), setup.data_info, probes=latest))
    if recipe.snapshots is not None:
        trainer.callbacks.append(snapshot_callback(run_dir, setup, recipe.snapshots.keep))
    optimizer = trainer.optimizer
    line_search = LineSearchStops(lambda: line_search_stop(optimizer)) if has_line_search_stops(optimizer) else None
    if line_search is not None:
        trainer.callbacks.append(line_search)
    trainer.callbacks.sort(key=lambda c: c.order)
    if checkpoint is not None:
        restore(setup, checkpoint)
        events.write("resume", epoch=len(trainer.state.history), checkpoint=checkpoint.name)
    status = run.status()
    status.update(status="running", device=str(setup.device), data=setup.data_info)
    run.write_status(status)
    try:
        history = trainer.fit(setup.train, setup.val, recipe.stopping.epochs)
    except TrainlabError as e:
        for probe in probes:  # the steps before a failure are the evidence the doctor needs
            probe.close()
        status.update(status="failed", error=str(e), **_line_search(line_search))
        run.write_status(status)
        _finish(run)
        raise
    test = {f"test_{k}": v for k, v in trainer.evaluate(setup.test).items()} if setup.test is not None else {}
    final = dict(history[-1]) if history else {}
    if history:  # the train error the doctor compares with the validation error: no dropout or noise
        final.update({f"train_eval_{k}": v for k, v in trainer.evaluate(_train_in_order(setup)).items()})
    status.update(status="finished", epochs=len(history), final=final, test=test,
                  **_line_search(line_search))
    if recipe.snapshots is not None and snapshot_files(run.snapshots) and (setup.test is not None or setup.val is not None):
        status["snapshots"] = evaluate_ensemble(setup).to_dict()
    run.write_status(status)
    _finish(run)
    return RunResult(run_dir, history, test)


def _finish(run: RunDir) -> None:
    """The doctor writes findings.json, then the report renders the directory."""
    try:
        diagnose(run.path)
    except Exception as e:  # noqa: BLE001  (a doctor that cannot read the run must not lose it; the report says so)
        run.write_findings([], error=str(e))
    _report(run.path)


def _report(run_dir: Path) -> None:
    write_report(run_dir)


def run_recipe(recipe: Recipe, runs_dir: str | Path = "runs", output: list[Callback] = (),
               run_dir: str | Path | None = None, writer: str = "trainlab") -> RunResult:
    """Train ``recipe`` in a new directory under ``runs_dir`` (or in ``run_dir`` exactly, which must
    not exist yet); ``output`` adds progress callbacks; ``writer`` names the command in recipe.yaml."""
    setup = build(recipe)
    if run_dir is None:
        run = RunDir.create(runs_dir, recipe.name)
    else:
        run = RunDir(run_dir)
        try:
            run.path.mkdir(parents=True)
        except FileExistsError:
            raise TrainlabError(f"{run.path} already exists; a new run needs a new directory") from None
    run.start(recipe, writer)
    return _execute(run, setup, list(output), None)


def resume_run(run_dir: str | Path, output: list[Callback] = ()) -> RunResult:
    """Continue a killed run from its newest checkpoint (from scratch if it has none)."""
    run = RunDir(run_dir)
    if not run.is_run():
        raise TrainlabError(f"--resume {run.path}: not a trainlab run directory (no recipe.yaml / run.json)")
    if run.status().get("status") == "finished":
        raise TrainlabError(f"--resume {run.path}: this run already finished; start a new one with trainlab run")
    setup = build(run.recipe())
    return _execute(run, setup, list(output), run.latest_checkpoint())


def load_model(run_dir: str | Path) -> Predictor:
    """The newest checkpoint of ``run_dir`` as a :class:`trainlab.predict.Predictor`."""
    return Predictor(run_dir)

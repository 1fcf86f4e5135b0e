"""The Run stage: execute a recipe, write its run directory, resume a killed run, reload a model.

A run directory (:mod:`trainlab.rundir`) holds ``recipe.yaml`` (resolved, with versions), ``run.json``
(status, data shape, final metrics with the final weights' eval-mode ``train_eval_*`` metrics),
``metrics.csv``, ``events.jsonl``, ``checkpoints/``, ``findings.json`` (the doctor's, written as the
run ends) and ``report.html`` (rendered from those files); with ``diagnose`` also ``probes.csv`` and
``probe_histograms.json``.
"""
from __future__ import annotations

import inspect
import json
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn.modules.lazy import LazyModuleMixin
from torch.utils.data import TensorDataset

from trainlab import registry
from trainlab.data.batching import LoaderBatches, TensorBatches
from trainlab.data.datasets import Dataset
from trainlab.data.files import changed_files
from trainlab.data.preprocess import Preprocessor
from trainlab.data.shards import ShardedBatches
from trainlab.data.split import split_dataset
from trainlab.data.streaming import Streamed, sample, split_streamed
from trainlab.data.targets import TargetScale
from trainlab.data.user import from_python
from trainlab.diagnose.doctor import diagnose
from trainlab.diagnose.live import DoctorCallback
from trainlab.diagnose.probes import Probes
from trainlab.ensemble import evaluate_ensemble, snapshot_callback, snapshot_ends
from trainlab.errors import CheckpointError, RecipeError, TrainlabError
from trainlab.nn.augment import Augment
from trainlab.nn.autoencoder import JointLoss, OnPretrained, make_network, pretrained_parameters, reconstruction_targets
from trainlab.nn.init import apply_init
from trainlab.nn.noise import GaussianNoise, WeightNoise, add_weight_noise
from trainlab.nn.penalties import make_penalty, make_proximal_step
from trainlab.nn.transfer import (
    copy_weights,
    freeze_plan,
    head_name,
    parameter_rates,
    read_weights,
    replace_head,
    set_frozen,
)
from trainlab.optim.optimizers import discriminative_rates
from trainlab.optim.schedules import with_warmup
from trainlab.optim.schedules.base import monitored
from trainlab.optim.stages import has_line_search_stops, line_search_stop, uses_line_search
from trainlab.pde import physics_informed, solution
from trainlab.predict import Predictor
from trainlab.recipe import Recipe, check_monitors, load_recipe
from trainlab.report.html import render_report, write_report
from trainlab.report.notebook import plot_run, run_html
from trainlab.rundir import (
    REPORT,
    RunDir,
    created_status,
    findings_record,
    latest_checkpoint,
    snapshot_files,
    status_bytes,
    versions,
)
from trainlab.safety.atomic import atomic_write
from trainlab.tracking import end_tracking, trackers_for
from trainlab.train import distributed
from trainlab.train.background import BackgroundWriter
from trainlab.train.callbacks import Callback, LoopState
from trainlab.train.checkpoint import (
    CheckpointSnapshot,
    HistoryJSON,
    PackedTensors,
    encode_snapshot,
    load_checkpoint,
    optimizer_from_parts,
    optimizer_to_parts,
    snapshot_checkpoint,
    split_prefix,
    unpack_tensors,
    write_checkpoint,
)
from trainlab.train.early_stopping import BestCheckpoint, EarlyStopping
from trainlab.train.freezing import FreezeSchedule
from trainlab.train.loop_parts import ClipGradients, ProximalStep, RecordLosses, schedule_step
from trainlab.train.metrics import DEFAULT_LOSS, DEFAULT_METRICS, higher_is_better, metric_task
from trainlab.train.outputs import Checkpointer, CSVLogger, EventLog, LineSearchStops, StepCheckpointer
from trainlab.train.precision import weight_dtype
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
    target_scale: TargetScale | None = None  # regression targets standardized for training (saved, inverted by predict)
    sources: dict[str, Any] = field(default_factory=dict)  # where starting weights came from (run.json's "weights")


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
    if (task == "classification") != (loss == "cross_entropy") or (task == "pde") != (loss == "pde"):
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
    empty = [name for name, p in model.named_parameters()
             if not isinstance(p, torch.nn.parameter.UninitializedParameter) and p.numel() == 0]
    if empty:  # hidden: [0] builds a layer that passes nothing on: a dead model, not a model
        raise RecipeError([f"model: layer sizes of 0 ({', '.join(empty[:4])} have no weights); every size must be >= 1"])
    model.eval()
    try:
        with torch.no_grad():
            model(x)
    except (RuntimeError, MemoryError) as e:
        if _out_of_memory(e):
            raise RecipeError([f"model: out of memory in one forward pass of {len(x)} examples "
                               f"({_first_line(e)}); use smaller layer sizes"]) from None
        raise RecipeError([(f"model: '{recipe.model.name}' cannot take inputs of shape {tuple(x.shape[1:])} from "
                           f"data '{recipe.data.name}' ({str(e).splitlines()[0]}); use a model for that shape, "
                           "e.g. mlp for flat features")]) from None
    finally:
        model.train()


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0][:200]


def _out_of_memory(error: BaseException) -> bool:
    """Whether ``error`` says an allocation failed (CPU, CUDA or MPS), rather than a shape mismatch."""
    text = str(error).lower()
    return isinstance(error, MemoryError) or "out of memory" in text or "can't allocate memory" in text \
        or "not enough memory" in text


def _make(section: str, factory, *args, **kwargs):
    """Call a factory; a ValueError about its parameters, a negative size or an allocation that
    fails becomes a recipe error naming the section."""
    try:
        with warnings.catch_warnings():  # a size of 0 is refused with its name by _check_fits instead
            warnings.filterwarnings("ignore", message="Initializing zero-element tensors")
            return factory(*args, **kwargs)
    except ValueError as e:
        raise RecipeError([f"{section}: {e}"]) from None
    except (RuntimeError, MemoryError) as e:
        if _out_of_memory(e):
            raise RecipeError([f"{section}: the sizes ask for more memory than this machine has "
                               f"({_first_line(e)}); use smaller sizes"]) from None
        if "negative dimension" in str(e):
            raise RecipeError([f"{section}: a size is negative ({_first_line(e)}); every size must be >= 1"]) from None
        raise


_RANDOM_IN_TRAINING = (torch.nn.Dropout, torch.nn.RReLU, GaussianNoise, WeightNoise, Augment)


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


def _check_step_options(recipe: Recipe, optimizer: torch.optim.Optimizer) -> None:
    """A line search (and a full-batch epoch) evaluates one exact loss per step: no accumulation, no autocast."""
    problems = []
    searches = uses_line_search(optimizer)
    if recipe.accumulate > 1 and (searches or recipe.data.batch_mode == "fullbatch"):
        why = f"optim.name '{recipe.optim.name}' uses a line search" if searches else "data.batch_mode is fullbatch"
        problems.append(f"accumulate: {recipe.accumulate} sums gradients over batches, but {why}; accepted: 1")
    if recipe.precision in ("bf16", "fp16") and searches:
        problems.append(f"precision: '{recipe.precision}' rounds the losses a line search compares (optim.name "
                        f"'{recipe.optim.name}'); accepted: float32 or float64")
    if problems:
        raise RecipeError(problems)


def check_distributed(recipe: Recipe, world: int) -> None:
    """What training in ``world`` processes supports: shuffled mini-batches of in-memory tensors."""
    problems = []
    if recipe.data.loader == "dataloader":
        problems.append("data.loader: multi-process training shards in-memory tensors; accepted: tensor or auto")
    if recipe.data.batch_mode != "minibatch" or recipe.data.sampler.name != "shuffle":
        problems.append("data.batch_mode/data.sampler: multi-process training shards shuffled mini-batches; "
                        "accepted: batch_mode minibatch with the shuffle sampler")
    if recipe.data.batch_size < world:
        problems.append(f"data.batch_size: {recipe.data.batch_size} cannot be shared by {world} processes; "
                        f"accepted: at least {world}")
    for key, value in (("checkpoint.every_steps", recipe.checkpoint.every_steps), ("snapshots", recipe.snapshots),
                       ("diagnose", recipe.diagnose)):
        if value is not None:
            problems.append(f"{key}: not supported with several processes yet; remove it or train in one process")
    if problems:
        raise RecipeError(problems)


def _shard(recipe: Recipe, train: Any, val: Any, test: Any) -> tuple[Any, Any, Any]:
    """This process's shard of every training and evaluation batch (``trainlab run --nproc N``)."""
    rank, world = distributed.rank(), distributed.world_size()
    check_distributed(recipe, world)
    if not isinstance(train, TensorBatches):
        raise RecipeError(["data.loader: the training data is too large to keep on the device (loader auto), and "
                           "multi-process training shards in-memory tensors; train it in one process"])
    val, test = (ShardedBatches(b, rank, world, training=False) if b is not None else None for b in (val, test))
    return ShardedBatches(train, rank, world), val, test


def _step_options(recipe: Recipe, model: torch.nn.Module, device: torch.device) -> dict[str, Any]:
    """The Trainer's precision, accumulation and compile settings; with several processes, the
    DistributedDataParallel forward pass and the sum of the epoch's totals over the processes."""
    options = {"precision": recipe.precision, "accumulate": recipe.accumulate, "compile": recipe.compile}
    if distributed.world_size() > 1:
        options.update(forward=distributed.data_parallel(model, device), all_reduce=distributed.all_reduce_sum)
    return options


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
    clip = recipe.optim
    if clip.clip_norm is not None or clip.clip_value is not None:
        parts.append(ClipGradients(clip.clip_norm, clip.clip_value))
    if scheduler is not None:
        parts.append(schedule_step(scheduler, recipe.schedule.interval, monitored(scheduler)))
    if proximal_step is not None:
        parts.append(ProximalStep(proximal_step))
    sampler = train.sampler
    if sampler is not None and sampler.wants_losses:
        parts.append(RecordLosses(sampler.record, lambda: train.last_index, loss_fn))
    return parts


def load_data(recipe: Recipe) -> Dataset | Streamed:
    """The recipe's data set, from its registered (or imported) factory."""
    try:
        return registry.datasets.make({"name": recipe.data.name, **recipe.data.params()}, seed=recipe.seed)
    except (ValueError, TypeError) as e:
        raise RecipeError([f"data: {e}"]) from None


@dataclass
class _Inputs:
    """The data of a run, ready for the Trainer: batches per split, the fitted preprocessing, and a few
    preprocessed training examples (to size and check the model)."""

    train: Any
    val: Any
    test: Any
    preprocessor: Preprocessor
    sample: torch.Tensor
    info: dict[str, Any]
    target_scale: TargetScale | None = None


def _preprocessor(recipe: Recipe, x_train: torch.Tensor) -> Preprocessor:
    spec = recipe.data.preprocess
    entry = registry.preprocessors.get(spec.name)
    preprocessor = _make("data.preprocess", entry.factory, **entry.validate(spec.params()))
    _make("data.preprocess", preprocessor.fit, x_train)
    return preprocessor


def _batch_sizes(recipe: Recipe, n_train: int | None) -> tuple[int, int]:
    """Training batch size by batch mode, and the evaluation batch size (which only bounds memory: no
    dropout, batch norm in eval mode; online learning still evaluates data.batch_size at a time)."""
    if recipe.data.batch_mode == "fullbatch" and n_train is None:
        raise RecipeError(["data.batch_mode: 'fullbatch' needs a data set of known length, not an iterable one"])
    size = {"online": 1, "fullbatch": n_train}.get(recipe.data.batch_mode, recipe.data.batch_size)
    return size, recipe.data.batch_size if recipe.data.batch_mode == "online" else size


def _array_inputs(recipe: Recipe, data: Dataset, device: torch.device, dtype: torch.dtype) -> _Inputs:
    """The in-memory path: split, preprocess once, keep the tensors on the device (or a DataLoader over them)."""
    _check_data(recipe.data.name, data.x, data.y)
    splits = split_dataset(data, recipe.data.val_fraction, recipe.data.test_fraction, recipe.seed)
    x_train = torch.as_tensor(splits.train[0])
    preprocessor = _preprocessor(recipe, x_train)
    scale = TargetScale.fit(splits.train[1]) if data.task == "regression" and recipe.data.target_scale == "zscore" else None
    batch_size, eval_size = _batch_sizes(recipe, len(x_train))

    def batches(split, shuffle: bool, on_device: bool, sampler=None, size: int = batch_size):
        if split is None:
            return None
        x, y = preprocessor(torch.as_tensor(split[0])).to(dtype), torch.as_tensor(split[1])
        if y.is_floating_point():  # regression targets follow the precision; class labels stay integers
            y = (scale(y) if scale is not None else y).to(dtype)
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
    info = {"n_train": len(splits.train[0]), "n_val": 0 if splits.val is None else len(splits.val[0]),
            "n_test": 0 if splits.test is None else len(splits.test[0]),
            "input_stats": _input_stats(preprocessor(x_train)), **_class_counts(data.task, splits.train[1]),
            **_target_stats(data.task, splits.train[1], scale)}
    return _Inputs(train, val, test, preprocessor, preprocessor(x_train[:2]), info, scale)


def _streamed_inputs(recipe: Recipe, data: Streamed, device: torch.device, dtype: torch.dtype) -> _Inputs:
    """A user's torch Dataset through a DataLoader: preprocessing (and target scaling) fitted on a seeded
    sample of the training split and applied per batch on the device."""
    if recipe.data.sampler.name != "shuffle":
        raise RecipeError([f"data.sampler: '{recipe.data.sampler.name}' needs the labels in memory; a data set "
                           "read through a DataLoader takes only 'shuffle'"])
    train_set, val_set, test_set = split_streamed(data, recipe.data.val_fraction, recipe.data.test_fraction, recipe.seed)
    x_sample, y_sample = sample(train_set, recipe.seed)
    x_sample = x_sample.float()
    if not torch.isfinite(x_sample).all():
        raise TrainlabError(f"data.name '{recipe.data.name}': the inputs contain NaN or inf")
    preprocessor = _preprocessor(recipe, x_sample)
    regression = data.task == "regression"
    scale = TargetScale.fit(y_sample.numpy()) if regression and recipe.data.target_scale == "zscore" else None
    n_train = _length(train_set)
    batch_size, eval_size = _batch_sizes(recipe, n_train)

    def transform(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = preprocessor(x.float()).to(dtype)
        if y.is_floating_point():
            y = (scale(y) if scale is not None else y).to(dtype)
        return x, y.reshape(len(y), -1) if regression else y

    def batches(dataset, shuffle: bool, size: int):
        if dataset is None:
            return None
        return LoaderBatches(dataset, size, shuffle and not data.iterable, recipe.seed, device,
                             num_workers=recipe.data.num_workers, pin_memory=recipe.data.pin_memory, transform=transform)

    info = {"n_train": n_train, "n_val": None if val_set is None else _length(val_set),
            "n_test": None if test_set is None else _length(test_set), "streamed": True,
            "input_stats": _input_stats(preprocessor(x_sample)),
            **_target_stats(data.task, y_sample.numpy().reshape(len(y_sample), -1) if regression else y_sample.numpy(), scale)}
    return _Inputs(batches(train_set, recipe.data.shuffle, batch_size), batches(val_set, False, eval_size),
                   batches(test_set, False, eval_size), preprocessor, preprocessor(x_sample[:2]), info, scale)


def _length(dataset) -> int | None:
    try:
        return len(dataset)
    except TypeError:  # an iterable dataset without __len__
        return None


def _target_stats(task: str, y: np.ndarray, scale: TargetScale | None) -> dict[str, Any]:
    """Regression targets' raw mean and std (the doctor checks their scale) and whether they were scaled."""
    if task != "regression":
        return {}
    y = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
    return {"target_stats": {"mean_abs_max": float(np.abs(y.mean(axis=0)).max()), "std_max": float(y.std(axis=0).max()),
                             "scaled": scale is not None}}


def _weights_file(path: str) -> Path:
    """``model.init_from``'s file: a run directory's newest checkpoint, or the file itself. A path that
    does not exist, such as ``runs/mnist1d-cnn``, names the newest finished run ``runs/mnist1d-cnn-<time>``."""
    stamped = sorted(Path(path).parent.glob(f"{Path(path).name}-[0-9]*-[0-9]*"), key=lambda p: p.name)
    finished = [run for run in stamped if RunDir(run).is_run() and RunDir(run).status().get("status") == "finished"]
    if not Path(path).exists() and finished:
        path = str(finished[-1])
    if Path(path).is_dir():
        checkpoint = RunDir(path).latest_checkpoint()
        if checkpoint is None:
            raise RecipeError([(f"model.init_from: {path} is a directory without checkpoints; give a run "
                                "directory or a .safetensors file")])
        return checkpoint.with_suffix(".safetensors")
    return Path(path)


def _transfer(recipe: Recipe, model: torch.nn.Module, n_outputs: int) -> dict[str, Any]:
    """``model.init_from`` then ``model.replace_head`` (trainlab.nn.transfer); returns what run.json records."""
    spec, sources = recipe.model, {}
    head = spec.replace_head
    classes = n_outputs if head is None or head.classes is None else head.classes
    if classes != n_outputs:
        raise RecipeError([(f"model.replace_head.classes: {classes}, but data '{recipe.data.name}' has {n_outputs} "
                            f"outputs; give {n_outputs} or leave classes out")])
    if spec.init_from is not None:
        weights = read_weights(_weights_file(spec.init_from.path))
        copied = copy_weights(model, weights, spec.init_from.layers, skip=[head_name(model)] if head else [])
        sources["init_from"] = {**weights.record(), "tensors": len(copied)}
    if head is not None:
        sources["replace_head"] = {"layer": replace_head(model, classes, spec.init), "classes": classes}
    return sources


def _pretrain(recipe: Recipe, model: torch.nn.Module, data: Dataset, preprocessor: Preprocessor) -> dict[str, Any]:
    """The notes' options 1–2 (seed 004): train an autoencoder on the inputs (labels unused; training and
    validation inputs of ``pretrain.data`` or of the recipe's data, never its test split), preprocessed
    as the classifier's are, then put its weights in ``model.pretrained``. Returns run.json's record."""
    spec = recipe.pretrain
    if not isinstance(model, OnPretrained):
        raise RecipeError(["pretrain: needs the model the recipe's model section builds, not a module given from Python"])
    source = data if spec.data is None else load_data(recipe.model_copy(update={"data": spec.data}))
    fractions = recipe.data if spec.data is None else spec.data
    if not isinstance(source, Dataset):
        raise RecipeError(["pretrain: the autoencoder needs a data set of arrays in memory, not a DataLoader"])
    splits = split_dataset(source, fractions.val_fraction, fractions.test_fraction, recipe.seed)
    pool = np.concatenate([splits.train[0]] + ([splits.val[0]] if splits.val is not None else []))
    x = preprocessor(torch.as_tensor(pool)).numpy()
    try:
        ae_recipe = load_recipe({
            "name": f"{recipe.name}-pretrain", "seed": recipe.seed, "device": recipe.device,
            "precision": recipe.precision, "model": {"name": "autoencoder", **spec.autoencoder},
            "data": {"name": "memory", "batch_size": spec.batch_size, "val_fraction": spec.val_fraction,
                     "test_fraction": 0, "target_scale": "none"},
            "optim": spec.optim.model_dump(mode="json"), "stopping": {"epochs": spec.epochs}})
        ae = build(ae_recipe, data=Dataset("regression", x, x.reshape(len(x), -1)))
    except RecipeError as e:
        raise RecipeError([f"pretrain.{problem}" for problem in e.problems]) from None
    history = ae.trainer.fit(ae.train, ae.val, spec.epochs)
    trained = ae.model.encoder if spec.use == "codes" else ae.model
    model.pretrained.load_state_dict(trained.state_dict())
    final = {k: history[-1][k] for k in ("loss", "val_loss") if k in history[-1]}
    return {"pretrain": {"use": spec.use, "inputs": len(x), "epochs": len(history), **final}}


def build(recipe: Recipe, callbacks: list[Callback] = (), data: Dataset | Streamed | None = None,
          model: torch.nn.Module | None = None) -> Setup:
    """Load and split the data, fit preprocessing on train, build model, optimizer and Trainer.

    ``data``: a data set already in memory (a :class:`trainlab.data.datasets.Dataset`, or a
    :class:`trainlab.data.streaming.Streamed` torch dataset) instead of the recipe's ``data.name``; the
    split, batching and preprocessing settings of ``recipe.data`` apply. ``model``: a module to train (in
    place) instead of building ``recipe.model``; the recipe's ``model.init`` still applies."""
    device, dtype = distributed.join(resolve_device(recipe.device)), weight_dtype(recipe.precision)
    torch.manual_seed(recipe.seed)
    data = load_data(recipe) if data is None else data
    if registry.models.get(recipe.model.name).facts.get("reconstructs"):  # an autoencoder's targets are its inputs
        data = _make("model", reconstruction_targets, data)
    loss_name, metric_names = _task_choices(recipe, data.task)
    inputs = (_streamed_inputs if isinstance(data, Streamed) else _array_inputs)(recipe, data, device, dtype)
    preprocessor, train, val, test = inputs.preprocessor, inputs.train, inputs.val, inputs.test
    if distributed.world_size() > 1:  # under torchrun / --nproc: each process trains its shard of every batch
        train, val, test = _shard(recipe, train, val, test)
    check_monitors(recipe, metric_names, val is not None)  # keep_best, early stopping, plateau: before training

    # Preprocessing may change the number of features (PCA with k components): build for its output.
    input_shape = tuple(inputs.sample.shape[1:])
    if model is not None and recipe.model.activation != "relu":
        raise RecipeError([f"model.activation: {recipe.model.activation!r} cannot change a module you built; "
                           "remove the key (your module's own activations apply)"])
    if model is None:
        model = _make("model", make_network, recipe.model.name, recipe.model.params(), input_shape, data.n_outputs,
                      **recipe.network_options())
    if any(isinstance(m, LazyModuleMixin) for m in model.modules()):  # a user's LazyLinear: sized by one batch
        _check_fits(model, inputs.sample, recipe)
    _make("model.init", apply_init, model, recipe.model.init)
    sources = _pretrain(recipe, model, data, preprocessor) if recipe.pretrain is not None else {}
    sources.update(_transfer(recipe, model, data.n_outputs))
    _make("model.weight_noise", add_weight_noise, model, recipe.model.weight_noise)
    if data.task == "pde":  # the network inside its PDE residual, the test grid as one batch (trainlab.pde)
        model, test, pde_parts = physics_informed(recipe, data, model, train, val, test)
        callbacks = [*callbacks, *pde_parts]
    _check_fits(model, inputs.sample, recipe)
    model.to(device=device, dtype=dtype)

    optim_entry = registry.optimizers.get(recipe.optim.name)
    optimizer = _make("optim", optim_entry.factory, model, **optim_entry.validate(recipe.optim.params()))
    _make("optim.lr_groups", discriminative_rates, optimizer, parameter_rates(model, recipe.optim.lr_groups))
    _check_line_search(model, optimizer, recipe.optim.name)
    _check_step_options(recipe, optimizer)
    plan = freeze_plan(model, recipe.model.freeze, recipe.model.unfreeze_at,
                       always=pretrained_parameters(model))
    if plan:  # after the optimizer is made, so it holds the frozen parameters for when they unfreeze
        set_frozen(model, plan.frozen_at(1), plan.frozen)
        callbacks = [*callbacks, FreezeSchedule(plan.frozen_at, plan.frozen)]
    scheduler = _scheduler(recipe, optimizer, -(-len(train) // recipe.accumulate))  # optimizer steps per epoch
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
    if recipe.model.ae_weight:  # J = β·J_clas + (1 − β)·J_ae
        loss_fn = JointLoss(loss_fn, model, recipe.model.ae_weight)
    callbacks = [*callbacks, *_loop_parts(optimizer, scheduler, recipe, train, proximal_step, loss_fn)]
    metrics = {m: registry.metrics.get(m).factory() for m in metric_names}
    if inputs.target_scale is not None:  # metrics in the targets' own units; the loss in standardized units
        metrics = {m: inputs.target_scale.unscaled(f) for m, f in metrics.items()}
    trainer = Trainer(model, optimizer, loss_fn, metrics=metrics, penalty=penalty, callbacks=callbacks,
                      **_step_options(recipe, model, device))
    info = {"task": data.task, "input_shape": list(data.input_shape), "model_input_shape": list(input_shape),
            "n_outputs": data.n_outputs, "class_names": data.class_names, **inputs.info,
            **{k: data.info[k] for k in ("files", "feature_columns", "target_column") if k in data.info}}
    setup = Setup(recipe, device, data.task, info, preprocessor, model, trainer, train, val, test, loss_name, metric_names,
                  scheduler, inputs.target_scale, sources)
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
                        within_epoch: bool = False, writer: BackgroundWriter | None = None,
                        shared: RunCheckpoints | None = None) -> Path:
    """Write ``checkpoints/epoch-NNNN`` (or ``checkpoints/NAME``): weights, optimizer, schedule, RNG,
    preprocessing, sampler and callback states, history. ``within_epoch``: a checkpoint inside the
    epoch after NNNN, ``epoch-NNNN-batch-BBBBBB``, which also holds the position in the epoch and its
    running sums; it replaces older such checkpoints once it is written. ``writer``: the tensors are
    copied and the state encoded as JSON now; the writer's thread serializes, checksums and writes the
    files (the run drains it before run.json says finished); without one, written before this returns.
    ``shared``: what the run's checkpoints share (:class:`RunCheckpoints`): each epoch of the history is
    encoded once, not once per checkpoint, and the snapshot is kept for the run's doctor."""
    trainer = setup.trainer
    optim_tensors, optim_rest = optimizer_to_parts(trainer.optimizer)
    tensors = {f"model.{k}": v for k, v in setup.model.state_dict().items()}
    tensors.update({f"optimizer.{k}": v for k, v in optim_tensors.items()})
    tensors.update({f"preprocess.{k}": v for k, v in setup.preprocessor.state_dict().items()})
    if setup.target_scale is not None:
        tensors.update(setup.target_scale.state_dict())
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
    stem = run.checkpoint(name)
    snapshot = snapshot_checkpoint(tensors, body, shared.history if shared is not None else None)  # copies
    if shared is not None:
        shared.last = (stem, snapshot)

    superseding = within_epoch or shared is None or shared.within_epoch  # else none is on disk to remove

    def write() -> None:
        path = write_checkpoint(stem, *encode_snapshot(snapshot))
        for old in run.within_epoch_checkpoints() if superseding else ():
            if old != path and old.stem < path.stem:  # superseded: the commit record goes first
                old.unlink(missing_ok=True)
                old.with_suffix(".safetensors").unlink(missing_ok=True)

    if writer is None:
        write()
    else:  # bounded memory: the previous checkpoint may still be on its way to the disk, no older one
        writer.submit(write, limit=1)
    return stem.with_suffix(".json")


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
    """A finished run: its directory, per-epoch history and test metrics. In a notebook it shows itself
    (curves, final metrics, the doctor's findings); ``plot()`` draws the curves with matplotlib."""

    run_dir: Path | None  # None in the processes other than 0 of a multi-process run
    history: list[dict[str, float]]
    test: dict[str, float]

    @property
    def report(self) -> Path:
        return self.run_dir / "report.html"

    @property
    def findings(self) -> list[dict[str, Any]]:
        """The doctor's findings (findings.json), most severe first."""
        return (RunDir(self.run_dir).findings() or {}).get("findings", [])

    def plot(self, metrics: list[str] | None = None, axes: Any = None) -> Any:
        """Training and validation curves per epoch, one panel per metric (default: all logged); the axes."""
        return plot_run(self.run_dir, metrics, axes)

    def _repr_html_(self) -> str:
        return run_html(self.run_dir)


def _columns(setup: Setup) -> list[str]:
    metrics = ["loss", *setup.metrics]
    val = [f"val_{m}" for m in metrics] if setup.val is not None else []
    return ["epoch", "lr", *metrics, *val, "seconds"]


def _line_search(stops: LineSearchStops | None) -> dict:
    """run.json's ``lbfgs`` entry: why the L-BFGS steps ended (torch does not say)."""
    return {"lbfgs": stops.summary()} if stops is not None else {}


@dataclass
class RunCheckpoints:
    """What a run's checkpoints share, from one to the next: each history epoch's JSON (encoded once) and
    the last snapshot taken (its base path and copies), which the run's doctor reads at the end instead
    of loading that checkpoint back from disk."""

    history: HistoryJSON = field(default_factory=HistoryJSON)
    last: tuple[Path, CheckpointSnapshot] | None = None
    within_epoch: bool = True  # whether checkpoints taken inside an epoch may be on disk (False: a new run without them)


def _save_within_epoch(run_dir: Path, setup: Setup, state: LoopState, writer: BackgroundWriter,
                       shared: RunCheckpoints) -> Path:
    for callback in setup.trainer.callbacks:  # probe rows up to this step belong with the checkpoint
        if isinstance(callback, Probes):
            callback.flush()
    return save_run_checkpoint(run_dir, setup, state, within_epoch=True, writer=writer, shared=shared)


def _train_in_order(setup: Setup) -> TensorBatches | LoaderBatches:
    """The training split once, in order and without the sampler, to evaluate the final weights on it
    in evaluation mode, like the validation split (dropout and noise off, batch norm frozen)."""
    train, data = setup.train, setup.recipe.data
    size = data.batch_size if data.batch_mode == "online" else train.batch_size  # batches only bound memory
    if isinstance(train, ShardedBatches):  # each process evaluates its shard; the trainer adds the sums up
        return train.in_order(size)
    if isinstance(train, TensorBatches):
        return TensorBatches(train.x, train.y, size, shuffle=False)  # the same tensors, no copy
    return LoaderBatches(train.dataset, size, shuffle=False, device=train.device, transform=train.transform)


@dataclass
class StartedRun:
    """A run between :func:`start_run` and :func:`end_run` (or :func:`fail_run`): its directory says
    ``running`` and its trainer holds every output callback. ``_execute`` trains it with
    ``trainer.fit``; trainlab.tools.vectorized trains several at once and fires their callbacks."""

    run: RunDir
    setup: Setup
    status: dict[str, Any]
    probes: list[Probes]
    line_search: LineSearchStops | None
    writer: BackgroundWriter  # checkpoints and events.jsonl, written off the loop's thread; drained by end/fail_run
    checkpoints: RunCheckpoints | None = None  # what its checkpoints share (the last snapshot: for the doctor)


def _execute(run: RunDir, setup: Setup, output: list[Callback], checkpoint: Path | None,
             new: str | None = None) -> RunResult:
    started = start_run(run, setup, output, checkpoint, new)
    try:
        history = setup.trainer.fit(setup.train, setup.val, setup.recipe.stopping.epochs)
    except TrainlabError as e:
        fail_run(started, e)
        raise
    except BaseException:  # a crash or Ctrl-C: what was saved reaches the disk before the lock is released
        started.writer.close()
        raise
    return end_run(started, history)


def start_run(run: RunDir, setup: Setup, output: list[Callback], checkpoint: Path | None,
              new: str | None = None) -> StartedRun:
    """Add the run directory's callbacks to ``setup.trainer``, restore ``checkpoint`` if given, mark it running.

    ``new``: the directory is new and empty (locked by the caller), and ``new`` names the command for
    recipe.yaml's header; recipe.yaml and run.json (``running``, with what :meth:`RunDir.start` records)
    are then written by the writer's thread while the first epoch trains, before any other file of
    the run (a crash before they land leaves a directory that ``trainlab runs`` and ``--resume`` do not
    take for a run, as a crash before :meth:`RunDir.start` would). Without ``new`` the directory holds
    both already, and run.json is read from it."""
    recipe, trainer, run_dir = setup.recipe, setup.trainer, run.path
    writer = BackgroundWriter()
    shared = RunCheckpoints(within_epoch=new is None or recipe.checkpoint.every_steps is not None)
    events = EventLog(run.events_file, writer)
    trackers = trackers_for(recipe, run)
    trainer.callbacks = sorted(
        [*trainer.callbacks, *output, *trackers, CSVLogger(run.metrics_file, _columns(setup), writer),
         events,
         Checkpointer(recipe.checkpoint.every,
                      lambda s: save_run_checkpoint(run_dir, setup, s, writer=writer, shared=shared), events)]
        + ([StepCheckpointer(recipe.checkpoint.every_steps,
                             lambda s: _save_within_epoch(run_dir, setup, s, writer, shared), events)]
           if recipe.checkpoint.every_steps else [])
        + ([BestCheckpoint(recipe.checkpoint.keep_best,
                           lambda s: save_run_checkpoint(run_dir, setup, s, "best", writer=writer, shared=shared))]
           if recipe.checkpoint.keep_best else []),
        key=lambda c: c.order,
    )
    probes = [c for c in trainer.callbacks if isinstance(c, Probes)]
    for probe in probes:
        probe.run_dir = run_dir
    # Live doctor: rules on the history and the last probe step's rows, once per epoch.
    latest = (lambda: probes[0].latest) if probes else None
    if distributed.world_size() == 1:  # its stop on a NaN loss would leave the other processes waiting
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
    status = created_status(recipe) if new is not None else run.status()
    status.update(status="running", device=str(setup.device), data=setup.data_info,
                  **({"weights": setup.sources} if setup.sources else {}))
    running = status_bytes(status)  # written while the first epoch trains, and on disk before any checkpoint is
    if new is not None:
        writer.submit(lambda: run.start(recipe, new, running))
        if trackers:  # they read recipe.yaml as training starts
            writer.wait()
    else:
        writer.submit(lambda: run.write_status(running))
    return StartedRun(run, setup, status, probes, line_search, writer, shared)


def fail_run(started: StartedRun, e: TrainlabError) -> None:
    """Record a run that training stopped with ``e``: run.json says failed and why; findings and report."""
    run, status, probes, line_search = started.run, started.status, started.probes, started.line_search
    try:
        started.writer.wait()  # the checkpoints saved before the failure, on disk before run.json says failed
        for probe in probes:  # the steps before a failure are the evidence the doctor needs
            probe.close()
        status.update(status="failed", error=str(e), **_line_search(line_search))
        _commit(started, status)
    finally:
        started.writer.close()
    end_tracking(started.setup.trainer.callbacks, run)


def end_run(started: StartedRun, history: list[dict[str, float]], finish: bool = True) -> RunResult:
    """Evaluate the trained run (test, the final weights on train), write run.json, findings and report
    (``finish=False``: not findings and report; the caller runs :func:`finish_run` later)."""
    run, setup, status, line_search = started.run, started.setup, started.status, started.line_search
    recipe, trainer, run_dir = setup.recipe, setup.trainer, run.path
    try:
        test, train_eval = _final_evaluations(setup, history)
        if setup.task == "pde":  # u, u* and the residual on the test grid, for the report's figures
            run.write_solution(solution(setup.model, setup.test))
        final = {**history[-1], **train_eval} if history else {}
        maximize = sorted(k for k in {**final, **test} if higher_is_better(k))  # `trainlab runs` reads it without torch
        status.update(status="finished", epochs=len(history), final=final, test=test, maximize=maximize,
                      **_line_search(line_search))
        if recipe.snapshots is not None and snapshot_files(run.snapshots) and (setup.test is not None
                                                                               or setup.val is not None):
            status["snapshots"] = evaluate_ensemble(setup).to_dict()
        started.writer.wait()  # the final checkpoint (written while the splits were evaluated) before the commit
        if finish:
            _commit(started, status)
        else:
            run.write_status(status)
    finally:
        started.writer.close()
    end_tracking(trainer.callbacks, run)
    return RunResult(run_dir, history, test)


def _final_evaluations(setup: Setup, history: list[dict[str, float]]) -> tuple[dict[str, float], dict[str, float]]:
    """The test metrics, and the final weights' metrics on the training split in evaluation mode (the
    train error the doctor compares with the validation error: no dropout or noise). With several
    processes every process calls this, as each evaluation adds up their shards."""
    trainer = setup.trainer
    test = {f"test_{k}": v for k, v in trainer.evaluate(setup.test).items()} if setup.test is not None else {}
    train_eval = {f"train_eval_{k}": v for k, v in trainer.evaluate(_train_in_order(setup)).items()} if history else {}
    return test, train_eval


def _follow(setup: Setup, checkpoint: Path | None) -> RunResult:
    """A process other than 0 of a multi-process run: restore, train and evaluate in step with process 0
    (the same collective operations in the same order) and write nothing; its result has no directory."""
    if checkpoint is not None:
        restore(setup, checkpoint)
    history = setup.trainer.fit(setup.train, setup.val, setup.recipe.stopping.epochs)
    test, _ = _final_evaluations(setup, history)
    return RunResult(None, history, test)


def finish_run(run_dir: str | Path) -> None:
    """Write a trained run's findings.json and report.html (what :func:`end_run` leaves out with ``finish=False``)."""
    _finish(RunDir(run_dir))


def _finish(run: RunDir) -> None:
    """The doctor writes findings.json, then the report renders the directory."""
    try:
        diagnose(run.path)
    except Exception as e:  # noqa: BLE001  (a doctor that cannot read the run must not lose it; the report says so)
        run.write_findings([], error=str(e))
    _report(run.path)


def _report(run_dir: Path) -> None:
    write_report(run_dir)


def _commit(started: StartedRun, status: dict[str, Any]) -> None:
    """End a run whose writer is drained: run.json (``status``), then findings.json and report.html, what
    :func:`_finish` writes, in that order. Each file is atomic and fsync'd on the writer's thread while
    this one runs the doctor and renders the page (from ``status`` and the findings as written, and the
    rest from disk), and one fsync of the directory, after the three renames, makes them durable before
    this returns: the fsyncs overlap the work instead of following it."""
    run, writer = started.run, started.writer
    try:
        text = status_bytes(status)
        writer.submit(lambda: run.write_status(text, sync_dir=False))
        written = json.loads(text)  # run.json as the doctor and the report would read it back
        record = _doctor(run, started.setup.recipe, written, _final_weights(run, started.checkpoints))
        writer.submit(lambda: run.write_findings(record["findings"], record.get("error"), sync_dir=False))
        page = render_report(run.path, status=written, findings=record).encode()
        writer.submit(lambda: (atomic_write(run.file(REPORT), page, sync_dir=False), run.fsync()))
    finally:
        writer.close()  # every file on disk (or the first error raised) before this returns


def _final_weights(run: RunDir, checkpoints: RunCheckpoints | None) -> dict[str, torch.Tensor] | None:
    """The model tensors of the run's newest checkpoint (what the doctor's evidence loads from disk), from
    the snapshot this process wrote it from when it is that one; None otherwise (the doctor loads it)."""
    last = checkpoints.last if checkpoints is not None else None
    newest = run.latest_checkpoint()
    if last is None or newest is None or newest.with_suffix("") != last[0] or not isinstance(last[1].tensors,
                                                                                             PackedTensors):
        return None
    return split_prefix(unpack_tensors(last[1].tensors, "model."), "model")


def _doctor(run: RunDir, recipe: Recipe, status: dict[str, Any],
            weights: dict[str, torch.Tensor] | None = None) -> dict[str, Any]:
    """findings.json's record for a run ending now: :func:`trainlab.diagnose.doctor.diagnose` with the
    recipe, run.json's ``status`` and the newest checkpoint's ``weights`` from memory (the recipe.yaml
    parse alone took ~5 ms), not written (the caller's writer writes it)."""
    try:
        findings = diagnose(run.path, write=False, recipe=recipe.to_dict(), status=status, weights=weights)
        return findings_record([f.to_dict() for f in findings])
    except Exception as e:  # noqa: BLE001  (a doctor that cannot read the run must not lose it; the report says so)
        return findings_record([], error=str(e))


def run_recipe(recipe: Recipe, runs_dir: str | Path = "runs", output: list[Callback] = (),
               run_dir: str | Path | None = None, writer: str = "trainlab", data: Any = None,
               model: torch.nn.Module | None = None) -> RunResult:
    """Train ``recipe`` in a new directory under ``runs_dir`` (or in ``run_dir`` exactly, which must
    not exist yet); ``output`` adds progress callbacks; ``writer`` names the command in recipe.yaml.

    ``data`` replaces the recipe's data set: arrays ``(x, y)``/``(x, y, x_test, y_test)``, a torch
    ``Dataset`` or a trainlab ``Dataset`` (the recipe's ``data.name`` should then be ``memory``); ``model``
    replaces the recipe's model with a module of yours (``model.name`` then ``instance``). A run trained on
    such objects cannot rebuild them in another process: pass them again to ``resume_run`` and
    ``load_model``."""
    setup = build(recipe, data=as_data(data, recipe), model=model)
    if not distributed.is_main_process():
        return _follow(setup, None)
    if run_dir is None:
        run = RunDir.create(runs_dir, recipe.name)
    else:
        run = RunDir(run_dir)
        try:
            run.path.mkdir(parents=True)
        except FileExistsError:
            raise TrainlabError(f"{run.path} already exists; a new run needs a new directory") from None
    with run.lock("training"):  # a --resume of this directory started meanwhile is refused
        return _execute(run, setup, list(output), None, new=writer)  # recipe.yaml and run.json: start_run


def as_data(data: Any, recipe: Recipe) -> Dataset | Streamed | None:
    """Arrays, a torch Dataset or a trainlab Dataset given from Python, as a data set for :func:`build`."""
    if data is None or isinstance(data, (Dataset, Streamed)):
        return data
    return _make("data", from_python, data, "data", recipe.data.params().get("task", "auto"))


def resume_run(run_dir: str | Path, output: list[Callback] = (), data: Any = None,
               model: torch.nn.Module | None = None, changes: list[str] = (), lock_wait: float = 0.0) -> RunResult:
    """Continue a killed run from its newest valid checkpoint (from scratch if it has none); ``data`` and
    ``model``: the objects a run given them from Python (:func:`run_recipe`) needs again.

    The run directory stays locked while it trains (another process gets an error naming the holder,
    after waiting ``lock_wait`` seconds). recipe.yaml must be the recipe the run started with, except
    for ``changes`` (``KEY=VALUE``) to the keys in :data:`trainlab.rundir.RESUME_SAFE`."""
    run = RunDir(run_dir)
    if not run.is_run():
        raise TrainlabError(f"--resume {run.path}: not a trainlab run directory (no recipe.yaml / run.json)")
    if not distributed.is_main_process():  # process 0 locks and writes the directory; the others only read it
        recipe = load_recipe(run.recipe().to_dict(), list(changes))
        return _follow(build(recipe, data=as_data(data, recipe), model=model), run.newest_valid_checkpoint()[0])
    with run.lock("training", lock_wait):
        if run.status().get("status") == "finished":
            raise TrainlabError(f"--resume {run.path}: this run already finished; start a new one with trainlab run")
        run.remove_temp_files()
        checkpoint, damaged = run.newest_valid_checkpoint()
        for reason in damaged:  # a crash can leave the newest one damaged: fall back to an older one, say so
            resumed_from = checkpoint.name if checkpoint is not None else None
            print(f"warning: skipping damaged checkpoint {reason}; resuming from {resumed_from or 'the start'}",
                  file=sys.stderr)
            run.log_event("checkpoint_skipped", reason=reason, resumed_from=resumed_from)
        epochs_done = int(checkpoint.stem.split("-")[1]) if checkpoint is not None else 0
        recipe = run.resumable_recipe(list(changes), epochs_done)
        changed = changed_files(run.status().get("data", {}).get("files", []))
        if changed:  # the split and every step so far came from the recorded files
            raise TrainlabError(f"--resume {run.path}: a data file changed since the run started: {changed[0]}"
                                f"{f' (and {len(changed) - 1} more)' if len(changed) > 1 else ''}; restore it, "
                                "or start a new run")
        setup = build(recipe, data=as_data(data, recipe), model=model)
        return _execute(run, setup, list(output), checkpoint)


def load_model(run_dir: str | Path, model: torch.nn.Module | None = None) -> Predictor:
    """The newest checkpoint of ``run_dir`` as a :class:`trainlab.predict.Predictor`; ``model``: the module
    a run trained from Python (``trainlab.fit(…, model=net)``), which the checkpoint's weights are loaded into."""
    return Predictor(run_dir, model=model)

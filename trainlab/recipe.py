"""The recipe: one training job as data, validated by pydantic, loadable from YAML.

Every choice is a registered *name* plus parameters, written flat beside the name::

    optim: {name: sgd, lr: 0.1, momentum: 0.9}
    schedule: step              # a bare name is short for {name: step}

Parameters beside a name are checked against the registered factory's signature when the recipe
loads, so a typo fails before any training starts, with the field path, the bad value and the
accepted values.
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, ClassVar, Literal

import pydantic
import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from trainlab import registry
from trainlab.errors import RecipeError, TrainlabError, did_you_mean
from trainlab.registry import Registry, UnknownName, split_spec


class _Spec(BaseModel):
    """A section with fixed fields only."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class _Named(BaseModel):
    """A section naming a registered factory; extra keys are that factory's parameters.

    ``table`` is the registry where ``name`` is looked up; ``names`` lists further fields holding names
    from other registries; fields in ``passed`` are handed to the factory with the extra keys.
    """

    model_config = ConfigDict(extra="allow", validate_assignment=True)
    table: ClassVar[Registry]
    names: ClassVar[dict[str, Registry]] = {}
    passed: ClassVar[tuple[str, ...]] = ()

    name: str

    @model_validator(mode="before")
    @classmethod
    def _bare_name(cls, value: Any) -> Any:
        return {"name": value} if isinstance(value, str) else value

    def params(self) -> dict[str, Any]:
        """The parameters for the factory: the extra keys plus the ``passed`` fields."""
        return {**{k: getattr(self, k) for k in self.passed}, **(self.model_extra or {})}


NameOrSpec = str | dict[str, Any]


class PreprocessSpec(_Named):
    table: ClassVar[Registry] = registry.preprocessors


class SamplerSpec(_Named):
    table: ClassVar[Registry] = registry.samplers


class DataSpec(_Named):
    """``data``: the dataset by name, its split, preprocessing and batching."""

    table: ClassVar[Registry] = registry.datasets
    batch_size: int = Field(100, gt=0, description="examples per mini-batch")
    val_fraction: float = Field(0.1, ge=0, lt=1, description="share of the training examples held out for validation")
    test_fraction: float = Field(0.2, ge=0, lt=1, description="share held out for test when the set has no test split")
    preprocess: PreprocessSpec = PreprocessSpec(name="none")
    shuffle: bool = Field(True, description="a new order every epoch (false: the stored order)")
    batch_mode: Literal["minibatch", "online", "fullbatch"] = Field(
        "minibatch", description="online: one example per update; fullbatch: the whole training split per update")
    sampler: SamplerSpec = SamplerSpec(name="shuffle")
    loader: Literal["auto", "tensor", "dataloader"] = Field(
        "auto", description="tensor: data on the device, batched by index; dataloader: torch DataLoader; auto: by size")


class ModelSpec(_Named):
    """``model``: the architecture by name, its activation and initializer."""

    table: ClassVar[Registry] = registry.models
    names: ClassVar[dict[str, Registry]] = {"activation": registry.activations, "init": registry.initializers}
    passed: ClassVar[tuple[str, ...]] = ("activation",)
    activation: NameOrSpec = Field("relu", description="an activation name or {name: …, parameter: …} (see Activations)")
    init: NameOrSpec = Field("default", description="an initializer name or {name: …, parameter: …} (see Initializers); biases start at 0")


class OptimSpec(_Named):
    """``optim``: the optimizer by name and its learning rate."""

    table: ClassVar[Registry] = registry.optimizers
    passed: ClassVar[tuple[str, ...]] = ("lr",)
    lr: float = Field(1e-3, gt=0, description="learning rate η")


class ScheduleSpec(_Named):
    """``schedule``: the learning-rate schedule by name, stepped per epoch or per step."""

    table: ClassVar[Registry] = registry.schedules
    interval: Literal["epoch", "step"] = Field("epoch", description="t counts epochs or optimizer steps")
    warmup: int = Field(0, ge=0, description="linear warm-up over this many intervals before the schedule starts")
    warmup_start: float = Field(0.1, gt=0, le=1, description="warm-up starts at this fraction of the rate")


class PenaltySpec(_Named):
    """One entry of ``penalties``: a penalty on weights (never biases or BN parameters)."""

    table: ClassVar[Registry] = registry.penalties
    weight: float = Field(1e-4, ge=0, description="λ in J = L + λR(W)")
    per_layer: list[float] | None = Field(None, description="a multiplier of λ per weight tensor, in layer order")


class EarlyStoppingSpec(_Spec):
    """``stopping.early``: stop when the monitored metric stops improving."""

    monitor: str = Field("val_loss", description="a logged metric: loss, accuracy, val_loss, val_accuracy, …")
    mode: Literal["auto", "min", "max"] = Field("auto", description="auto: max for accuracy-like, min otherwise")
    min_delta: float = Field(0.0, ge=0, description="a change smaller than this is no improvement")
    patience: int = Field(10, ge=0, description="stop at the patience-th epoch in a row without improvement (Keras)")
    restore_best_weights: bool = Field(False, description="end with the weights of the best epoch")


class StoppingSpec(_Spec):
    epochs: int = Field(20, gt=0, description="number of passes over the training data")
    early: EarlyStoppingSpec | None = None


class CheckpointSpec(_Spec):
    every: int = Field(5, gt=0, description="save a checkpoint every this many epochs (and at the end)")
    every_steps: int | None = Field(None, gt=0, description="also save one every this many optimizer steps inside "
                                                            "epochs (long epochs); only the newest such one is kept")
    keep_best: str | None = Field(None, description="also keep checkpoints/best: the epoch with the best value "
                                                    "of this logged metric (e.g. val_loss), without stopping")


DEFAULT_PROBE_EVERY = 20  # optimizer steps between probes; benchmarks/probe_overhead.py: ≤ 10 % slower


class DiagnoseSpec(_Spec):
    """``diagnose``: per-layer probes (``true`` for the defaults); written to probes.csv and probe_histograms.json."""

    every: int = Field(DEFAULT_PROBE_EVERY, gt=0,
                       description="probe every this many optimizer steps, and at the first step of every epoch")
    histograms: int | list[int] = Field(
        5, description="activation/gradient histograms at the first step of this many epochs spread over "
                       "training, or of these epochs (1-based list)")
    bins: int = Field(50, ge=2, le=1000, description="bins per histogram")

    @field_validator("histograms")
    @classmethod
    def _histograms(cls, value: int | list[int]) -> int | list[int]:
        if isinstance(value, int) and value < 0:
            raise ValueError("expected a number of snapshots >= 0 or a list of epochs (1-based)")
        if isinstance(value, list) and any(e < 1 for e in value):
            raise ValueError("epochs are counted from 1")
        return value


class SnapshotSpec(_Spec):
    """``snapshots``: with a cyclic or sgdr schedule, save the weights at each cycle's end and
    evaluate the averaged prediction of the last ``keep`` of them beside the single model."""

    keep: int = Field(5, gt=0, description="snapshots kept (the last M cycles) and averaged")


class Recipe(_Spec):
    """One training job. Only ``data.name`` is required; everything else has a default."""

    name: str = Field("run", pattern=r"^[A-Za-z0-9_.-]+$", description="run name, used in the run directory")
    seed: int = 0
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    precision: Literal["float32", "float64"] = Field(
        "float32", description="dtype of the weights and inputs; float64 lets L-BFGS refine far below float32's "
                               "resolution (chains on smooth problems), at about twice the time")
    data: DataSpec
    model: ModelSpec = ModelSpec(name="mlp")
    loss: str = Field("auto", description="loss name, or auto: cross_entropy / mse by task")
    metrics: list[str] | Literal["auto"] = "auto"
    optim: OptimSpec = OptimSpec(name="adam")
    schedule: ScheduleSpec = ScheduleSpec(name="constant")
    penalties: list[PenaltySpec] = []
    stopping: StoppingSpec = StoppingSpec()
    checkpoint: CheckpointSpec = CheckpointSpec()
    diagnose: DiagnoseSpec | None = Field(None, description="per-layer probes: true, or {every, histograms, bins}")
    snapshots: SnapshotSpec | None = Field(None, description="snapshot ensemble at the cycle ends: true, or {keep}")

    @field_validator("diagnose", "snapshots", mode="before")
    @classmethod
    def _switch(cls, value: Any) -> Any:
        """``true`` switches a section on with its defaults, ``false`` off."""
        if isinstance(value, bool):
            return {} if value else None
        if value is not None and not isinstance(value, (dict, DiagnoseSpec, SnapshotSpec)):
            raise ValueError("accepted: true, false or a mapping of the section's settings")
        return value

    def to_dict(self) -> dict[str, Any]:
        """The recipe as plain data (extra parameters included), ready for YAML."""
        return self.model_dump(mode="json")

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)


# ---- validation with messages that name the field, the value and what is accepted ----


def _path(loc: tuple) -> str:
    return ".".join(str(p) for p in loc)


def _spec_at(loc: tuple) -> type[BaseModel] | None:
    """The pydantic model class that holds the field at ``loc`` (None if not a model)."""
    cls: Any = Recipe
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = cls.model_fields.get(part) if isinstance(cls, type) and issubclass(cls, BaseModel) else None
        if field is None:
            return None
        annotation = field.annotation
        for candidate in getattr(annotation, "__args__", (annotation,)):
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                annotation = candidate
        cls = annotation
    return cls if isinstance(cls, type) and issubclass(cls, BaseModel) else None


def _message(error: dict, prefix: tuple = ()) -> str:
    loc = prefix + tuple(error["loc"])
    path, kind, value = _path(loc), error["type"], error.get("input")
    spec = _spec_at(loc) if not prefix else None
    if kind == "extra_forbidden":
        known = list(spec.model_fields) if spec else []
        hint = did_you_mean(str(loc[-1]), known)
        return f"{path}: unknown field; {hint}Accepted: {', '.join(known)}" if known else f"{path}: unknown field"
    if kind == "missing":
        named = spec is not None and issubclass(spec, _Named) and loc[-1] == "name"
        accepted = f"; known {spec.table.plural}: {', '.join(spec.table.names())}" if named else ""
        return f"{path}: required field is missing{accepted}"
    return f"{path}: {value!r} is not valid: {error['msg']}"


def _check_names(recipe: Recipe) -> list[str]:
    """Look every name up in its registry and check each factory's parameters."""
    problems = []
    sections: list[tuple[str, _Named]] = [
        ("data", recipe.data), ("data.preprocess", recipe.data.preprocess), ("data.sampler", recipe.data.sampler),
        ("model", recipe.model),
        ("optim", recipe.optim), ("schedule", recipe.schedule),
    ] + [(f"penalties.{i}", p) for i, p in enumerate(recipe.penalties)]
    for where, spec in sections:
        for field, table in spec.names.items():
            try:
                name, params = split_spec(getattr(spec, field), table.kind)
                table.get(name).validate(params)
            except TypeError as e:
                problems.append(f"{where}.{field}: {e}")
            except UnknownName as e:
                problems.append(f"{where}.{field}: {e}")
            except pydantic.ValidationError as e:
                problems += [_message(err, prefix=(where, field)) for err in e.errors()]
        try:
            entry = spec.table.get(spec.name)
        except UnknownName as e:
            problems.append(f"{where}.name: {e}")
            continue
        try:
            entry.validate(spec.params())
        except pydantic.ValidationError as e:
            accepted = list(entry.recipe_parameters())
            for err in e.errors():
                if err["type"] == "extra_forbidden":
                    key = err["loc"][-1]
                    problems.append(
                        f"{where}.{key}: unknown parameter of {spec.table.kind} '{spec.name}'; "
                        f"{did_you_mean(str(key), accepted)}Accepted: {', '.join(accepted) or '(none)'}"
                    )
                else:
                    problems.append(_message(err, prefix=(where,)))
    problems += _check_short_names(recipe)
    problems += _check_diagnose(recipe)
    if recipe.snapshots is not None and recipe.schedule.name not in ("sgdr", "cyclic"):
        problems.append(f"snapshots: schedule.name '{recipe.schedule.name}' has no cycles to snapshot at the end of; "
                        "accepted: 'sgdr' or 'cyclic'")
    schedule = recipe.schedule
    if (schedule.name in registry.schedules and schedule.interval == "step"
            and "monitor" in registry.schedules.get(schedule.name).recipe_parameters()):
        problems.append(f"schedule.interval: '{schedule.name}' watches a per-epoch metric, so it needs "
                        "interval 'epoch', not 'step'")
    return problems


def _check_short_names(recipe: Recipe) -> list[str]:
    problems = []
    if recipe.loss != "auto" and recipe.loss not in registry.losses:
        problems.append(f"loss: {_unknown(registry.losses, recipe.loss)}")
    if recipe.metrics != "auto":
        for i, m in enumerate(recipe.metrics):
            if m not in registry.metrics:
                problems.append(f"metrics.{i}: {_unknown(registry.metrics, m)}")
    return problems


def _check_diagnose(recipe: Recipe) -> list[str]:
    histograms = recipe.diagnose.histograms if recipe.diagnose else []
    late = [e for e in histograms if e > recipe.stopping.epochs] if isinstance(histograms, list) else []
    if late:
        return [(f"diagnose.histograms: epochs {late} lie after the last epoch; "
                 f"accepted: epochs 1 to stopping.epochs ({recipe.stopping.epochs})")]
    return []


def _unknown(table: Registry, name: str) -> str:
    try:
        table.get(name)
    except UnknownName as e:
        return str(e)
    return ""


def _check_raw_names(data: dict[str, Any], known_problems: list[str]) -> list[str]:
    """Unknown names in sections that failed structural validation, so every problem shows at once."""
    problems = []
    for section, spec in Recipe.model_fields.items():
        cls, raw = spec.annotation, data.get(section)
        if not (isinstance(cls, type) and issubclass(cls, _Named)):
            continue
        name = raw if isinstance(raw, str) else raw.get("name") if isinstance(raw, dict) else None
        where = f"{section}.name"
        if isinstance(name, str) and name not in cls.table and not any(p.startswith(where) for p in known_problems):
            problems.append(f"{where}: {_unknown(cls.table, name)}")
    return problems


def validate_recipe(data: Any) -> Recipe:
    """Build a :class:`Recipe` from plain data; raise :class:`RecipeError` listing every problem."""
    if not isinstance(data, dict):
        raise RecipeError([f"recipe: expected a mapping of sections (data, model, optim, …), got {type(data).__name__}"])
    try:
        recipe = Recipe.model_validate(data)
    except pydantic.ValidationError as e:
        problems = [_message(err) for err in e.errors()]
        raise RecipeError(problems + _check_raw_names(data, problems)) from None
    problems = _check_names(recipe)
    if problems:
        raise RecipeError(problems)
    return recipe


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``key.path=value`` overrides (values parsed as YAML) to recipe data, in place."""
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise RecipeError([f"--set {item!r}: expected key.path=value, e.g. optim.lr=0.01"])
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError:
            value = raw
        node = data
        parts = key.split(".")
        for depth, part in enumerate(parts[:-1]):
            child = node.get(part)
            if isinstance(child, str):  # a bare name gains parameters: schedule: step → {name: step}
                child = {"name": child}
            elif child is None or child is True:  # diagnose: true → {} (the defaults), then the key
                child = {}
            elif not isinstance(child, dict):
                raise RecipeError([f"--set {key}: {'.'.join(parts[:depth + 1])} is {child!r}, not a section"])
            node[part] = child
            node = child
        node[parts[-1]] = value
    return data


def read_recipe_data(source: str | Path | dict[str, Any], overrides: list[str] | None = None) -> Any:
    """A recipe's plain data from a YAML file (or a copy of ``source``) with ``--set`` overrides
    applied, not yet validated."""
    if isinstance(source, dict):
        data = copy.deepcopy(source)  # overrides change nested sections in place
    else:
        path = Path(source)
        if not path.is_file():
            raise TrainlabError(f"recipe file {path} does not exist")
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            where = f" line {mark.line + 1}" if mark else ""
            raise RecipeError([f"{path}:{where} is not valid YAML: {getattr(e, 'problem', e)}"]) from None
    if isinstance(data, dict) and overrides:
        data = apply_overrides(data, list(overrides))
    return data


def load_recipe(source: str | Path | dict[str, Any], overrides: list[str] | None = None) -> Recipe:
    """Load a recipe from a YAML file (or plain data), apply ``--set`` overrides, validate."""
    return validate_recipe(read_recipe_data(source, overrides))

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
import re
from pathlib import Path
from typing import Any, ClassVar, Literal

import pydantic
import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from trainlab import registry
from trainlab.errors import RecipeError, did_you_mean
from trainlab.registry import Registry, UnknownName, split_spec
from trainlab.safety.strict_types import strict_annotation
from trainlab.safety.strict_yaml import load_yaml, read_yaml
from trainlab.safety.text import shorten

SEED_MAX = 2**32 - 1  # numpy's and scikit-learn's random_state accept 0 … 2**32 − 1


def _strict_fields(cls: type[BaseModel]) -> None:
    """Every int/float/bool field of a section, its own or added later, refuses true/false for numbers
    and non-finite floats (:mod:`trainlab.safety.strict_types`); constraints (gt, ge, …) are kept."""
    changed = False
    for field in cls.model_fields.values():
        strict = strict_annotation(field.annotation)
        if strict is not field.annotation:
            field.annotation, changed = strict, True
    if changed:
        cls.model_rebuild(force=True)


class _Spec(BaseModel):
    """A section with fixed fields only."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        _strict_fields(cls)


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

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        _strict_fields(cls)

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
    target_scale: Literal["zscore", "none"] = Field(
        "zscore", description="regression targets: train on (y − μ)/σ of the training split (metrics and predict "
                              "stay in y's units); none: raw targets")
    num_workers: int = Field(0, ge=0, description="DataLoader worker processes (torch datasets read through a DataLoader)")
    pin_memory: bool = Field(False, description="DataLoader pins batches in page-locked memory (faster copies to a GPU)")


class InitFromSpec(_Spec):
    """``model.init_from``: where the starting weights come from; a bare path is short for ``{path: …}``."""

    path: str = Field(description="a run directory (its newest checkpoint) or a .safetensors file")
    layers: list[int | str] | None = Field(None, description="copy only these layers (indices, names, "
                                                             "'features', 'head'); default: all")

    @model_validator(mode="before")
    @classmethod
    def _bare_path(cls, value: Any) -> Any:
        return {"path": value} if isinstance(value, str) else value


class ReplaceHeadSpec(_Spec):
    """``model.replace_head``: a new output layer for the target task."""

    classes: int | None = Field(None, ge=1, description="outputs of the new head (default: the data's classes)")

    @model_validator(mode="before")
    @classmethod
    def _switch(cls, value: Any) -> Any:
        return {} if value is True else value


class ModelSpec(_Named):
    """``model``: the architecture by name, its activation, initializer and weight noise."""

    table: ClassVar[Registry] = registry.models
    names: ClassVar[dict[str, Registry]] = {"activation": registry.activations, "init": registry.initializers}
    passed: ClassVar[tuple[str, ...]] = ("activation",)

    def params(self) -> dict[str, Any]:
        """The model's parameters; ``activation`` only for a model that declares it (a model of your own
        need not), unless the recipe sets it to something other than the default."""
        params = super().params()
        try:
            entry = registry.models.get(self.name)  # a plugin's name loads the plugins
        except UnknownName:
            return params
        if params.get("activation") == "relu" and not entry.declares("activation"):
            del params["activation"]
        return params
    activation: NameOrSpec = Field("relu", description="an activation name or {name: …, parameter: …} (see Activations)")
    init: NameOrSpec = Field("default", description="an initializer name or {name: …, parameter: …} (see Initializers); biases start at 0")
    weight_noise: float = Field(0.0, ge=0, description="σ of weight noise: every Linear/Conv layer computes with "
                                                       "W + ε, ε ~ N(0, σ²) drawn per training forward pass")
    init_from: InitFromSpec | None = Field(None, description="start from another network's weights: a run directory "
                                                           "(its newest checkpoint) or a .safetensors file, or {path, layers}")
    replace_head: ReplaceHeadSpec | None = Field(None, description="a new output layer: {classes: K} (K: the data's "
                                                                   "classes when left out); init_from skips the old head")
    freeze: list[int | str] = Field([], description="layers kept fixed: indices (-1: the head), module names, "
                                                   "'features' (all but the head) or 'head'")
    unfreeze_at: dict[int, list[int | str]] = Field({}, description="gradual unfreezing: {epoch: layers}, those frozen "
                                                                    "layers train from that epoch (1-based) on")
    ae_weight: float = Field(0.0, ge=0, lt=1, description="joint autoencoder (option 3): 1 − β in J = β·J_clas + "
                                                          "(1 − β)·J_ae, a decoder head on the last hidden layer")
    ae_decoder: list[int] | None = Field(None, description="hidden widths of that decoder (null: the classifier's "
                                                           "hidden layers mirrored)")

    @field_validator("unfreeze_at")
    @classmethod
    def _epochs_from_one(cls, value: dict[int, list[int | str]]) -> dict[int, list[int | str]]:
        if any(epoch < 1 for epoch in value):
            raise ValueError("epochs are counted from 1")
        return value


class OptimSpec(_Named):
    """``optim``: the optimizer by name, its learning rate and gradient clipping."""

    table: ClassVar[Registry] = registry.optimizers
    passed: ClassVar[tuple[str, ...]] = ("lr",)
    lr: float = Field(1e-3, gt=0, description="learning rate η")
    clip_norm: float | None = Field(None, gt=0, description="gradient clipping by norm: g ← g·min(1, τ/‖g‖₂) over "
                                                          "all parameters, after every backward pass")
    clip_value: float | None = Field(None, gt=0, description="gradient clipping by value: each component clamped "
                                                           "to [−c, c] (before clip_norm when both are set)")
    lr_groups: dict[int | str, float] = Field({}, description="discriminative rates: {layers: rate}, e.g. "
                                                             "{features: 1e-4, head: 1e-2}; other layers keep lr")

    @field_validator("lr_groups")
    @classmethod
    def _positive_rates(cls, value: dict[int | str, float]) -> dict[int | str, float]:
        if any(rate <= 0 for rate in value.values()):
            raise ValueError("every rate must be > 0")
        return value


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


class PretrainSpec(_Spec):
    """``pretrain``: train an autoencoder on the inputs first (labels unused), then train the model on
    what it gives: its codes u (``use: codes``, the notes' option 1) or its reconstructions x̂
    (``use: reconstructions``, option 2); the autoencoder stays frozen unless ``model.unfreeze_at``
    names ``pretrained``."""

    autoencoder: dict[str, Any] = Field({}, description="the autoencoder's parameters: hidden, code, decoder, activation")
    use: Literal["codes", "reconstructions"] = Field("codes", description="what the model trains on")
    data: DataSpec | None = Field(None, description="inputs to train it on (default: the recipe's data, training and "
                                                    "validation inputs; never the test split)")
    epochs: int = Field(50, gt=0, description="epochs of autoencoder training")
    batch_size: int = Field(100, gt=0, description="examples per mini-batch")
    val_fraction: float = Field(0.1, ge=0, lt=1, description="share of those inputs held out to watch the "
                                                             "reconstruction error")
    optim: OptimSpec = Field(OptimSpec(name="adam", lr=1e-3), description="the autoencoder's optimizer")

    @field_validator("autoencoder")
    @classmethod
    def _autoencoder_parameters(cls, value: dict[str, Any]) -> dict[str, Any]:
        entry = registry.models.get("autoencoder")
        try:
            entry.validate(value)
        except pydantic.ValidationError as e:
            accepted = ", ".join(p for p in entry.recipe_parameters() if p != "activation") + ", activation"
            raise ValueError("; ".join(f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in e.errors())
                             + f" (accepted: {accepted})") from None
        return value


class TrackingSpec(_Spec):
    """``tracking``: send the run to TensorBoard and/or MLflow while it trains (trainlab.tracking);
    a list (``[tensorboard, mlflow]``) or one name is short for ``{to: …}``."""

    to: list[Literal["tensorboard", "mlflow"]] = Field(default_factory=list, description="trackers: tensorboard, mlflow")
    uri: str | None = Field(None, description="MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else "
                                              "sqlite:///<runs dir>/mlflow.db)")
    experiment: str | None = Field(None, description="MLflow experiment (default: the recipe's name)")
    parent: str | None = Field(None, description="MLflow parent run id (compare and search set it for their runs)")

    @model_validator(mode="before")
    @classmethod
    def _short(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"to": [value]}
        return {"to": value} if isinstance(value, list) else value


class Recipe(_Spec):
    """One training job. Only ``data.name`` is required; everything else has a default."""

    name: str = Field("run", pattern=r"^[A-Za-z0-9_.-]+$", description="run name, used in the run directory")
    seed: int = Field(0, ge=0, le=SEED_MAX, description=f"seed of every random draw: 0 to {SEED_MAX}")
    paths: list[str] = Field([], description="folders put on sys.path for import paths (factory: \"module:name\"); "
                                             "a recipe file naming one gets its own folder here")
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    precision: Literal["float32", "float64", "bf16", "fp16"] = Field(
        "float32", description="float32/float64: dtype of the weights and inputs (float64 lets L-BFGS refine far "
                               "below float32's resolution, at about twice the time); bf16/fp16: float32 weights, "
                               "forward pass and loss under autocast (fp16 with a gradient scaler)")
    compile: bool = Field(False, description="train through torch.compile (falls back, with a message, where it "
                                             "does not work)")
    accumulate: int = Field(1, ge=1, description="batches per optimizer step: gradients summed over this many "
                                                 "consecutive batches (an effective batch of accumulate × batch_size)")
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
    tracking: TrackingSpec | None = Field(None, description="TensorBoard/MLflow: [tensorboard, mlflow], or {to, uri, "
                                                           "experiment}")
    pretrain: PretrainSpec | None = Field(None, description="an autoencoder trained first on the inputs: {autoencoder: "
                                                           "{…}, use: codes | reconstructions, epochs}")

    @field_validator("diagnose", "snapshots", mode="before")
    @classmethod
    def _switch(cls, value: Any) -> Any:
        """``true`` switches a section on with its defaults, ``false`` off."""
        if isinstance(value, bool):
            return {} if value else None
        if value is not None and not isinstance(value, (dict, DiagnoseSpec, SnapshotSpec)):
            raise ValueError("accepted: true, false or a mapping of the section's settings")
        return value

    def network_options(self) -> dict[str, Any]:
        """The settings beside ``model.name`` and its parameters that shape the network's modules: the
        keywords of :func:`trainlab.nn.autoencoder.make_network` (a joint decoder, a pretrained autoencoder)."""
        pretrain = self.pretrain
        return {"ae_weight": self.model.ae_weight, "ae_decoder": self.model.ae_decoder,
                "pretrain": None if pretrain is None else (pretrain.autoencoder, pretrain.use)}

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


def _is_type_tag(part: Any) -> bool:
    """pydantic names the member of a union it tried in ``loc`` (``list[int]``, ``function-after[…]``)."""
    return isinstance(part, str) and ("[" in part or "(" in part or part in ("int", "float", "str", "bool"))


def _message(error: dict, prefix: tuple = ()) -> str:
    loc = prefix + tuple(error["loc"])
    if error["type"] != "extra_forbidden":  # there the last part is the user's own key
        loc = tuple(part for part in loc if not _is_type_tag(part))
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
    message = error["msg"].removeprefix("Value error, ")
    said = kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal")  # the bound is in msg
    return f"{path}: {shorten(value)} is not valid: {message}{'' if said else _accepted_range(spec, loc[-1])}"


def _messages(errors: list[dict], prefix: tuple = ()) -> list[str]:
    """One line per problem: a union's alternatives for one field and value are joined with "or"."""
    lines: dict[str, str] = {}
    for error in errors:
        line = _message(error, prefix)
        head, sep, reason = line.partition(" is not valid: ")
        if sep and head in lines:
            lines[head] += f"; or {reason}"
        else:
            lines[head if sep else line] = line
    return list(lines.values())


def _accepted_range(spec: type[BaseModel] | None, name: Any) -> str:
    """``; accepted: >= 0 and <= 4294967295`` from a number field's constraints, or ''."""
    field = spec.model_fields.get(name) if spec is not None and isinstance(name, str) else None
    bounds = [f"{symbol} {getattr(m, attr)}" for m in (field.metadata if field else [])
              for attr, symbol in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<=")) if hasattr(m, attr)]
    return f"; accepted: {' and '.join(bounds)}" if bounds else ""


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
                problems += _messages(e.errors(), prefix=(where, field))
        try:
            resolved = spec.table.resolve(spec.name, spec.params())
        except UnknownName as e:
            problems.append(f"{where}.name: {e}")
            continue
        except ValueError as e:  # a user's factory that cannot be imported
            problems.append(f"{where}.factory: {e}")
            continue
        for entry, params in resolved:
            problems += _parameter_problems(where, spec, entry, params)
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


def _parameter_problems(where: str, spec: _Named, entry: registry.Entry, params: dict[str, Any]) -> list[str]:
    """The parameters of one factory checked against its signature, one message per problem."""
    try:
        entry.validate(params)
    except pydantic.ValidationError as e:
        own = [f for f in type(spec).model_fields if f != "name" and f not in spec.passed]
        accepted = [*entry.recipe_parameters(), *own]  # the section's own fields too (a penalty's weight)
        problems = []
        for err in e.errors():
            if err["type"] == "extra_forbidden":
                key = err["loc"][-1]
                problems.append(
                    f"{where}.{key}: unknown parameter of {spec.table.kind} '{entry.name}'; "
                    f"{did_you_mean(str(key), accepted)}Accepted: {', '.join(accepted) or '(none)'}"
                )
            else:
                problems.append(_message(err, prefix=(where,)))
        return problems
    return []


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
        problems = _messages(e.errors())
        raise RecipeError(problems + _check_raw_names(data, problems)) from None
    registry.add_import_paths(recipe.paths)
    problems = _check_names(recipe)
    if problems:
        raise RecipeError(problems)
    return recipe


def check_monitors(recipe: Recipe, metrics: list[str], validation: bool) -> None:
    """Every setting that names a logged metric (``checkpoint.keep_best``, ``stopping.early.monitor``,
    a schedule's ``monitor``) names one this run logs: ``loss`` and ``metrics``, with ``val_`` when
    there is a validation split. Called by ``build`` once the task's metrics are known, so a typo
    fails before the first epoch."""
    logged = ["loss", *metrics]
    logged += [f"val_{m}" for m in logged] if validation else []
    settings = [("checkpoint.keep_best", recipe.checkpoint.keep_best),
                ("stopping.early.monitor", recipe.stopping.early.monitor if recipe.stopping.early else None),
                ("schedule.monitor", _schedule_monitor(recipe.schedule))]
    problems = []
    for where, name in settings:
        if isinstance(name, str) and name not in logged:
            why = "; there is no validation split (data.val_fraction is 0)" if name.startswith("val_") and not validation else ""
            problems.append(f"{where}: {shorten(name)} is not a logged metric{why}; "
                            f"{did_you_mean(name, logged)}accepted: {', '.join(logged)}")
    if problems:
        raise RecipeError(problems)


def _schedule_monitor(schedule: ScheduleSpec) -> str | None:
    """The metric a schedule watches (``plateau``'s monitor, given or its default), or None."""
    if schedule.name not in schedule.table:
        return None
    parameter = schedule.table.get(schedule.name).recipe_parameters().get("monitor")
    return schedule.params().get("monitor", parameter.default if parameter is not None else None)


def default_section(parts: list[str]) -> dict[str, Any]:
    """The data of a section the recipe leaves out, for ``--set`` to add a key to: ``{name: …}`` with
    the Recipe's default name for a named section (optim → adam), else ``{}`` (the field defaults)."""
    holder = _spec_at(tuple(parts))
    field = holder.model_fields.get(parts[-1]) if holder is not None else None
    default = field.default if field is not None else None
    return {"name": default.name} if isinstance(default, _Named) else {}


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``key.path=value`` overrides (values parsed as YAML) to recipe data, in place. A key in a
    section the recipe leaves out starts from that section's default (``optim.lr`` → ``optim: {name:
    adam, lr: …}``)."""
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise RecipeError([f"--set {shorten(item)}: expected key.path=value, e.g. optim.lr=0.01"])
        try:
            value = load_yaml(raw, f"--set {key}")
        except RecipeError:
            value = raw  # not YAML: the text itself (validation says if a text does not fit)
        node = data
        parts = key.split(".")
        for depth, part in enumerate(parts[:-1]):
            child = node.get(part)
            if isinstance(child, str):  # a bare name gains parameters: schedule: step → {name: step}
                child = {"name": child}
            elif child is None:  # a section left out: its defaults, then the key
                child = default_section(parts[:depth + 1])
            elif child is True:  # diagnose: true → {} (the defaults), then the key
                child = {}
            elif not isinstance(child, dict):
                raise RecipeError([f"--set {key}: {'.'.join(parts[:depth + 1])} is {shorten(child)}, not a section"])
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
        data = read_yaml(source, "recipe file")  # strict: duplicate keys, alias bombs, non-UTF-8 refused
        data = {} if data is None else data
    if isinstance(data, dict) and overrides:
        data = apply_overrides(data, list(overrides))
    if isinstance(data, dict):  # a file's paths are relative to its folder; plain data's to the working directory
        anchor_to_folder(data, Path.cwd() if isinstance(source, dict) else Path(source).resolve().parent)
    return data


_IMPORT_PATH = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


def _names_import_path(value: Any) -> bool:
    if isinstance(value, dict):
        return any(_names_import_path(v) for v in value.values())
    if isinstance(value, list):
        return any(_names_import_path(v) for v in value)
    return isinstance(value, str) and bool(_IMPORT_PATH.match(value))


def anchor_to_folder(data: dict[str, Any], folder: Path) -> None:
    """Make a recipe's relative paths independent of the working directory, in place: the data files
    (``data.path`` and ``data.*_path``) are relative to ``folder`` (a recipe file's own folder), and a
    recipe naming an import path (``factory: "mymod:make"``) gets ``folder`` on ``paths`` (so ``mymod.py``
    beside the recipe imports in any process). The run's recipe.yaml records the absolute results."""
    section = data.get("data")
    if isinstance(section, dict):
        for key, value in section.items():
            if (key == "path" or key.endswith("_path")) and isinstance(value, str) and value and not Path(value).is_absolute():
                section[key] = str(folder / value)
    if "paths" not in data and _names_import_path(data):
        data["paths"] = [str(folder)]


def load_recipe(source: str | Path | dict[str, Any], overrides: list[str] | None = None) -> Recipe:
    """Load a recipe from a YAML file (or plain data), apply ``--set`` overrides, validate."""
    return validate_recipe(read_recipe_data(source, overrides))

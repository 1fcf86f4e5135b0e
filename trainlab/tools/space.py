"""Search spaces: recipe key paths mapped to distributions, each sampled on the scale it lives on.

A space file maps a recipe key path (the same paths ``--set`` takes; an integer part indexes a
list, as in ``optim.betas.0``) to one distribution::

    optim.lr: {loguniform: [1e-4, 1]}                 # α = 10^{-4U}: as many draws per decade
    optim.betas.0: {one_minus_loguniform: [0.9, 0.999]}  # β = 1 − 10^r, r ~ U[−3, −1]
    optim.momentum: {uniform: [0.0, 0.99]}
    model.hidden.0: {int: [8, 256], log: true}        # integers; log: uniform in log(n)
    model.activation: {choice: [relu, tanh, elu]}

``loguniform [a, b]`` draws ``exp(U(log a, log b))``; ``one_minus_loguniform [a, b]`` draws
``r ~ U(log10(1 − b), log10(1 − a))`` and sets ``1 − 10^r``, so ``β`` is as likely in
[0.9, 0.99] as in [0.99, 0.999]. Each parameter becomes one Optuna distribution; the
one-minus kind is stored by Optuna as ``r`` under the name ``log10(1-KEY)``.
"""
from __future__ import annotations

import copy
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import BaseTrial

from trainlab.errors import RecipeError, TrainlabError, did_you_mean
from trainlab.recipe import Recipe, default_section, validate_recipe
from trainlab.safety.strict_yaml import read_yaml

DISTRIBUTIONS = ("loguniform", "one_minus_loguniform", "uniform", "int", "choice")
_SCALARS = (str, int, float, bool, type(None))
EXAMPLE = "optim.lr: {loguniform: [1e-4, 1]}"


@dataclass(frozen=True)
class Param:
    """One searched recipe value: ``key`` (a recipe key path) drawn from ``kind``."""

    key: str
    kind: str
    low: float = 0.0
    high: float = 0.0
    log: bool = False
    choices: tuple = ()
    encoded: bool = False  # choices are lists/mappings, given to Optuna as JSON strings

    @property
    def name(self) -> str:
        """The parameter's name in the Optuna study."""
        return f"log10(1-{self.key})" if self.kind == "one_minus_loguniform" else self.key

    @property
    def log_scale(self) -> bool:
        """Whether plots should show this parameter on a log axis (of 1 − β for one-minus)."""
        return self.kind in ("loguniform", "one_minus_loguniform") or (self.kind == "int" and self.log)

    def distribution(self) -> BaseDistribution:
        if self.kind == "loguniform":
            return FloatDistribution(self.low, self.high, log=True)
        if self.kind == "one_minus_loguniform":  # r = log10(1 − β); β ∈ [low, high] ⇔ r ∈ [log10(1−high), log10(1−low)]
            return FloatDistribution(math.log10(1 - self.high), math.log10(1 - self.low))
        if self.kind == "uniform":
            return FloatDistribution(self.low, self.high)
        if self.kind == "int":
            return IntDistribution(int(self.low), int(self.high), log=self.log)
        return CategoricalDistribution(self.choices)

    def to_value(self, internal: Any) -> Any:
        """The recipe value for Optuna's parameter value ``internal``."""
        if self.kind == "one_minus_loguniform":
            return 1 - 10 ** internal
        if self.encoded:
            return json.loads(internal)
        return internal

    def suggest(self, trial: BaseTrial) -> Any:
        """Draw this parameter through ``trial`` (so the study's sampler decides); the recipe value."""
        dist = self.distribution()
        if isinstance(dist, FloatDistribution):
            return self.to_value(trial.suggest_float(self.name, dist.low, dist.high, log=dist.log))
        if isinstance(dist, IntDistribution):
            return trial.suggest_int(self.name, dist.low, dist.high, log=dist.log)
        return self.to_value(trial.suggest_categorical(self.name, self.choices))

    def plot_x(self, value: Any) -> Any:
        """The x coordinate for plots: 1 − β for one-minus parameters, the value otherwise."""
        return 1 - value if self.kind == "one_minus_loguniform" else value

    def label(self) -> str:
        return f"1 − {self.key}" if self.kind == "one_minus_loguniform" else self.key

    def spec(self) -> dict[str, Any]:
        """The parameter as space-file data (canonical, for comparing workers' spaces)."""
        if self.kind == "choice":
            return {"choice": [self.to_value(c) for c in self.choices]}
        spec: dict[str, Any] = {self.kind: [self.low, self.high]}
        if self.kind == "int" and self.log:
            spec["log"] = True
        return spec


def _number(where: str, value: Any, integer: bool = False) -> float:
    """A bound as a number; YAML 1.1 reads ``1e-4`` (no dot) as a string, so strings are parsed too."""
    try:
        number = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number) or (integer and number != int(number)):
        kind = "an integer" if integer else "a finite number"
        raise TrainlabError(f"space {where}: bound {value!r} is not {kind}")
    return int(number) if integer else number


def _bounds(key: str, kind: str, raw: Any, integer: bool = False) -> tuple[float, float]:
    where = f"{key}: {kind}"
    if not isinstance(raw, list) or len(raw) != 2:
        raise TrainlabError(f"space {where}: expected two bounds [low, high], got {raw!r}")
    low, high = (_number(where, v, integer) for v in raw)
    if not low < high:
        raise TrainlabError(f"space {where}: expected low < high, got [{low}, {high}]")
    return low, high


def parse_param(key: str, spec: Any) -> Param:
    """One space entry as a :class:`Param`; raise :class:`TrainlabError` naming what is wrong."""
    if not isinstance(spec, dict) or not spec:
        raise TrainlabError(f"space {key}: expected a mapping such as {{loguniform: [1e-4, 1]}}, got {spec!r}; "
                            f"accepted distributions: {', '.join(DISTRIBUTIONS)}")
    kinds = [k for k in spec if k != "log"]
    if len(kinds) != 1:
        raise TrainlabError(f"space {key}: expected exactly one distribution, got {list(spec)}; "
                            f"accepted: {', '.join(DISTRIBUTIONS)} (and log: true beside int)")
    kind = str(kinds[0])
    if kind not in DISTRIBUTIONS:
        raise TrainlabError(f"space {key}: unknown distribution '{kind}'; "
                            f"{did_you_mean(kind, DISTRIBUTIONS)}accepted: {', '.join(DISTRIBUTIONS)}")
    log = spec.get("log", False)
    if "log" in spec and (kind != "int" or not isinstance(log, bool)):
        raise TrainlabError(f"space {key}: 'log' goes only beside int, as log: true or log: false")
    raw = spec[kind]
    if kind == "choice":
        if not isinstance(raw, list) or not raw:
            raise TrainlabError(f"space {key}: choice: expected a non-empty list of values, got {raw!r}")
        encoded = not all(isinstance(c, _SCALARS) for c in raw)
        choices = tuple(json.dumps(c, sort_keys=True) for c in raw) if encoded else tuple(raw)
        if len(set(choices)) != len(choices):
            raise TrainlabError(f"space {key}: choice: the values {raw!r} repeat")
        return Param(key, kind, choices=choices, encoded=encoded)
    low, high = _bounds(key, kind, raw, integer=kind == "int")
    if kind == "loguniform" and low <= 0:
        raise TrainlabError(f"space {key}: loguniform needs 0 < low < high, got [{low}, {high}]")
    if kind == "one_minus_loguniform" and not (0 <= low and high < 1):
        raise TrainlabError(f"space {key}: one_minus_loguniform needs 0 <= low < high < 1 (β = 1 − 10^r), "
                            f"got [{low}, {high}]")
    if kind == "int" and log and low < 1:
        raise TrainlabError(f"space {key}: int with log: true needs low >= 1, got [{low}, {high}]")
    return Param(key, kind, low, high, log=bool(log))


@dataclass(frozen=True)
class Space:
    """The searched parameters, in file order."""

    params: tuple[Param, ...]

    def suggest(self, trial: BaseTrial) -> dict[str, Any]:
        """Draw every parameter through ``trial``; ``{key path: recipe value}``."""
        return {p.key: p.suggest(trial) for p in self.params}

    def by_name(self) -> dict[str, Param]:
        """Parameters by their Optuna name."""
        return {p.name: p for p in self.params}

    def values_of(self, optuna_params: dict[str, Any]) -> dict[str, Any]:
        """Recipe values from a finished trial's Optuna parameters."""
        return {p.key: p.to_value(optuna_params[p.name]) for p in self.params if p.name in optuna_params}

    def spec(self) -> dict[str, Any]:
        return {p.key: p.spec() for p in self.params}

    def probes(self) -> list[dict[str, Any]]:
        """Value sets that exercise every bound and every choice, for checking a recipe before a search."""
        def value(p: Param, end: int, choice: int = 0) -> Any:
            if p.kind == "choice":
                return p.to_value(p.choices[choice])
            return p.to_value(p.distribution().low if end == 0 else p.distribution().high)

        sets = [{p.key: value(p, end) for p in self.params} for end in (0, 1)]
        for p in self.params:
            sets += [{**sets[0], p.key: value(p, 0, i)} for i in range(1, len(p.choices))]
        return sets


def parse_space(data: Any, source: str = "space") -> Space:
    """A :class:`Space` from space-file data (a mapping of key paths to distributions)."""
    if not isinstance(data, dict) or not data:
        raise TrainlabError(f"{source}: expected a mapping of recipe key paths to distributions, e.g. {EXAMPLE}")
    return Space(tuple(parse_param(str(key), spec) for key, spec in data.items()))


def load_space(source: str | Path | dict[str, Any]) -> Space:
    """Read and check a space file (YAML) or space data."""
    if isinstance(source, dict):
        return parse_space(source)
    path = Path(source)
    return parse_space(read_yaml(path, "--space file"), f"--space {path}")  # strict: duplicates, aliases, UTF-8


# ---- applying values to recipe data ----


def _list_default(data: dict[str, Any], section: str, field: str) -> list | None:
    """The registered factory's default for ``section.field`` when it is a list or tuple
    (``optim.betas`` of adam is (0.9, 0.999)), so ``optim.betas.0`` works without writing betas."""
    annotation = Recipe.model_fields[section].annotation if section in Recipe.model_fields else None
    table = getattr(annotation, "table", None)
    raw = data.get(section)
    name = raw if isinstance(raw, str) else raw.get("name") if isinstance(raw, dict) else None
    if name is None and table is not None:
        name = getattr(Recipe.model_fields[section].default, "name", None)
    if table is None or name not in table:
        return None
    parameter = table.get(name).recipe_parameters().get(field)
    default = None if parameter is None else parameter.default
    return list(default) if isinstance(default, (list, tuple)) else None


def set_path(data: dict[str, Any], key: str, value: Any) -> None:
    """Set ``key`` (dotted; integer parts index lists) in recipe data, in place."""
    parts = key.split(".")
    node: Any = data
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        where = ".".join(parts[:depth + 1])
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise TrainlabError(f"space {key}: {'.'.join(parts[:depth])} is a list of {len(node)}; "
                                    f"'{part}' is not an index into it (0 to {len(node) - 1})")
            index: Any = int(part)
        else:
            index = part
        if last:
            node[index] = value
            return
        child = node[index] if isinstance(node, list) else node.get(part)
        if child is None and parts[depth + 1].isdigit():
            child = _list_default(data, parts[0], part) if depth == 1 else None
            if child is None:
                raise TrainlabError(f"space {key}: the recipe has no list at {where} to index; "
                                    f"write the whole list in the recipe, e.g. {part}: [..]")
        if isinstance(child, str):  # a bare name gains parameters: schedule: step → {name: step}
            child = {"name": child}
        elif child is None:  # a section the recipe leaves out: its default (optim → {name: adam})
            child = default_section(parts[:depth + 1])
        elif child is True:
            child = {}
        elif not isinstance(child, (dict, list)):
            raise TrainlabError(f"space {key}: {where} is {child!r}, not a section or a list")
        node[index] = child
        node = child


def apply_values(recipe_data: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``recipe_data`` with every ``{key path: value}`` set."""
    data = copy.deepcopy(recipe_data)
    for key, value in values.items():
        set_path(data, key, value)
    return data


def check_space(space: Space, recipe_data: dict[str, Any]) -> None:
    """Apply the space's extreme values and every choice to the recipe and validate each result,
    so a wrong key path or an out-of-range bound fails before any trial runs."""
    for values in space.probes():
        try:
            validate_recipe(apply_values(recipe_data, values))
        except RecipeError as e:
            shown = ", ".join(f"{k}={v!r}" for k, v in values.items())
            raise RecipeError([f"the space does not fit the recipe (tried {shown}):", *e.problems]) from None

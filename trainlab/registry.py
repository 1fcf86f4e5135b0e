"""Name → factory tables: every technique a recipe can use is looked up here by name.

The recipe validator, ``trainlab list`` and the docs all read these tables, so a registered
factory is usable everywhere at once. A factory's keyword parameters (with type hints and
defaults) are the parameters a recipe may give it; they are validated when the recipe loads.
"""
from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pydantic

from trainlab.errors import did_you_mean

# Parameters a factory receives from the caller, never from the recipe.
_SUPPLIED_BY_CALLER = {"params", "optimizer", "model", "module", "input_shape", "n_outputs", "seed", "task", "y", "batch_size",
                      "intervals_per_epoch"}


def _origin(factory: Callable) -> tuple[str, str]:
    return getattr(factory, "__module__", "?"), getattr(factory, "__qualname__", repr(factory))


@dataclass(frozen=True)
class Entry:
    """One registered technique: its name, factory, one-line description and the ``facts`` its
    registration states (a metric's ``task`` and ``higher_is_better``, …)."""

    name: str
    factory: Callable[..., Any]
    description: str
    facts: Mapping[str, Any] = field(default_factory=dict)

    def recipe_parameters(self) -> dict[str, inspect.Parameter]:
        """The factory's parameters that a recipe may set (keyword parameters with defaults)."""
        signature = inspect.signature(self.factory)
        return {
            name: p
            for name, p in signature.parameters.items()
            if name not in _SUPPLIED_BY_CALLER and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
        }

    def validate(self, values: dict[str, Any]) -> dict[str, Any]:
        """Check ``values`` against the factory's signature; return them coerced to its types.

        Raises ``pydantic.ValidationError`` (unknown or ill-typed parameters).
        """
        return _params_model(self).model_validate(values).model_dump(exclude_unset=True)


_models: dict[int, type[pydantic.BaseModel]] = {}


def _params_model(entry: Entry) -> type[pydantic.BaseModel]:
    key = id(entry.factory)
    if key not in _models:
        hints = inspect.get_annotations(entry.factory, eval_str=True)
        fields = {
            name: (hints.get(name, Any), ... if p.default is p.empty else p.default)
            for name, p in entry.recipe_parameters().items()
        }
        _models[key] = pydantic.create_model(
            f"{entry.name}_params",
            __config__=pydantic.ConfigDict(extra="forbid", arbitrary_types_allowed=True),
            **fields,
        )
    return _models[key]


def split_spec(spec: str | Mapping[str, Any], kind: str = "technique") -> tuple[str, dict[str, Any]]:
    """``"relu"`` → ("relu", {}); ``{"name": "leaky_relu", "alpha": 0.1}`` → ("leaky_relu", {"alpha": 0.1})."""
    if isinstance(spec, str):
        return spec, {}
    params = dict(spec)
    name = params.pop("name", None)
    if not isinstance(name, str):
        raise TypeError(f"a {kind} spec needs a 'name', got {dict(spec)!r}")
    return name, params


class UnknownName(KeyError):
    """Raised by :meth:`Registry.get` for a name that is not registered."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class Registry:
    """A table of named factories of one kind ("optimizer", "activation", …).

    Example::

        >>> from trainlab.registry import Registry
        >>> shapes = Registry("shape")
        >>> @shapes.register("square")
        ... def square(side: float = 1.0):
        ...     '''A square of the given side.'''
        ...     return side * side
        >>> shapes.get("square").factory(side=3.0)
        9.0
    """

    def __init__(self, kind: str, plural: str | None = None):
        self.kind = kind
        self.plural = plural or kind + "s"
        self._entries: dict[str, Entry] = {}

    def register(self, name: str, description: str | None = None, **facts: Any) -> Callable:
        """Decorator registering ``factory`` under ``name``; the description defaults to the
        first paragraph of its docstring; ``facts`` travel with the entry (``Entry.facts``). Registering a function of the same module and name again
        (a notebook cell run twice) replaces the entry; another function under a taken name is an error."""

        def decorate(factory: Callable) -> Callable:
            taken = self._entries.get(name)
            if taken is not None and _origin(taken.factory) != _origin(factory):
                raise ValueError(f"{self.kind} '{name}' is already registered (by {'.'.join(_origin(taken.factory))})")
            doc = description or " ".join((inspect.getdoc(factory) or "").split("\n\n")[0].split())
            self._entries[name] = Entry(name, factory, doc, dict(facts))
            return factory

        return decorate

    def get(self, name: str) -> Entry:
        """The entry for ``name``; raises :class:`UnknownName` suggesting the closest name."""
        try:
            return self._entries[name]
        except KeyError:
            known = ", ".join(self.names())
            raise UnknownName(
                f"'{name}' is not a known {self.kind}; {did_you_mean(name, self.names())}Known: {known}"
            ) from None

    def make(self, spec: str | Mapping[str, Any], **supplied: Any) -> Any:
        """Build from a name or a mapping ``{"name": ..., **params}``; the parameters are validated
        against the factory's signature (``pydantic.ValidationError``) and ``supplied`` is passed as is."""
        name, params = split_spec(spec, self.kind)
        entry = self.get(name)
        return entry.factory(**supplied, **entry.validate(params))

    def names(self) -> list[str]:
        return list(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[Entry]:
        return iter(self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)


datasets = Registry("dataset")
models = Registry("model")
activations = Registry("activation")
initializers = Registry("initializer")
optimizers = Registry("optimizer")
schedules = Registry("schedule")
losses = Registry("loss", "losses")
metrics = Registry("metric")
preprocessors = Registry("preprocessing", "preprocessing")
penalties = Registry("penalty", "penalties")
samplers = Registry("sampler")

ALL: dict[str, Registry] = {
    r.plural: r
    for r in (datasets, models, activations, initializers, optimizers, schedules, losses, metrics, preprocessors, penalties,
              samplers)
}

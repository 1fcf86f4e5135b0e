"""Name → factory tables: every technique a recipe can use is looked up here by name.

The recipe validator, ``trainlab list`` and the docs all read these tables, so a registered
factory is usable everywhere at once. A factory's keyword parameters (with type hints and
defaults) are the parameters a recipe may give it; they are validated when the recipe loads.
"""
from __future__ import annotations

import importlib
import inspect
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pydantic

from trainlab.errors import did_you_mean
from trainlab.safety.strict_types import strict_annotation  # finite numbers, no true/false for numbers

# Parameters a factory receives from the caller, never from the recipe.
_SUPPLIED_BY_CALLER = {"params", "optimizer", "model", "module", "input_shape", "n_outputs", "seed", "y", "batch_size",
                      "intervals_per_epoch"}


PLUGIN_GROUP = "trainlab.plugins"  # entry points whose import registers names (loaded on first unknown name)
_plugins_loaded = False


def load_plugins() -> list[str]:
    """Import every ``trainlab.plugins`` entry point once (a package registers its names on import);
    returns the entry points' names. A plugin that fails to import is named in a ``ValueError``."""
    global _plugins_loaded
    if _plugins_loaded:
        return []
    _plugins_loaded = True
    from importlib.metadata import entry_points

    names = []
    for point in entry_points(group=PLUGIN_GROUP):
        try:
            point.load()
        except Exception as e:  # noqa: BLE001  (any import error of a third-party package, named)
            raise ValueError(f"plugin '{point.name}' ({point.value}) of group {PLUGIN_GROUP} failed to load: {e}") from None
        names.append(point.name)
    return names


CATALOGUE = ("trainlab.data", "trainlab.nn", "trainlab.optim", "trainlab.train",
             "trainlab.pde")  # their import registers the built-ins
_catalogue_loaded = False


def load_catalogue() -> None:
    """Import the packages that register trainlab's own names, once, at the first look into a table:
    ``import trainlab`` does not import them, so ``trainlab --help`` starts without torch."""
    global _catalogue_loaded
    if not _catalogue_loaded:
        _catalogue_loaded = True  # first: the packages' own registrations must not load them again
        for package in CATALOGUE:
            importlib.import_module(package)


def add_import_paths(paths: Iterable[str]) -> None:
    """Put directories on ``sys.path`` (front, once each) so import paths of a recipe resolve."""
    for path in reversed(list(paths)):
        if path not in sys.path:
            sys.path.insert(0, path)


def import_object(path: str) -> Any:
    """``"package.module:name"`` (or ``module:Class.attr``) → the object; a ``ValueError`` says what failed."""
    module_name, sep, attribute = path.partition(":")
    if not sep or not module_name or not attribute:
        raise ValueError(f"'{path}' is not an import path; write 'module:name', e.g. 'mypkg.models:make_net'")
    try:
        obj = importlib.import_module(module_name)
    except ImportError as e:
        raise ValueError(f"cannot import '{module_name}' for '{path}': {e} (the recipe's folder and `paths:` are "
                         "searched, then the installed packages)") from None
    for part in attribute.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ValueError(f"module '{module_name}' has no '{attribute}' (from '{path}')") from None
    if not callable(obj):
        raise ValueError(f"'{path}' is {type(obj).__name__}, not a function or class")
    return obj


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

    def declares(self, parameter: str) -> bool:
        """Whether the factory takes ``parameter`` (by name, or through ``**kwargs``)."""
        parameters = inspect.signature(self.factory).parameters
        return parameter in parameters or any(p.kind is p.VAR_KEYWORD for p in parameters.values())

    def build(self, supplied: Mapping[str, Any], params: Mapping[str, Any]) -> Any:
        """Call the factory with ``params`` (validated) and those ``supplied`` values (input_shape,
        seed, …) that it declares: a factory receives only the parameters it declares."""
        return self.factory(**{k: v for k, v in supplied.items() if self.declares(k)}, **params)

    def validate(self, values: dict[str, Any]) -> dict[str, Any]:
        """Check ``values`` against the factory's signature; return them coerced to its types.

        Raises ``pydantic.ValidationError`` (unknown or ill-typed parameters).
        """
        return _params_model(self).model_validate(values).model_dump(exclude_unset=True)


_models: dict[int, type[pydantic.BaseModel]] = {}


def _params_model(entry: Entry) -> type[pydantic.BaseModel]:
    key = id(entry.factory)
    if key not in _models:
        factory = entry.factory.__init__ if inspect.isclass(entry.factory) else entry.factory  # a user's nn.Module class
        hints = inspect.get_annotations(factory, eval_str=True)
        fields = {
            name: (strict_annotation(hints.get(name, Any)), ... if p.default is p.empty else p.default)
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

    def __init__(self, kind: str, plural: str | None = None, catalogue: bool = False):
        self.kind = kind
        self.plural = plural or kind + "s"
        self._entries: dict[str, Entry] = {}
        self._catalogue = catalogue  # a table of trainlab's own: filled by load_catalogue() on first use

    def _entries_loaded(self) -> dict[str, Entry]:
        if self._catalogue:
            load_catalogue()
        return self._entries

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
        """The entry for ``name``; raises :class:`UnknownName` suggesting the closest name. Plugins
        (entry points of group ``trainlab.plugins``) are loaded the first time a name is missing."""
        if name not in self._entries_loaded() and load_plugins() and name in self._entries:
            return self._entries[name]
        try:
            return self._entries[name]
        except KeyError:
            known = ", ".join(self.names())
            raise UnknownName(
                f"'{name}' is not a known {self.kind}; {did_you_mean(name, self.names())}Known: {known}"
            ) from None

    def resolve(self, name: str, params: Mapping[str, Any]) -> list[tuple[Entry, dict[str, Any]]]:
        """The factories that ``name`` with ``params`` calls, each with the parameters it validates.

        Usually one: ``[(entry, params)]``. An entry registered with the fact ``import_path="factory"``
        (the name ``python``) wraps a user's factory: ``params["factory"]`` (``"module:function"`` or
        ``"module:Class"``) is imported, and the parameters the wrapper does not declare itself go to
        that factory, validated against its own signature: ``[(wrapper, its params), (user's, the rest)]``.
        Raises :class:`UnknownName` or ``ValueError`` (a bad import path)."""
        entry, params = self.get(name), dict(params)
        key = entry.facts.get("import_path")
        if key is None:
            return [(entry, params)]
        path = params.get(key)
        if not isinstance(path, str):
            raise ValueError(f"{self.kind} '{name}' needs '{key}: module:function', the import path of your factory")
        target = import_object(path)
        own = set(entry.recipe_parameters())
        doc = " ".join((inspect.getdoc(target) or "").split("\n\n")[0].split())
        return [(entry, {k: v for k, v in params.items() if k in own}),
                (Entry(f"{name}:{path}", target, doc), {k: v for k, v in params.items() if k not in own})]

    def make(self, spec: str | Mapping[str, Any], **supplied: Any) -> Any:
        """Build from a name or a mapping ``{"name": ..., **params}``; the parameters are validated
        against the factory's signature (``pydantic.ValidationError``) and ``supplied`` is passed as is."""
        name, params = split_spec(spec, self.kind)
        resolved = self.resolve(name, params)
        values = {k: v for entry, given in resolved for k, v in entry.validate(given).items()}
        return resolved[0][0].factory(**supplied, **values)

    def names(self) -> list[str]:
        return list(self._entries_loaded())

    def __contains__(self, name: object) -> bool:
        return name in self._entries_loaded()

    def __iter__(self) -> Iterator[Entry]:
        return iter(self._entries_loaded().values())

    def __len__(self) -> int:
        return len(self._entries_loaded())


datasets = Registry("dataset", catalogue=True)
models = Registry("model", catalogue=True)
activations = Registry("activation", catalogue=True)
initializers = Registry("initializer", catalogue=True)
optimizers = Registry("optimizer", catalogue=True)
schedules = Registry("schedule", catalogue=True)
losses = Registry("loss", "losses", catalogue=True)
metrics = Registry("metric", catalogue=True)
preprocessors = Registry("preprocessing", "preprocessing", catalogue=True)
penalties = Registry("penalty", "penalties", catalogue=True)
samplers = Registry("sampler", catalogue=True)

ALL: dict[str, Registry] = {
    r.plural: r
    for r in (datasets, models, activations, initializers, optimizers, schedules, losses, metrics, preprocessors, penalties,
              samplers)
}

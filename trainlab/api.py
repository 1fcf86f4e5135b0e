"""One call from Python or a notebook: ``trainlab.fit(X, y)``.

>>> import numpy as np, tempfile, trainlab
>>> x = np.random.default_rng(0).normal(size=(200, 4)); y = (x[:, 0] > 0).astype(int)
>>> result = trainlab.fit(x, y, epochs=3, lr=0.01, runs_dir=tempfile.mkdtemp(), progress=False)
>>> len(result.history), sorted(result.test)
(3, ['test_accuracy', 'test_loss'])
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import torch

from trainlab.data.user import from_python
from trainlab.errors import RecipeError
from trainlab.recipe import Recipe, load_recipe, read_recipe_data
from trainlab.run import RunResult, run_recipe
from trainlab.train.callbacks import Callback
from trainlab.train.progress import ProgressBar

SHORTHANDS = {"epochs": "stopping.epochs", "lr": "optim.lr", "batch_size": "data.batch_size"}


def _default_name(section: str) -> str | None:
    """The name a recipe section defaults to (optim → adam, schedule → constant), or None."""
    field = Recipe.model_fields.get(section)
    return getattr(field.default, "name", None) if field is not None else None


def _set(data: dict[str, Any], dotted: str, value: Any) -> None:
    """``data["optim"]["lr"] = value`` for ``dotted = "optim.lr"``; a bare section name gains parameters."""
    *sections, key = dotted.split(".")
    node = data
    for part in sections:
        child = node.get(part)
        if isinstance(child, str):  # optim: sgd → {name: sgd}
            child = {"name": child}
        elif child is None and node is data and _default_name(part):  # optim__lr without optim: the default optimizer
            child = {"name": _default_name(part)}
        elif child is None or child is True:
            child = {}
        elif not isinstance(child, dict):
            raise RecipeError([f"{dotted}: {part} is {child!r}, not a section"])
        node[part] = child
        node = child
    node[key] = value


def fit(x: Any, y: Any = None, *, model: str | dict[str, Any] | torch.nn.Module = "mlp", x_test: Any = None,
        y_test: Any = None, recipe: str | Path | dict[str, Any] | None = None, runs_dir: str | Path = "runs",
        progress: bool = True, **settings: Any) -> RunResult:
    """Train on arrays ``x``, ``y`` (numpy, tensors, DataFrames; or ``x`` a torch ``Dataset`` of (x, y)
    pairs and no ``y``) and return the :class:`~trainlab.run.RunResult`: run directory, report, doctor.

    ``model``: a registered name (``"mlp"``), a recipe section (``{"name": "mlp", "hidden": [64]}``) or your
    own ``nn.Module`` (trained in place). ``settings`` are recipe keys: whole sections
    (``optim={"name": "sgd", "lr": 0.1}``), nested keys with ``__`` (``optim__momentum=0.9``,
    ``stopping__early={"patience": 5}``), top-level keys (``seed=1``, ``penalties=[…]``) and the shorthands
    ``epochs``, ``lr``, ``batch_size``. ``recipe``: a recipe file or dict to start from (its ``data``
    section's split and preprocessing apply to these arrays). ``x_test``/``y_test``: a test split of
    your own (else ``data.test_fraction`` of ``x`` is held out). Classes (integer, boolean or text
    labels) or regression (floating-point targets) are inferred; ``data__task=…`` overrides.
    """
    data = read_recipe_data(recipe) if recipe is not None else {}
    data = copy.deepcopy(data) if isinstance(data, dict) else data
    if not isinstance(data, dict):
        raise RecipeError([f"recipe: expected a mapping of sections, got {type(data).__name__}"])
    section = data.get("data")
    data["data"] = {**(section if isinstance(section, dict) else {}), "name": "memory"}
    data.setdefault("name", "fit")
    if isinstance(model, torch.nn.Module):
        data["model"] = {"name": "instance"}
    else:
        data["model"] = {"name": model} if isinstance(model, str) else dict(model)
    for key, value in settings.items():
        _set(data, SHORTHANDS.get(key, key.replace("__", ".")), value)
    task = data["data"].pop("task", "auto")
    resolved = load_recipe(data)
    arrays = x if y is None else ((x, y) if x_test is None else (x, y, x_test, y_test))
    if y is None and x_test is not None:
        raise RecipeError([("x_test: a test split goes with arrays x, y; a torch Dataset brings its own "
                            "({'train': …, 'test': …})")])
    try:
        dataset = from_python(arrays, "fit(x, y)", task)
    except ValueError as e:
        raise RecipeError([f"data: {e}"]) from None
    output: list[Callback] = [ProgressBar()] if progress else []
    return run_recipe(resolved, runs_dir, output, data=dataset,
                      model=model if isinstance(model, torch.nn.Module) else None, writer="trainlab.fit")

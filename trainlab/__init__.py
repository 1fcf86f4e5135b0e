"""trainlab: train neural networks the way the lectures teach it.

The flow is Recipe → Run → Report::

    import trainlab
    recipe = trainlab.load_recipe("examples/mnist1d_cnn.yaml", ["optim.lr=3e-3"])
    result = trainlab.run_recipe(recipe)
    print(result.test, result.run_dir / "report.html")

Every name below is imported on first use (PEP 562 ``__getattr__``), so ``import trainlab`` and
``trainlab --help`` do not pay for torch; the registries load trainlab's own techniques the first
time a table is read (:func:`trainlab.registry.load_catalogue`).
"""
from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

try:
    __version__ = version("trainlab")
except PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0+unknown"

# public name → (module, attribute). The CLI mirrors the API: `doctor` is trainlab.diagnose.doctor.diagnose.
_EXPORTS = {
    "CheckpointError": ("trainlab.errors", "CheckpointError"),
    "RecipeError": ("trainlab.errors", "RecipeError"),
    "TrainlabError": ("trainlab.errors", "TrainlabError"),
    "Predictor": ("trainlab.predict", "Predictor"),
    "Recipe": ("trainlab.recipe", "Recipe"),
    "load_recipe": ("trainlab.recipe", "load_recipe"),
    "RunResult": ("trainlab.run", "RunResult"),
    "build": ("trainlab.run", "build"),
    "load_model": ("trainlab.run", "load_model"),
    "resume_run": ("trainlab.run", "resume_run"),
    "run_recipe": ("trainlab.run", "run_recipe"),
    "Callback": ("trainlab.train.callbacks", "Callback"),
    "LoopState": ("trainlab.train.callbacks", "LoopState"),
    "Order": ("trainlab.train.callbacks", "Order"),
    "Trainer": ("trainlab.train.trainer", "Trainer"),
    "compare": ("trainlab.tools.compare", "compare"),
    "search": ("trainlab.tools.search", "search"),
    "lr_find": ("trainlab.tools.lr_find", "lr_find"),
    "doctor": ("trainlab.diagnose.doctor", "diagnose"),
    "run_lab": ("trainlab.labs", "run_lab"),
    "fit": ("trainlab.api", "fit"),
}
_SUBPACKAGES = {"data", "nn", "optim", "train", "pde", "diagnose", "tools", "labs", "report", "commands", "run",
                "recipe", "registry", "rundir", "predict"}

if TYPE_CHECKING:  # for type checkers and IDEs; at run time these come from __getattr__
    from trainlab.api import fit
    from trainlab.errors import CheckpointError, RecipeError, TrainlabError
    from trainlab.predict import Predictor
    from trainlab.recipe import Recipe, load_recipe
    from trainlab.run import RunResult, build, load_model, resume_run, run_recipe
    from trainlab.train.callbacks import Callback, LoopState, Order
    from trainlab.train.trainer import Trainer


def __getattr__(name: str):
    if name in _EXPORTS:
        module, attribute = _EXPORTS[name]
        value = getattr(importlib.import_module(module), attribute)
        globals()[name] = value  # later look-ups skip this function
        return value
    if name in _SUBPACKAGES:  # `import trainlab; trainlab.nn` as before the imports became lazy
        return importlib.import_module(f"trainlab.{name}")
    raise AttributeError(f"module 'trainlab' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


__all__ = [  # the keys of _EXPORTS (tests/test_fast_cli.py keeps them equal)
    "Callback", "CheckpointError", "LoopState", "Order", "Predictor", "Recipe", "RecipeError", "RunResult",
    "Trainer", "TrainlabError", "build", "compare", "doctor", "fit", "load_model", "load_recipe", "lr_find",
    "resume_run", "run_lab", "run_recipe", "search",
]

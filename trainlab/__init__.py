"""trainlab: train neural networks the way the lectures teach it.

The flow is Recipe → Run → Report::

    import trainlab
    recipe = trainlab.load_recipe("examples/mnist1d_cnn.yaml", ["optim.lr=3e-3"])
    result = trainlab.run_recipe(recipe)
    print(result.test, result.run_dir / "report.html")
"""
import importlib
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("trainlab")
except PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0+unknown"

from trainlab import data, nn, optim, train  # noqa: F401  (register every technique)
from trainlab.errors import CheckpointError, RecipeError, TrainlabError
from trainlab.predict import Predictor
from trainlab.recipe import Recipe, load_recipe
from trainlab.run import RunResult, build, load_model, resume_run, run_recipe
from trainlab.train.callbacks import Callback, LoopState, Order
from trainlab.train.trainer import Trainer

# The CLI mirrors the API: each command's function, imported on first use (the experiment tools pull in
# Optuna and SciPy, which `import trainlab` should not pay for). `doctor` is trainlab.diagnose.doctor.diagnose.
_COMMANDS = {"compare": ("trainlab.tools.compare", "compare"), "search": ("trainlab.tools.search", "search"),
             "lr_find": ("trainlab.tools.lr_find", "lr_find"), "doctor": ("trainlab.diagnose.doctor", "diagnose"),
             "run_lab": ("trainlab.labs", "run_lab")}


def __getattr__(name: str):
    if name in _COMMANDS:
        module, attribute = _COMMANDS[name]
        return getattr(importlib.import_module(module), attribute)
    raise AttributeError(f"module 'trainlab' has no attribute {name!r}")


__all__ = [
    "Callback", "CheckpointError", "LoopState", "Order", "Predictor", "Recipe", "RecipeError", "RunResult",
    "Trainer", "TrainlabError", "build", "compare", "doctor", "load_model", "load_recipe", "lr_find",
    "resume_run", "run_lab", "run_recipe", "search",
]

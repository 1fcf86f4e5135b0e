"""scikit-learn estimators: a trainlab recipe behind ``fit``/``predict``, for Pipeline, GridSearchCV, cross_val_score.

    >>> from sklearn.datasets import make_moons
    >>> from trainlab.sklearn import TrainlabClassifier
    >>> X, y = make_moons(200, noise=0.1, random_state=0)
    >>> clf = TrainlabClassifier(model={"name": "mlp", "hidden": [16]}, optim={"name": "adam", "lr": 0.05},
    ...                          epochs=30, batch_size=32).fit(X, y)
    >>> clf.score(X, y) > 0.9
    True
    >>> clf.set_params(optim__lr=0.01).get_params()["optim__lr"]
    0.01

The constructor's parameters are the recipe's sections, stored unchanged (scikit-learn's rule): ``model``,
``optim``, ``schedule``, ``preprocess`` take a registered name or a dict of that section (``{"name": "adam",
"lr": 0.01}``); ``penalties`` a name, a dict or a list of them; ``early_stopping`` None, True or a dict of
``stopping.early``. ``get_params()`` also lists each dict's keys as ``section__key`` and ``set_params``
takes them (``optim__lr=0.01``), so GridSearchCV can search any recipe parameter. The recipe is validated
in ``fit``; a bad parameter raises :class:`EstimatorError` (a ``ValueError``) naming the parameter.

Training goes through :func:`trainlab.run.build` on the arrays in memory: no run directory, no progress
output (``verbose=1``: one line per epoch), torch's global random state left as it was. Input checks and
label handling are scikit-learn's (``validate_data``, ``check_classification_targets``); regression targets
are standardized by the recipe's ``data.target_scale``. Written here, since neither library has it: the
mapping between estimator parameters and recipe sections, and the forward pass of ``predict``.
"""
from __future__ import annotations

import re
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from trainlab.data.datasets import Dataset
from trainlab.errors import RecipeError, TrainlabError
from trainlab.recipe import load_recipe
from trainlab.run import Setup, build
from trainlab.train.callbacks import Callback, LoopState

__all__ = ["EstimatorError", "TrainlabClassifier", "TrainlabRegressor"]

SECTIONS = ("model", "optim", "schedule", "preprocess", "early_stopping", "penalties")  # dicts: section__key
PREDICT_ROWS = 4096  # rows per forward pass in predict: bounds memory, not the result
# a recipe path's start → the estimator parameter that sets it (longest first)
_RECIPE_TO_PARAM = [("data.preprocess", "preprocess"), ("data.batch_size", "batch_size"),
                    ("data.val_fraction", "val_fraction"), ("data.target_scale", "target_scale"),
                    ("stopping.epochs", "epochs"), ("stopping.early", "early_stopping"), ("seed", "random_state"),
                    ("model", "model"), ("optim", "optim"), ("schedule", "schedule"), ("penalties", "penalties"),
                    ("device", "device"), ("precision", "precision")]
_LEADING_PATH = re.compile(r"^([a-z_]+(?:\.[A-Za-z0-9_]+)*)(?=:)")
_DOTTED_PATH = re.compile(r"(?<![\w.'])(?:data|stopping|model|optim|schedule|penalties)(?:\.[A-Za-z0-9_]+)+")


class EstimatorError(RecipeError, ValueError):
    """A bad estimator parameter or a failed training: a ``ValueError`` to scikit-learn (GridSearchCV's
    ``error_score``), a :class:`trainlab.errors.RecipeError` to trainlab; one line per problem."""


class _EpochPrinter(Callback):
    """``verbose``: one line per epoch on stdout."""

    def on_epoch_end(self, state: LoopState) -> None:
        logs = " ".join(f"{k} {v:.4g}" for k, v in state.logs.items() if k not in ("epoch", "seconds"))
        print(f"epoch {len(state.history)}/{state.epochs} {logs}", flush=True)


def _plain(value: Any) -> Any:
    """Numpy scalars and arrays (a GridSearchCV grid from np.logspace) as Python numbers and lists."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _section(value: Any) -> Any:
    """A name or a dict, as the recipe takes it."""
    return dict(_plain(value)) if isinstance(value, dict) else _plain(value)


def _penalties(value: Any) -> list:
    if value is None or value is False:
        return []
    return [_section(v) for v in value] if isinstance(value, (list, tuple)) else [_section(value)]


def _early(value: Any) -> Any:
    if value is None or value is False:
        return None
    return {} if value is True else _section(value)


def _inputs(X: np.ndarray) -> np.ndarray:
    """float32, C-ordered and writable (torch refuses read-only memory maps without a copy)."""
    return np.require(X, dtype=np.float32, requirements=["C", "W"])


class _TrainlabEstimator(BaseEstimator):
    """What the classifier and the regressor share: parameters, the recipe, training and the forward pass."""

    def __init__(self, model: str | dict = "mlp", optim: str | dict = "adam", epochs: int = 20,
                 batch_size: int = 100, schedule: str | dict = "constant", penalties: Any = None,
                 early_stopping: bool | dict | None = None, preprocess: str | dict = "zscore",
                 val_fraction: float = 0.1, precision: str = "float32", random_state: Any = 0,
                 device: str = "cpu", verbose: int = 0):
        self.model = model
        self.optim = optim
        self.epochs = epochs
        self.batch_size = batch_size
        self.schedule = schedule
        self.penalties = penalties
        self.early_stopping = early_stopping
        self.preprocess = preprocess
        self.val_fraction = val_fraction
        self.precision = precision
        self.random_state = random_state
        self.device = device
        self.verbose = verbose

    # ---- parameters: the sections' keys as section__key ----

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor's parameters; with ``deep``, also ``section__key`` for each key of a section
        given as a dict (``optim__lr``) and ``section__name`` for one given as a name."""
        params = super().get_params(deep=False)
        if deep:
            for section in SECTIONS:
                value = params[section]
                if isinstance(value, str):
                    params[f"{section}__name"] = value
                elif isinstance(value, dict):
                    params.update({f"{section}__{key}": v for key, v in value.items()})
        return params

    def set_params(self, **params: Any) -> _TrainlabEstimator:
        """Set constructor parameters and ``section__key`` entries: ``optim__lr=0.01`` turns ``optim="adam"``
        into ``{"name": "adam", "lr": 0.01}`` (a new dict; the one given is not changed). A key of a section
        that is off (None) switches it on with that key. Values are checked in ``fit``."""
        valid = super().get_params(deep=False)
        nested: dict[str, dict[str, Any]] = {}
        for key, value in params.items():
            section, sep, sub_key = key.partition("__")
            if section not in valid or (sep and section not in SECTIONS) or (sep and not sub_key):
                accepted = ", ".join([*valid, *(f"{s}__<key>" for s in SECTIONS)])
                raise ValueError(f"{type(self).__name__}.set_params: unknown parameter {key!r}; accepted: {accepted}")
            if sep:
                nested.setdefault(section, {})[sub_key] = value
            else:
                setattr(self, key, value)
        for section, keys in nested.items():
            current = getattr(self, section)
            if isinstance(current, str):
                current = {"name": current}
            elif current is None or current is True:
                current = {}
            elif not isinstance(current, dict):
                raise ValueError(f"{type(self).__name__}.set_params: {section}__{next(iter(keys))} needs {section} "
                                 f"to be a name or a dict, but it is {current!r}")
            setattr(self, section, {**current, **keys})
        return self

    # ---- training ----

    def _seed(self) -> int:
        if isinstance(self.random_state, (int, np.integer)) and not isinstance(self.random_state, bool):
            return int(self.random_state)
        try:
            return int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        except ValueError:
            message = (f"random_state: {self.random_state!r} is not valid; accepted: a whole number ≥ 0, None "
                       "or a numpy RandomState")
            raise EstimatorError([message]) from None

    def _recipe_data(self) -> dict[str, Any]:
        early = _early(self.early_stopping)
        return {
            "name": "sklearn", "seed": self._seed(), "device": self.device, "precision": self.precision,
            "data": {"name": "memory", "batch_size": _plain(self.batch_size), "test_fraction": 0.0,
                     "val_fraction": _plain(self.val_fraction) if early is not None else 0.0,
                     "preprocess": _section(self.preprocess), **self._data_fields()},
            "model": _section(self.model), "optim": _section(self.optim), "schedule": _section(self.schedule),
            "penalties": _penalties(self.penalties),
            "stopping": {"epochs": _plain(self.epochs), "early": early},
        }

    def _data_fields(self) -> dict[str, Any]:
        return {}

    def _param_name(self, path: str) -> str | None:
        """The estimator parameter for a recipe path: ``optim.lr`` → ``optim__lr``, ``stopping.epochs`` →
        ``epochs``; None when no parameter sets it."""
        for prefix, param in _RECIPE_TO_PARAM:
            if path == prefix or path.startswith(prefix + "."):
                rest = path[len(prefix) + 1:].split(".") if path != prefix else []
                if param == "penalties" and rest and not isinstance(self.penalties, (list, tuple)):
                    rest = rest[1:]  # one penalty given: no list index
                if rest == ["name"] and isinstance(getattr(self, param), str):
                    rest = []  # optim="adamm": the parameter itself
                return param + (f"__{rest[0]}" if rest else "") + "".join(f".{r}" for r in rest[1:])
        return None

    def _message(self, problem: str) -> str:
        """A recipe problem in the estimator's terms: the leading path and every dotted path in the text
        (``optim.lr: …`` → ``optim__lr: …``; ``data.val_fraction is 0`` → ``val_fraction is 0``)."""
        match = _LEADING_PATH.match(problem)
        if match and (param := self._param_name(match.group(1))):
            problem = param + problem[match.end():]
        return _DOTTED_PATH.sub(lambda m: self._param_name(m.group(0)) or m.group(0), problem)

    def _train(self, data: Dataset) -> Setup:
        if isinstance(self.verbose, bool) or not isinstance(self.verbose, (int, np.integer)) or self.verbose < 0:
            message = f"verbose: {self.verbose!r} is not valid; accepted: 0 (silent) or 1 (a line per epoch)"
            raise EstimatorError([message])
        try:
            recipe = load_recipe(self._recipe_data())
            cuda = recipe.device in ("cuda", "auto") and torch.cuda.is_available()
            with torch.random.fork_rng(devices=[torch.cuda.current_device()] if cuda else []):
                setup = build(recipe, [_EpochPrinter()] if self.verbose else [], data=data)
                history = setup.trainer.fit(setup.train, setup.val, recipe.stopping.epochs)
        except RecipeError as e:
            raise EstimatorError([self._message(p) for p in e.problems]) from None
        except TrainlabError as e:
            raise EstimatorError([self._message(str(e))]) from None
        self.model_ = setup.model.eval()
        self.preprocessor_ = setup.preprocessor
        self.history_ = history
        self.n_iter_ = len(history)
        self.recipe_ = recipe.to_dict()
        return setup

    @torch.no_grad()
    def _outputs(self, X: Any) -> np.ndarray:
        """The network's outputs for ``X`` in evaluation mode, as float64 (n, k)."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=(np.float32, np.float64))
        x, weight = torch.from_numpy(_inputs(X)), next(self.model_.parameters())  # bf16/fp16: float32 weights
        parts = [self.model_(self.preprocessor_(chunk).to(device=weight.device, dtype=weight.dtype)).double().cpu()
                 for chunk in x.split(PREDICT_ROWS)]
        return torch.cat(parts).numpy()


class TrainlabClassifier(ClassifierMixin, _TrainlabEstimator):
    """A trainlab network as a scikit-learn classifier (cross-entropy on softmax outputs).

    Parameters are the recipe's sections (see the module docstring and docs/sklearn.md). After ``fit``:
    ``classes_`` (sorted labels, any type), ``n_features_in_``, ``feature_names_in_`` (X a DataFrame),
    ``model_`` (the torch module), ``preprocessor_``, ``history_`` (one dict of logs per epoch),
    ``n_iter_`` (epochs trained) and ``recipe_`` (the validated recipe as a dict).
    ``predict_proba`` gives softmax(z)ᵢ = exp(zᵢ)/Σⱼ exp(zⱼ) of the outputs z, in float64.
    """

    def fit(self, X: Any, y: Any) -> TrainlabClassifier:
        """Train on ``X`` (n, features) and labels ``y`` (n,), of any type ``np.unique`` sorts."""
        X, y = validate_data(self, X, y, dtype=(np.float32, np.float64))
        check_classification_targets(y)
        self.classes_, codes = np.unique(y, return_inverse=True)
        data = Dataset("classification", _inputs(X), codes.astype(np.int64),
                       class_names=[str(c) for c in self.classes_], info={"source": type(self).__name__})
        self._train(data)
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities (n, len(classes_)); each row sums to 1."""
        return torch.from_numpy(self._outputs(X)).softmax(dim=1).numpy()

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class of each row, as a label of ``classes_``."""
        outputs = self._outputs(X)  # checks the fit first
        return self.classes_[outputs.argmax(axis=1)]


class TrainlabRegressor(RegressorMixin, _TrainlabEstimator):
    """A trainlab network as a scikit-learn regressor (mean squared error), one or several targets.

    With ``target_scale="zscore"`` (the default; the recipe's ``data.target_scale``) the network trains on
    t = (y − μ)/σ, μ and σ per target of the training data (``target_mean_``, ``target_scale_``), and
    ``predict`` returns ŷ = μ + σ·t̂ in the units of ``y``; ``"none"`` trains on ``y`` as it is. ``y`` of
    shape (n,) gives predictions of shape (n,); (n, k) gives (n, k). Other fitted attributes as
    :class:`TrainlabClassifier`, plus ``n_outputs_``.
    """

    def __init__(self, model: str | dict = "mlp", optim: str | dict = "adam", epochs: int = 20,
                 batch_size: int = 100, schedule: str | dict = "constant", penalties: Any = None,
                 early_stopping: bool | dict | None = None, preprocess: str | dict = "zscore",
                 target_scale: str = "zscore", val_fraction: float = 0.1, precision: str = "float32",
                 random_state: Any = 0, device: str = "cpu", verbose: int = 0):
        super().__init__(model=model, optim=optim, epochs=epochs, batch_size=batch_size, schedule=schedule,
                         penalties=penalties, early_stopping=early_stopping, preprocess=preprocess,
                         val_fraction=val_fraction, precision=precision, random_state=random_state,
                         device=device, verbose=verbose)
        self.target_scale = target_scale

    def _data_fields(self) -> dict[str, Any]:
        return {"target_scale": self.target_scale}

    def fit(self, X: Any, y: Any) -> TrainlabRegressor:
        """Train on ``X`` (n, features) and numeric targets ``y`` (n,) or (n, k)."""
        X, y = validate_data(self, X, y, dtype=(np.float32, np.float64), y_numeric=True, multi_output=True)
        targets = np.asarray(y, dtype=np.float32).reshape(len(y), -1)
        self.n_outputs_, self._one_target = targets.shape[1], np.ndim(y) == 1
        setup = self._train(Dataset("regression", _inputs(X), targets, info={"source": type(self).__name__}))
        scale = setup.target_scale
        self.target_mean_ = np.zeros(self.n_outputs_) if scale is None else scale.mean.double().numpy()
        self.target_scale_ = np.ones(self.n_outputs_) if scale is None else scale.std.double().numpy()
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Predicted targets in the units of ``y``: shape (n,) or (n, k) as ``y`` had in ``fit``."""
        outputs = self._outputs(X)  # checks the fit first
        predictions = self.target_mean_ + self.target_scale_ * outputs
        return predictions.ravel() if self._one_target else predictions

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

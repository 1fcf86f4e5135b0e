"""Trackers: a run mirrored to TensorBoard and MLflow while it trains, where users already look.

Switched on by the recipe (``tracking: [tensorboard, mlflow]``) or ``--track tensorboard,mlflow``
on ``run``, ``compare``, ``search`` and ``lab`` (the flag is the recipe override
``tracking=[…]``, so compare's worker processes and search's trials see it). Both packages are
optional (``pip install "trainlab[tracking]"``); a missing one is an error before training.
:mod:`trainlab.tracking.tensorboard` and :mod:`trainlab.tracking.mlflow_runs` say what each writes;
:mod:`trainlab.tracking.parents` makes a comparison's or a study's MLflow parent run.

>>> track_overrides("tensorboard, mlflow")
['tracking.to=[tensorboard, mlflow]']
"""
from __future__ import annotations

from trainlab.errors import TrainlabError
from trainlab.recipe import Recipe
from trainlab.rundir import RunDir
from trainlab.tracking.base import Tracker, check_installed, tracking_uri
from trainlab.tracking.parents import ParentRun
from trainlab.train.callbacks import Callback

TRACKERS = ("tensorboard", "mlflow")
__all__ = ["TRACKERS", "ParentRun", "Tracker", "check_installed", "end_tracking", "parse_track", "track_overrides",
           "trackers_for"]


def parse_track(value: str | None) -> list[str]:
    """``--track a,b`` as tracker names (none for None); an unknown tracker is a one-line error."""
    if value is None:
        return []
    names = [name.strip() for name in value.split(",") if name.strip()]
    unknown = [name for name in names if name not in TRACKERS]
    if unknown or not names:
        raise TrainlabError(f"--track: {', '.join(map(repr, unknown)) or 'nothing given'} is not a tracker; "
                            f"accepted: a comma-separated list of {', '.join(TRACKERS)}")
    return list(dict.fromkeys(names))


def track_overrides(value: str | None) -> list[str]:
    """``--track a,b`` as the recipe override ``tracking.to=[a, b]`` (none for None)."""
    names = parse_track(value)
    return [f"tracking.to=[{', '.join(names)}]"] if names else []



def trackers_for(recipe: Recipe, run: RunDir) -> list[Tracker]:
    """The trackers ``recipe.tracking`` asks for, for the run in ``run`` (its parent folder holds the
    default MLflow database)."""
    spec = recipe.tracking
    if spec is None:
        return []
    trackers: list[Tracker] = []
    if "tensorboard" in spec.to:
        from trainlab.tracking.tensorboard import TensorBoardTracker

        trackers.append(TensorBoardTracker(run))
    if "mlflow" in spec.to:
        from trainlab.tracking.mlflow_runs import MlflowTracker

        uri = tracking_uri(spec.uri, run.path.parent)
        trackers.append(MlflowTracker(run, uri, spec.experiment or recipe.name, spec.parent))
    return trackers


def end_tracking(callbacks: list[Callback], run: RunDir) -> None:
    """After the doctor and the report: each tracker among ``callbacks`` logs the final metrics,
    findings and artifacts, then closes."""
    status = run.status().get("status", "failed")
    for callback in callbacks:
        if isinstance(callback, Tracker):
            callback.end(run, status)

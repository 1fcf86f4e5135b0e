"""Parent runs: one MLflow run per comparison or search study, with its runs or trials as children.

``compare`` and ``search`` open the parent before any worker starts (which also creates the
SQLite database once, before parallel workers could race to), hand its id to every run through
the recipe (``tracking.parent``), and close it with the comparison's or study's report. A rerun
or another worker of the same comparison or study finds the same parent by its tag.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from trainlab.recipe import Recipe, TrackingSpec
from trainlab.rundir import versions
from trainlab.tracking.base import check_installed, flatten, key_of, tracking_uri
from trainlab.tracking.mlflow_runs import GROUP_TAG, client, experiment_id, find_or_create, log_metrics, log_params


class ParentRun:
    """The MLflow parent run of a comparison or study (``open`` returns None when the recipe does not
    track to MLflow)."""

    def __init__(self, spec: TrackingSpec, uri: str, run_id: str, mlflow_client: Any):
        self.spec, self.uri, self.run_id, self.mlflow_client = spec, uri, run_id, mlflow_client

    @classmethod
    def open(cls, recipe: Recipe, runs_dir: Path, key: str, name: str, kind: str,
             params: dict[str, Any] | None = None) -> ParentRun | None:
        """Find or create the parent run identified by ``key`` (a comparison directory, a study) in the
        recipe's experiment; ``runs_dir`` is where the children's directories are made, for the
        default URI; ``params`` are logged on a new parent."""
        spec = recipe.tracking
        if spec is None:
            return None
        check_installed(spec.to)  # before any worker starts, not in each of them
        if "mlflow" not in spec.to:
            return None
        uri = tracking_uri(spec.uri, runs_dir)
        mlflow_client = client(uri)
        experiment = experiment_id(mlflow_client, spec.experiment or recipe.name, uri)
        tags = {"trainlab.kind": kind, **{f"{k}.version": v for k, v in versions().items()}}
        run_id, new = find_or_create(mlflow_client, experiment, GROUP_TAG, key_of(key), name, tags)
        if new and params:
            log_params(mlflow_client, run_id, flatten(params))
        return cls(spec, uri, run_id, mlflow_client)

    def child_spec(self) -> dict[str, Any]:
        """The ``tracking`` section of a child's recipe: the parent's id and, when the parent uses the
        default SQLite file (no credentials in it), that URI, so children under another folder log beside it."""
        spec = self.spec.model_dump()
        spec["parent"] = self.run_id
        if spec["uri"] is None and not os.environ.get("MLFLOW_TRACKING_URI"):
            spec["uri"] = self.uri
        return spec

    def child(self, recipe: Recipe) -> Recipe:
        """``recipe`` as one of this parent's children."""
        recipe.tracking = TrackingSpec.model_validate(self.child_spec())
        return recipe

    def close(self, finished: bool, metrics: dict[str, float] | None = None, artifacts: list[Path] = ()) -> None:
        if metrics:
            log_metrics(self.mlflow_client, self.run_id, metrics, 0)
        for path in artifacts:
            if Path(path).is_file():
                self.mlflow_client.log_artifact(self.run_id, str(path))
        self.mlflow_client.set_terminated(self.run_id, "FINISHED" if finished else "FAILED")


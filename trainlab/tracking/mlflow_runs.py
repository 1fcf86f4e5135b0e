"""MLflow: one MLflow run per trainlab run, child of a comparison's or a study's parent run.

Written through ``mlflow.MlflowClient`` (never the global active run, so search trials in one
process cannot mix): params = the flattened recipe (``optim.lr`` …); metrics = every column of
metrics.csv at step = the 1-based epoch, then ``test_*`` and ``train_eval_*`` at the end; tags =
trainlab, torch and Python versions, ``seed``, the run directory, ``mlflow.parentRunId`` and the
doctor's findings (``doctor.findings``: their names and severities, most severe first; ``doctor.worst``: the
most severe one with its summary); artifacts = ``report.html``, ``recipe.yaml`` and the final weights (``model/``:
the newest checkpoint's safetensors and JSON). The default URI is ``sqlite:///<runs dir>/mlflow.db``
with artifacts in ``<runs dir>/mlartifacts/``; a resumed run continues its MLflow run.
"""
from __future__ import annotations

import logging
import re
import time
from pathlib import Path
from typing import Any

from trainlab.errors import TrainlabError
from trainlab.rundir import RECIPE, REPORT, RunDir, versions
from trainlab.tracking.base import Tracker, flatten, key_of, require
from trainlab.train.callbacks import LoopState

RUN_TAG, GROUP_TAG = "trainlab.run_key", "trainlab.group_key"  # SHA-1 of a run directory / a comparison or study
BATCH = 100  # MLflow's limit of params per log_batch call


def client(uri: str) -> Any:
    """An MlflowClient for ``uri``; MLflow's own INFO lines (database set-up) stay quiet."""
    mlflow = require("mlflow", "mlflow")
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        return mlflow.MlflowClient(uri)
    except Exception as e:  # noqa: BLE001  (any bad URI: say which, in one line)
        raise TrainlabError(f"tracking.uri: MLflow cannot open '{_shown(uri)}': {str(e).splitlines()[0]}") from None


def experiment_id(mlflow_client: Any, name: str, uri: str) -> str:
    """The id of experiment ``name``, created if needed (artifacts beside a SQLite file)."""
    found = mlflow_client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    location = None
    if uri.startswith("sqlite:///"):
        location = (Path(uri.removeprefix("sqlite:///")).parent / "mlartifacts" / name).resolve().as_uri()
    try:
        return mlflow_client.create_experiment(name, artifact_location=location)
    except Exception:  # another worker created it first (MLflow's error type depends on the store)
        found = mlflow_client.get_experiment_by_name(name)
        if found is None:
            raise
        return found.experiment_id


def find_or_create(mlflow_client: Any, experiment: str, tag: str, key: str, name: str,
                   tags: dict[str, str]) -> tuple[str, bool]:
    """The run tagged ``tag = key`` in ``experiment`` (set running again), or a new one; and whether it is new."""
    found = mlflow_client.search_runs([experiment], filter_string=f"tags.`{tag}` = '{key}'", max_results=1)
    if found:
        run_id = found[0].info.run_id
        mlflow_client.update_run(run_id, status="RUNNING")
        return run_id, False
    run = mlflow_client.create_run(experiment, run_name=name, tags={tag: key, **tags})
    return run.info.run_id, True


def log_metrics(mlflow_client: Any, run_id: str, values: dict[str, Any], step: int) -> None:
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    metrics = [Metric(k, float(v), now, step) for k, v in values.items() if isinstance(v, (int, float))]
    for i in range(0, len(metrics), BATCH):
        mlflow_client.log_batch(run_id, metrics=metrics[i:i + BATCH])


def log_params(mlflow_client: Any, run_id: str, params: dict[str, Any]) -> None:
    from mlflow.entities import Param

    # MLflow's keys allow letters, digits and _ - . space /; 6000 characters is its longest value
    items = [Param(re.sub(r"[^\w\-. /]", "_", k), str(v)[:6000]) for k, v in params.items()]
    for i in range(0, len(items), BATCH):
        mlflow_client.log_batch(run_id, params=items[i:i + BATCH])


def _shown(uri: str) -> str:
    """A URI without its password."""
    scheme, sep, rest = uri.partition("://")
    if sep and "@" in rest.split("/")[0]:
        credentials, _, host = rest.partition("@")
        return f"{scheme}://{credentials.split(':')[0]}:***@{host}"
    return uri


class MlflowTracker(Tracker):
    """Mirrors a run to MLflow (see the module docstring for what is logged where)."""

    def __init__(self, run: RunDir, uri: str, experiment: str, parent: str | None):
        self.mlflow_client = client(uri)
        self.run, self.uri, self.experiment, self.parent = run, uri, experiment, parent
        self.run_id: str | None = None

    def on_fit_start(self, state: LoopState) -> None:
        recipe = self.run.recipe_data()
        experiment = experiment_id(self.mlflow_client, self.experiment, self.uri)
        tags = {**{f"{k}.version": v for k, v in versions().items()}, "seed": str(recipe.get("seed")),
                "trainlab.run_dir": str(self.run.path.resolve())}
        if self.parent:
            tags["mlflow.parentRunId"] = self.parent
        self.run_id, new = find_or_create(self.mlflow_client, experiment, RUN_TAG, key_of(str(self.run.path.resolve())),
                                          self.run.path.name, tags)
        if new:
            log_params(self.mlflow_client, self.run_id, flatten(recipe))

    def on_epoch_end(self, state: LoopState) -> None:
        log_metrics(self.mlflow_client, self.run_id, {k: v for k, v in state.logs.items() if k != "epoch"},
                    len(state.history))

    def end(self, run: RunDir, status: str) -> None:
        if self.run_id is None:  # training never started
            return
        record = run.status()
        extra = {k: v for k, v in {**record.get("final", {}), **record.get("test", {})}.items()
                 if k.startswith(("test_", "train_eval_"))}
        log_metrics(self.mlflow_client, self.run_id, extra, record.get("epochs", 0))
        for key, value in _doctor_tags(run).items():
            self.mlflow_client.set_tag(self.run_id, key, value)
        for name in (REPORT, RECIPE):
            if run.file(name).is_file():
                self.mlflow_client.log_artifact(self.run_id, str(run.file(name)))
        checkpoint = run.latest_checkpoint()
        if checkpoint is not None:
            for path in (checkpoint.with_suffix(".safetensors"), checkpoint):
                self.mlflow_client.log_artifact(self.run_id, str(path), "model")
        self.mlflow_client.set_terminated(self.run_id, "FINISHED" if status == "finished" else "FAILED")


def _doctor_tags(run: RunDir) -> dict[str, str]:
    """``doctor.findings`` (names and severities, most severe first) and ``doctor.worst``, from findings.json."""
    record = run.findings() or {}
    findings = record.get("findings", [])
    if not findings:
        return {"doctor.findings": "none" if "error" not in record else f"doctor failed: {record['error']}"}
    worst = findings[0]
    return {"doctor.findings": ", ".join(f"{f['name']} ({f['severity']})" for f in findings),
            "doctor.worst": f"{worst['severity']}: {worst['name']}: {worst['summary']}"[:5000]}

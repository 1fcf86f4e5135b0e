"""A lab's result mirrored to TensorBoard and MLflow (``trainlab lab … --track tensorboard,mlflow``).

A lab trains many small networks in memory, not run directories, so its tracked record is the
result itself: TensorBoard (``OUT/<id>/tb/``) gets every measured number as a scalar ``rows/<name>``
and every per-seed criterion as ``seeds/<criterion>`` at step = seed, with the verdict as text;
MLflow gets one run per lab in the experiment ``trainlab-labs`` with params (quick, seeds), the
measured numbers as metrics (per-seed values as the metric's steps), tags (verdict, claim, versions)
and the lab's report and figures as artifacts. Nothing is tracked that result.json does not hold.
"""
from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from trainlab.rundir import versions
from trainlab.tracking.base import key_of, require, tracking_uri
from trainlab.tracking.mlflow_runs import client, experiment_id, find_or_create, log_metrics, log_params

EXPERIMENT = "trainlab-labs"


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _tag(text: str) -> str:
    """A name MLflow accepts as a metric key (letters, digits, _ - . space /)."""
    return re.sub(r"[^\w\-. /]", "_", text)[:200]


def track_lab(to: list[str], record: dict[str, Any], lab_dir: Path, claim: str, uri: str | None = None) -> None:
    """Mirror ``record`` (LabResult.to_dict(), with per-seed ``criteria`` values) of the lab written in
    ``lab_dir`` to the trackers in ``to``; the default MLflow database lies beside ``lab_dir``."""
    rows = {_tag(r["name"]): value for r in record["rows"] if (value := _number(r["measured"])) is not None}
    per_seed = {_tag(c["text"])[:120]: list(zip(c["seeds"], c["values"])) for c in record["criteria"]
                if c.get("seeds") and c.get("values")}
    if "tensorboard" in to:
        require("tensorboard", "tensorboard")
        from torch.utils.tensorboard import SummaryWriter

        with SummaryWriter(str(lab_dir / "tb")) as writer:
            for name, value in rows.items():
                writer.add_scalar(f"rows/{name}", value, 0)
            for name, values in per_seed.items():
                for seed, value in values:
                    if _number(value) is not None and math.isfinite(value):
                        writer.add_scalar(f"seeds/{name}", value, seed)
            writer.add_text("verdict", f"**{record['verdict']}** — {claim}", 0)
    if "mlflow" in to:
        resolved = tracking_uri(uri, lab_dir.parent)
        mlflow_client = client(resolved)
        experiment = experiment_id(mlflow_client, EXPERIMENT, resolved)
        tags = {"verdict": record["verdict"], "claim": claim[:5000], **{f"{k}.version": v for k, v in versions().items()}}
        run_id, _ = find_or_create(mlflow_client, experiment, "trainlab.lab_key",
                                   key_of(f"{lab_dir.resolve()} {record['quick']} {record['seeds']}"),
                                   record["lab"], tags)
        for key, value in tags.items():
            mlflow_client.set_tag(run_id, key, value)
        log_params(mlflow_client, run_id, {"lab": record["lab"], "quick": record["quick"], "seeds": record["seeds"]})
        log_metrics(mlflow_client, run_id, rows, 0)
        for name, values in per_seed.items():
            for seed, value in values:
                if _number(value) is not None:
                    log_metrics(mlflow_client, run_id, {name: value}, seed)
        for path in sorted(lab_dir.glob("*.svg")) + [lab_dir / "report.html", lab_dir / "result.json"]:
            if path.is_file():
                mlflow_client.log_artifact(run_id, str(path))
        mlflow_client.set_terminated(run_id, "FINISHED")

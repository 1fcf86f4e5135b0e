"""The probes' files in a run directory: the format the doctor and the report read.

- ``probes.csv``: header ``step,epoch,layer,name,activation,lr,act_mean,act_std,act_saturated,
  act_dead,grad_norm,weight_norm,update_ratio``; one row per layer and probe step; ``step`` is the
  0-based optimizer step, ``epoch`` 1-based, NaN is an empty field. Rows are appended at each
  epoch end; a resumed run drops the rows from after its checkpoint first.
- ``probe_histograms.json``: ``{"format": 1, "bins": B, "layers": [{"layer", "name",
  "activation"}], "snapshots": [{"step", "epoch", "layers": [{"layer", "act_range": [lo, hi],
  "act_hist": [B fractions], "grad_range": [lo, hi], "grad_hist": [B fractions]}]}]}``; each
  histogram's B equal bins span its range and hold the fraction of values in each bin (summing
  to 1); ``null`` where a layer has no activation or no gradient. Activation ranges are the
  activation's bounds, or the observed min and max; gradient ranges are ±max|g|.

``probes.csv`` is UTF-8 (layer names contain "→"); read it with :func:`read_probes`.
"""
from __future__ import annotations

import csv
import io
import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

COLUMNS = ("step", "epoch", "layer", "name", "activation", "lr", "act_mean", "act_std", "act_saturated",
           "act_dead", "grad_norm", "weight_norm", "update_ratio")
STATS = COLUMNS[6:]  # the measured columns
PROBES_FILE, HISTOGRAMS_FILE = "probes.csv", "probe_histograms.json"


class ProbeFiles:
    """Writes ``probes.csv`` and ``probe_histograms.json`` for the layers ``layers`` (dicts with
    ``layer``, ``name``, ``activation``) and ``bins``-bin histograms."""

    def __init__(self, run_dir: Path, layers: list[dict[str, Any]], bins: int):
        self.run_dir, self.layers, self.bins = Path(run_dir), layers, bins
        self._snapshot_texts: list[str] = []  # each snapshot serialized once; the file grows over the run

    def restart(self, step: int) -> None:
        """Start both files, keeping only what was recorded before ``step`` (a resumed run's checkpoint:
        rows a killed run wrote after it are dropped, so the resumed run does not repeat them)."""
        kept = [row for row in _raw_rows(self.run_dir / PROBES_FILE) if int(row["step"]) < step] if step else []
        text = io.StringIO()
        writer = csv.DictWriter(text, COLUMNS, lineterminator="\r\n")  # csv.writer's default, used by append
        writer.writeheader()
        writer.writerows(kept)
        _replace(self.run_dir / PROBES_FILE, text.getvalue())
        old = read_histograms(self.run_dir).get("snapshots", []) if step else []
        self._snapshot_texts = [_json(s) for s in old if s["step"] < step]
        self._write_histograms()

    def append(self, rows: list[dict[str, Any]], snapshots: list[dict[str, Any]]) -> None:
        """Add rows (dicts with the COLUMNS) and histogram snapshots."""
        with open(self.run_dir / PROBES_FILE, "a", newline="", encoding="utf-8") as f:
            csv.writer(f).writerows(_csv_fields(row) for row in rows)
        if snapshots:
            self._snapshot_texts += [_json(s) for s in snapshots]
            self._write_histograms()

    def _write_histograms(self) -> None:
        head = _json({"format": 1, "bins": self.bins, "layers": self.layers})[:-1]  # without the closing brace
        _replace(self.run_dir / HISTOGRAMS_FILE, f'{head}, "snapshots": [{", ".join(self._snapshot_texts)}]}}')


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, allow_nan=False)


def _replace(path: Path, text: str) -> None:
    """Write through a temporary file and rename, so a reader never sees half a file. No fsync: these
    are diagnostics rewritten every epoch, and a crash loses at most the newest epoch's (the resumed
    run redoes it)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def histogram_fields(kind: str, values: list[float]) -> dict[str, Any]:
    """``{kind}_range`` and ``{kind}_hist`` of a snapshot's layer entry from [low, high, fractions…]."""
    if math.isnan(values[0]):
        return {f"{kind}_range": None, f"{kind}_hist": None}
    # float32 precision (7 digits) keeps the file short; JSON has no NaN (a diverged run's values).
    finite = [float(f"{v:.7g}") if math.isfinite(v) else None for v in values]
    return {f"{kind}_range": finite[:2], f"{kind}_hist": finite[2:]}


def _csv_fields(row: dict[str, Any]) -> list[Any]:
    """A row for ``probes.csv``: NaN as an empty field, float32 values in their shortest exact form."""
    fields = [row["step"], row["epoch"], row["layer"], row["name"], row["activation"], repr(row["lr"])]
    return fields + ["" if math.isnan(row[k]) else str(np.float32(row[k])) for k in STATS]


def _raw_rows(path: Path) -> list[dict[str, str]]:
    """The complete rows of an existing ``probes.csv`` as strings (a row cut off by a kill is dropped)."""
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return [r for r in rows if None not in r.values() and None not in r and r["step"].isdigit()]


# ---- readers for the doctor and the report ----


def read_probes(run_dir: str | Path) -> list[dict[str, Any]]:
    """The rows of ``run_dir/probes.csv`` (empty if the run was not probed): ``step``, ``epoch`` and
    ``layer`` as int, ``name`` and ``activation`` as str, every other column as float (NaN if empty)."""
    rows = []
    for raw in _raw_rows(Path(run_dir) / PROBES_FILE):
        row: dict[str, Any] = {k: int(raw[k]) for k in ("step", "epoch", "layer")}
        row.update(name=raw["name"], activation=raw["activation"], lr=float(raw["lr"]))
        row.update({k: float(raw[k]) if raw[k] else math.nan for k in STATS})
        rows.append(row)
    return rows


def read_histograms(run_dir: str | Path) -> dict[str, Any]:
    """``run_dir/probe_histograms.json`` as a dict (see the module docstring), or {} if there is none."""
    path = Path(run_dir) / HISTOGRAMS_FILE
    if not path.is_file():
        return {}
    return json.loads(path.read_text(encoding="utf-8"))

"""A run in a notebook: ``RunResult._repr_html_`` (curves, final metrics, findings) and ``RunResult.plot()``.

Like the report, it renders the run directory's recorded files and computes nothing new.
"""
from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from trainlab.diagnose.findings import Finding
from trainlab.report.html import curve_figure, diagnosis_section
from trainlab.rundir import RunDir


def _metrics_table(rows: dict[str, Any]) -> str:
    cells = "".join(f"<tr><th style='text-align:left'>{html.escape(k)}</th><td>{v:.4g}</td></tr>"
                    for k, v in rows.items() if isinstance(v, (int, float)))
    return f"<table>{cells}</table>"


def run_html(run_dir: str | Path) -> str:
    """A compact HTML view of a run: status, final and test metrics, loss/metric curves, the doctor's findings."""
    run = RunDir(run_dir)
    status, columns = run.status(), run.metric_columns()
    final = {k: v for k, v in status.get("final", {}).items() if k not in ("epoch", "seconds", "lr")}
    figures = ""
    if columns.get("epoch"):
        metrics = [m for m in columns if m not in ("epoch", "lr", "seconds") and not m.startswith("val_")]
        figures = "".join(curve_figure(columns, m, log_y=m == "loss" and min(columns[m]) > 0) for m in metrics[:3])
    record = run.findings() or {}
    findings = diagnosis_section([Finding.from_dict(f) for f in record.get("findings", [])]) if record else ""
    report = run.path / "report.html"
    return (f"<div><b>trainlab run</b> <code>{html.escape(str(run.path))}</code> — "
            f"{html.escape(str(status.get('status', '?')))}, {len(columns.get('epoch', []))} epochs"
            f"{f' (<a href={html.escape(report.as_posix())!r}>report</a>)' if report.is_file() else ''}"
            f"<div style='display:flex;gap:2em'>{_metrics_table(final)}{_metrics_table(status.get('test', {}))}</div>"
            f"<div style='display:flex;flex-wrap:wrap'>{figures}</div>{findings}</div>")


def plot_run(run_dir: str | Path, metrics: list[str] | None = None, axes: Any = None) -> Any:
    """Training (and validation) curves per epoch with matplotlib, one panel per metric; returns the axes."""
    import matplotlib.pyplot as plt

    columns = RunDir(run_dir).metric_columns()
    if not columns.get("epoch"):
        raise ValueError(f"{run_dir}: no finished epoch to plot")
    names = metrics or [m for m in columns if m not in ("epoch", "lr", "seconds") and not m.startswith("val_")]
    unknown = [m for m in names if m not in columns]
    if unknown:
        raise ValueError(f"metrics {unknown} were not logged; logged: {', '.join(c for c in columns if c != 'epoch')}")
    if axes is None:
        _, axes = plt.subplots(1, len(names), figsize=(4.5 * len(names), 3.2), squeeze=False)
        axes = axes[0]
    for ax, name in zip(axes, names):
        ax.plot(columns["epoch"], columns[name], label=f"train {name}")
        if f"val_{name}" in columns:
            ax.plot(columns["epoch"], columns[f"val_{name}"], label=f"validation {name}")
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
        ax.legend()
    return axes

"""``report.html``: a self-contained page (inline SVG figures, no scripts, no network).

The page renders recorded data only (metrics.csv, run.json, recipe.yaml, the doctor's
findings.json); it computes nothing new. Every piece of user text is escaped.
"""
from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from trainlab.diagnose.findings import Finding
from trainlab.report.curves import curve_svg
from trainlab.report.page import render_page
from trainlab.report.probes import probe_section
from trainlab.report.snapshots import snapshots_html
from trainlab.report.solution import solution_section
from trainlab.rundir import RunDir
from trainlab.train.checkpoint import atomic_write


def curve_figure(columns: dict[str, list[float]], metric: str, log_y: bool = False) -> str:
    """Training and validation ``metric`` per epoch, as inline SVG (trainlab.report.curves: ~1 ms, not
    matplotlib's 50–90 ms, as every run renders these when it ends)."""
    series = {f"train {metric}": columns[metric]}
    if f"val_{metric}" in columns:
        series[f"validation {metric}"] = columns[f"val_{metric}"]
    return curve_svg(columns["epoch"], series, "epoch", metric, log_y=log_y)


def _table(rows: dict[str, float]) -> str:
    cells = "".join(f"<tr><th>{html.escape(k)}</th><td>{v:.4f}</td></tr>" for k, v in rows.items())
    return f"<table>{cells}</table>"


def _diagnosis(run_dir: Path, record: dict[str, Any] | None = None) -> str:
    record = RunDir(run_dir).findings() if record is None else record
    if record is None:  # a run directory from before the doctor wrote findings.json
        return ("<p>No diagnosis recorded: this run directory has no findings.json. "
                "<code>trainlab doctor RUN_DIR</code> diagnoses it and writes one.</p>")
    if record.get("error"):
        return f"<p>The doctor could not read this run: {html.escape(record['error'])}</p>"
    return diagnosis_section([Finding.from_dict(f) for f in record["findings"]])


def diagnosis_section(findings: list[Finding]) -> str:
    """The doctor's findings as HTML: severity, summary, explanation, evidence, confidence and fixes."""
    if not findings:
        return "<p>No findings: this run looks healthy.</p>"
    items = []
    for f in findings:
        fixes = "".join(f"<li><code>{html.escape(' '.join('--set ' + o for o in r.as_overrides()))}</code> — "
                        f"{html.escape(r.why)}</li>" for r in f.remedies)
        evidence = html.escape(", ".join(f"{k}={v if not isinstance(v, float) else f'{v:.4g}'}"
                                         for k, v in f.evidence.items()))
        sure = f"<br><small>confidence: {html.escape(f.confidence.text())}</small>" if f.confidence else ""
        items.append(f"<div class='finding {html.escape(f.severity)}'><b>{html.escape(f.severity.upper())}</b> "
                     f"{html.escape(f.summary)}<br><small>{html.escape(f.explanation)}</small><br>"
                     f"<small>evidence: {evidence}</small>{sure}<ul>{fixes}</ul></div>")
    return "".join(items) + "<p><small>Apply the first fixes: <code>trainlab doctor RUN_DIR --fix</code>.</small></p>"


def write_report(run_dir: str | Path) -> Path:
    """Render ``run_dir/report.html`` from the run's recorded files; return its path."""
    path = Path(run_dir) / "report.html"
    atomic_write(path, render_report(run_dir).encode())
    return path


def render_report(run_dir: str | Path, status: dict[str, Any] | None = None,
                  findings: dict[str, Any] | None = None) -> str:
    """The page of ``run_dir`` from its recorded files; ``status`` and ``findings``: run.json's and
    findings.json's content as a run ending now writes them (given by the run, which renders the page
    while the files reach the disk), instead of read back."""
    run = RunDir(run_dir)
    run_dir, columns, recipe_text = run.path, run.metric_columns(), run.recipe_text()
    status = run.status() if status is None else status
    figures = []
    if columns.get("epoch"):
        figures.append(curve_figure(columns, "loss", log_y=min(columns["loss"]) > 0))
        for metric in columns:
            if metric not in ("epoch", "lr", "loss", "seconds") and not metric.startswith("val_"):
                figures.append(curve_figure(columns, metric))
        if len(set(columns["lr"])) > 1:
            figures.append(curve_figure(columns, "lr", log_y=True))
    state = status.get("status", "unknown")
    summary = {**{f"final {k}": v for k, v in status.get("final", {}).items() if k not in ("epoch",)},
               **status.get("test", {})}
    error = f"<p class='status-failed'>{html.escape(status['error'])}</p>" if status.get("error") else ""
    body = f"""<p>Status: <b class="status-{html.escape(state)}">{html.escape(state)}</b>, {len(columns.get('epoch', []))} epochs,
device {html.escape(str(status.get('device', '?')))}.</p>{error}
<h2>Diagnosis</h2>{_diagnosis(run_dir, findings)}
<h2>Results</h2>{_table(summary) if summary else '<p>No finished epoch yet.</p>'}
{snapshots_html(status["snapshots"], status.get("test")) if status.get("snapshots") else ""}
<h2>Learning curves</h2><div class="figs">{''.join(figures) or '<p>No finished epoch yet.</p>'}</div>
{solution_section(run_dir)}{probe_section(run_dir)}<h2>Recipe</h2><pre>{html.escape(recipe_text)}</pre>"""
    return render_page(f"trainlab — {run_dir.name}", body, heading=f"Run {run_dir.name}")

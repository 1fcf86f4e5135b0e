"""``report.html``: a self-contained page (inline SVG figures, no scripts, no network).

The page renders recorded data only (metrics.csv, run.json, recipe.yaml); it computes nothing
new. Every piece of user text is escaped.
"""
from __future__ import annotations

import csv
import html
import json
from pathlib import Path

from matplotlib.figure import Figure

from trainlab.diagnose.plots import probe_section
from trainlab.report.svg import svg_text
from trainlab.tools.snapshots import snapshots_html
from trainlab.train.checkpoint import atomic_write

_STYLE = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}
h1{font-size:1.5em} h2{font-size:1.2em;border-bottom:1px solid #ddd;padding-bottom:.2em}
table{border-collapse:collapse} td,th{padding:.2em .8em;border-bottom:1px solid #eee;text-align:right}
pre{background:#f6f6f6;padding:1em;overflow-x:auto} .figs{display:flex;flex-wrap:wrap;gap:1em}
.status-failed{color:#b00020}
.finding{border-left:4px solid #999;padding:.3em .8em;margin:.6em 0;background:#fafafa}
.finding.error{border-color:#b00020} .finding.warning{border-color:#e0a000} .finding.info{border-color:#3070c0}
"""


def read_metrics(path: Path) -> dict[str, list[float]]:
    """``metrics.csv`` as columns of floats (the History-style dict the figures use)."""
    if not path.is_file():
        return {}
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    columns: dict[str, list[float]] = {}
    for row in rows:
        for key, value in row.items():
            columns.setdefault(key, []).append(float(value) if value not in ("", None) else float("nan"))
    return columns



def curve_figure(columns: dict[str, list[float]], metric: str, log_y: bool = False) -> str:
    """Training and validation ``metric`` per epoch, as inline SVG."""
    fig = Figure(figsize=(5, 3.2))
    ax = fig.add_subplot()
    epochs = columns["epoch"]
    ax.plot(epochs, columns[metric], label=f"train {metric}", marker="o" if len(epochs) < 30 else None, ms=3)
    if f"val_{metric}" in columns:
        ax.plot(epochs, columns[f"val_{metric}"], label=f"validation {metric}", ms=3,
                marker="o" if len(epochs) < 30 else None)
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric)
    if log_y:
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend()
    return svg_text(fig)


def _table(rows: dict[str, float]) -> str:
    cells = "".join(f"<tr><th>{html.escape(k)}</th><td>{v:.4f}</td></tr>" for k, v in rows.items())
    return f"<table>{cells}</table>"


def _diagnosis(run_dir: Path) -> str:
    try:
        return diagnosis_section(run_dir)
    except Exception as e:  # noqa: BLE001  (the report must still be written)
        return f"<p>The doctor could not read this run: {html.escape(str(e))}</p>"


def diagnosis_section(run_dir: Path) -> str:
    """The doctor's findings as HTML: severity, summary, explanation, evidence, confidence and fixes."""
    from trainlab.diagnose.doctor import diagnose

    findings = diagnose(run_dir)
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
    run_dir = Path(run_dir)
    status = json.loads((run_dir / "run.json").read_text())
    columns = read_metrics(run_dir / "metrics.csv")
    recipe_text = (run_dir / "recipe.yaml").read_text()
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
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>trainlab — {html.escape(run_dir.name)}</title>
<style>{_STYLE}</style></head><body>
<h1>Run {html.escape(run_dir.name)}</h1>
<p>Status: <b class="status-{html.escape(state)}">{html.escape(state)}</b>, {len(columns.get('epoch', []))} epochs,
device {html.escape(str(status.get('device', '?')))}.</p>{error}
<h2>Diagnosis</h2>{_diagnosis(run_dir)}
<h2>Results</h2>{_table(summary) if summary else '<p>No finished epoch yet.</p>'}
{snapshots_html(status["snapshots"], status.get("test")) if status.get("snapshots") else ""}
<h2>Learning curves</h2><div class="figs">{''.join(figures) or '<p>No finished epoch yet.</p>'}</div>
{probe_section(run_dir)}<h2>Recipe</h2><pre>{html.escape(recipe_text)}</pre>
</body></html>
"""
    path = run_dir / "report.html"
    atomic_write(path, page.encode())
    return path

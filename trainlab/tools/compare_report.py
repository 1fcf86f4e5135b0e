r"""What a comparison found: per variant, mean ± 95 % CI over seeds and Welch's t-test against the
baseline, for every final metric; written as ``summary.csv`` and a self-contained ``report.html``.

Over the n finished seeds of a variant (t distribution with n − 1 degrees of freedom):

.. math::
    \bar x \pm t_{0.975,\,n-1}\, \frac{s}{\sqrt n}, \qquad s^2 = \frac{1}{n-1} \sum_i (x_i - \bar x)^2

Welch's test of variant b against the baseline a (variances not assumed equal), two-sided p from the
t distribution with the Welch–Satterthwaite degrees of freedom (``scipy.stats.ttest_ind(equal_var=False)``):

.. math::
    t = \frac{\bar x_b - \bar x_a}{\sqrt{s_a^2 / n_a + s_b^2 / n_b}}

The final metrics are the test metrics when the run has a test split, else the last epoch's
validation metrics (else its training metrics), plus the epochs run and the training seconds.
"""
from __future__ import annotations

import csv
import html
import io
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from scipy import stats

from trainlab import registry
from trainlab.report.page import render_page
from trainlab.report.style import variant_colour
from trainlab.report.svg import svg_text
from trainlab.rundir import RUN_JSON, RunDir
from trainlab.tools.comparison import Comparison
from trainlab.train.checkpoint import atomic_write
from trainlab.train.metrics import higher_is_better


def band_columns() -> list[str]:
    """The per-epoch columns plotted when recorded: the loss and every registered metric, with their val_."""
    return [c for name in ("loss", *registry.metrics.names()) for c in (name, f"val_{name}")]


def mean_ci(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float | None]:
    """The mean and the half-width of its t confidence interval (None for a single value).

    >>> mean, half = mean_ci([1.0, 2.0, 3.0])  # s = 1, t(0.975, 2) = 4.303
    >>> round(mean, 3), round(half, 3)
    (2.0, 2.484)
    """
    x = np.asarray(values, dtype=float)
    if len(x) < 2:
        return float(x.mean()), None
    return float(x.mean()), float(stats.t.ppf((1 + confidence) / 2, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x)))


def welch_p(baseline: Sequence[float], other: Sequence[float]) -> float | None:
    """Two-sided p-value of Welch's t-test; None with fewer than 2 values in a group or no spread at all."""
    a, b = np.asarray(baseline, dtype=float), np.asarray(other, dtype=float)
    if len(a) < 2 or len(b) < 2 or a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b) == 0:
        return None
    with warnings.catch_warnings():
        # scipy warns about precision when one group is constant (e.g. epochs); the test is still defined.
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(stats.ttest_ind(b, a, equal_var=False).pvalue)


def better(metric: str) -> str | None:
    """``higher`` for accuracy-like metrics, ``lower`` for losses, errors and seconds, None for epochs."""
    if metric == "epochs":
        return None
    return "higher" if higher_is_better(metric) else "lower"


@dataclass
class RunRecord:
    """One run as its directory recorded it."""

    name: str
    variant: int
    seed: int
    status: str
    error: str = ""
    final: dict[str, float] = field(default_factory=dict)
    curves: dict[str, list[float]] = field(default_factory=dict)


def read_run(run_dir: Path, variant: int, seed: int) -> RunRecord:
    run = RunDir(run_dir)
    if not run.file(RUN_JSON).is_file():
        return RunRecord(run_dir.name, variant, seed, "missing")
    status, curves = run.status(), run.metric_columns()
    final = dict(status.get("test") or {})
    if not final:
        last = {k: v for k, v in status.get("final", {}).items() if k not in ("epoch", "lr", "seconds")}
        final = {k: v for k, v in last.items() if k.startswith("val_")} or last
    if status.get("status") == "finished":
        final.update(epochs=float(status.get("epochs", 0)), seconds=float(sum(curves.get("seconds", []))))
    return RunRecord(run_dir.name, variant, seed, status.get("status", "unknown"), status.get("error", ""),
                     final, curves)


@dataclass
class Stat:
    mean: float
    ci: float | None
    p: float | None


@dataclass
class VariantRow:
    index: int
    label: str
    values: tuple[str, ...]
    finished: int
    failed: int
    stats: dict[str, Stat]


@dataclass
class Summary:
    metrics: list[str]
    rows: list[VariantRow]
    runs: list[RunRecord]


def summarize(out_dir: Path, comparison: Comparison) -> Summary:
    """Read every run directory of the comparison and compute the table (finished runs only)."""
    records = [read_run(out_dir / r.name, r.variant, r.seed) for r in comparison.plan()]
    done = [r for r in records if r.status == "finished"]
    metrics = list(dict.fromkeys(k for r in done for k in r.final if k not in ("epochs", "seconds")))
    metrics += ["epochs", "seconds"] if done else []
    values = [{m: [r.final[m] for r in done if r.variant == i and m in r.final] for m in metrics}
              for i in range(len(comparison.variants()))]
    rows = []
    for i, (label, overrides) in enumerate(zip(comparison.labels(), comparison.variants())):
        cells = {m: Stat(*mean_ci(v), welch_p(values[0][m], v) if i else None)
                 for m, v in values[i].items() if v}
        own = [r for r in records if r.variant == i]
        rows.append(VariantRow(i, label, tuple(o.partition("=")[2] for o in overrides),
                               sum(r.status == "finished" for r in own), sum(r.status == "failed" for r in own), cells))
    return Summary(metrics, rows, records)


def format_stat(stat: Stat | None, baseline: bool) -> tuple[str, str]:
    """``('0.612 ± 0.021', 'p=0.0031')`` for a table cell: the CI to 2 significant digits and the mean
    to the same decimal place; the baseline's second part says so.

    >>> format_stat(Stat(0.61234, 0.02103, 0.00312), baseline=False)
    ('0.612 ± 0.021', 'p=0.0031')
    """
    if stat is None:
        return "—", ""
    if stat.ci is None or not 0 < stat.ci < 1e6 or not abs(stat.mean) < 1e6:
        value = f"{stat.mean:.4g}" + ("" if stat.ci is None else f" ± {stat.ci:.2g}")
    else:
        decimals = min(max(1 - math.floor(math.log10(stat.ci)), 0), 8)
        value = f"{stat.mean:.{decimals}f} ± {stat.ci:.{decimals}f}"
    return value, "baseline" if baseline else ("p=—" if stat.p is None else f"p={stat.p:.2g}")


def write_summary_csv(path: Path, summary: Summary, comparison: Comparison) -> Path:
    """One row per variant: its values, runs finished/failed, and mean, CI half-width, p per metric."""
    keys = [v.key for v in comparison.varies]
    columns = ["variant", "label", *keys, "finished", "failed"]
    columns += [f"{m}_{part}" for m in summary.metrics for part in ("mean", "ci95", "p_vs_baseline")]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    for row in summary.rows:
        cells = [row.index, row.label, *row.values, row.finished, row.failed]
        for m in summary.metrics:
            stat = row.stats.get(m)
            cells += ["", "", ""] if stat is None else [stat.mean, _blank(stat.ci), _blank(stat.p)]
        writer.writerow(cells)
    atomic_write(path, buffer.getvalue().encode())
    return path


def _blank(value: float | None) -> float | str:
    return "" if value is None else value


# ---- report.html ----


def band(curves: list[list[float]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per epoch: the mean, min and max over the runs that reached it (early stopping ends some sooner)."""
    grid = np.full((len(curves), max(len(c) for c in curves)), np.nan)
    for i, curve in enumerate(curves):
        grid[i, :len(curve)] = curve
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an epoch whose value is NaN in every run
        return np.nanmean(grid, axis=0), np.nanmin(grid, axis=0), np.nanmax(grid, axis=0)



def band_figure(summary: Summary, column: str) -> str:
    """``column`` per epoch for every variant: the mean over seeds, the min–max range as a band."""
    fig = Figure(figsize=(5.5, 3.4))
    ax = fig.add_subplot()
    for row in summary.rows:
        curves = [r.curves[column] for r in summary.runs
                  if r.variant == row.index and r.status == "finished" and r.curves.get(column)]
        if curves:
            mean, low, high = band(curves)
            epochs = np.arange(1, len(mean) + 1)
            colour = variant_colour(row.index)  # variant i has one colour on every page
            ax.plot(epochs, mean, label=f"v{row.index}: {row.label}"[:60], color=colour)
            ax.fill_between(epochs, low, high, color=colour, alpha=0.2, linewidth=0)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel(column)
    ax.set_title(column.replace("val_", "validation "))
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return svg_text(fig)


def _results_table(summary: Summary) -> str:
    arrows = {"higher": " ↑", "lower": " ↓", None: ""}
    head = "".join(f"<th>{html.escape(m)}{arrows[better(m)]}</th>" for m in summary.metrics)
    body = []
    for row in summary.rows:
        cells = []
        for m in summary.metrics:
            value, note = format_stat(row.stats.get(m), row.index == 0)
            cells.append(f"<td>{html.escape(value)}<br><small>{html.escape(note)}</small></td>")
        failed = f" <span class='failed'>({row.failed} failed)</span>" if row.failed else ""
        body.append(f"<tr><td class='l'>v{row.index}: {html.escape(row.label)}</td>"
                    f"<td>{row.finished}{failed}</td>{''.join(cells)}</tr>")
    return (f"<table><tr><th class='l'>variant</th><th>n</th>{head}</tr>{''.join(body)}</table>"
            "<p><small>mean ± half-width of the 95 % confidence interval (t distribution, n − 1 degrees of "
            "freedom; none for n = 1); p: two-sided Welch t-test against the baseline v0; ↑ higher is better, "
            "↓ lower is better.</small></p>")


def _runs_table(summary: Summary) -> str:
    rows = []
    for r in summary.runs:
        link = (f"<a href='{html.escape(r.name)}/report.html'>{html.escape(r.name)}</a>"
                if r.status != "missing" else html.escape(r.name))
        error = f" <span class='failed'>{html.escape(r.error)}</span>" if r.error else ""
        rows.append(f"<tr><td class='l'>{link}</td><td>v{r.variant}</td><td>{r.seed}</td>"
                    f"<td class='l'>{html.escape(r.status)}{error}</td></tr>")
    return f"<table><tr><th class='l'>run</th><th>variant</th><th>seed</th><th class='l'>status</th></tr>{''.join(rows)}</table>"


def write_compare_report(out_dir: Path, summary: Summary, comparison: Comparison) -> Path:
    """Render ``out_dir/report.html`` from the summary and the runs' recorded curves."""
    columns = [c for c in band_columns() if any(c in r.curves for r in summary.runs if r.status == "finished")]
    figures = "".join(band_figure(summary, c) for c in columns) or "<p>No finished run yet.</p>"
    varies = "".join(f"<li><code>{html.escape(v.key)}</code>: {html.escape(', '.join(v.values))}</li>"
                     for v in comparison.varies) or "<li>nothing (the recipe as given)</li>"
    sets = html.escape(" ".join(f"--set {s}" for s in comparison.sets) or "none")
    base = comparison.base()
    body = f"""<p>Recipe <b>{html.escape(base.name)}</b> ({html.escape(comparison.recipe_file)}), overrides: <code>{sets}</code>;
{comparison.seeds} seeds per variant ({base.seed}–{base.seed + comparison.seeds - 1}). Varied:</p><ul>{varies}</ul>
<h2>Results</h2>{_results_table(summary)}
<h2>Learning curves</h2><p><small>Line: mean over the finished seeds; band: their minimum to maximum.</small></p>
<div class="figs">{figures}</div>
<h2>Runs</h2>{_runs_table(summary)}
<h2>Recipe file</h2><pre>{html.escape(yaml.safe_dump(comparison.recipe, sort_keys=False))}</pre>"""
    page = render_page(f"trainlab comparison — {out_dir.name}", body, heading=f"Comparison {out_dir.name}")
    path = out_dir / "report.html"
    atomic_write(path, page.encode())
    return path

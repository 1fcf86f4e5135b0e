"""Figures of a run's probes for the report: per-layer statistics over training and per-layer
histograms at a few steps (one panel per layer, as in the lectures' "activations through 10 tanh
layers" figure). Recorded data only (``probes.csv``, ``probe_histograms.json``); inline SVG, no
scripts, no network; text escaped.
"""
from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Any

from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from trainlab.diagnose.probe_files import read_histograms, read_probes
from trainlab.report.style import log_axis
from trainlab.report.svg import svg_text

PANEL_COLUMNS = 5  # histogram panels per row



def _label(layer: int, name: str, activation: str) -> str:
    return f"{layer}: {name}" + (f", {activation}" if activation else "")


def _series(rows: list[dict[str, Any]]) -> dict[int, dict[str, list]]:
    """Per layer: its label and each column as a list over probe steps."""
    layers: dict[int, dict[str, list]] = {}
    for row in rows:
        series = layers.setdefault(row["layer"], {"label": _label(row["layer"], row["name"], row["activation"])})
        for key, value in row.items():
            series.setdefault(key, []).append(value)
    return dict(sorted(layers.items()))


def _has_positive(values: list[float]) -> bool:
    return any(math.isfinite(v) and v > 0 for v in values)


def _trend_panel(ax: Axes, layers: dict[int, dict[str, list]], keys: tuple[str, ...], title: str, log: bool) -> None:
    colors = colormaps["viridis"]
    styles = ("-", "--")
    plotted = []
    for i, series in enumerate(layers.values()):
        color = colors(i / max(len(layers) - 1, 1))
        for key, style in zip(keys, styles):
            values = series[key]
            if any(math.isfinite(v) for v in values):
                ax.plot(series["step"], values, style, color=color, lw=1.2, label=series["label"])
                plotted += values
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("step", fontsize=9)
    ax.grid(alpha=0.3)
    if log and _has_positive(plotted):
        log_axis(ax, "y")
    if not plotted:
        ax.text(0.5, 0.5, "no layer has this", ha="center", va="center", transform=ax.transAxes, color="#888")


def trends_figure(rows: list[dict[str, Any]]) -> str:
    """act std, saturated/dead fraction, gradient norm and update ratio per layer over the steps, as SVG."""
    layers = _series(rows)
    fig = Figure(figsize=(10, 6.4))
    axes = fig.subplots(2, 2)
    _trend_panel(axes[0, 0], layers, ("act_std",), "activation std", log=True)
    _trend_panel(axes[0, 1], layers, ("act_saturated", "act_dead"),
                 "saturated (solid) / dead (dashed) fraction", log=False)
    _trend_panel(axes[1, 0], layers, ("grad_norm",), "weight-gradient norm ‖∇W‖", log=True)
    _trend_panel(axes[1, 1], layers, ("update_ratio",), "update ratio ‖ΔW‖ / ‖W‖", log=True)
    axes[0, 1].set_ylim(-0.03, 1.03)
    handles, labels = axes[1, 0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, title="layer", loc="center left", bbox_to_anchor=(0.92, 0.5), fontsize=8)
    fig.subplots_adjust(wspace=0.25, hspace=0.4, right=0.9)  # fixed spacing: tight_layout doubles the drawing time
    return svg_text(fig)


def histogram_figure(document: dict[str, Any], kind: str) -> str:
    """One panel per layer with a ``kind`` ("act" or "grad") histogram, one line per snapshot, as SVG
    ("" when no layer has one)."""
    snapshots = document.get("snapshots", [])
    names = {entry["layer"]: entry for entry in document.get("layers", [])}
    layers = sorted({entry["layer"] for s in snapshots for entry in s["layers"] if entry[f"{kind}_hist"]})
    if not layers:
        return ""
    columns = min(len(layers), PANEL_COLUMNS)
    rows = -(-len(layers) // columns)
    fig = Figure(figsize=(2.3 * columns, 2.0 * rows + 0.6))
    axes = fig.subplots(rows, columns, squeeze=False).ravel()
    colors = colormaps["plasma"]
    for ax, layer in zip(axes, layers):
        for i, snapshot in enumerate(snapshots):
            entry = next((e for e in snapshot["layers"] if e["layer"] == layer), None)
            if entry is None or not entry[f"{kind}_hist"]:
                continue
            low, high = entry[f"{kind}_range"]
            fractions = [0.0 if v is None else v for v in entry[f"{kind}_hist"]]
            edges = [low + (high - low) * j / len(fractions) for j in range(len(fractions) + 1)]
            ax.stairs(fractions, edges, color=colors(0.85 * i / max(len(snapshots) - 1, 1)), lw=1.2,
                      label=f"step {snapshot['step']} (epoch {snapshot['epoch']})")
        info = names.get(layer, {})
        ax.set_title(_label(layer, info.get("name", ""), info.get("activation", "")), fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in axes[len(layers):]:
        ax.set_visible(False)
    handles, labels = axes[0].get_legend_handles_labels()
    what = "activations" if kind == "act" else "weight gradients"
    height = fig.get_figheight()
    # the title in its own band above the panels' titles: 0.25 in for it, 0.35 in for a panel title
    fig.suptitle(f"{what}: fraction of values per bin", fontsize=10, y=1 - 0.08 / height, va="top")
    fig.legend(handles, labels, loc="upper center", ncol=min(len(labels), 5), fontsize=8, bbox_to_anchor=(0.5, 0.0))
    fig.subplots_adjust(wspace=0.3, hspace=0.6, top=1 - 0.6 / height)
    return svg_text(fig)


def probe_section(run_dir: str | Path) -> str:
    """The report's probe section as an HTML fragment (heading, text, inline SVG), or "" when the run
    has no probes."""
    rows = read_probes(run_dir)
    if not rows:
        return ""
    document = read_histograms(run_dir)
    steps = sorted({row["step"] for row in rows})
    figures = [trends_figure(rows), histogram_figure(document, "act"), histogram_figure(document, "grad")]
    body = "".join(f"<div>{figure}</div>" for figure in figures if figure)
    text = (f"Per-layer statistics at {len(steps)} probed steps (step {steps[0]} to {steps[-1]}), measured on the "
            "training batch: activations of the layer's activation function, the gradient and change of its weight.")
    return f"<h2>Inside the network</h2>\n<p>{html.escape(text)}</p>\n<div class=\"figs\">{body}</div>\n"

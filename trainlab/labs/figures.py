"""Figures in the lectures' style, as inline SVG text: per-layer activation histograms and curves.

:func:`layer_histograms` draws the classic initialization figure of the notes (seed 001, after
CS231n): the standard deviation per layer on top, then one row of histograms per experiment with
one panel per layer, on a shared horizontal range so that collapse and saturation are visible.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from trainlab.diagnose.forward_stats import LayerActivations
from trainlab.nn.activations import LECUN_SCALE
from trainlab.report.style import log_axis, variant_colour
from trainlab.report.svg import svg_text

_BOUNDS = {"tanh": (-1.0, 1.0), "sigmoid": (0.0, 1.0), "lecun_tanh": (-LECUN_SCALE, LECUN_SCALE)}


def _range(layers: Sequence[LayerActivations]) -> tuple[float, float]:
    """A shared horizontal range: the activation's bounds, else the observed extremes."""
    bounded = _BOUNDS.get(layers[0].activation)
    if bounded is not None:
        return bounded
    low = min(float(s.values.min()) for s in layers)
    high = max(float(s.values.max()) for s in layers)
    return (low, high) if high > low else (low - 1, low + 1)


def layer_histograms(experiments: dict[str, Sequence[LayerActivations]], title: str, log_std: bool = False) -> str:
    """Std per layer (one line per experiment), then per experiment one histogram per layer.

    Each experiment's layers must carry ``values`` (``activation_statistics(…, keep_values=True)``).
    """
    n_layers = max(len(layers) for layers in experiments.values())
    fig = Figure(figsize=(max(8.0, 1.25 * n_layers), 2.6 + 1.5 * len(experiments)))
    grid = fig.add_gridspec(1 + len(experiments), n_layers, height_ratios=[2.2] + [1.0] * len(experiments),
                            hspace=0.9, wspace=0.15)
    top = fig.add_subplot(grid[0, :])
    for i, (label, layers) in enumerate(experiments.items()):
        top.plot([s.layer for s in layers], [s.std for s in layers], marker="o", ms=4, label=label,
                 color=variant_colour(i))
    top.set_xlabel("layer")
    top.set_ylabel("std of activations")
    if log_std:
        log_axis(top, "y")
    top.set_xticks(range(1, n_layers + 1))
    top.grid(alpha=0.3)
    top.legend(fontsize=8)
    top.set_title(title, fontsize=10)
    for row, (label, layers) in enumerate(experiments.items(), start=1):
        low, high = _range(layers)
        rectified = layers[0].activation not in _BOUNDS and low >= 0  # ReLU: half the values are exactly 0
        for column, stats in enumerate(layers):
            ax = fig.add_subplot(grid[row, column])
            values = stats.values.numpy().ravel()
            if rectified:  # the spike at 0 would flatten the rest; its share is the title's "zeros"
                zeros = float(np.mean(values == 0))
                values = values[values != 0]
            counts, edges = np.histogram(np.clip(values, low, high), bins=40, range=(low, high))
            ax.stairs(counts / max(len(values), 1), edges, fill=True, color="C0")
            ax.set_xlim(low, high)
            ax.set_xticks([low, high], [f"{low:.2g}", f"{high:.2g}"])  # two ticks: drawing many is slow
            for tick, align in zip(ax.get_xticklabels(), ("left", "right")):
                tick.set_horizontalalignment(align)
            ax.set_yticks([])
            ax.tick_params(labelsize=6)
            ax.set_title(f"layer {stats.layer}" + (f"\n{zeros:.0%} zeros" if rectified else ""), fontsize=7)
            if column == 0:
                ax.set_ylabel(label, fontsize=7)
    return svg_text(fig)


def curves(series: dict[str, tuple[Sequence[float], Sequence[float]]], xlabel: str, ylabel: str, title: str = "",
           log_x: bool = False, log_y: bool = False, marks: dict[str, float] | None = None,
           legend: bool = True, styles: dict[str, dict] | None = None) -> str:
    """One line per series (label → (x, y)); ``marks`` draws labelled vertical lines at given x;
    ``styles`` gives some series their own matplotlib line properties (label → {"color": "k", …}).

    As in matplotlib, a label starting with "_" is left out of the legend."""
    fig = Figure(figsize=(5.6, 3.5))
    ax = fig.add_subplot()
    for i, (label, (x, y)) in enumerate(series.items()):
        style = {"color": variant_colour(i), **(styles or {}).get(label, {})}  # series i: one colour on every page
        ax.plot(x, y, marker="o" if len(x) <= 30 else None, ms=3, label=label, **style)
    for label, x in (marks or {}).items():
        ax.axvline(x, color="gray", ls="--", lw=1)
        ax.annotate(label, (x, 1.0), xycoords=("data", "axes fraction"), fontsize=7, rotation=90, va="top", ha="right")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if log_x:
        log_axis(ax, "x")
    if log_y:
        log_axis(ax, "y")
    if title:
        ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    if legend and len(series) > 1:
        ax.legend(fontsize=8)
    return svg_text(fig)


def histogram(values: Sequence[float], xlabel: str, title: str = "", marks: dict[str, float] | None = None,
              bins: int = 40) -> str:
    """A histogram of ``values`` (fraction per bin) with labelled vertical lines at ``marks``."""
    fig = Figure(figsize=(5.6, 3.5))
    ax = fig.add_subplot()
    data = np.asarray(values, dtype=float)
    ax.hist(data, bins=bins, weights=np.full(len(data), 1.0 / max(len(data), 1)), color="C0")
    for i, (label, x) in enumerate((marks or {}).items()):
        ax.axvline(x, color=f"C{i + 1}", ls="--", lw=1.2, label=label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("fraction")
    if title:
        ax.set_title(title, fontsize=10)
    if marks:
        ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return svg_text(fig)

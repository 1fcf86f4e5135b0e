"""A pde run's solution figures: u against the exact u* and the PDE residual over the domain.

Rendered from ``solution.npz`` (written by the run on the test grid); nothing is computed but the
plotted differences |u − u*| and |r|.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from trainlab.report.svg import svg_text
from trainlab.rundir import RunDir

TINY = 1e-300  # keeps exact zeros visible on a log axis


def _line_figures(x: np.ndarray, arrays: dict[str, np.ndarray], name: str) -> list[str]:
    order = np.argsort(x)
    x = x[order]
    fig = Figure(figsize=(5, 3.2))
    ax = fig.add_subplot()
    if "exact" in arrays:
        ax.plot(x, arrays["exact"][order], color="0.6", lw=4, label="exact u*")
    ax.plot(x, arrays["u"][order], color="C0", lw=1.5, label="network u")
    ax.set(xlabel=name, ylabel="u", title="solution")
    ax.grid(alpha=0.3)
    ax.legend()
    figures = [svg_text(fig)]
    fig = Figure(figsize=(5, 3.2))
    ax = fig.add_subplot()
    ax.semilogy(x, np.abs(arrays["residual"][order]) + TINY, color="C3", label="|residual r|")
    if "exact" in arrays:
        ax.semilogy(x, np.abs(arrays["u"] - arrays["exact"])[order] + TINY, color="C0", label="|u − u*|")
    ax.set(xlabel=name, title="residual and error over the domain")
    ax.grid(alpha=0.3)
    ax.legend()
    return figures + [svg_text(fig)]


def _field_figures(points: np.ndarray, arrays: dict[str, np.ndarray], names: list[str]) -> list[str]:
    side = round(len(points) ** 0.5)
    if side * side != len(points):
        return []
    extent = [points[:, 0].min(), points[:, 0].max(), points[:, 1].min(), points[:, 1].max()]
    panels = [("network u", arrays["u"])]
    if "exact" in arrays:
        panels += [("exact u*", arrays["exact"]), ("|u − u*|", np.abs(arrays["u"] - arrays["exact"]))]
    panels.append(("|residual r|", np.abs(arrays["residual"])))
    figures = []
    for title, values in panels:
        fig = Figure(figsize=(4, 3.2))
        ax = fig.add_subplot()
        # the grid is meshgrid(…, indexing="ij"): rows follow the first coordinate
        image = ax.imshow(values.reshape(side, side).T, origin="lower", extent=extent, aspect="auto", cmap="viridis")
        fig.colorbar(image, ax=ax)
        ax.set(xlabel=names[0], ylabel=names[1], title=title)
        figures.append(svg_text(fig))
    return figures


def solution_section(run_dir: str | Path) -> str:
    """The "Solution" section of a pde run's report ("" for other runs)."""
    arrays = RunDir(run_dir).solution()
    if arrays is None:
        return ""
    points = arrays["points"]
    names = [str(n) for n in arrays.get("coordinates", [f"x{i + 1}" for i in range(points.shape[1])])]
    if points.shape[1] == 1:
        figures = _line_figures(points[:, 0], arrays, names[0])
    elif points.shape[1] == 2:
        figures = _field_figures(points, arrays, names)
    else:
        figures = []
    body = "".join(figures) or "<p>Solution figures are drawn for problems in one or two coordinates.</p>"
    return f"<h2>Solution on the test grid</h2><div class=\"figs\">{body}</div>"

"""Optimization paths drawn over the contour lines of a 2-D function, for the optimizer labs (C6, C8, C9).

:func:`contour_paths` draws one panel per entry of ``panels``, each with the contours of ``f`` over
the same box and one or more paths (sequences of points (x₁, x₂)) on top, start marked by a
circle and end by a cross, the minimum (where given) by a star.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from trainlab.report.svg import svg_text

Path2D = Sequence[Sequence[float]]  # points (x₁, x₂), first to last


def contour_paths(f: Callable[[np.ndarray, np.ndarray], np.ndarray], panels: dict[str, dict[str, Path2D]],
                  box: tuple[float, float, float, float], title: str = "", columns: int = 3,
                  minimum: tuple[float, float] | None = (0.0, 0.0), labels: tuple[str, str] = ("x₁", "x₂"),
                  levels: int = 15, log_levels: bool = False) -> str:
    """One panel per ``panels`` entry (panel title → {path label → points}), over contours of
    ``f(x₁, x₂)`` (vectorised over numpy grids) in ``box`` = (x₁ min, x₁ max, x₂ min, x₂ max).

    ``log_levels`` spaces the contour levels geometrically (for long, narrow valleys)."""
    columns = min(columns, len(panels))
    rows = -(-len(panels) // columns)
    fig = Figure(figsize=(3.6 * columns, 2.9 * rows))
    for index, (panel, paths) in enumerate(panels.items()):
        draw_panel(fig.add_subplot(rows, columns, index + 1), f, paths, box, panel, minimum, labels, levels, log_levels)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return svg_text(fig)


def draw_panel(ax: Axes, f: Callable[[np.ndarray, np.ndarray], np.ndarray], paths: dict[str, Path2D],
               box: tuple[float, float, float, float], title: str = "", minimum: tuple[float, float] | None = None,
               labels: tuple[str, str] = ("x₁", "x₂"), levels: int = 15, log_levels: bool = False) -> None:
    """Contours of ``f`` over ``box`` on the matplotlib axes ``ax``, with ``paths`` on top (see :func:`contour_paths`)."""
    x1, x2 = np.meshgrid(np.linspace(box[0], box[1], 160), np.linspace(box[2], box[3], 160))
    z = f(x1, x2)
    if log_levels:
        low = max(float(np.min(z[z > 0])) if np.any(z > 0) else 1e-6, 1e-6)
        contour_levels = np.geomspace(low, float(np.max(z)), levels)
    else:
        contour_levels = np.linspace(float(np.min(z)), float(np.max(z)), levels)
    ax.contour(x1, x2, z, levels=contour_levels, colors="0.7", linewidths=0.6)
    for k, (label, points) in enumerate(paths.items()):
        p = np.asarray(points, dtype=float)
        p = p[np.all(np.isfinite(p), axis=1)]
        ax.plot(p[:, 0], p[:, 1], color=f"C{k}", lw=1.0, marker="." if len(p) <= 80 else None, ms=3, label=label)
        ax.plot(p[0, 0], p[0, 1], "o", color=f"C{k}", ms=4)
        ax.plot(p[-1, 0], p[-1, 1], "x", color=f"C{k}", ms=6)
    if minimum is not None:
        ax.plot(*minimum, "*", color="k", ms=8)
    ax.set_xlim(box[0], box[1])
    ax.set_ylim(box[2], box[3])
    ax.set_title(title, fontsize=9)
    ax.tick_params(labelsize=7)
    ax.set_xlabel(labels[0], fontsize=8)
    ax.set_ylabel(labels[1], fontsize=8)
    if len(paths) > 1:
        ax.legend(fontsize=6, loc="best")

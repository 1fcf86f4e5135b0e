"""One figure style for every page: log axes with a handful of labelled ticks, one colour per variant.

Every page's figures (run, comparison, search, LR finder, labs) take their log axes from
:func:`log_axis` and their series colours from :data:`PALETTE`, so variant *i* has the same colour
on every page, and no log axis labels more than :data:`MAX_LOG_LABELS` ticks (matplotlib's default
labels every minor tick of an axis spanning less than a decade, which overlap in small panels).
"""
from __future__ import annotations

import math

from matplotlib.axes import Axes
from matplotlib.ticker import (
    FuncFormatter,
    LogFormatterSciNotation,
    LogLocator,
    MaxNLocator,
    NullFormatter,
    NullLocator,
)

MAX_LOG_LABELS = 6
# matplotlib's tab10, by name so that no page depends on the colour cycle it happens to be at
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf")
BEST, COMPLETE, PRUNED = "#d62728", "#1f77b4", "#999999"  # search pages: the best trial, the others


def variant_colour(index: int) -> str:
    """The colour of variant (or series) ``index`` on every page."""
    return PALETTE[index % len(PALETTE)]


def log_axis(ax: Axes, which: str = "x") -> None:
    """Put ``which`` axis ("x" or "y") of ``ax`` on a log scale with at most MAX_LOG_LABELS labels.

    Call it after plotting (it reads the data's span): over 1.5 decades or more only powers of ten
    are labelled (at most MAX_LOG_LABELS of them, every k-th decade on wide spans); from 1 to 1.5
    decades 2·10ᵏ and 5·10ᵏ as well (at most 2 decades × 3 labels); under one decade, at most four
    plain numbers."""
    x = which == "x"
    (ax.set_xscale if x else ax.set_yscale)("log", nonpositive="mask")
    axis = ax.xaxis if x else ax.yaxis
    low, high = ax.get_xlim() if x else ax.get_ylim()
    decades = math.log10(high / low) if low > 0 and high > low else math.inf
    axis.set_major_locator(LogLocator(base=10, numticks=MAX_LOG_LABELS))
    axis.set_major_formatter(LogFormatterSciNotation())
    if decades < 1:  # no room for a second power of ten: four plain numbers (0.015, 0.02, …)
        axis.set_major_locator(MaxNLocator(nbins=4))
        axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:.2g}"))
        axis.set_minor_locator(NullLocator())
    elif decades < 1.5:
        axis.set_minor_locator(LogLocator(base=10, subs=(2.0, 5.0), numticks=MAX_LOG_LABELS))
        axis.set_minor_formatter(LogFormatterSciNotation(labelOnlyBase=False, minor_thresholds=(math.inf, math.inf)))
    else:
        axis.set_minor_locator(LogLocator(base=10, subs="auto", numticks=100))
        axis.set_minor_formatter(NullFormatter())

"""Learning curves as inline SVG, written directly: a few lines per epoch, no figure to lay out.

A run's report draws one panel per metric. Through matplotlib each panel cost 50–90 ms of CPU (axes,
tick and text objects, a tight-bbox pass, then the SVG backend); for a short run that was more than
its checkpoints and half the training of a 50-epoch MLP at batch 1000 (benchmarks/full_run.py). Here
a panel is ~1 ms: matplotlib's tick locators still choose the ticks (``MaxNLocator``, and on log axes
the rules of :func:`trainlab.report.style.log_axis`: at most ``MAX_LOG_LABELS`` labels), the colours
are :data:`trainlab.report.style.PALETTE`, and the SVG markup (polylines, text) is written by hand,
which is what matplotlib has no fast path for. Each text is a group ``text_N``, as in matplotlib's
SVG, so the browser test's overlap check covers these figures too.

Mapping: a value v lies at ``y = top + (hi − v)/(hi − lo)·height`` (on a log axis with log10 of each),
an epoch e at ``x = left + (e − e_lo)/(e_hi − e_lo)·width``; non-finite values (and values ≤ 0 on a
log axis) break the line.
"""
from __future__ import annotations

import html
import math
from collections.abc import Sequence

from matplotlib.ticker import LogLocator, MaxNLocator

from trainlab.report.style import MAX_LOG_LABELS, PALETTE

WIDTH, HEIGHT = 500, 320  # px, the size of matplotlib's 5 × 3.2 in figures at 100 dpi
LEFT, RIGHT, TOP, BOTTOM = 62, 14, 30, 42  # margins: tick labels and axis label; the legend above
MARGIN = 0.05  # of the data's span added on each side, as matplotlib's default axes margins
SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def curve_svg(x: Sequence[float], series: dict[str, Sequence[float]], x_label: str, y_label: str,
              log_y: bool = False) -> str:
    """``series`` (label → values, one per ``x``) as lines over ``x``, in one ``<svg>`` element;
    markers on every point when there are fewer than 30."""
    finite = [v for values in series.values() for v in values if _shown(v, log_y)]
    to_axis = math.log10 if log_y else float
    y_lo, y_hi = _padded([to_axis(v) for v in finite] or [0.0, 1.0])
    x_lo, x_hi = _padded([float(v) for v in x] or [0.0, 1.0])
    width, height = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def px(value: float) -> float:
        return LEFT + (value - x_lo) / (x_hi - x_lo) * width

    def py(value: float) -> float:
        return TOP + (y_hi - to_axis(value)) / (y_hi - y_lo) * height

    texts: list[tuple[float, float, str, str]] = []  # x, y, text, extra attributes
    parts = [(f'<rect x="{LEFT}" y="{TOP}" width="{width}" height="{height}" fill="none" stroke="#000" '
              'stroke-width="0.8"/>')]
    for tick in _x_ticks(x_lo, x_hi):
        parts.append(_grid(px(tick), TOP, px(tick), TOP + height))
        texts.append((px(tick), TOP + height + 16, _number(tick, 1.0), 'text-anchor="middle"'))
    for tick, label in (_log_ticks if log_y else _linear_ticks)(y_lo, y_hi):
        parts.append(_grid(LEFT, py(tick), LEFT + width, py(tick)))
        texts.append((LEFT - 6, py(tick) + 4, label, 'text-anchor="end"'))
    texts.append((LEFT + width / 2, HEIGHT - 8, x_label, 'text-anchor="middle"'))
    middle = TOP + height / 2
    texts.append((14, middle, y_label, f'text-anchor="middle" transform="rotate(-90 14 {middle:.1f})"'))
    legend_x = LEFT
    for index, (label, values) in enumerate(series.items()):
        colour = PALETTE[index % len(PALETTE)]
        for segment in _segments(x, values, log_y):
            points = " ".join(f"{px(a):.1f},{py(b):.1f}" for a, b in segment)
            parts.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="1.5"/>')
            if len(x) < 30:
                parts.extend(f'<circle cx="{px(a):.1f}" cy="{py(b):.1f}" r="2.5" fill="{colour}"/>' for a, b in segment)
        parts.append(f'<line x1="{legend_x}" y1="14" x2="{legend_x + 20}" y2="14" stroke="{colour}" '
                     'stroke-width="1.5"/>')
        texts.append((legend_x + 25, 18, label, ""))
        legend_x += 35 + 7 * len(label)
    parts.extend(f'<g id="text_{i}"><text x="{tx:.1f}" y="{ty:.1f}" {extra}>{html.escape(text)}</text></g>'
                 for i, (tx, ty, text, extra) in enumerate(texts, start=1))
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
            f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="DejaVu Sans, Arial, sans-serif" font-size="11">'
            f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#fff"/>{"".join(parts)}</svg>')


def _shown(value: float, log_y: bool) -> bool:
    return math.isfinite(value) and (value > 0 or not log_y)


def _padded(values: list[float]) -> tuple[float, float]:
    lo, hi = min(values), max(values)
    pad = (hi - lo) * MARGIN if hi > lo else max(abs(lo) * MARGIN, 0.5)
    return lo - pad, hi + pad


def _segments(x: Sequence[float], values: Sequence[float], log_y: bool) -> list[list[tuple[float, float]]]:
    """The runs of consecutive drawable points (a NaN, an inf or, on a log axis, a value ≤ 0 ends one)."""
    segments, current = [], []
    for a, b in zip(x, values):
        if _shown(b, log_y):
            current.append((float(a), b))
        elif current:
            segments.append(current)
            current = []
    return segments + ([current] if current else [])


def _grid(x1: float, y1: float, x2: float, y2: float) -> str:
    return (f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="#b0b0b0" stroke-width="0.8" '
            'opacity="0.3"/>')


def _inside(ticks, lo: float, hi: float, log: bool = False) -> list[float]:
    """The ticks within [lo, hi] (compared in log10 on a log axis), give or take rounding."""
    scale = (lambda t: math.log10(t) if t > 0 else -math.inf) if log else float
    low, high = scale(lo), scale(hi)
    slack = 1e-9 * max(high - low, abs(low), abs(high))
    return [float(t) for t in ticks if low - slack <= scale(t) <= high + slack]


def _distinct(ticks: list[float], label) -> list[tuple[float, str]]:
    """``label(t, digits)`` with the fewest significant digits (2 to 8) that tell all ticks apart."""
    for digits in range(2, 9):
        labels = [label(t, digits) for t in ticks]
        if len(set(labels)) == len(labels):
            break
    return list(zip(ticks, labels))


def _x_ticks(lo: float, hi: float) -> list[float]:
    return _inside(MaxNLocator(nbins=6, integer=True).tick_values(lo, hi), lo, hi)


def _number(value: float, step: float) -> str:
    """``value`` with as many decimals as the tick ``step`` needs; very large or small ones as %g."""
    if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-4):
        return f"{value:.3g}"
    decimals = max(0, -math.floor(math.log10(step) + 1e-9)) if step > 0 else 0
    if step > 0 and round(step * 10**decimals) % 1:  # a step such as 0.25 needs one more decimal
        decimals += 1
    return f"{0.0 if abs(value) < 1e-9 * step else value:.{decimals}f}"  # no "-0.00" from rounding


def _linear_ticks(lo: float, hi: float) -> list[tuple[float, str]]:
    ticks = _inside(MaxNLocator(nbins=5, steps=[1, 2, 2.5, 5, 10]).tick_values(lo, hi), lo, hi)
    step = ticks[1] - ticks[0] if len(ticks) > 1 else 1.0
    return [(t, _number(t, step)) for t in ticks]


def _log_ticks(lo: float, hi: float) -> list[tuple[float, str]]:
    """Ticks of a log axis spanning 10^lo to 10^hi, by :func:`trainlab.report.style.log_axis`'s rules."""
    low, high, decades = 10**lo, 10**hi, hi - lo
    if decades < 1:  # at most four plain numbers
        plain = [t for t in _inside(MaxNLocator(nbins=4).tick_values(low, high), low, high) if t > 0]
        return _distinct(plain, lambda t, digits: f"{t:.{digits}g}")
    powers = _inside(LogLocator(base=10, numticks=MAX_LOG_LABELS).tick_values(low, high), low, high, log=True)
    ticks = [(t, _power(t)) for t in powers]
    if decades < 1.5:  # 2·10ᵏ and 5·10ᵏ too
        subs = LogLocator(base=10, subs=(2.0, 5.0), numticks=MAX_LOG_LABELS).tick_values(low, high)
        ticks += [(t, f"{t:.0e}".replace("e-0", "e-").replace("e+0", "e")) for t in _inside(subs, low, high, log=True)]
    return sorted(ticks)


def _power(value: float) -> str:
    exponent = round(math.log10(value))
    return "1" if exponent == 0 else "10" if exponent == 1 else f"10{str(exponent).translate(SUPERSCRIPT)}"

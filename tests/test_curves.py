"""The run report's learning curves, written as SVG directly (trainlab.report.curves)."""
from __future__ import annotations

import math
import re
import time
import xml.etree.ElementTree as ET

import pytest

from trainlab.report.curves import BOTTOM, HEIGHT, LEFT, MARGIN, RIGHT, TOP, WIDTH, _log_ticks, curve_svg
from trainlab.report.html import curve_figure
from trainlab.report.style import MAX_LOG_LABELS, PALETTE

SVG = "{http://www.w3.org/2000/svg}"


def _parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def _points(polyline: ET.Element) -> list[tuple[float, float]]:
    return [tuple(map(float, p.split(","))) for p in polyline.get("points").split()]


def test_points_lie_where_the_axes_put_them():
    root = _parse(curve_svg([1, 2, 3], {"train loss": [0.0, 0.5, 1.0]}, "epoch", "loss"))
    (line,) = root.iter(f"{SVG}polyline")
    width, height = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    pad = MARGIN / (1 + 2 * MARGIN)  # the 5 % margin on each side of the data's span, as a share of the axis
    expected = [(LEFT + pad * width, TOP + (1 - pad) * height), (LEFT + width / 2, TOP + height / 2),
                (LEFT + (1 - pad) * width, TOP + pad * height)]
    for (x, y), (ex, ey) in zip(_points(line), expected):
        assert x == pytest.approx(ex, abs=0.06) and y == pytest.approx(ey, abs=0.06)  # written to 0.1 px
    assert line.get("stroke") == PALETTE[0]


def test_each_series_has_its_colour_legend_and_markers_below_30_points():
    few = _parse(curve_figure({"epoch": [1, 2], "accuracy": [0.5, 0.6], "val_accuracy": [0.4, 0.5]}, "accuracy"))
    assert [p.get("stroke") for p in few.iter(f"{SVG}polyline")] == list(PALETTE[:2])
    assert len(list(few.iter(f"{SVG}circle"))) == 4
    texts = {t.text for t in few.iter(f"{SVG}text")}
    assert {"train accuracy", "validation accuracy", "epoch", "accuracy"} <= texts
    many = _parse(curve_figure({"epoch": list(range(1, 41)), "loss": [1.0] * 40}, "loss"))
    assert list(many.iter(f"{SVG}circle")) == []


def test_non_finite_and_non_positive_values_break_the_line():
    root = _parse(curve_svg([1, 2, 3, 4, 5], {"loss": [1.0, float("nan"), 0.5, 0.4, float("inf")]}, "epoch", "loss"))
    assert [len(_points(p)) for p in root.iter(f"{SVG}polyline")] == [1, 2]
    log = _parse(curve_svg([1, 2, 3], {"loss": [0.1, 0.0, 0.01]}, "epoch", "loss", log_y=True))
    assert [len(_points(p)) for p in log.iter(f"{SVG}polyline")] == [1, 1]
    empty = _parse(curve_svg([1], {"loss": [float("nan")]}, "epoch", "loss"))  # nothing drawable: axes only
    assert list(empty.iter(f"{SVG}polyline")) == []


def test_texts_are_escaped_and_grouped_as_matplotlib_groups_them():
    svg = curve_svg([1, 2], {"<b>&": [1.0, 2.0]}, "epoch", "<i>")
    assert "<b>" not in svg and "&lt;b&gt;&amp;" in svg and "&lt;i&gt;" in svg
    groups = re.findall(r'<g id="text_(\d+)"><text', svg)  # what the browser test checks for overlaps
    assert groups == [str(i) for i in range(1, len(groups) + 1)] and len(groups) >= 6


@pytest.mark.parametrize("low, high", [(1e-2, 1e-1), (0.013, 0.04), (2e-3, 0.3), (1e-6, 1.0), (1e-12, 1e3), (0.5, 0.9)])
def test_log_axes_label_at_most_six_distinct_ticks_inside_the_span(low, high):
    ticks = _log_ticks(math.log10(low), math.log10(high))
    values, labels = [t for t, _ in ticks], [label for _, label in ticks]
    assert 2 <= len(ticks) <= MAX_LOG_LABELS and len(set(labels)) == len(labels)
    assert all(low * (1 - 1e-9) <= v <= high * (1 + 1e-9) for v in values)


def test_a_panel_costs_about_a_millisecond():
    columns = {"epoch": list(range(1, 201)), "loss": [1 / e for e in range(1, 201)],
               "val_loss": [1.1 / e for e in range(1, 201)]}
    started = time.process_time()
    for _ in range(20):
        curve_figure(columns, "loss", log_y=True)
    # CPU time, so other processes on the machine do not count; ~1 ms each here, matplotlib took
    # 50–90 ms each (1–1.8 s for 20): 0.5 s separates them with a 25× margin for a slow machine.
    assert time.process_time() - started < 0.5

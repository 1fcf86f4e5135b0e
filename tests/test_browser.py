"""Every page type, opened in a real browser: headless Chromium (Debian's ``chromium``) driven by
Playwright over the DevTools protocol.

Each page (run, diagnosed run, comparison, search, LR finder, a lab and the combined labs page, the
runs table) is rendered from tiny real runs, loaded from its file, and must show 0 console errors,
0 page errors and 0 requests besides the page itself (no network, no failed resource). In every
figure no two texts may overlap (matplotlib draws each text as an SVG group ``text_N``; the
browser lays them out and reports their boxes). Screenshots go to a temporary folder, printed at
the end. Without Chromium or Playwright the test skips and says how to install them (``.ci/run``
installs Chromium with apt-get when it can).
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from trainlab.cli import main
from trainlab.labs import run_all
from trainlab.recipe import load_recipe
from trainlab.run import run_recipe
from trainlab.tools.lr_find import lr_find
from trainlab.tools.runs import runs_table, write_html

try:
    from playwright import sync_api
except ImportError:  # the browser test skips; the tick test below still runs
    sync_api = None
CHROMIUM = next((shutil.which(name) for name in ("chromium", "chromium-browser") if shutil.which(name)), None)
if sync_api is None:
    CHROMIUM = None  # reported by the skip below, with how to install playwright
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="needs playwright (pip install -e '.[test]') and "
                                    "chromium on PATH (apt-get install chromium; .ci/run does it as root)")

TINY = {"name": "page", "data": {"name": "moons", "n_samples": 200, "batch_size": 50},
        "model": {"name": "mlp", "hidden": [8]}, "optim": {"name": "adam", "lr": 0.01}, "stopping": {"epochs": 3}}

# Two texts may touch (an axis label beside its tick labels, anti-aliased edges): overlaps of up to
# 4 px² (two 2 px × 2 px corners) are rounding, anything larger covers part of a glyph.
OVERLAP_PX2 = 4.0

OVERLAPS_JS = """(limit) => {
  const found = [];
  document.querySelectorAll('svg').forEach((svg, figure) => {
    const boxes = [...svg.querySelectorAll('g[id^="text_"]')]
      .map(g => ({id: g.id, box: g.getBoundingClientRect()}))
      .filter(t => t.box.width > 0 && t.box.height > 0);
    for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
      const a = boxes[i].box, b = boxes[j].box;
      const w = Math.min(a.right, b.right) - Math.max(a.left, b.left);
      const h = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
      if (w > 0 && h > 0 && w * h > limit) found.push(`figure ${figure}: ${boxes[i].id} × ${boxes[j].id} (${Math.round(w * h)} px²)`);
    }
  });
  return found;
}"""


@pytest.fixture(scope="module")
def pages(tmp_path_factory) -> dict[str, Path]:
    """One page of each type, made by the real commands from tiny runs."""
    root = tmp_path_factory.mktemp("pages")
    runs = root / "runs"
    made = {"run": run_recipe(load_recipe(TINY), runs).run_dir / "report.html",
            "diagnosed run": run_recipe(load_recipe({**TINY, "diagnose": {"every": 2, "histograms": [1, 3]}}),
                                        runs).run_dir / "report.html"}
    recipe = root / "recipe.yaml"
    recipe.write_text(yaml.safe_dump({**TINY, "stopping": {"epochs": 2}}))
    assert main(["compare", str(recipe), "--vary", "optim.lr=0.01,0.1", "--seeds", "1", "--out", str(runs / "cmp"),
                 "--quiet"]) == 0
    made["compare"] = runs / "cmp" / "report.html"
    space = root / "space.yaml"  # a log-scale parameter spanning less than a decade: the crowded-ticks case
    space.write_text(yaml.safe_dump({"optim.lr": {"loguniform": [0.01, 0.05]}, "model.hidden.0": {"int": [4, 16]}}))
    assert main(["search", str(recipe), "--space", str(space), "--trials", "4", "--out", str(runs / "search")]) == 0
    made["search"] = runs / "search" / "report.html"
    made["lr-find"] = lr_find(TINY, steps=40).save(root / "lr")["html"]
    run_all(quick=True, out_dir=root / "labs", names=["C4"], seeds=1)  # the lab with crowded log ticks
    made["lab"] = root / "labs" / "C4" / "report.html"
    made["labs"] = root / "labs" / "labs.html"
    made["runs table"] = write_html(runs_table(runs, "val_loss"), root / "runs.html")
    return made


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("screenshots")
    yield folder
    print(f"\nscreenshots: {folder}")


@needs_chromium
@pytest.mark.parametrize("kind", ["run", "diagnosed run", "compare", "search", "lr-find", "lab", "labs",
                                  "runs table"])
def test_page_loads_cleanly_offline(pages, browser, screenshots, kind):
    path = pages[kind]
    assert path.is_file(), path
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors, requests, failed = [], [], []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("request", lambda request: requests.append(request.url))
    page.on("requestfailed", lambda request: failed.append(request.url))
    url = path.resolve().as_uri()
    page.goto(url, wait_until="load")
    page.screenshot(path=str(screenshots / f"{kind.replace(' ', '-')}.png"), full_page=True)
    overlaps = page.evaluate(OVERLAPS_JS, OVERLAP_PX2)
    figures = page.locator("svg").count()
    page.close()
    assert errors == [], f"console errors on the {kind} page: {errors}"
    assert [r for r in requests if r != url] == [] and failed == [], f"the {kind} page requested {requests}"
    assert overlaps == [], f"overlapping texts on the {kind} page: {overlaps}"
    if kind != "runs table":
        assert figures > 0, f"the {kind} page shows no figure"


@pytest.mark.parametrize("low, high", [(1e-2, 1e-1), (0.013, 0.04), (2e-3, 0.3), (1e-6, 1.0), (1e-12, 1e3), (0.5, 0.9)])
def test_log_axes_label_at_most_six_ticks(low, high):
    """Every span, from under a decade (the search's "1 − momentum" slice) to fifteen decades."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from trainlab.report.style import MAX_LOG_LABELS, log_axis

    fig = Figure(figsize=(3.8, 3.0))
    ax = fig.add_subplot()
    ax.scatter(np.geomspace(low, high, 12), np.arange(12))
    log_axis(ax, "x")
    FigureCanvasAgg(fig).draw()
    start, end = ax.get_xlim()
    ticks = ax.xaxis.get_majorticklabels() + ax.xaxis.get_minorticklabels()
    shown = [t.get_text() for t in ticks if t.get_text() and start <= t.get_position()[0] <= end]
    assert 2 <= len(shown) <= MAX_LOG_LABELS, shown

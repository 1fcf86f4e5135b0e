"""One page template: every HTML page trainlab writes is wrapped by trainlab.report.page with its one stylesheet."""
from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import optuna
import pytest

import trainlab
from trainlab.labs import Evidence, Lab, LabResult, Row
from trainlab.labs.report import write_combined_report, write_lab_report
from trainlab.recipe import load_recipe
from trainlab.report.page import render_page, stylesheet
from trainlab.run import run_recipe
from trainlab.tools.compare import Comparison, Vary
from trainlab.tools.compare_report import summarize, write_compare_report
from trainlab.tools.lr_find import LRFindResult
from trainlab.tools.search_report import write_search_report
from trainlab.tools.space import parse_space

PACKAGE = Path(trainlab.__file__).parent


def test_no_module_but_page_py_defines_a_page_skeleton_or_a_stylesheet():
    found = [str(path.relative_to(PACKAGE)) for path in PACKAGE.rglob("*.py")
             if re.search(r"<!doctype|<style", path.read_text(encoding="utf-8"), re.IGNORECASE)]
    assert found == [str(Path("report", "page.py"))]
    assert [p.name for p in PACKAGE.rglob("*.css")] == ["page.css"]


def test_render_page_escapes_title_heading_and_nav_and_inlines_the_stylesheet():
    page = render_page("<t>", "<p>kept</p>", heading="a & b", nav=[("x.html?a=1&b=2", "<run>")])
    assert page.startswith("<!DOCTYPE html>\n") and page.endswith("</body></html>\n")
    assert "<title>&lt;t&gt;</title>" in page and "<h1>a &amp; b</h1>" in page
    assert '<a href="x.html?a=1&amp;b=2">&lt;run&gt;</a>' in page and "<p>kept</p>" in page
    assert page.count(stylesheet()) == 1 and ".finding.error" in stylesheet() and ".not-reproduced" in stylesheet()
    assert "<h1>" not in render_page("t", "") and "<nav>" not in render_page("t", "")


def _is_one_page(page: str) -> None:
    """A whole page from the template: one doctype, the stylesheet once in the head, nothing fetched.
    (Matplotlib's inline SVG figures carry their own small <style> element each.)"""
    assert page.startswith("<!DOCTYPE html>") and page.count("<!DOCTYPE") == 1
    head, _, body = page.partition("</head>")
    assert head.count(stylesheet()) == 1 and head.count("<style") == 1
    assert body.count("<style") <= body.count("<svg")  # at most a figure's own
    assert "<script" not in page and "<link" not in page and " src=" not in page


def test_run_report_uses_the_template(tiny_recipe, tmp_path):
    run_dir = run_recipe(load_recipe(tiny_recipe), tmp_path).run_dir
    page = (run_dir / "report.html").read_text()
    _is_one_page(page)
    assert f"<h1>Run {run_dir.name}</h1>" in page and "<h2>Diagnosis</h2>" in page


def _fake_run(run_dir: Path, accuracy: float) -> None:
    run_dir.mkdir(parents=True)
    (run_dir / "run.json").write_text(json.dumps({"status": "finished", "epochs": 2,
                                                  "test": {"test_accuracy": accuracy}}))
    with open(run_dir / "metrics.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, ["epoch", "loss", "seconds"])
        writer.writeheader()
        writer.writerows({"epoch": i, "loss": 1 / i, "seconds": 0.5} for i in (1, 2))


def test_compare_report_uses_the_template(tiny_recipe, tmp_path):
    comparison = Comparison(tiny_recipe, [], [Vary("optim.name", ("adam", "sgd"))], 2)
    out = tmp_path / "out"
    for i, run in enumerate(comparison.plan()):
        _fake_run(out / run.name, 0.8 + 0.01 * i)
    page = write_compare_report(out, summarize(out, comparison), comparison).read_text()
    _is_one_page(page)
    assert "<h1>Comparison out</h1>" in page and "<h2>Results</h2>" in page


def test_search_report_uses_the_template(tmp_path):
    study = optuna.create_study(study_name="s<1>")
    space = parse_space({"optim.lr": {"loguniform": [1e-3, 0.3]}})
    page = write_search_report(study, space, tmp_path, "val_loss", "memory").read_text()
    _is_one_page(page)
    assert "<h1>Search s&lt;1&gt;</h1>" in page and "No trial has completed yet." in page


def test_lr_find_page_uses_the_template(tmp_path):
    result = LRFindResult([1e-3, 1e-2, 1e-1], [1.0, 0.5, 2.0], [1.0, 0.7, 1.2], "reached the end",
                          suggestions={"minimum": 1e-3, "steepest": 1e-2})
    page = result.save(tmp_path)["html"].read_text()
    _is_one_page(page)
    assert "<h1>LR range test</h1>" in page and page.count("<svg") == 1


@pytest.fixture
def toy_lab() -> tuple[Lab, LabResult]:
    lab = Lab(id="C99", name="toy <lab>", claim="an effect", measures="a number", source="none",
              experiment=lambda quick, out_dir, seeds: None)
    result = LabResult([Row("effect", 0.2)], [Evidence("effect", (0.1, 0.2, 0.3), at_least=0.05)])
    return lab, result


def test_lab_pages_use_the_template(toy_lab, tmp_path):
    lab, result = toy_lab
    single = write_lab_report(lab, result, tmp_path / "one.html").read_text()
    _is_one_page(single)
    assert "<h1>C99 — toy &lt;lab&gt;</h1>" in single and "class=\"claim\"" in single
    combined = write_combined_report([(lab, result)], tmp_path / "all.html").read_text()
    _is_one_page(combined)
    assert "<h1>trainlab labs: the lectures&#x27; claims, measured</h1>" in combined
    assert "1 of 1 claims reproduced." in combined

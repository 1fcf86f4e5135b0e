"""``trainlab runs``: the table of runs under a folder, its sorting, filters, diff and HTML page."""
from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml

from trainlab.cli import main
from trainlab.errors import TrainlabError
from trainlab.tools.runs import diff_runs, find_run, parse_filter, runs_table, write_html

N_RUNS = 200


def _fake_run(path: Path, i: int) -> None:
    """A synthetic run directory as trainlab writes one: run.json, recipe.yaml, findings.json,
    metrics.csv (3 epochs) and report.html; run i has lr 0.001·(i+1) and val_accuracy i/1000."""
    path.mkdir(parents=True)
    model = "mlp" if i % 2 == 0 else "cnn1d"
    recipe = {"name": "fake", "seed": i % 3, "data": {"name": "moons"}, "model": {"name": model, "hidden": [16]},
              "optim": {"name": "adam", "lr": 0.001 * (i + 1)}}
    (path / "recipe.yaml").write_text("# resolved recipe\n" + yaml.safe_dump(recipe))
    status = "failed" if i % 10 == 9 else "finished"
    val = {"val_loss": 1 - i / 1000, "val_accuracy": i / 1000}
    run = {"status": status, "created": 1_700_000_000 + i, "epochs": 3, "final": {"epoch": 3, "loss": 0.5, **val},
           "test": {"test_accuracy": i / 1000 + 0.001}, "maximize": ["test_accuracy", "val_accuracy"]}
    if i % 50 == 7:  # a run written before run.json recorded which metrics are maximized
        del run["maximize"]
    (path / "run.json").write_text(json.dumps(run))
    findings = [{"name": "overfitting", "severity": "warning", "summary": "gap"}] if i % 4 == 0 else []
    (path / "findings.json").write_text(json.dumps({"format": 1, "findings": findings}))
    rows = [f"{e},0.01,0.5,{val['val_loss'] + (3 - e) * 0.1},{val['val_accuracy'] - (3 - e) * 0.01}" for e in (1, 2, 3)]
    (path / "metrics.csv").write_text("epoch,lr,loss,val_loss,val_accuracy\n" + "\n".join(rows) + "\n")
    (path / "report.html").write_text("<!DOCTYPE html><title>r</title>")


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("runs")
    for i in range(N_RUNS - 10):
        _fake_run(root / f"fake-{i:03d}", i)
    for i in range(N_RUNS - 10, N_RUNS):  # a comparison's runs one level deeper, with checkpoints/ beside
        _fake_run(root / "cmp" / f"v0-seed{i}", i)
    (root / "cmp" / "v0-seed190" / "checkpoints").mkdir()
    return root


def test_two_hundred_runs_in_under_two_seconds(folder):
    started = time.perf_counter()
    table = runs_table(folder)
    seconds = time.perf_counter() - started
    assert len(table.rows) == N_RUNS
    assert seconds < 2.0, f"{seconds:.2f} s for {N_RUNS} runs"
    assert [r.name for r in table.rows[:2]] == ["cmp/v0-seed199", "cmp/v0-seed198"]  # newest first
    assert table.metrics == ["val_loss", "val_accuracy", "test_accuracy"]
    row = next(r for r in table.rows if r.name == "fake-004")
    assert (row.status, row.epochs, row.worst) == ("finished", 3, "warning: overfitting")
    assert row.metrics["val_accuracy"] == pytest.approx(0.004)


def test_the_table_imports_no_torch(folder):
    """The whole `trainlab runs` process stays under 2 s: run.json says which metrics are maximized."""
    code = ("import sys; from trainlab.cli import main; "
            f"assert main(['runs', {str(folder)!r}, '--sort', 'val_accuracy']) == 0; "
            "assert 'torch' not in sys.modules, 'torch was imported'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def test_runs_without_a_maximize_record_ask_the_registry(tmp_path):
    for i in (7, 57):  # _fake_run leaves the record out of these
        _fake_run(tmp_path / f"old-{i}", i)
    table = runs_table(tmp_path, "val_accuracy")
    assert all(row.maximize is None for row in table.rows)
    assert [row.name for row in table.rows] == ["old-57", "old-7"]  # accuracy: highest first, as for new runs


def test_sort_and_filters(folder):
    best = runs_table(folder, "val_accuracy").rows
    assert best[0].name == "cmp/v0-seed199" and best[-1].name == "fake-000"  # accuracy: highest first
    assert runs_table(folder, "val_loss").rows[0].name == "cmp/v0-seed199"  # loss: lowest first
    assert runs_table(folder, "val_loss").best == "val_loss"
    table = runs_table(folder, "val_loss")
    assert table.best_of(table.rows[0]) == (pytest.approx(0.801), 3) and not table.higher
    failed = runs_table(folder, filters=["status=failed"]).rows
    assert len(failed) == N_RUNS // 10 and all(r.status == "failed" for r in failed)
    mlp = runs_table(folder, filters=["model.name=mlp", "optim.lr>0.1"]).rows  # recipe keys, numbers
    assert len(mlp) == len([i for i in range(N_RUNS) if i % 2 == 0 and 0.001 * (i + 1) > 0.1])
    assert runs_table(folder, filters=["val_accuracy>=0.195"]).rows[-1].name == "cmp/v0-seed195"
    assert runs_table(folder, filters=["model.name!=mlp"]).rows[0].value("model.name") == "cnn1d"
    assert parse_filter("optim.lr<=0.1") == ("optim.lr", "<=", "0.1")
    with pytest.raises(TrainlabError, match=r"--filter 'lr~3': expected KEY OP VALUE"):
        parse_filter("lr~3")


def test_diff_shows_recipe_keys_and_metric_deltas(folder, capsys):
    differences, metrics = diff_runs(find_run(folder, "fake-001"), find_run(folder, "fake-004"))
    assert differences == ["model.name: cnn1d → mlp", "optim.lr: 0.002 → 0.005"]  # seed 1 in both
    values = {name: (a, b) for name, a, b in metrics}
    assert values["val_accuracy"] == (pytest.approx(0.001), pytest.approx(0.004))
    assert main(["runs", str(folder), "--diff", "fake-001", "fake-004"]) == 0
    out = capsys.readouterr().out
    assert "optim.lr: 0.002 → 0.005" in out and re.search(r"val_accuracy\s+0\.001\s+0\.004\s+\+0\.003", out)
    assert main(["runs", str(folder), "--diff", "fake-001", "nope"]) != 0
    assert "--diff: nope is not a run directory" in capsys.readouterr().err


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self.links.append(dict(attrs)["href"])


def test_html_page_links_every_report(folder, tmp_path, capsys):
    page = tmp_path / "sub" / "runs.html"
    page.parent.mkdir()
    write_html(runs_table(folder, "val_loss"), page)
    parser = _Links()
    parser.feed(page.read_text())
    assert len(parser.links) == N_RUNS
    assert all((page.parent / link).resolve().is_file() for link in parser.links)  # relative links resolve
    assert "<style>" in page.read_text() and "<script" not in page.read_text()  # the shared, script-free template
    assert main(["runs", str(folder), "--filter", "status=failed", "--html", str(tmp_path / "f.html")]) == 0
    out = capsys.readouterr().out
    assert f"{N_RUNS // 10} runs in" in out and "page:" in out
    assert main(["runs", str(tmp_path / "missing")]) != 0
    assert "is not a folder" in capsys.readouterr().err

"""``trainlab compare``: the statistics, the plan, early errors, and a comparison killed and rerun."""
from __future__ import annotations

import csv
import json
import math
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from scipy import stats

from trainlab.cli import main, parser
from trainlab.errors import RecipeError, TrainlabError
from trainlab.recipe import load_recipe
from trainlab.run import run_recipe
from trainlab.safety.locks import exclusive
from trainlab.tools.compare import (
    Comparison,
    Vary,
    comparison_from_args,
    open_comparison_dir,
    parse_vary,
)
from trainlab.tools.compare_report import mean_ci, summarize, welch_p, write_compare_report, write_summary_csv
from trainlab.train.checkpoint import load_checkpoint

# ---- statistics ----

BASELINE = [0.80, 0.82, 0.78, 0.81]  # hand-made accuracies of 4 seeds
OTHER = [0.85, 0.86, 0.83]


def test_mean_ci_and_welch_p_match_scipy_and_the_formulas():
    mean, half = mean_ci(BASELINE)
    low, high = stats.t.interval(0.95, len(BASELINE) - 1, loc=sum(BASELINE) / 4, scale=stats.sem(BASELINE))
    # Same quantities by two routes in float64: agreement to 1e-12 allows only rounding differences.
    assert mean == pytest.approx((low + high) / 2, abs=1e-12)
    assert half == pytest.approx((high - low) / 2, abs=1e-12)
    assert half == pytest.approx(0.027175, abs=5e-7)  # by hand: t(0.975, 3) = 3.18245 × s/√n = 0.017078/2
    assert mean_ci([0.7]) == (pytest.approx(0.7), None)  # n = 1: no interval

    # Welch by hand: t = (x̄b − x̄a)/√(sa²/na + sb²/nb), Welch–Satterthwaite ν, p = 2·sf(|t|, ν).
    va, vb = stats.tvar(BASELINE) / 4, stats.tvar(OTHER) / 3
    t = (sum(OTHER) / 3 - sum(BASELINE) / 4) / math.sqrt(va + vb)
    nu = (va + vb) ** 2 / (va**2 / 3 + vb**2 / 2)
    p = welch_p(BASELINE, OTHER)
    assert p == pytest.approx(2 * stats.t.sf(abs(t), nu), rel=1e-9)  # closed form vs scipy: rounding only
    assert p == pytest.approx(stats.ttest_ind(OTHER, BASELINE, equal_var=False).pvalue, rel=1e-12)
    assert welch_p(BASELINE, [0.9]) is None  # one value: no variance estimate
    assert welch_p([4.0, 4.0], [4.0, 4.0]) is None  # no spread at all: t undefined


# ---- the plan and the spec ----


def write_recipe(tmp_path: Path, recipe: dict) -> Path:
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


def test_parse_vary_keeps_lists_whole_and_rejects_bad_input():
    assert parse_vary("model.hidden=[32],[64, 64]") == Vary("model.hidden", ("[32]", "[64, 64]"))
    for bad, says in [("optim.lr", "expected KEY=V1,V2"), ("seed=1,2", "--seeds"), ("optim.lr=0.1,,0.2", "empty"),
                      ("optim.lr=0.1,0.1", "listed twice"), ("model.hidden=[32,64", "unbalanced")]:
        with pytest.raises(TrainlabError, match=says):
            parse_vary(bad)


def test_plan_is_the_grid_times_seeds_with_stable_names(tmp_path, tiny_recipe):
    recipe_file = write_recipe(tmp_path, {**tiny_recipe, "seed": 10})
    comparison = comparison_from_args(recipe_file, ["optim.lr=0.1,0.01", "model.hidden=[8],[4,4]"], 2,
                                      ["stopping.epochs=2"])
    plan = comparison.plan()
    assert [r.name for r in plan[:3]] == ["v0-optim.lr=0.1+model.hidden=8-seed10",
                                          "v0-optim.lr=0.1+model.hidden=8-seed11",
                                          "v1-optim.lr=0.1+model.hidden=4,4-seed10"]
    assert len(plan) == 8 and len({r.name for r in plan}) == 8
    assert plan[3].overrides == ("stopping.epochs=2", "optim.lr=0.1", "model.hidden=[4,4]", "seed=11")
    recipe = comparison.recipe_of(plan[3])
    assert (recipe.seed, recipe.optim.lr, recipe.model.model_extra["hidden"], recipe.stopping.epochs) == \
        (11, 0.1, [4, 4], 2)
    assert comparison.recipe == {**tiny_recipe, "seed": 10}  # validating variants left the recipe data alone

    out = open_comparison_dir(comparison, tmp_path / "out")
    again = Comparison.from_json(json.loads((out / "comparison.json").read_text()))
    assert [r.name for r in again.plan()] == [r.name for r in plan]
    other = comparison_from_args(recipe_file, ["optim.lr=0.1,0.03"], 2, [])
    with pytest.raises(TrainlabError, match="holds a different comparison"):
        open_comparison_dir(other, out)


def test_help_lists_compare_and_its_flags(capsys):
    for argv in (["--help"], ["compare", "--help"]):
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "compare" in out and "--vary KEY=V1,V2,…" in out and "95% CI" in out


def test_bad_vary_key_fails_before_any_run_with_the_recipes_message(tmp_path, tiny_recipe, capsys):
    recipe_file = write_recipe(tmp_path, tiny_recipe)
    with pytest.raises(RecipeError) as expected:
        load_recipe(recipe_file, ["optim.lrr=0.1"])
    out = tmp_path / "out"
    code = main(["compare", str(recipe_file), "--vary", "optim.lrr=0.1,0.01", "--seeds", "2", "--out", str(out)])
    assert code == 2
    assert capsys.readouterr().err.strip() == f"error: {expected.value}"
    assert not out.exists()  # not even the directory: nothing started


def test_docs_example_is_a_valid_comparison_and_quotes_the_real_error():
    root = Path(__file__).parent.parent
    text = (root / "docs" / "compare.md").read_text()
    command = re.search(r"^\$ trainlab compare (.*)$", text, re.MULTILINE)[1]
    args = parser().parse_args(["compare", *shlex.split(command)])
    comparison = comparison_from_args(root / args.recipe, args.vary, args.seeds, args.set)
    assert len(comparison.plan()) == 6
    with pytest.raises(RecipeError) as error:
        load_recipe(root / args.recipe, ["optim.lrr=0.1"])
    assert f"    error: {error.value}\n" in text


# ---- summary.csv and report.html from recorded runs (no training) ----


def fake_run(run_dir: Path, status: str, accuracy: float, seconds: list[float]) -> None:
    run_dir.mkdir(parents=True)
    record = {"status": status, "epochs": len(seconds), "test": {"test_accuracy": accuracy}}
    if status == "failed":
        record = {"status": "failed", "error": "loss is NaN <at step 3>"}
    (run_dir / "run.json").write_text(json.dumps(record))
    rows = [{"epoch": i + 1, "loss": 1 / (i + 1), "val_loss": 1.2 / (i + 1), "seconds": s} for i, s in enumerate(seconds)]
    with open(run_dir / "metrics.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, ["epoch", "loss", "val_loss", "seconds"])
        writer.writeheader()
        writer.writerows(rows)


def test_summary_and_report_from_recorded_runs(tmp_path, tiny_recipe):
    comparison = Comparison(tiny_recipe, [], [Vary("optim.name", ("adam", "<script>x</script>"))], 4)
    out = tmp_path / "out"
    plan = comparison.plan()
    for run, accuracy in zip(plan[:4], BASELINE):
        fake_run(out / run.name, "finished", accuracy, [0.5, 0.5])
    for run, accuracy in zip(plan[4:7], OTHER):
        fake_run(out / run.name, "finished", accuracy, [0.25, 0.25, 0.25])
    fake_run(out / plan[7].name, "failed", 0.0, [0.25])

    summary = summarize(out, comparison)
    assert summary.metrics == ["test_accuracy", "epochs", "seconds"]
    baseline, other = summary.rows
    assert (baseline.finished, other.finished, other.failed) == (4, 3, 1)
    assert other.stats["test_accuracy"].p == welch_p(BASELINE, OTHER)
    assert other.stats["test_accuracy"].mean == pytest.approx(sum(OTHER) / 3, abs=1e-12)  # float sums: rounding
    assert other.stats["seconds"].mean == pytest.approx(0.75, abs=1e-12)
    with open(write_summary_csv(out / "summary.csv", summary, comparison)) as f:
        rows = list(csv.DictReader(f))
    assert float(rows[1]["test_accuracy_p_vs_baseline"]) == pytest.approx(welch_p(BASELINE, OTHER), rel=1e-12)
    assert rows[0]["test_accuracy_p_vs_baseline"] == "" and rows[1]["optim.name"] == "<script>x</script>"

    page = write_compare_report(out, summary, comparison).read_text()
    assert "<script" not in page and "&lt;script&gt;x&lt;/script&gt;" in page
    assert "loss is NaN &lt;at step 3&gt;" in page
    assert page.count("<svg") == 2  # loss and val_loss bands
    assert " src=" not in page and "<link" not in page  # self-contained: figures inline, nothing fetched


# ---- a real comparison on MNIST-1D, killed and rerun ----

RECIPE = {  # 4 short epochs; batch 16 makes each epoch ~0.15 s so runs overlap in training, not just set-up
    "name": "cmp", "seed": 0,
    "data": {"name": "mnist1d", "batch_size": 16, "preprocess": "zscore"},
    "model": {"name": "mlp", "hidden": [32]},
    "optim": {"name": "adam", "lr": 0.003},
    "stopping": {"epochs": 4},
    "checkpoint": {"every": 1},
}


def status(run_dir: Path) -> str:
    path = run_dir / "run.json"
    return json.loads(path.read_text())["status"] if path.is_file() else "new"


def spans(run_dir: Path) -> list[tuple[float, float]]:
    """(fit_start, fit_end) times of each fit the run's events.jsonl records."""
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    starts = [e["time"] for e in events if e["event"] == "fit_start"]
    ends = [e["time"] for e in events if e["event"] == "fit_end"]
    return list(zip(starts[-len(ends):], ends))


def test_kill_then_rerun_runs_only_the_missing_runs(tmp_path, capsys):
    recipe_file = write_recipe(tmp_path, RECIPE)
    out = tmp_path / "out"
    command = ["compare", str(recipe_file), "--vary", "optim.lr=0.003,0.01", "--seeds", "3", "--workers", "2",
               "--out", str(out), "--separate"]  # a process per run (test_vectorized covers batched seeds)
    first = subprocess.Popen([sys.executable, "-m", "trainlab", *command], stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.time() + 120
    while True:  # kill once ≥ 2 runs finished and another has a checkpoint to resume from
        states = {d: status(d) for d in out.glob("v*")}
        if sum(s == "finished" for s in states.values()) >= 2 and any(
                s == "running" and list(d.glob("checkpoints/epoch-*.json")) for d, s in states.items()):
            break
        assert first.poll() is None, f"compare ended before it could be killed: {first.communicate()}"
        assert time.time() < deadline
        time.sleep(0.01)
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    for run_dir in out.glob("v*"):  # its workers exit with it: each run directory's lock comes free
        with exclusive(run_dir, "a worker that outlived the killed comparison", wait_s=10):
            pass
    dirs = [d for d in out.glob("v*") if d.is_dir()]
    finished = {d.name for d in dirs if status(d) == "finished"}
    resumable = [d for d in dirs if d.name not in finished and list(d.glob("checkpoints/epoch-*.json"))]
    assert resumable, "the run with a checkpoint finished before the kill landed"
    kept = {(name, f): ((out / name / f).read_bytes(), (out / name / f).stat().st_mtime_ns)
            for name in finished for f in ("run.json", "metrics.csv", "events.jsonl")}

    assert main(command) == 0  # the same command again, in this process this time
    stdout = capsys.readouterr().out
    assert f"skipping {len(finished)} finished runs; resuming " in stdout
    assert sum(line.startswith("[") for line in stdout.splitlines()) == 6 - len(finished)  # one line per run executed
    assert kept == {(name, f): ((out / name / f).read_bytes(), (out / name / f).stat().st_mtime_ns)
                    for name, f in kept}
    with open(out / "summary.csv") as f:
        rows = list(csv.DictReader(f))
    assert [(r["optim.lr"], r["finished"]) for r in rows] == [("0.003", "3"), ("0.01", "3")]
    assert float(rows[1]["test_accuracy_p_vs_baseline"]) < 1
    assert "v1: optim.lr=0.01" in (out / "report.html").read_text()

    # The resumed run ends exactly as the uninterrupted `trainlab run`.
    resumed = resumable[0]
    assert "resume" in (resumed / "events.jsonl").read_text()
    comparison = Comparison.from_json(json.loads((out / "comparison.json").read_text()))
    run = next(r for r in comparison.plan() if r.name == resumed.name)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in the workers: float sums then run in the same order
    try:
        plain = run_recipe(load_recipe(recipe_file, list(run.overrides)), tmp_path / "plain").run_dir
    finally:
        torch.set_num_threads(threads)
    assert strip_seconds(resumed) == strip_seconds(plain)
    ours, theirs = (load_checkpoint(d / "checkpoints" / "epoch-0004.json")[0] for d in (resumed, plain))
    assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in theirs)

    # Two at a time, really: training spans overlap, and never more than two at once.
    all_spans = [s for d in out.glob("v*") for s in spans(d)]
    edges = sorted([(a, 1) for a, _ in all_spans] + [(b, -1) for _, b in all_spans])
    assert max(sum(step for _, step in edges[:i + 1]) for i in range(len(edges))) == 2

    assert main(["compare", "--resume", str(out), "--quiet"]) == 0  # nothing left to run: the table again


def strip_seconds(run_dir: Path) -> list[dict]:
    with open(run_dir / "metrics.csv") as f:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(f)]

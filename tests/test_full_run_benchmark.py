"""benchmarks/full_run.py, in a 1-epoch smoke run: both sides train the same model on the same split."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def test_both_sides_do_the_same_training_and_the_ratios_are_reported(tmp_path, monkeypatch, capsys):
    monkeypatch.syspath_prepend(str(BENCHMARKS))  # full_run imports loop_overhead from its own folder
    spec = importlib.util.spec_from_file_location("full_run", BENCHMARKS / "full_run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path / "full_run.json"
    assert module.main(["--epochs", "1", "--repeats", "1", "--batch-sizes", "1000", "--threads", "1",
                        "--runs-dir", str(tmp_path / "runs"), "--json", str(out)]) == 0
    (row,) = json.loads(out.read_text())["results"]
    # the same split (sklearn's stratified 10 %, seeded as trainlab seeds it), initialization and batch
    # order: the test metrics agree to float rounding, so the timings compare the same work
    trainlab, handwritten = row["final"]["trainlab"], row["final"]["handwritten"]
    assert abs(trainlab["test_accuracy"] - handwritten["test_accuracy"]) < 1e-6
    assert abs(trainlab["test_loss"] - handwritten["test_loss"]) < 1e-6  # 0.0 on CPU; 1e-6 for other kernels
    assert row["median_ratio"] > 0 and row["target"] == 1.30
    assert list((tmp_path / "runs").iterdir()) == []  # each run directory is deleted after its timing
    assert '"median_ratios": {"1000"' in capsys.readouterr().out.splitlines()[-1]

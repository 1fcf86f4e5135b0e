"""`trainlab demo`: the built-in MNIST-1D recipe reaches the issue's 93 % test accuracy."""
from __future__ import annotations

import json
import re

from trainlab.cli import main


def test_demo_reaches_93_percent_and_names_its_report(tmp_path, capsys):
    # Seed 0 of the demo measured 0.952-0.954 (seeds 0–2: 0.952–0.961); 0.93 is an earlier issue's floor,
    # so a failure means a real regression in the loop, the data or the CNN, not seed noise.
    assert main(["demo", "--runs-dir", str(tmp_path), "--quiet"]) == 0
    out = capsys.readouterr().out
    accuracy = float(re.search(r"test accuracy: (0\.\d+)", out).group(1))
    assert accuracy >= 0.93
    run_dir = next(tmp_path.iterdir())
    assert f"report: {run_dir / 'report.html'}" in out
    assert json.loads((run_dir / "run.json").read_text())["status"] == "finished"

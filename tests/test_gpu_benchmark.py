"""benchmarks/gpu.py runs on the CPU (``--device cpu --quick``) as it would on CUDA; no test needs a GPU."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "gpu.py"


def _benchmark():
    spec = importlib.util.spec_from_file_location("gpu_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_quick_cpu_mode_runs_the_loop_and_cnn_parts(tmp_path, capsys):
    out = tmp_path / "gpu.json"
    assert _benchmark().main(["--device", "cpu", "--quick", "--parts", "loop,cnn", "--no-compile",
                              "--json", str(out)]) == 0
    results = json.loads(out.read_text())
    assert [r["batch_size"] for r in results["loop"]] == [100] and results["loop"][0]["ratio"] > 0
    assert [(r["precision"], r["compile"]) for r in results["cnn"]] == [("float32", False), ("bf16", False)]
    assert all(0 <= r["test_accuracy"] <= 1 and r["epochs"] == 2 for r in results["cnn"])
    assert "Trainer / hand-written loop" in capsys.readouterr().out


@pytest.mark.slow  # two `trainlab compare` processes
def test_the_quick_cpu_mode_runs_the_seeds_part(tmp_path):
    out = tmp_path / "gpu.json"
    assert _benchmark().main(["--device", "cpu", "--quick", "--parts", "seeds", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["seeds"][0]["seeds"] == 2


def test_cuda_without_cuda_is_a_one_line_error(capsys):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert _benchmark().main(["--device", "cuda", "--quick"]) == 2
    assert capsys.readouterr().err.startswith("error: --device cuda: CUDA is not available")

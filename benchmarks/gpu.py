"""The GPU benchmark: loop overhead, vectorized seeds, and a CNN with bf16 and torch.compile, on CUDA.

Three parts, each printed as a table (``--json PATH`` also writes them):

  loop   trainlab's Trainer against the hand-written loop of ``benchmarks/loop_overhead.py`` (the MLP
         40-100-100-10, Adam, MNIST-1D), interleaved, median wall time of ``--repeats`` runs per
         batch size; the ratio is the framework's overhead (target ≤ 1.05).
  seeds  ``trainlab compare RECIPE --seeds K`` against ``--seeds 1`` (the real command in a new process,
         the benchmark MLP), as in ``benchmarks/vectorized_seeds.py``: the K seeds train as one batched
         model where the model allows (target ≤ 2× one seed).
  cnn    the demo's 1-D CNN (``trainlab/recipes/demo.yaml``) with ``precision`` float32 and bf16, each
         with and without ``compile``: seconds per epoch (the first epoch, which compiles, reported
         apart) and test accuracy.

Run it whenever a CUDA machine is at hand and record the figures in benchmarks/README.md::

    python benchmarks/gpu.py                              # CUDA, full size
    python benchmarks/gpu.py --device cpu --quick         # the same code on the CPU, in seconds (tested)
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))  # loop_overhead.py beside this file
import loop_overhead

from trainlab.commands.demo import demo_recipe_path
from trainlab.data.datasets import mnist1d
from trainlab.recipe import load_recipe
from trainlab.run import build

PARTS = ("loop", "seeds", "cnn")
SEEDS_RECIPE = {"name": "gpu-seeds", "seed": 0, "data": {"name": "mnist1d", "batch_size": 100},
                "model": {"name": "mlp", "hidden": [100, 100]}, "optim": {"name": "adam", "lr": 1e-3}}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--device", default="cuda", help="torch device: cuda, cuda:1, or cpu")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a check that every part runs")
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated, of: {', '.join(PARTS)}")
    parser.add_argument("--no-compile", action="store_true", help="leave out the compiled CNN variants")
    parser.add_argument("--seeds", type=int, default=10, help="K, the seeds of the vectorized comparison")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each loop per batch size")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON to PATH")
    args = parser.parse_args(argv)
    args.parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = sorted(set(args.parts) - set(PARTS))
    if unknown:
        parser.error(f"--parts: unknown {', '.join(unknown)}; accepted: {', '.join(PARTS)}")
    if args.quick:
        args.seeds, args.repeats = 2, 1
    return args


def _table(title: str, header: list[str], rows: list[list]) -> None:
    print(f"\n{title}")
    widths = [max(len(str(c)) for c in column) for column in zip(header, *rows)]
    for row in [header, *rows]:
        print("  ".join(str(c).rjust(w) for c, w in zip(row, widths)))


def loop_part(device: torch.device, quick: bool, repeats: int) -> list[dict]:
    """Trainer against the hand-written loop; median wall seconds of ``repeats`` interleaved runs."""
    d = mnist1d(seed=0)
    data = tuple(torch.as_tensor(a).to(device) for a in (d.x, d.y, d.x_test, d.y_test))
    epochs, results = (2 if quick else 50), []
    for batch_size in ((100,) if quick else (32, 100, 1000)):
        for run in (loop_overhead.run_trainlab, loop_overhead.run_handwritten):  # warm-up: kernels, allocator
            run(data, batch_size, 1, 0, device)
        wall: dict[str, list[float]] = {"trainlab": [], "handwritten": []}
        for _ in range(repeats):
            wall["trainlab"].append(loop_overhead.run_trainlab(data, batch_size, epochs, 0, device)[0][0])
            wall["handwritten"].append(loop_overhead.run_handwritten(data, batch_size, epochs, 0, device)[0][0])
        a, b = statistics.median(wall["trainlab"]), statistics.median(wall["handwritten"])
        results.append({"batch_size": batch_size, "epochs": epochs, "trainlab_s": a, "handwritten_s": b,
                        "ratio": a / b})
    _table("loop: Trainer / hand-written loop (median wall seconds)", ["batch", "epochs", "trainlab", "hand", "ratio"],
           [[r["batch_size"], r["epochs"], f"{r['trainlab_s']:.2f}", f"{r['handwritten_s']:.2f}", f"{r['ratio']:.3f}"]
            for r in results])
    return results


def _compare_seconds(recipe_file: Path, seeds: int, out: Path, device: str) -> float:
    command = [sys.executable, "-m", "trainlab", "compare", str(recipe_file), "--seeds", str(seeds), "--out", str(out),
               "--quiet", "--set", f"device={device}"]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"error: {' '.join(command)} failed:\n{done.stderr[-3000:]}")
    return time.perf_counter() - started


def seeds_part(device: torch.device, quick: bool, seeds: int) -> list[dict]:
    """``compare --seeds K`` against ``--seeds 1``: wall seconds of the whole command."""
    with tempfile.TemporaryDirectory() as tmp:
        recipe_file = Path(tmp) / "seeds.yaml"
        recipe_file.write_text(yaml.safe_dump({**SEEDS_RECIPE, "stopping": {"epochs": 2 if quick else 50}}))
        one = _compare_seconds(recipe_file, 1, Path(tmp) / "one", device.type)
        many = _compare_seconds(recipe_file, seeds, Path(tmp) / "many", device.type)
    result = {"seeds": seeds, "one_seed_s": one, "k_seeds_s": many, "ratio": many / one}
    _table("seeds: compare --seeds K / --seeds 1 (wall seconds, whole command)", ["K", "1 seed", "K seeds", "ratio"],
           [[seeds, f"{one:.1f}", f"{many:.1f}", f"{result['ratio']:.2f}"]])
    return [result]


def cnn_part(device: torch.device, quick: bool, compile_too: bool) -> list[dict]:
    """The demo's CNN in float32 and bf16, with and without torch.compile."""
    epochs, results = (2 if quick else 30), []
    for precision in ("float32", "bf16"):
        for compiled in ((False, True) if compile_too else (False,)):
            recipe = load_recipe(demo_recipe_path(), [f"device={device.type}", f"precision={precision}",
                                                      f"compile={str(compiled).lower()}", f"stopping.epochs={epochs}"])
            setup = build(recipe)
            history = setup.trainer.fit(setup.train, setup.val, epochs)
            test = setup.trainer.evaluate(setup.test)
            later = [row["seconds"] for row in history[1:]] or [history[0]["seconds"]]
            results.append({"precision": precision, "compile": compiled, "epochs": len(history),
                            "first_epoch_s": history[0]["seconds"], "epoch_s": statistics.median(later),
                            "test_accuracy": test["accuracy"],
                            "compiled": bool(getattr(setup.trainer.forward, "active", False))})
    _table("cnn: the demo's CNN (seconds per epoch: median after the first)",
           ["precision", "compile", "1st epoch", "epoch", "test acc", "compiled"],
           [[r["precision"], r["compile"], f"{r['first_epoch_s']:.3f}", f"{r['epoch_s']:.3f}",
             f"{r['test_accuracy']:.3f}", r["compiled"]] for r in results])
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print(f"error: --device {args.device}: CUDA is not available here; use --device cpu", file=sys.stderr)
        return 2
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else loop_overhead._cpu_name()
    print(f"torch {torch.__version__} | {device} ({name}) | {'quick' if args.quick else 'full'} sizes")
    results: dict = {"device": str(device), "device_name": name, "torch": torch.__version__, "quick": args.quick}
    if "loop" in args.parts:
        results["loop"] = loop_part(device, args.quick, args.repeats)
    if "seeds" in args.parts:
        results["seeds"] = seeds_part(device, args.quick, args.seeds)
    if "cnn" in args.parts:
        results["cnn"] = cnn_part(device, args.quick, not args.no_compile)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

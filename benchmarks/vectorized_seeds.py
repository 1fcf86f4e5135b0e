"""Vectorized seeds: ``trainlab compare --seeds 10`` against ``--seeds 1``, side by side.

The benchmark MLP 40-100-100-10 (ReLU) trained with Adam (lr 1e-3, batch 100) on MNIST-1D for 50
epochs: a comparison of one seed, and one of ``--seeds`` seeds, whose seeds train as one batched
model in one worker (trainlab.tools.vectorized); optionally (``--separate``) the same seeds as one
process each, as before. Every comparison is the real command (``python -m trainlab compare``, a
new process, wall clock from start to exit: imports, data, training, checkpoints, doctor and
reports included), the kinds interleaved within each repeat; the headline is the median over the
repeats of (``--seeds`` seeds) / (1 seed), target ≤ 2.

Then the per-seed check: ``--check`` of the vectorized seeds are trained again as separate runs
(``trainlab.run_recipe`` in this process) and their metrics.csv and checkpoints compared: the
script prints the largest relative difference of a logged value and of a checkpoint tensor
(0 on the CPU: the weights are the separate runs' bits).

    python benchmarks/vectorized_seeds.py                      # 50 epochs, 10 seeds, 3 repeats
    python benchmarks/vectorized_seeds.py --epochs 3 --repeats 1 --check 2   # a quick look
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import yaml

RECIPE = {
    "name": "bench-mlp",
    "seed": 0,
    "data": {"name": "mnist1d", "batch_size": 100},
    "model": {"name": "mlp", "hidden": [100, 100], "activation": "relu"},
    "optim": {"name": "adam", "lr": 1e-3},
    "stopping": {"epochs": 50},
}
TARGET = 2.0


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--epochs", type=_positive, default=50, help="epochs per run")
    parser.add_argument("--seeds", type=_positive, default=10, help="seeds of the vectorized comparison")
    parser.add_argument("--repeats", type=_positive, default=3, help="timed comparisons of each kind")
    parser.add_argument("--workers", type=_positive, default=None, help="compare --workers (default: the cores)")
    parser.add_argument("--separate", action="store_true", help="also time the seeds as one process each")
    parser.add_argument("--check", type=int, default=2, help="vectorized seeds to check against separate runs")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON to PATH")
    return parser.parse_args(argv)


def timed_compare(recipe_file: Path, seeds: int, out: Path, workers: int | None, separate: bool) -> float:
    command = [sys.executable, "-m", "trainlab", "compare", str(recipe_file), "--seeds", str(seeds),
               "--out", str(out), "--quiet"]
    command += (["--workers", str(workers)] if workers else []) + (["--separate"] if separate else [])
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"error: {' '.join(command)} failed:\n{done.stderr}")
    return seconds


def check_against_separate(comparison: Path, seeds: list[int], epochs: int, where: Path) -> dict[str, float]:
    """Largest relative difference of a logged value, and absolute of a checkpoint tensor, between
    the comparison's runs of ``seeds`` and separate runs of them."""
    from trainlab.recipe import load_recipe
    from trainlab.run import run_recipe
    from trainlab.train.checkpoint import load_checkpoint

    worst = {"metrics_rel": 0.0, "checkpoint_abs": 0.0}
    for seed in seeds:
        mine = next(comparison.glob(f"v0-*-seed{seed}"))
        alone = run_recipe(load_recipe({**RECIPE, "seed": seed, "stopping": {"epochs": epochs}}),
                           run_dir=where / f"alone-seed{seed}").run_dir
        with open(mine / "metrics.csv") as a, open(alone / "metrics.csv") as b:
            for row_a, row_b in zip(csv.DictReader(a), csv.DictReader(b), strict=True):
                for key in row_a.keys() - {"seconds"}:
                    x, y = float(row_a[key]), float(row_b[key])
                    worst["metrics_rel"] = max(worst["metrics_rel"], abs(x - y) / max(abs(y), 1e-300))
        for name in sorted(p.stem for p in (alone / "checkpoints").glob("*.json")):
            ta, tb = load_checkpoint(mine / "checkpoints" / name)[0], load_checkpoint(alone / "checkpoints" / name)[0]
            for key in tb:
                diff = (ta[key].double() - tb[key].double()).abs().max().item() if tb[key].numel() else 0.0
                worst["checkpoint_abs"] = max(worst["checkpoint_abs"], diff)
    return worst


def main(argv=None) -> None:
    args = parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # what compare's workers use too
    torch.set_num_threads(1)
    kinds = {"one seed": (1, False), f"{args.seeds} seeds vectorized": (args.seeds, False)}
    if args.separate:
        kinds[f"{args.seeds} seeds separate"] = (args.seeds, True)
    times: dict[str, list[float]] = {kind: [] for kind in kinds}
    with tempfile.TemporaryDirectory(prefix="trainlab-vectorized-") as tmp:
        root = Path(tmp)
        recipe_file = root / "recipe.yaml"
        recipe_file.write_text(yaml.safe_dump({**RECIPE, "stopping": {"epochs": args.epochs}}))
        timed_compare(recipe_file, 2, root / "warm-up", args.workers, False)  # data cache, first imports
        for repeat in range(args.repeats):
            for kind, (seeds, separate) in kinds.items():
                seconds = timed_compare(recipe_file, seeds, root / f"{repeat}-{kind.replace(' ', '-')}",
                                        args.workers, separate)
                times[kind].append(seconds)
                print(f"repeat {repeat + 1}: {kind}: {seconds:.2f} s", flush=True)
        vectorized = root / f"0-{args.seeds}-seeds-vectorized"
        check = check_against_separate(vectorized, list(range(min(args.check, args.seeds))), args.epochs, root)
    medians = {kind: statistics.median(values) for kind, values in times.items()}
    ratio = statistics.median(v / o for v, o in zip(times[f"{args.seeds} seeds vectorized"], times["one seed"]))
    print(f"\nMLP 40-100-100-10, Adam, MNIST-1D, batch 100, {args.epochs} epochs; "
          f"{os.cpu_count()} CPUs, torch {torch.__version__}")
    for kind, median in medians.items():
        print(f"  {kind:>24}: {median:7.2f} s (median of {args.repeats})")
    print(f"ratio {args.seeds} seeds vectorized / one seed: {ratio:.2f} (target ≤ {TARGET})")
    print(f"vectorized seeds vs separate runs: metrics ≤ {check['metrics_rel']:.2g} relative, "
          f"checkpoint tensors ≤ {check['checkpoint_abs']:.2g} absolute")
    if args.json:
        Path(args.json).write_text(json.dumps({"times": times, "medians": medians, "ratio": ratio, "check": check,
                                               "epochs": args.epochs, "seeds": args.seeds}, indent=1))


if __name__ == "__main__":
    main()

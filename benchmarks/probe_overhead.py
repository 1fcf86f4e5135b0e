"""Probe overhead: the same recipe trained with and without ``diagnose`` (probes at the default interval).

For each model (MNIST-1D MLP 40-100-100-10 and the MNIST-1D paper's cnn1d, both ReLU, Adam) and
batch size, two runs alternate within every repeat, each built from the same recipe and seed:

  plain   ``build(recipe)`` then ``trainer.fit(train, val, epochs)``
  probed  the same with ``diagnose: {every: DEFAULT}`` (hooks, statistics, one read-back per epoch,
          probes.csv and probe_histograms.json written to a temporary run directory)

The headline figure is the median of the per-pair ratios probed / plain (run i of each, one right
after the other); the target is ≤ 1.10. On a shared CPU, where other processes stretch single runs
at random, the ratio of the two *fastest* CPU times is printed too: contention only ever adds time,
so the minima are the steadiest estimate of the work itself. Both runs must end with bit-identical weights (probes draw
no random numbers and do not change the training arithmetic); the script checks it. Only ``fit``
is timed, not the data loading in ``build``. Run ``python benchmarks/probe_overhead.py --help``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from trainlab.diagnose.probes import Probes
from trainlab.recipe import DEFAULT_PROBE_EVERY, load_recipe
from trainlab.run import build

TARGET_RATIO = 1.10
MODELS = {
    "mlp": {"name": "mlp", "hidden": [100, 100], "activation": "relu", "init": "he"},
    "cnn1d": {"name": "cnn1d", "channels": 25, "activation": "relu"},
}


def _recipe(model: str, batch_size: int, epochs: int, seed: int, device: str, every: int | None) -> dict:
    recipe = {"name": f"bench-{model}", "seed": seed, "device": device,
              "data": {"name": "mnist1d", "batch_size": batch_size, "preprocess": "zscore"},
              "model": MODELS[model], "optim": {"name": "adam", "lr": 1e-3}, "stopping": {"epochs": epochs}}
    if every is not None:
        recipe["diagnose"] = {"every": every}
    return recipe


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_run(recipe: dict, run_dir: Path) -> tuple[float, float, dict[str, torch.Tensor]]:
    """Wall and CPU seconds of one ``fit`` of ``recipe``, and the final weights."""
    setup = build(load_recipe(recipe))
    for callback in setup.trainer.callbacks:
        if isinstance(callback, Probes):
            callback.run_dir = run_dir
    _sync(setup.device)
    started, cpu_started = time.perf_counter(), time.process_time()
    setup.trainer.fit(setup.train, setup.val, recipe["stopping"]["epochs"])
    _sync(setup.device)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    return seconds, cpu_seconds, {k: v.detach().cpu().clone() for k, v in setup.model.state_dict().items()}


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Time training with and without probes (diagnose) on MNIST-1D, interleaved, and print "
                    "the median probed/plain time ratio per model and batch size.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--models", default="mlp,cnn1d", help=f"comma-separated, of: {', '.join(MODELS)}")
    parser.add_argument("--batch-sizes", default="32,100", help="comma-separated batch sizes")
    parser.add_argument("--every", type=_positive, default=DEFAULT_PROBE_EVERY, help="probe interval in steps")
    parser.add_argument("--epochs", type=_positive, default=20, help="epochs per training run")
    parser.add_argument("--repeats", type=_positive, default=5, help="timed pairs per model and batch size")
    parser.add_argument("--device", default="cpu", help="the recipes' device: cpu, cuda or mps")
    parser.add_argument("--threads", type=_positive, default=None,
                        help="call torch.set_num_threads(THREADS) first; unset: torch's own default")
    parser.add_argument("--seed", type=int, default=0, help="recipe seed")
    parser.add_argument("--json", metavar="PATH", default=None, help="also write the results as JSON to PATH")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    models = [m for m in args.models.split(",") if m]
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        print(f"error: --models: unknown {unknown}; accepted: {', '.join(MODELS)}", file=sys.stderr)
        return 2
    batch_sizes = [int(b) for b in args.batch_sizes.split(",") if b]
    print(f"torch {torch.__version__} | device {args.device} | threads {torch.get_num_threads()} "
          f"(of {os.cpu_count()} cores) | python {platform.python_version()}")
    print(f"MNIST-1D, Adam lr 1e-3, {args.epochs} epochs, {args.repeats} pairs, probes every {args.every} steps "
          "and at each epoch's first step, default histograms")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for model in models:
            for batch_size in batch_sizes:
                plain = _recipe(model, batch_size, args.epochs, args.seed, args.device, None)
                probed = _recipe(model, batch_size, args.epochs, args.seed, args.device, args.every)
                time_run({**plain, "stopping": {"epochs": 1}}, Path(tmp))  # warm-up
                time_run({**probed, "stopping": {"epochs": 1}}, Path(tmp))
                times: dict[str, list[float]] = {"plain": [], "probed": []}
                cpu: dict[str, list[float]] = {"plain": [], "probed": []}
                identical = True
                for _ in range(args.repeats):  # interleaved: plain, probed, plain, probed, ...
                    finals = {}
                    for way, recipe in (("plain", plain), ("probed", probed)):
                        seconds, cpu_seconds, finals[way] = time_run(recipe, Path(tmp))
                        times[way].append(seconds)
                        cpu[way].append(cpu_seconds)
                    identical &= all(torch.equal(finals["plain"][k], finals["probed"][k]) for k in finals["plain"])
                ratios = [p / q for p, q in zip(times["probed"], times["plain"])]
                cpu_ratios = [p / q for p, q in zip(cpu["probed"], cpu["plain"])]
                row = {"model": model, "batch_size": batch_size, "seconds": times, "cpu_seconds": cpu,
                       "ratios": ratios, "cpu_ratios": cpu_ratios, "median_ratio": statistics.median(ratios),
                       "median_cpu_ratio": statistics.median(cpu_ratios),
                       "min_cpu_ratio": min(cpu["probed"]) / min(cpu["plain"]), "identical_weights": identical,
                       "median_seconds": {k: statistics.median(v) for k, v in times.items()}}
                results.append(row)
                print(f"{model:>6} batch {batch_size:>4}: median s plain {row['median_seconds']['plain']:.3f} "
                      f"probed {row['median_seconds']['probed']:.3f} | pairs {' '.join(f'{r:.3f}' for r in ratios)} "
                      f"| median {row['median_ratio']:.3f} (CPU time {row['median_cpu_ratio']:.3f}, "
                      f"fastest {row['min_cpu_ratio']:.3f}) "
                      f"| weights identical: {identical}", flush=True)
    print("\n| model | batch | plain s | probed s | probed / plain (wall) | (CPU time) | (fastest CPU times) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in results:
        m = r["median_seconds"]
        print(f"| {r['model']} | {r['batch_size']} | {m['plain']:.3f} | {m['probed']:.3f} | {r['median_ratio']:.3f} "
              f"| {r['median_cpu_ratio']:.3f} | {r['min_cpu_ratio']:.3f} |")
    worst = max(r["median_ratio"] for r in results)
    print(f"\nworst median probed/plain ratio {worst:.3f} "
          f"({'within' if worst <= TARGET_RATIO else 'ABOVE'} the target {TARGET_RATIO:.2f}); "
          f"worst ratio of the fastest CPU times {max(r['min_cpu_ratio'] for r in results):.3f}")
    print("(seconds: median wall time of one fit; ratios: median of the per-pair ratios; fastest: "
          "min probed CPU time / min plain CPU time)")
    if args.json:
        Path(args.json).write_text(json.dumps({"every": args.every, "epochs": args.epochs, "repeats": args.repeats,
                                               "threads": torch.get_num_threads(), "torch": torch.__version__,
                                               "results": results}, indent=1))
    print("RESULT " + json.dumps({f"{r['model']}/{r['batch_size']}": round(r["median_ratio"], 4) for r in results}))
    return 0 if all(r["identical_weights"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())

"""Full-run overhead: ``trainlab.run_recipe`` against a hand-written PyTorch script doing the same job.

Both sides start from the MNIST-1D arrays on disk and end with a trained MLP 40-100-100-10 (Adam,
lr 1e-3) and its test metrics, in one process, alternating (the order flips every repeat):

  trainlab      ``trainlab.run_recipe(recipe)`` with the default recipe settings: a 10 % validation
                split evaluated each epoch, a checkpoint every 5 epochs and at the end, the live doctor,
                the test split, the final weights evaluated on the training split, findings.json and
                report.html, all in a new run directory.
  hand-written  ``mnist1d`` from the same cache, sklearn's ``train_test_split`` (the same stratified 10 %,
                seeded as trainlab seeds it), tensors on the device, then the loop of
                ``loop_overhead.py``: a per-epoch ``randperm``, loss sum and correct count on the device,
                validation loss and accuracy every epoch under ``no_grad``; the test split once at the end.
                It writes nothing to disk.

The ratio trainlab / hand-written is what a run's fixed costs (run directory, checkpoints, doctor,
report) add to the loop itself, whose own overhead ``loop_overhead.py`` measures. Printed per batch size:
the median of the per-pair ratios and the ratio of the two minima (contention only ever adds time, so
the minima are the steadiest estimate on a shared machine). Run ``--help`` for the options.
"""
from __future__ import annotations

import argparse
import datetime
import gc
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from loop_overhead import HIDDEN, LR, _batch_sizes, _cpu_name, _fresh, _positive, _sync, hand_written_epoch
from sklearn.model_selection import train_test_split
from torch.nn import functional as F

from trainlab.data.datasets import mnist1d
from trainlab.recipe import load_recipe
from trainlab.run import run_recipe

TARGETS = {100: 1.15, 1000: 1.30}  # issue 16 point 4: trainlab / hand-written at these batch sizes
VAL_FRACTION = 0.1  # the recipe default (trainlab.recipe.DataSpec.val_fraction)
WAYS = ("trainlab", "handwritten")


def recipe(batch_size: int, epochs: int, seed: int, device: str):
    """The benchmark MLP with every other setting left at the recipe defaults."""
    return load_recipe({"name": "full-run-bench", "seed": seed, "device": device,
                        "data": {"name": "mnist1d", "batch_size": batch_size},
                        "model": {"name": "mlp", "hidden": HIDDEN}, "optim": {"name": "adam", "lr": LR},
                        "stopping": {"epochs": epochs}})


def run_trainlab(batch_size: int, epochs: int, seed: int, device: torch.device, runs_dir: Path):
    spec = recipe(batch_size, epochs, seed, str(device))
    gc.collect()
    _sync(device)
    started, cpu_started = time.perf_counter(), time.process_time()
    result = run_recipe(spec, runs_dir=runs_dir)
    _sync(device)
    seconds = (time.perf_counter() - started, time.process_time() - cpu_started)
    shutil.rmtree(result.run_dir)  # outside the timing: the next run starts from an empty folder
    return seconds, {k: result.test[k] for k in ("test_loss", "test_accuracy")}


def _evaluate(model, x, y, batch_size: int, device: torch.device) -> tuple[float, float]:
    model.eval()
    with torch.no_grad():
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device)
        for start in range(0, len(x), batch_size):
            xb, yb = x[start : start + batch_size], y[start : start + batch_size]
            out = model(xb)
            loss_sum.add_(F.cross_entropy(out, yb), alpha=len(yb))
            correct.add_((out.argmax(1) == yb).sum())
        loss, acc = torch.stack([loss_sum, correct]).div_(len(x)).tolist()
    return loss, acc


def run_handwritten(batch_size: int, epochs: int, seed: int, device: torch.device, runs_dir: Path):
    gc.collect()
    _sync(device)
    started, cpu_started = time.perf_counter(), time.process_time()
    data = mnist1d(seed=seed)
    x_train, x_val, y_train, y_val = train_test_split(data.x, data.y, test_size=VAL_FRACTION,
                                                      random_state=seed + 1, stratify=data.y)
    x, y, x_val, y_val, x_test, y_test = (torch.as_tensor(a).to(device) for a in
                                          (x_train, y_train, x_val, y_val, data.x_test, data.y_test))
    model, optimizer = _fresh(seed, device)
    history = []
    for epoch in range(epochs):
        history.append((*hand_written_epoch(model, optimizer, x, y, batch_size, seed, epoch, device),  # loss, accuracy
                        *_evaluate(model, x_val, y_val, batch_size, device)))  # validation loss, accuracy
    test_loss, test_acc = _evaluate(model, x_test, y_test, batch_size, device)
    _sync(device)
    seconds = (time.perf_counter() - started, time.process_time() - cpu_started)
    return seconds, {"test_loss": test_loss, "test_accuracy": test_acc}


RUNNERS = {"trainlab": run_trainlab, "handwritten": run_handwritten}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Time a full trainlab.run_recipe (validation, checkpoints, doctor, test, report) against a "
        "hand-written PyTorch script doing the same training and evaluation (MLP 40-100-100-10, Adam, MNIST-1D), "
        "alternating in one process, and print the time ratios.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--epochs", type=_positive, default=50, help="epochs per training run")
    parser.add_argument("--repeats", type=_positive, default=5, help="timed runs of each side per batch size")
    parser.add_argument("--batch-sizes", type=_batch_sizes, default="32,100,1000",
                        help="comma-separated batch sizes (training and evaluation)")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu, cuda")
    parser.add_argument("--threads", type=_positive, default=None,
                        help="call torch.set_num_threads(THREADS) first; unset: torch's own default")
    parser.add_argument("--seed", type=int, default=0, help="seed of the split, model init and batch order")
    parser.add_argument("--runs-dir", default=None,
                        help="where trainlab's run directories go (each is deleted after its run); default: a "
                        "temporary folder. Put it on the disk you train on: checkpoints are fsync'd")
    parser.add_argument("--json", metavar="PATH", default=None, help="also write the results as JSON to PATH")
    return parser.parse_args(argv)


def _pairs(args, device: torch.device, runs_dir: Path, batch_size: int) -> dict:
    for way in WAYS:  # warm-up: allocator, kernels, lazy imports, the data cache
        RUNNERS[way](batch_size, min(args.epochs, 2), args.seed, device, runs_dir)
    wall: dict[str, list[float]] = {way: [] for way in WAYS}
    cpu: dict[str, list[float]] = {way: [] for way in WAYS}
    finals: dict[str, dict] = {}
    for repeat in range(args.repeats):
        for way in WAYS if repeat % 2 == 0 else WAYS[::-1]:  # who goes first alternates
            (seconds, cpu_seconds), finals[way] = RUNNERS[way](batch_size, args.epochs, args.seed, device, runs_dir)
            wall[way].append(seconds)
            cpu[way].append(cpu_seconds)
    ratios = [a / b for a, b in zip(wall["trainlab"], wall["handwritten"])]
    return {
        "batch_size": batch_size,
        "seconds": wall,
        "cpu_seconds": cpu,
        "median_seconds": {way: statistics.median(t) for way, t in wall.items()},
        "min_seconds": {way: min(t) for way, t in wall.items()},
        "ratios": ratios,
        "median_ratio": statistics.median(ratios),
        "min_ratio": min(wall["trainlab"]) / min(wall["handwritten"]),
        "cpu_min_ratio": min(cpu["trainlab"]) / min(cpu["handwritten"]),
        "cpu_median_ratio": statistics.median(a / b for a, b in zip(cpu["trainlab"], cpu["handwritten"])),
        "fixed_cost_s": min(wall["trainlab"]) - min(wall["handwritten"]),
        "target": TARGETS.get(batch_size),
        "final": finals,
    }


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print(f"error: device {args.device} requested but CUDA is not available", file=sys.stderr)
        return 2
    device_name = torch.cuda.get_device_name(device) if device.type == "cuda" else _cpu_name()
    print(f"torch {torch.__version__} | device {device} ({device_name}) | threads {torch.get_num_threads()} "
          f"(of {os.cpu_count()} cores) | python {platform.python_version()} | load average "
          f"{' '.join(f'{v:.1f}' for v in os.getloadavg())}")
    print(f"MLP 40-{'-'.join(map(str, HIDDEN))}-10, Adam lr {LR:g}, MNIST-1D, {args.epochs} epochs, "
          f"{args.repeats} repeats, seed {args.seed}")
    temporary = tempfile.TemporaryDirectory(prefix="full-run-") if args.runs_dir is None else None
    runs_dir = Path(args.runs_dir or temporary.name)
    results = []
    try:
        for batch_size in args.batch_sizes:
            row = _pairs(args, device, runs_dir, batch_size)
            results.append(row)
            m = row["median_seconds"]
            print(f"batch {batch_size:>5}: median s trainlab {m['trainlab']:.3f}  hand-written {m['handwritten']:.3f}"
                  f" | pairs {' '.join(f'{r:.3f}' for r in row['ratios'])} | test accuracy trainlab "
                  f"{row['final']['trainlab']['test_accuracy']:.3f} hand-written "
                  f"{row['final']['handwritten']['test_accuracy']:.3f}", flush=True)
    finally:
        if temporary is not None:
            temporary.cleanup()

    print("\n| batch | trainlab s | hand-written s | **median ratio** | ratio of minima | median CPU ratio "
          "| fixed cost s | target |")
    print("|------:|-----------:|---------------:|-----------------:|----------------:|-----------------:"
          "|-------------:|-------:|")
    for r in results:
        m, target = r["median_seconds"], r["target"]
        print(f"| {r['batch_size']} | {m['trainlab']:.3f} | {m['handwritten']:.3f} | **{r['median_ratio']:.3f}** "
              f"| {r['min_ratio']:.3f} | {r['cpu_median_ratio']:.3f} | {r['fixed_cost_s']:+.3f} "
              f"| {f'≤ {target:.2f}' if target else '–'} |")
    print("(seconds: median wall time of one whole run; median ratios: of the per-pair ratios of wall and of CPU "
          "time (all threads); fixed cost: fastest trainlab run − fastest hand-written run)")
    for r in results:
        if r["target"]:
            verdict = "within" if r["median_ratio"] <= r["target"] else "ABOVE"
            print(f"batch {r['batch_size']}: median ratio {r['median_ratio']:.3f} {verdict} the target "
                  f"{r['target']:.2f}")

    summary = {"benchmark": "full_run", "date": datetime.datetime.now().isoformat(timespec="seconds"),
               "torch": torch.__version__, "python": platform.python_version(), "device": str(device),
               "device_name": device_name, "threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
               "load_average": os.getloadavg(), "epochs": args.epochs, "repeats": args.repeats, "seed": args.seed,
               "results": results}
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2))
    print("RESULT " + json.dumps({
        "device": str(device), "threads": summary["threads"], "epochs": args.epochs, "repeats": args.repeats,
        "median_ratios": {str(r["batch_size"]): round(r["median_ratio"], 4) for r in results},
        "min_ratios": {str(r["batch_size"]): round(r["min_ratio"], 4) for r in results},
        "median_seconds": {str(r["batch_size"]): {k: round(v, 4) for k, v in r["median_seconds"].items()}
                           for r in results}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

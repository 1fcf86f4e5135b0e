"""Loop overhead: trainlab's ``Trainer`` against a minimal hand-written PyTorch loop.

The same MLP 40-100-100-10 is trained with Adam (lr 1e-3) on MNIST-1D (4000 training
examples; the 1000 test examples are the validation set, evaluated once per epoch) in three
ways, interleaved within every repeat, each from the same seed with a fresh model:

  A  trainlab: ``Trainer(..., metrics={"accuracy": ...}).fit(TensorBatches, TensorBatches, epochs)``
  B  hand-written: the same work written out by hand -- the whole data as tensors on the
     device, a per-epoch ``torch.randperm`` and batches by index; per step forward,
     cross_entropy, zero_grad(set_to_none=True), backward, step; the training loss sum and
     correct count accumulated on the device, read once per epoch; validation loss and
     accuracy once per epoch under no_grad in eval mode.
  C  bare: forward, cross_entropy, zero_grad, backward, step -- no metrics, no validation.

A/B is the framework's overhead (both loops do the same arithmetic on the same batches; the
script prints how closely their final metrics agree, 0 on CPU). A/C also includes the cost of the metrics and of validation and is
printed for transparency only. Run ``python benchmarks/loop_overhead.py --help`` for options.
"""
from __future__ import annotations

import argparse
import datetime
import gc
import json
import os
import platform
import statistics
import sys
import time

import torch
from torch.nn import functional as F

from trainlab.data.batching import TensorBatches
from trainlab.data.datasets import mnist1d
from trainlab.nn.models import mlp
from trainlab.train.metrics import accuracy
from trainlab.train.trainer import Trainer

LR = 1e-3
HIDDEN = [100, 100]
TARGET_RATIO = 1.10
WAYS = ("trainlab", "handwritten", "bare")


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "cpu"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _fresh(seed: int, device: torch.device):
    torch.manual_seed(seed)
    model = mlp(input_shape=(40,), n_outputs=10, hidden=HIDDEN).to(device)
    return model, torch.optim.Adam(model.parameters(), lr=LR)


def _order(n: int, seed: int, epoch: int, device: torch.device) -> torch.Tensor:
    """Epoch ``epoch``'s permutation: the same orders as ``TensorBatches(seed=seed)``, so that
    all three loops see identical batches and their results can be compared."""
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=generator).to(device)


def hand_written_epoch(model, optimizer, x, y, batch_size: int, seed: int, epoch: int,
                       device: torch.device) -> list[float]:
    """One epoch of the hand-written loop (what a user writes in plain PyTorch): mean training loss
    and accuracy, read back once at the end."""
    n = len(x)
    model.train()
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device)
    order = _order(n, seed, epoch, device)
    for start in range(0, n, batch_size):
        index = order[start : start + batch_size]
        xb, yb = x[index], y[index]
        out = model(xb)
        loss = F.cross_entropy(out, yb)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        loss_sum.add_(loss.detach(), alpha=len(yb))
        correct.add_((out.argmax(1) == yb).sum())
    return torch.stack([loss_sum, correct]).div_(n).tolist()


def run_trainlab(data, batch_size: int, epochs: int, seed: int, device: torch.device):
    x, y, x_val, y_val = data
    model, optimizer = _fresh(seed, device)
    _sync(device)
    gc.collect()
    started, cpu_started = time.perf_counter(), time.process_time()
    trainer = Trainer(model, optimizer, F.cross_entropy, metrics={"accuracy": accuracy()})
    history = trainer.fit(
        TensorBatches(x, y, batch_size=batch_size, shuffle=True, seed=seed),
        TensorBatches(x_val, y_val, batch_size=batch_size, shuffle=False),
        epochs=epochs,
    )
    _sync(device)
    seconds = (time.perf_counter() - started, time.process_time() - cpu_started)
    last = history[-1]
    return seconds, {k: last[k] for k in ("loss", "accuracy", "val_loss", "val_accuracy")}


def run_handwritten(data, batch_size: int, epochs: int, seed: int, device: torch.device):
    x, y, x_val, y_val = data
    model, optimizer = _fresh(seed, device)
    n_val = len(x_val)
    _sync(device)
    gc.collect()
    started, cpu_started = time.perf_counter(), time.process_time()
    for epoch in range(epochs):
        train_loss, train_acc = hand_written_epoch(model, optimizer, x, y, batch_size, seed, epoch, device)
        model.eval()
        with torch.no_grad():
            val_loss_sum = torch.zeros((), device=device)
            val_correct = torch.zeros((), device=device)
            for start in range(0, n_val, batch_size):
                xb, yb = x_val[start : start + batch_size], y_val[start : start + batch_size]
                out = model(xb)
                val_loss_sum.add_(F.cross_entropy(out, yb), alpha=len(yb))
                val_correct.add_((out.argmax(1) == yb).sum())
            val_loss, val_acc = torch.stack([val_loss_sum, val_correct]).div_(n_val).tolist()
    _sync(device)
    seconds = (time.perf_counter() - started, time.process_time() - cpu_started)
    return seconds, {"loss": train_loss, "accuracy": train_acc, "val_loss": val_loss, "val_accuracy": val_acc}


def run_bare(data, batch_size: int, epochs: int, seed: int, device: torch.device):
    x, y, _, _ = data
    model, optimizer = _fresh(seed, device)
    n = len(x)
    _sync(device)
    gc.collect()
    started, cpu_started = time.perf_counter(), time.process_time()
    model.train()
    for epoch in range(epochs):
        order = _order(n, seed, epoch, device)
        for start in range(0, n, batch_size):
            index = order[start : start + batch_size]
            xb, yb = x[index], y[index]
            loss = F.cross_entropy(model(xb), yb)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    _sync(device)
    seconds = (time.perf_counter() - started, time.process_time() - cpu_started)
    return seconds, {"last_batch_loss": loss.item()}


RUNNERS = {"trainlab": run_trainlab, "handwritten": run_handwritten, "bare": run_bare}


def _batch_sizes(text: str) -> list[int]:
    try:
        sizes = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not sizes or any(s < 1 for s in sizes):
        raise argparse.ArgumentTypeError(f"batch sizes must be positive integers, got {text!r}")
    return sizes


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Time trainlab's Trainer against a minimal hand-written PyTorch loop doing the same "
        "work (MLP 40-100-100-10, Adam, MNIST-1D), interleaved, and print the per-pair time ratios.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--epochs", type=_positive, default=50, help="epochs per training run")
    parser.add_argument("--repeats", type=_positive, default=5, help="timed runs of each loop per batch size")
    parser.add_argument("--batch-sizes", type=_batch_sizes, default="32,100,1000",
                        help="comma-separated batch sizes (training and validation)")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu, cuda, cuda:1")
    parser.add_argument("--threads", type=_positive, default=None,
                        help="call torch.set_num_threads(THREADS) first; unset: torch's own default")
    parser.add_argument("--seed", type=int, default=0, help="seed for model init and batch order")
    parser.add_argument("--json", metavar="PATH", default=None, help="also write the results as JSON to PATH")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print(f"error: device {args.device} requested but CUDA is not available", file=sys.stderr)
        return 2

    d = mnist1d(seed=0)
    data = tuple(torch.as_tensor(a).to(device) for a in (d.x, d.y, d.x_test, d.y_test))
    device_name = torch.cuda.get_device_name(device) if device.type == "cuda" else _cpu_name()
    print(f"torch {torch.__version__} | device {device} ({device_name}) | threads {torch.get_num_threads()} "
          f"(of {os.cpu_count()} cores) | python {platform.python_version()}")
    print(f"MLP 40-{'-'.join(map(str, HIDDEN))}-10, Adam lr {LR:g}, MNIST-1D train {len(d.x)} / val {len(d.x_test)}, "
          f"{args.epochs} epochs, {args.repeats} repeats, seed {args.seed}")

    if device.type == "cpu" and torch.get_num_threads() > 1:
        print("note: with more than one thread on a shared CPU, a busy core can stall torch's OpenMP "
              "threads and swing single runs by 10x or more; --threads 1 gives steadier timings", file=sys.stderr)

    results = []
    for batch_size in args.batch_sizes:
        steps = args.epochs * -(-len(d.x) // batch_size)
        # Warm-up: one short run of each loop (allocator, kernels, lazy imports).
        for way in WAYS:
            RUNNERS[way](data, batch_size, min(args.epochs, 2), args.seed, device)
        wall: dict[str, list[float]] = {way: [] for way in WAYS}
        cpu: dict[str, list[float]] = {way: [] for way in WAYS}
        finals: dict[str, dict] = {}
        for _ in range(args.repeats):
            for way in WAYS:  # interleaved: A, B, C, A, B, C, ...
                (seconds, cpu_seconds), final = RUNNERS[way](data, batch_size, args.epochs, args.seed, device)
                wall[way].append(seconds)
                cpu[way].append(cpu_seconds)
                finals[way] = final
        ratio_hw = [a / b for a, b in zip(wall["trainlab"], wall["handwritten"])]
        ratio_bare = [a / c for a, c in zip(wall["trainlab"], wall["bare"])]
        cpu_ratio_hw = [a / b for a, b in zip(cpu["trainlab"], cpu["handwritten"])]
        medians = {way: statistics.median(t) for way, t in wall.items()}
        # Both loops do the same arithmetic on the same batches, so their results must agree.
        mismatch = max(abs(finals["trainlab"][k] - finals["handwritten"][k]) for k in finals["handwritten"])
        row = {
            "batch_size": batch_size,
            "steps": steps,
            "seconds": wall,
            "cpu_seconds": cpu,
            "median_seconds": medians,
            "ratio_trainlab_handwritten": ratio_hw,
            "ratio_trainlab_bare": ratio_bare,
            "cpu_ratio_trainlab_handwritten": cpu_ratio_hw,
            "median_ratio_trainlab_handwritten": statistics.median(ratio_hw),
            "median_ratio_trainlab_bare": statistics.median(ratio_bare),
            "median_cpu_ratio_trainlab_handwritten": statistics.median(cpu_ratio_hw),
            "overhead_us_per_step": 1e6 * statistics.median(
                a - b for a, b in zip(wall["trainlab"], wall["handwritten"])) / steps,
            "final_trainlab": finals["trainlab"],
            "final_handwritten": finals["handwritten"],
            "max_abs_diff_final_metrics": mismatch,
        }
        results.append(row)
        if mismatch > 1e-3:
            print(f"warning: trainlab and the hand-written loop ended {mismatch:.2e} apart; they should do the "
                  "same arithmetic", file=sys.stderr)
        print(f"batch {batch_size:>5}: median s trainlab {medians['trainlab']:.3f}  hand-written "
              f"{medians['handwritten']:.3f}  bare {medians['bare']:.3f} | trainlab/hand-written pairs "
              f"{' '.join(f'{r:.3f}' for r in ratio_hw)} | trainlab/bare pairs "
              f"{' '.join(f'{r:.3f}' for r in ratio_bare)} | final metrics agree to {mismatch:.1e}", flush=True)

    print()
    print("| batch | steps | trainlab s | hand-written s | bare s | trainlab / hand-written | trainlab / bare "
          "| overhead µs/step |")
    print("|------:|------:|-----------:|---------------:|-------:|------------------------:|----------------:"
          "|-----------------:|")
    for r in results:
        m = r["median_seconds"]
        print(f"| {r['batch_size']} | {r['steps']} | {m['trainlab']:.3f} | {m['handwritten']:.3f} | {m['bare']:.3f} "
              f"| {r['median_ratio_trainlab_handwritten']:.3f} | {r['median_ratio_trainlab_bare']:.3f} "
              f"| {r['overhead_us_per_step']:+.1f} |")
    print("(seconds: median wall time of one training run; ratios: median of the per-pair ratios "
          "(run i of trainlab / run i of the other); overhead: median of "
          "the per-pair differences trainlab - hand-written, per training step)")
    worst = max(r["median_ratio_trainlab_handwritten"] for r in results)
    print(f"\nworst median trainlab/hand-written ratio {worst:.3f} "
          f"({'within' if worst <= TARGET_RATIO else 'ABOVE'} the target {TARGET_RATIO:.2f})")

    summary = {
        "benchmark": "loop_overhead",
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "device": str(device),
        "device_name": device_name,
        "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "epochs": args.epochs,
        "repeats": args.repeats,
        "seed": args.seed,
        "target_ratio": TARGET_RATIO,
        "worst_median_ratio": worst,
        "results": results,
    }
    if args.json:
        with open(args.json, "w") as f:
            json.dump(summary, f, indent=2)
    # Machine-readable last line: one JSON object with the medians per batch size.
    print("RESULT " + json.dumps({
        "torch": summary["torch"], "device": summary["device"], "threads": summary["threads"],
        "epochs": args.epochs, "repeats": args.repeats,
        "ratios": {str(r["batch_size"]): round(r["median_ratio_trainlab_handwritten"], 4) for r in results},
        "ratios_bare": {str(r["batch_size"]): round(r["median_ratio_trainlab_bare"], 4) for r in results},
        "median_seconds": {str(r["batch_size"]): {k: round(v, 4) for k, v in r["median_seconds"].items()}
                           for r in results},
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())

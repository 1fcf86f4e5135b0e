"""``trainlab predict RUN_DIR DATA``: predictions of a trained run for new inputs, to a CSV file."""
from __future__ import annotations

import argparse
import csv
import io
from pathlib import Path

import numpy as np

from trainlab.errors import TrainlabError
from trainlab.predict import MCPrediction, Predictor
from trainlab.train.checkpoint import atomic_write


def _read_csv(path: Path) -> np.ndarray:
    with open(path, newline="") as f:
        rows = [row for row in csv.reader(f) if row]
    if rows:
        try:
            [float(v) for v in rows[0]]
        except ValueError:
            rows = rows[1:]  # a header line
    values = []
    for line, row in enumerate(rows, start=1):
        try:
            values.append([float(v) for v in row])
        except ValueError:
            raise TrainlabError(f"DATA {path}: row {line} has a value that is not a number: {row}") from None
    if not values or len({len(r) for r in values}) != 1:
        raise TrainlabError(f"DATA {path}: expected rows of numbers with the same number of columns")
    return np.asarray(values, dtype=np.float32)


def read_inputs(path: str | Path, key: str | None = None) -> np.ndarray:
    """Inputs from a .npy array, a .npz archive (array ``key``, else ``x``, else its only array) or a .csv
    file (one example per row; a header line is skipped)."""
    path = Path(path)
    if not path.is_file():
        raise TrainlabError(f"DATA {path}: no such file")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _read_csv(path)
    if suffix not in (".npy", ".npz"):
        raise TrainlabError(f"DATA {path}: suffix '{suffix}' is not supported; give a .npy, .npz or .csv file")
    try:
        loaded = np.load(path, allow_pickle=False)
    except ValueError as e:
        raise TrainlabError(f"DATA {path}: cannot be read as {suffix} without unpickling: {e}") from None
    if suffix == ".npy":
        return loaded
    with loaded:
        names = list(loaded.keys())
        name = key or ("x" if "x" in names else names[0] if len(names) == 1 else None)
        if name not in names:
            raise TrainlabError(f"DATA {path}: choose the array with --key; it holds {', '.join(names) or 'none'}")
        return loaded[name]


def prediction_table(predictor: Predictor, result: np.ndarray | MCPrediction) -> tuple[list[str], list[list]]:
    """CSV header and rows: p_<class> (or mean_/std_ with MC dropout) and the predicted class; for
    regression one column per target (y, or y0, y1, …)."""
    mc = isinstance(result, MCPrediction)
    values = result.mean if mc else result
    names = predictor.class_names if predictor.task == "classification" else (
        ["y"] if values.shape[1] == 1 else [f"y{i}" for i in range(values.shape[1])])
    if predictor.task == "classification":
        header = [f"mean_p_{n}" for n in names] + [f"std_p_{n}" for n in names] if mc else [f"p_{n}" for n in names]
    else:
        header = [f"mean_{n}" for n in names] + [f"std_{n}" for n in names] if mc else list(names)
    columns = np.concatenate([result.mean, result.std], axis=1) if mc else values
    rows = [[f"{v:.6g}" for v in row] for row in columns]
    if predictor.task == "classification":
        header.append("predicted")
        for row, index in zip(rows, values.argmax(axis=1)):
            row.append(names[index])
    return header, rows


def cmd_predict(args: argparse.Namespace) -> None:
    data = Path(args.data)
    out = Path(args.out) if args.out else data.with_name(f"{data.stem}.predictions.csv")
    if out.resolve() == data.resolve():
        raise TrainlabError(f"--out {out}: that is the input file; choose another name")
    predictor = Predictor(args.run_dir, args.checkpoint)
    x = read_inputs(data, args.key)
    result = predictor.predict(x, mc_samples=args.mc, seed=args.seed)
    header, rows = prediction_table(predictor, result)
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(header)
    writer.writerows(rows)
    atomic_write(out, text.getvalue().encode())
    how = f" (MC dropout, {args.mc} passes: mean and std)" if args.mc else ""
    print(f"wrote {len(rows)} predictions{how} to {out}")


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "predict", help="predict new inputs with a trained run (optionally MC dropout)",
        description="Apply a run's saved preprocessing and model to inputs in raw feature space and write a CSV.")
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a finished (or checkpointed) run directory")
    parser.add_argument("data", metavar="DATA", help="inputs: .npy, .npz or .csv (one example per row)")
    parser.add_argument("--out", metavar="FILE", help="output CSV (default: DATA's folder, <stem>.predictions.csv)")
    parser.add_argument("--mc", type=int, default=0, metavar="T",
                        help="MC dropout: T passes with dropout on; writes mean and std (default 0: one pass)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the MC dropout masks (default 0)")
    parser.add_argument("--checkpoint", metavar="FILE",
                        help="checkpoint to load instead of the newest, e.g. RUN_DIR/snapshots/cycle-003.json")
    parser.add_argument("--key", help="array name inside a .npz file (default: x, or its only array)")
    parser.set_defaults(handler=cmd_predict)

"""``trainlab predict RUN_DIR DATA``: predictions of a trained run for new inputs, to a CSV file."""
from __future__ import annotations

import argparse
from pathlib import Path

COLUMNS_HELP = ("A run trained on a CSV/Parquet file takes the same feature columns by name from a file with a "
                "header, in the training order, and ignores the target column if present; a CSV without a header "
                "must hold exactly the feature columns, in that order.")


def cmd_predict(args: argparse.Namespace) -> None:
    from trainlab.predict import Predictor, predict_file

    data = Path(args.data)
    out = Path(args.out) if args.out else data.with_name(f"{data.stem}.predictions.csv")
    predictor = Predictor(args.run_dir, args.checkpoint)
    result = predict_file(predictor, data, out, chunk_size=args.chunk_size, mc_samples=args.mc, seed=args.seed,
                          allow_nonfinite=args.allow_nonfinite, header=args.header, delimiter=args.delimiter,
                          key=args.key, force=args.force)
    how = f" (MC dropout, {args.mc} passes: mean and std)" if args.mc else ""
    empty = f" and {result.nonfinite} empty rows (NaN/inf inputs, note: nonfinite input)" if result.nonfinite else ""
    done = result.rows - result.nonfinite
    print(f"wrote {done} prediction{'' if done == 1 else 's'}{how}{empty} to {result.out}")


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "predict", help="predict new inputs with a trained run (optionally MC dropout)",
        description="Apply a run's saved preprocessing and model to inputs in raw feature space and write a CSV, "
                    "reading and predicting --chunk-size rows at a time (memory bounded by the chunk). "
                    + COLUMNS_HELP)
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a finished (or checkpointed) run directory")
    parser.add_argument("data", metavar="DATA", help="inputs: .csv (one example per row), .npy (memory-mapped), "
                                                     ".npz or .parquet")
    parser.add_argument("--out", metavar="FILE",
                        help="output CSV (default: DATA's folder, <stem>.predictions.csv); never inside a run "
                             "directory, never the input")
    parser.add_argument("--force", action="store_true", help="replace --out if it exists (default: refuse)")
    parser.add_argument("--mc", type=int, default=0, metavar="T",
                        help="MC dropout: T passes with dropout on; writes mean and std (default 0: one pass)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the MC dropout masks; chunk k uses seed + k (default 0)")
    parser.add_argument("--checkpoint", metavar="FILE",
                        help="checkpoint to load instead of the newest, e.g. RUN_DIR/snapshots/cycle-003.json")
    parser.add_argument("--key", help="array name inside a .npz file (default: x, or its only array)")
    header = parser.add_mutually_exclusive_group()
    header.add_argument("--header", dest="header", action="store_const", const=True, default="auto",
                        help="the CSV's first row is a header (default: auto, a header is a first row whose cells "
                             "are all non-empty and not numbers)")
    header.add_argument("--no-header", dest="header", action="store_const", const=False,
                        help="the CSV's first row is data")
    parser.add_argument("--delimiter", metavar="CHAR",
                        help="CSV delimiter (default: the run's data.delimiter if it trained on a CSV, else ',')")
    parser.add_argument("--chunk-size", type=int, default=10_000, metavar="N",
                        help="rows read and predicted at a time (default 10000)")
    parser.add_argument("--allow-nonfinite", action="store_true",
                        help="write rows whose inputs hold NaN/inf with empty predictions and the note "
                             "'nonfinite input' (default: refuse them, naming the rows)")
    parser.set_defaults(handler=cmd_predict)

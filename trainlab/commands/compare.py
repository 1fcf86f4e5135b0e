"""``trainlab compare RECIPE --vary KEY=V1,V2,… --seeds N``: variants × seeds in parallel, one table, one report."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from trainlab.commands._common import console
from trainlab.errors import TrainlabError

if TYPE_CHECKING:
    from trainlab.tools.compare_report import Summary


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "compare", help="train recipe variants × seeds in parallel: mean ± 95%% CI, Welch p-values, one report",
        description="Train every combination of the --vary values (the first is the baseline) with N seeds each, "
                    "in parallel worker processes, into comparisons/<recipe name>-<time>/ (or --out). Rerunning "
                    "the same command with --out DIR, or --resume DIR, skips finished runs and resumes the rest.")
    parser.add_argument("recipe", nargs="?", help="recipe YAML file")
    # what to compare
    parser.add_argument("--vary", action="append", default=[], metavar="KEY=V1,V2,…",
                        help="a recipe key and its values (YAML, like --set; lists stay whole: "
                             "model.hidden=[32],[64,64]); repeatable, the variants are all combinations")
    parser.add_argument("--seeds", type=int, metavar="N", help="runs per variant, seeds s, s+1, …, s+N−1 where s "
                                                               "is the recipe's seed (required)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a recipe value for every run, e.g. --set stopping.epochs=5 (repeatable)")
    # where and how
    parser.add_argument("--out", metavar="DIR", help="comparison directory (default: comparisons/<recipe name>-<time>); "
                                                     "an existing one of the same comparison is continued")
    parser.add_argument("--resume", metavar="DIR", help="continue the comparison in DIR with its saved spec")
    parser.add_argument("--workers", type=int, metavar="W",
                        help="runs at the same time (default: one per CPU core this process may use)")
    parser.add_argument("--threads", type=int, default=1, metavar="T", help="torch threads per run (default: 1)")
    parser.add_argument("--separate", action="store_true",
                        help="a process per seed, never vectorized seeds (by default a variant's new seeds train as "
                             "one batched model where the recipe allows; see docs/compare.md)")
    parser.add_argument("--quiet", action="store_true", help="no progress lines; only the table and the paths")
    parser.add_argument("--track", metavar="TRACKERS",
                        help="mirror every run to TensorBoard and/or MLflow (a parent run, a child per run): "
                             "tensorboard,mlflow (the recipe key tracking; see docs/tracking.md)")
    parser.set_defaults(handler=run_compare)


def run_compare(args: argparse.Namespace) -> None:
    from trainlab.tools.compare import (
        check_parallelism,
        compare,
        comparison_from_args,
        load_comparison,
        open_comparison_dir,
    )
    from trainlab.tracking import track_overrides

    check_parallelism(args.workers, args.threads)
    if args.resume:
        if args.recipe or args.vary or args.set or args.seeds is not None or args.out or args.track:
            raise TrainlabError("--resume takes a comparison directory alone (no RECIPE, --vary, --seeds, --set "
                                "or --out); its comparison.json is reused as saved")
        out_dir, comparison = Path(args.resume), load_comparison(args.resume)
    else:
        if not args.recipe:
            raise TrainlabError("trainlab compare needs a RECIPE file, e.g. trainlab compare examples/moons_sgd.yaml "
                                "--vary optim.lr=0.1,0.03 --seeds 3 (or --resume DIR)")
        if args.seeds is None:
            raise TrainlabError("--seeds: missing; give the number of seeds per variant, e.g. --seeds 3")
        sets = [*args.set, *track_overrides(args.track)]
        comparison = comparison_from_args(args.recipe, args.vary, args.seeds, sets)
        out_dir = open_comparison_dir(comparison, args.out)
    log = (lambda line: None) if args.quiet else (lambda line: print(line, flush=True))
    try:
        result = compare(comparison, out_dir, args.workers, args.threads, log, vectorize=not args.separate)
    except KeyboardInterrupt:
        print(f"interrupted; finished runs are kept; continue with: trainlab compare --resume {out_dir}",
              file=sys.stderr)
        raise SystemExit(130) from None
    print_table(result.summary, f"{out_dir.name}: {comparison.seeds} seeds per variant")
    print(f"summary: {out_dir / 'summary.csv'}")
    print(f"report: {out_dir / 'report.html'}")
    if result.unfinished:
        raise TrainlabError(f"{len(result.unfinished)} runs did not finish ({', '.join(result.unfinished)}); "
                            f"see their errors above; retry them with: trainlab compare --resume {out_dir}")


def print_table(summary: Summary, title: str) -> None:
    """The summary as a rich table: one row per variant, mean ± CI and p against the baseline per metric."""
    from rich.markup import escape
    from rich.table import Table

    from trainlab.tools.compare_report import better, format_stat

    arrows = {"higher": " ↑", "lower": " ↓", None: ""}
    table = Table(title=escape(title), title_justify="left", show_lines=True)
    table.add_column("variant", overflow="fold")
    table.add_column("n", justify="right")
    for metric in summary.metrics:
        table.add_column(escape(metric) + arrows[better(metric)], justify="right")
    for row in summary.rows:
        cells = []
        for metric in summary.metrics:
            value, note = format_stat(row.stats.get(metric), row.index == 0)
            cells.append(escape(f"{value}\n{note}"))
        failed = f" ({row.failed} failed)" if row.failed else ""
        table.add_row(escape(f"v{row.index}: {row.label}"), f"{row.finished}{failed}", *cells)
    console(140).print(table)
    print("mean ± 95 % CI half-width (t, n−1 dof); p: Welch t-test against v0; ↑ higher is better, ↓ lower is better")

"""``trainlab runs [DIR]``: a table of the runs under a folder; ``--diff A B``; ``--html FILE``."""
from __future__ import annotations

import argparse


def register(commands: argparse._SubParsersAction) -> None:
    cmd = commands.add_parser(
        "runs", help="a table of the runs under a folder: sort, filter, diff two runs, one HTML page",
        description="List every run under DIR (default: runs; comparisons and searches included): name, time, "
                    "status, epochs, final validation and test metrics and the doctor's worst finding.")
    cmd.add_argument("folder", nargs="?", default="runs", metavar="DIR", help="folder holding run directories")
    cmd.add_argument("--sort", default="time", metavar="KEY",
                     help="time (newest first, the default), a metric such as val_accuracy (best first; a val_ "
                          "metric also shows its best epoch), status, epochs, name or a recipe key such as optim.lr")
    cmd.add_argument("--filter", action="append", default=[], metavar="KEY=VALUE",
                     help="keep runs where KEY OP VALUE holds (OP: = != < <= > >=), e.g. status=finished, "
                          "model.name=mlp, val_accuracy>0.9 (repeatable: all must hold)")
    cmd.add_argument("--diff", nargs=2, metavar=("RUN_A", "RUN_B"),
                     help="the recipe keys that differ between two runs and their metrics' differences (B − A)")
    cmd.add_argument("--html", metavar="FILE", help="also write one page linking every run's report")
    cmd.set_defaults(handler=run_runs)


def run_runs(args: argparse.Namespace) -> None:
    from trainlab.tools.runs import diff_runs, find_run, runs_table, write_html

    if args.diff:
        a, b = (find_run(args.folder, name) for name in args.diff)
        print_diff(a.path, b.path, *diff_runs(a, b))
        return
    table = runs_table(args.folder, args.sort, args.filter)
    print_table(table)
    if args.html:
        print(f"page: {write_html(table, args.html)}")


def print_table(table) -> None:
    from rich.markup import escape
    from rich.table import Table

    from trainlab.commands._common import console
    from trainlab.tools.runs import COLUMNS, format_number, format_time, plural

    view = Table(title=escape(f"{plural(len(table.rows), 'run')} in {table.root}"), title_justify="left")
    for column in COLUMNS:
        view.add_column(column, overflow="fold", justify="right" if column == "epochs" else "left")
    for metric in table.metrics:
        view.add_column(escape(metric), justify="right")
    if table.best:
        view.add_column(escape(f"best {table.best} (epoch)"), justify="right")
    view.add_column("doctor's worst finding", overflow="fold")
    for row in table.rows:
        cells = [row.name, format_time(row.created), row.status, str(row.epochs or "–")]
        cells += [format_number(row.metrics.get(m)) for m in table.metrics]
        if table.best:
            best = table.best_of(row)
            cells.append(f"{format_number(best[0])} ({best[1]})" if best else "–")
        view.add_row(*(escape(c) for c in [*cells, row.worst]))
    console(160).print(view)


def print_diff(a, b, differences: list[str], metrics: list) -> None:
    from trainlab.tools.runs import format_number

    print(f"A: {a}\nB: {b}")
    print("recipe keys that differ (A → B):" if differences else "the recipes are the same")
    for line in differences:
        print(f"  {line}")
    if metrics:
        print("metrics (A, B, B − A):")
        width = max(len(name) for name, _, _ in metrics)
        for name, value_a, value_b in metrics:
            delta = value_b - value_a if value_a is not None and value_b is not None else None
            sign = "+" if delta is not None and delta > 0 else ""
            print(f"  {name:<{width}}  {format_number(value_a):>9}  {format_number(value_b):>9}  "
                  f"{sign}{format_number(delta)}")

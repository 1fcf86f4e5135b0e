"""``trainlab lab NAME|list|all``: reproduce the lectures' claims and say whether they held."""
from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import TYPE_CHECKING

from trainlab.commands._common import console as terminal

if TYPE_CHECKING:  # imported in the functions: building the parser must not import torch
    from rich.console import Console

    from trainlab.labs import Lab, LabResult


def register(commands: argparse._SubParsersAction) -> None:
    lab = commands.add_parser(
        "lab", help="reproduce one lecture claim (C1 …) with its figure, or all of them",
        description="Run a lab: the experiment behind one claim of the lecture notes. Prints the measured numbers "
                    "beside the notes' values, the criterion and the verdict, and writes OUT/<id>/ with the figures "
                    "and report.html. `trainlab lab list` lists the labs; `trainlab lab all` runs every lab and "
                    "writes one combined report, OUT/labs.html.")
    lab.add_argument("name", metavar="NAME", help="a lab id such as C1 (case-insensitive), `list`, or `all`")
    lab.add_argument("--quick", action="store_true", help="the small variant: a few seconds per lab, 3 seeds")
    lab.add_argument("--seeds", type=_positive, default=None, metavar="N",
                     help="run every arm over seeds 0…N−1 (default: 3 with --quick, 10 without); the verdict comes "
                          "from the median's 95 %% interval over them")
    lab.add_argument("--out", default="runs/labs", metavar="DIR", help="where results go (default: runs/labs)")
    lab.add_argument("--separate", action="store_true",
                     help="train each seed on its own instead of an arm's seeds as one batched model (vectorized "
                          "seeds, where the recipe allows; the same numbers on one CPU thread, only slower)")
    lab.add_argument("--track", metavar="TRACKERS",
                     help="mirror each lab's numbers, verdict and figures to TensorBoard (OUT/<id>/tb) and/or MLflow "
                          "(experiment trainlab-labs): tensorboard,mlflow; see docs/tracking.md")
    lab.set_defaults(handler=run_lab_command)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number of seeds, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


_COLOUR = {"reproduced": "green", "not reproduced": "red", "inconclusive": "yellow"}


def print_labs(console: Console) -> None:
    from rich.markup import escape
    from rich.table import Table

    from trainlab.labs import all_labs

    view = Table(title="labs", title_justify="left", show_header=False, box=None, pad_edge=False)
    view.add_column("id", style="bold")
    view.add_column("name")
    view.add_column("source", style="dim")
    for lab in all_labs():
        seeds = ", ".join(f"seed {part.strip().split('_')[0]}" for part in lab.source.split(","))
        view.add_row(lab.id, escape(lab.name), escape(seeds))
    console.print(view)
    console.print("run one with `trainlab lab C1 [--quick]`, every one with `trainlab lab all [--quick]`")


def print_result(console: Console, lab: Lab, result: LabResult) -> None:
    """The claim, the measured table beside the notes' values, each check, the verdict and the files."""
    from rich.markup import escape
    from rich.table import Table

    from trainlab.labs import Evidence
    from trainlab.labs.report import format_value

    console.print(f"[bold]{lab.id} — {escape(lab.name)}[/bold]  ({escape(lab.source)})")
    console.print(f"the notes: {escape(lab.claim)}")
    view = Table(show_header=True, box=None, pad_edge=False)
    view.add_column("quantity")
    view.add_column("measured", justify="right")
    view.add_column("notes", justify="right")
    view.add_column("", style="dim")
    for row in result.rows:
        view.add_row(escape(row.name), escape(format_value(row.measured)), escape(format_value(row.expected)),
                     escape(row.reference) if row.expected is not None else "")
    console.print(view)
    for criterion in result.checks:
        colour = _COLOUR[criterion.verdict]
        console.print(f"  [{colour}]{criterion.verdict:>14}[/{colour}]  {escape(criterion.summary())}")
        if isinstance(criterion, Evidence):
            per_seed = ", ".join(f"{seed}: {format_value(v)}" for seed, v in zip(criterion.seeds, criterion.values))
            console.print(f"  {'':>14}  [dim]per seed — {escape(per_seed)}[/dim]")
    colour = _COLOUR[result.verdict]
    variant = "quick" if result.quick else "full"
    console.print(f"verdict: [bold {colour}]{result.verdict}[/bold {colour}] "
                  f"({variant} variant, {len(result.seeds)} seeds, {result.seconds:.1f} s)")
    if result.note:
        console.print(f"[dim]{escape(result.note)}[/dim]")
    for kind, path in result.files.items():
        console.print(f"{kind}: {escape(path)}")


def run_lab_command(args: argparse.Namespace) -> None:
    from trainlab.labs.training import separate_seeds

    if args.separate:
        with separate_seeds():
            _run_labs(args)
    else:
        _run_labs(args)


def _run_labs(args: argparse.Namespace) -> None:
    from rich.markup import escape

    from trainlab.labs import get_lab, run_all, run_lab
    from trainlab.tracking import check_installed, parse_track
    from trainlab.tracking.labs import track_lab

    console = terminal()
    tracked = parse_track(args.track)
    check_installed(tracked)

    def track(lab: Lab, result: LabResult) -> None:
        if tracked:
            track_lab(tracked, result.to_dict(), Path(args.out) / lab.id, lab.claim)
    name = args.name.strip().lower()
    if name == "list":
        print_labs(console)
        return
    if name == "all":
        started = time.perf_counter()

        def progress(lab: Lab, result: LabResult) -> None:
            print_result(console, lab, result)
            track(lab, result)
            console.print()

        done = run_all(args.quick, args.out, progress=progress, seeds=args.seeds)
        reproduced = sum(result.reproduced for _, result in done)
        inconclusive = sum(result.verdict == "inconclusive" for _, result in done)
        console.print(f"{reproduced} of {len(done)} claims reproduced, {inconclusive} inconclusive, in "
                      f"{time.perf_counter() - started:.1f} s")
        for lab, result in done:
            colour = _COLOUR[result.verdict]
            console.print(f"  {lab.id:>4}  [{colour}]{result.verdict}[/{colour}]  {escape(lab.name)}")
        console.print(f"combined report: {escape(str(Path(args.out) / 'labs.html'))}")
        console.print(f"verdict table (Markdown): {escape(str(Path(args.out) / 'summary.md'))}")
        return
    lab = get_lab(args.name)
    result = run_lab(lab, args.quick, args.out, args.seeds)
    print_result(console, lab, result)
    track(lab, result)

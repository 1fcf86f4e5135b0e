"""What several commands share: the console, run progress and the closing summary of a run.

Every command module imports only light modules at the top and the rest inside its handler, so
that building the parser (`trainlab --help`, `--version`) never imports torch (see
:mod:`trainlab.commands`; tests/test_fast_cli.py checks it).
"""
from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where used: `trainlab --help` stays fast
    from rich.console import Console

    from trainlab.recipe import Recipe
    from trainlab.run import RunResult
    from trainlab.train.callbacks import Callback


def console(width: int = 120) -> Console:
    """A rich console: the terminal's width on a terminal, ``width`` columns in a file or pipe."""
    from rich.console import Console

    return Console(width=None if sys.stdout.isatty() else width, highlight=False)


def run_output(quiet: bool) -> list[Callback]:
    """A live bar on a terminal; one line per epoch otherwise; nothing with --quiet."""
    from trainlab.train.progress import EpochLines, ProgressBar

    if quiet:
        return []
    return [ProgressBar()] if sys.stdout.isatty() else [EpochLines()]


def print_summary(result: RunResult) -> None:
    """The test metrics, the run directory and its report (nothing in the processes other than 0 of a
    multi-process run, which have no directory)."""
    if result.run_dir is None:
        return
    for key, value in result.test.items():
        shown = f"{value:.3g}" if 0 < abs(value) < 1e-3 else f"{value:.3f}"  # a PINN's 1.6e-06 is not 0.000
        print(f"{key.replace('_', ' ')}: {shown}")
    print(f"run directory: {result.run_dir}")
    print(f"report: {result.run_dir / 'report.html'}")


def with_diagnose(recipe: Recipe, diagnose: bool) -> Recipe:
    """``--diagnose`` means ``diagnose: true``; a recipe's own diagnose settings are kept."""
    from trainlab.recipe import DiagnoseSpec

    if diagnose and recipe.diagnose is None:
        recipe.diagnose = DiagnoseSpec()
    return recipe

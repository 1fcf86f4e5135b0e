"""What several commands share: the console, run progress and the closing summary of a run."""
from __future__ import annotations

import sys

from rich.console import Console

from trainlab.recipe import DiagnoseSpec, Recipe
from trainlab.run import RunResult
from trainlab.train.callbacks import Callback
from trainlab.train.progress import EpochLines, ProgressBar


def console(width: int = 120) -> Console:
    """A rich console: the terminal's width on a terminal, ``width`` columns in a file or pipe."""
    return Console(width=None if sys.stdout.isatty() else width, highlight=False)


def run_output(quiet: bool) -> list[Callback]:
    """A live bar on a terminal; one line per epoch otherwise; nothing with --quiet."""
    if quiet:
        return []
    return [ProgressBar()] if sys.stdout.isatty() else [EpochLines()]


def print_summary(result: RunResult) -> None:
    """The test metrics, the run directory and its report."""
    for key, value in result.test.items():
        print(f"{key.replace('_', ' ')}: {value:.3f}")
    print(f"run directory: {result.run_dir}")
    print(f"report: {result.run_dir / 'report.html'}")


def with_diagnose(recipe: Recipe, diagnose: bool) -> Recipe:
    """``--diagnose`` means ``diagnose: true``; a recipe's own diagnose settings are kept."""
    if diagnose and recipe.diagnose is None:
        recipe.diagnose = DiagnoseSpec()
    return recipe

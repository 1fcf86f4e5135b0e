"""The ``trainlab`` command line; it mirrors the Python API one to one."""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from importlib import resources
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

import trainlab.commands
from trainlab import registry
from trainlab.errors import TrainlabError
from trainlab.recipe import DiagnoseSpec, Recipe, load_recipe
from trainlab.run import RunResult, resume_run, run_recipe
from trainlab.train.progress import EpochLines, ProgressBar


def _output(quiet: bool) -> list:
    """A live bar on a terminal; one line per epoch otherwise; nothing with --quiet."""
    if quiet:
        return []
    return [ProgressBar()] if sys.stdout.isatty() else [EpochLines()]


def _summary(result: RunResult) -> None:
    for key, value in result.test.items():
        print(f"{key.replace('_', ' ')}: {value:.3f}")
    print(f"run directory: {result.run_dir}")
    print(f"report: {result.run_dir / 'report.html'}")


def cmd_run(args: argparse.Namespace) -> None:
    if args.resume:
        if args.recipe or args.set or args.diagnose:
            raise TrainlabError("--resume takes a run directory alone (no RECIPE, --set or --diagnose); "
                                "its recipe.yaml is reused as saved")
        _summary(resume_run(args.resume, _output(args.quiet)))
        return
    if not args.recipe:
        raise TrainlabError("trainlab run needs a RECIPE file (or --resume RUN_DIR); try examples/mnist1d_cnn.yaml")
    recipe = _with_diagnose(load_recipe(args.recipe, args.set), args.diagnose)
    _summary(run_recipe(recipe, args.runs_dir, _output(args.quiet)))


def _with_diagnose(recipe: Recipe, diagnose: bool) -> Recipe:
    """``--diagnose`` means ``diagnose: true``; a recipe's own diagnose settings are kept."""
    if diagnose and recipe.diagnose is None:
        recipe.diagnose = DiagnoseSpec()
    return recipe


def demo_recipe_path() -> Path:
    return Path(str(resources.files("trainlab") / "recipes" / "demo.yaml"))


def cmd_demo(args: argparse.Namespace) -> None:
    recipe = _with_diagnose(load_recipe(demo_recipe_path(), args.set), args.diagnose)
    print(f"trainlab demo: {recipe.model.name} on {recipe.data.name}, {recipe.stopping.epochs} epochs "
          f"({recipe.optim.name}, lr {recipe.optim.lr:g}); recipe: {demo_recipe_path()}")
    _summary(run_recipe(recipe, args.runs_dir, _output(args.quiet)))


def cmd_list(args: argparse.Namespace) -> None:
    if args.markdown:
        from trainlab.report.techniques import techniques_markdown

        sys.stdout.write(techniques_markdown())
        return
    tables = registry.ALL
    if args.kind:
        if args.kind not in tables:
            singular = {t.kind: name for name, t in tables.items()}
            if args.kind in singular:
                args.kind = singular[args.kind]
            else:
                raise TrainlabError(f"list: '{args.kind}' is not a kind; known kinds: {', '.join(tables)}")
        tables = {args.kind: tables[args.kind]}
    console = Console(width=None if sys.stdout.isatty() else 120)
    for plural, table in tables.items():
        view = Table(title=plural, title_justify="left", show_header=False, box=None, pad_edge=False)
        view.add_column("name", style="bold")
        view.add_column("description")
        view.add_column("parameters", style="dim")
        for entry in table:
            params = ", ".join(
                f"{n}={p.default!r}" if p.default is not p.empty else n for n, p in entry.recipe_parameters().items()
            )
            view.add_row(entry.name, escape(entry.description), escape(params))
        console.print(view)
        console.print()


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(
        prog="trainlab",
        description="Train neural networks the way the lectures teach it: Recipe → Run → Report.",
        epilog="Start with `trainlab demo`; see `trainlab COMMAND --help` for each command.",
    )
    main.add_argument("--version", action="version", version=f"trainlab {trainlab.__version__}")
    commands = main.add_subparsers(dest="command", metavar="COMMAND")

    run = commands.add_parser("run", help="train one recipe and write a run directory",
                              description="Train one recipe (YAML) and write runs/<name>-<time>/.")
    run.add_argument("recipe", nargs="?", help="recipe YAML file")
    run.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                     help="override a recipe value, e.g. --set optim.lr=0.01 (repeatable; values are YAML)")
    run.add_argument("--resume", metavar="RUN_DIR", help="continue a killed run from its newest checkpoint")
    run.add_argument("--runs-dir", default="runs", help="where new run directories go (default: runs)")
    run.add_argument("--quiet", action="store_true", help="no progress output; only the final summary")
    run.add_argument("--diagnose", action="store_true",
                     help="probe every layer (same as diagnose: true): probes.csv, histograms, report figures")
    run.set_defaults(handler=cmd_run)

    demo = commands.add_parser("demo", help="train the built-in MNIST-1D CNN recipe (no files needed)",
                               description="Train the built-in recipe: the MNIST-1D paper's 1-D CNN, about "
                                           "half a minute on 2 CPU cores.")
    demo.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a recipe value")
    demo.add_argument("--runs-dir", default="runs", help="where the run directory goes (default: runs)")
    demo.add_argument("--quiet", action="store_true", help="no progress output; only the final summary")
    demo.add_argument("--diagnose", action="store_true",
                      help="probe every layer (same as diagnose: true): probes.csv, histograms, report figures")
    demo.set_defaults(handler=cmd_demo)

    listing = commands.add_parser("list", help="list registered datasets, models, optimizers, …",
                                  description="List every registered name with a one-line description.")
    listing.add_argument("kind", nargs="?", help=f"one of: {', '.join(registry.ALL)} (default: all)")
    listing.add_argument("--markdown", action="store_true",
                         help="print the whole catalogue with formulas and YAML snippets (docs/techniques.md)")
    listing.set_defaults(handler=cmd_list)
    for module in pkgutil.iter_modules(trainlab.commands.__path__):
        importlib.import_module(f"trainlab.commands.{module.name}").register(commands)
    return main


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command is None:
        parser().print_help()
        return 0
    try:
        args.handler(args)
    except TrainlabError as e:
        for line in str(e).splitlines():
            print(f"error: {line}", file=sys.stderr)
        return e.exit_code
    except OSError as e:  # a full disk, a read-only or missing directory: say which file, no traceback
        where = f" ({e.filename})" if e.filename else ""
        print(f"error: {e.strerror or e}{where}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; resume with: trainlab run --resume RUN_DIR", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())

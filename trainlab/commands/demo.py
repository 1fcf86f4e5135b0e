"""``trainlab demo``: train the built-in recipe, the MNIST-1D paper's 1-D CNN (no files needed)."""
from __future__ import annotations

import argparse
from importlib import resources
from pathlib import Path

from trainlab.commands._common import print_summary, run_output, with_diagnose


def register(commands: argparse._SubParsersAction) -> None:
    demo = commands.add_parser("demo", help="train the built-in MNIST-1D CNN recipe (no files needed)",
                               description="Train the built-in recipe: the MNIST-1D paper's 1-D CNN with batch "
                                           "norm and a 1cycle schedule, about 10 seconds on 2 CPU cores.")
    demo.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a recipe value")
    demo.add_argument("--runs-dir", default="runs", help="where the run directory goes (default: runs)")
    demo.add_argument("--quiet", action="store_true", help="no progress output; only the final summary")
    demo.add_argument("--diagnose", action="store_true",
                      help="probe every layer (same as diagnose: true): probes.csv, histograms, report figures")
    demo.set_defaults(handler=cmd_demo)


def demo_recipe_path() -> Path:
    """The built-in recipe, shipped inside the package."""
    return Path(str(resources.files("trainlab") / "recipes" / "demo.yaml"))


def cmd_demo(args: argparse.Namespace) -> None:
    from trainlab.recipe import load_recipe
    from trainlab.run import run_recipe

    recipe = with_diagnose(load_recipe(demo_recipe_path(), args.set), args.diagnose)
    print(f"trainlab demo: {recipe.model.name} on {recipe.data.name}, {recipe.stopping.epochs} epochs "
          f"({recipe.optim.name}, lr {recipe.optim.lr:g}, schedule {recipe.schedule.name}); "
          f"recipe: {demo_recipe_path()}")
    print_summary(run_recipe(recipe, args.runs_dir, run_output(args.quiet)))

"""``trainlab run RECIPE`` and ``trainlab run --resume RUN_DIR``: train one recipe (Python: run_recipe, resume_run)."""
from __future__ import annotations

import argparse

from trainlab.commands._common import print_summary, run_output, with_diagnose
from trainlab.errors import TrainlabError
from trainlab.recipe import load_recipe
from trainlab.run import resume_run, run_recipe


def register(commands: argparse._SubParsersAction) -> None:
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


def cmd_run(args: argparse.Namespace) -> None:
    if args.resume:
        if args.recipe or args.set or args.diagnose:
            raise TrainlabError("--resume takes a run directory alone (no RECIPE, --set or --diagnose); "
                                "its recipe.yaml is reused as saved")
        print_summary(resume_run(args.resume, run_output(args.quiet)))
        return
    if not args.recipe:
        raise TrainlabError("trainlab run needs a RECIPE file (or --resume RUN_DIR); try examples/mnist1d_cnn.yaml")
    recipe = with_diagnose(load_recipe(args.recipe, args.set), args.diagnose)
    print_summary(run_recipe(recipe, args.runs_dir, run_output(args.quiet)))

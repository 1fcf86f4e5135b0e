"""``trainlab lr-find RECIPE``: the LR range test, its plot and CSV, and the suggested rate."""
from __future__ import annotations

import argparse
from pathlib import Path

from trainlab.errors import TrainlabError
from trainlab.tools.lr_suggestions import LABELS, SUGGESTIONS

ABSOLUTE_RATES = {"base_lr", "max_lr", "min_lr", "rates", "kappa"}  # schedule parameters that are rates, not factors


def _out_dir(args: argparse.Namespace, name: str) -> Path:
    from trainlab.rundir import stamped_dir

    return Path(args.out) if args.out else stamped_dir(args.runs_dir, f"{name}-lr-find")


def cmd_lr_find(args: argparse.Namespace) -> None:
    from trainlab.recipe import load_recipe
    from trainlab.tools.lr_find import apply_to_recipe_file, lr_find, newest_backup

    if args.in_place and not args.apply:
        raise TrainlabError("--in-place: only with --apply, which it changes to overwrite RECIPE (kept as RECIPE.bak, "
                            "then .bak.1, …; no backup is overwritten)")
    recipe = load_recipe(args.recipe, args.set)
    result = lr_find(recipe, start=args.start, end=args.end, steps=args.steps)
    paths = result.save(_out_dir(args, recipe.name))
    print(result.summary())
    print(f"plot: {paths['html']}  (also {paths['svg'].name}, {paths['png'].name}; curve: {paths['csv'].name})")
    if not args.apply:
        return
    rule = result.recommended if args.rule == "recommended" else args.rule
    lr = result.suggestions.get(rule)
    if lr is None:
        raise TrainlabError(f"--apply: the {LABELS[rule]} rule found no rate on this curve; "
                            "widen --start/--end, raise --steps or pick the other --rule")
    written = apply_to_recipe_file(args.recipe, lr, overrides=args.set, rule=rule, in_place=args.in_place)
    backup = f" (the original is in {newest_backup(written).name})" if args.in_place else ""
    print(f"wrote {written} with optim.lr = {lr:.3g}{backup}")
    absolute = sorted(set(recipe.schedule.params()) & ABSOLUTE_RATES)
    if absolute:
        print(f"note: schedule '{recipe.schedule.name}' keeps its own absolute rates ({', '.join(absolute)}); "
              "scale them by hand if they should follow optim.lr")


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "lr-find", help="LR range test: loss vs a geometrically growing rate, and a suggested rate",
        description="Smith's range test with the recipe's model, optimizer, data and loss. The rate grows "
                    "geometrically per batch; the test stops when the smoothed loss exceeds 4× its minimum. "
                    "Model and optimizer are left as they were.")
    parser.add_argument("recipe", help="recipe YAML file")
    # the rate sweep
    parser.add_argument("--start", type=float, default=1e-7, help="first rate (default 1e-7)")
    parser.add_argument("--end", type=float, default=10.0, help="last rate (default 10)")
    parser.add_argument("--steps", type=int, default=100, help="batches in the sweep, N (default 100)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a recipe value, e.g. --set optim.name=sgd (repeatable; values are YAML)")
    # where results go
    parser.add_argument("--out", metavar="DIR", help="output folder (default: RUNS_DIR/<name>-lr-find-<time>)")
    parser.add_argument("--runs-dir", default="runs", help="parent of the default output folder (default: runs)")
    # writing the suggestion back
    parser.add_argument("--apply", action="store_true",
                        help="write the recipe with optim.lr set to the suggestion, to <stem>.lrfind.yaml")
    parser.add_argument("--in-place", action="store_true",
                        help="with --apply: overwrite RECIPE instead, after copying it to RECIPE.bak "
                             "(RECIPE.bak.1, .bak.2, … when that exists: no backup is overwritten)")
    parser.add_argument("--rule", choices=["recommended", *SUGGESTIONS], default="recommended",
                        help="which suggestion --apply uses (default: the recommended one, minimum / 10)")
    parser.set_defaults(handler=cmd_lr_find)

"""``trainlab search RECIPE --space SPACE --trials N``: random, staged or Optuna search.

Start the same command in several terminals or on several machines (with one ``--storage``
URL) and the workers share the study, finishing N trials between them.
"""
from __future__ import annotations

import argparse
import sys

STRATEGIES = ("random", "staged", "optuna")  # trainlab.tools.search.STRATEGIES (a test keeps them equal)


def register(commands: argparse._SubParsersAction) -> None:
    cmd = commands.add_parser(
        "search", help="hyperparameter search (random / staged / Optuna); workers share a study",
        description="Search the values in a space file over a recipe. Every trial is a run in OUT/trials/N/; "
                    "the study lives in --storage, so the same command started again (or elsewhere, with one "
                    "PostgreSQL URL) joins it. Writes OUT/report.html and OUT/best.yaml. See docs/search.md.")
    # what to search
    cmd.add_argument("recipe", help="recipe YAML file")
    cmd.add_argument("--space", required=True, metavar="SPACE.yaml",
                     help="recipe key paths mapped to distributions, e.g. optim.lr: {loguniform: [1e-4, 1]}")
    cmd.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                     help="override a recipe value for every trial (repeatable; values are YAML)")
    cmd.add_argument("--trials", type=int, required=True, metavar="N",
                     help="finished trials (complete or pruned) the study should have, counting every worker's")
    cmd.add_argument("--strategy", choices=STRATEGIES, default="random",
                     help="random: Optuna's RandomSampler; staged: random, then zoom into the best region, stage "
                          "by stage; optuna: TPE with median pruning per epoch (default: random)")
    cmd.add_argument("--metric", default="val_loss",
                     help="the logged metric to optimize, its value after the last epoch (default: val_loss)")
    cmd.add_argument("--direction", choices=("auto", "minimize", "maximize"), default="auto",
                     help="auto: maximize accuracy, minimize losses and errors (default: auto)")
    cmd.add_argument("--seed", type=int, default=0, help="seed of the samplers (trial k draws from (seed, k))")
    # where it lives
    cmd.add_argument("--storage", metavar="URL",
                     help="SQLAlchemy URL of the study's database (default: sqlite:///OUT/study.db); "
                          "postgresql://USER:PASSWORD@HOST/DB for many machines")
    cmd.add_argument("--study", metavar="NAME", help="study name in the storage (default: the recipe's name)")
    cmd.add_argument("--out", metavar="DIR", help="trial runs, report and best.yaml (default: runs/search-STUDY)")
    # strategy details
    cmd.add_argument("--stages", type=int, default=3, help="staged: number of stages (default: 3)")
    cmd.add_argument("--keep", type=float, default=0.2,
                     help="staged: each stage searches the range of this fraction of best trials (default: 0.2)")
    cmd.add_argument("--startup-trials", type=int, default=5,
                     help="optuna: random trials before TPE and pruning start (default: 5)")
    cmd.add_argument("--prune-warmup", type=int, default=1,
                     help="optuna: epochs every run trains before it may be pruned (default: 1)")
    # dead workers
    cmd.add_argument("--heartbeat", type=int, default=10, metavar="SECONDS",
                     help="a running trial records a heartbeat this often (default: 10)")
    cmd.add_argument("--grace", type=int, metavar="SECONDS",
                     help="a running trial without heartbeat for this long is marked FAIL (default: 2 × heartbeat)")
    cmd.add_argument("--verbose", action="store_true", help="one line per epoch of every trial")
    cmd.add_argument("--track", metavar="TRACKERS",
                     help="mirror every trial to TensorBoard and/or MLflow (a parent run per study, a child per "
                          "trial): tensorboard,mlflow (the recipe key tracking; see docs/tracking.md)")
    cmd.set_defaults(handler=run_search)


def run_search(args: argparse.Namespace) -> None:
    import optuna

    from trainlab.tools.search import SearchOptions, search
    from trainlab.tracking import track_overrides
    from trainlab.train.progress import EpochLines

    optuna.logging.set_verbosity(optuna.logging.ERROR)  # trainlab prints one line per trial instead
    options = SearchOptions(
        n_trials=args.trials, strategy=args.strategy, storage=args.storage, study=args.study, out=args.out,
        overrides=[*args.set, *track_overrides(args.track)], metric=args.metric, direction=args.direction,
        seed=args.seed, stages=args.stages,
        keep=args.keep, startup_trials=args.startup_trials, prune_warmup=args.prune_warmup,
        heartbeat=args.heartbeat, grace=args.grace)
    try:
        result = search(args.recipe, args.space, options, log=lambda line: print(line, flush=True),
                        output=[EpochLines()] if args.verbose else [])
    except KeyboardInterrupt:
        print("interrupted; the trial in progress is marked FAIL. Run the same command again to continue the study.",
              file=sys.stderr)
        raise SystemExit(130) from None
    best = result.best_trial
    if best is not None:
        print(f"best: trial {best.number}, {args.metric} {best.value:.4g}")
    print(f"report: {result.report}")
    if result.best_recipe is not None:
        print(f"best recipe: {result.best_recipe}  (trainlab run {result.best_recipe})")

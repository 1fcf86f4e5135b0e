"""``trainlab run RECIPE`` and ``trainlab run --resume RUN_DIR``: train one recipe (Python: run_recipe, resume_run)."""
from __future__ import annotations

import argparse
import sys

from trainlab.commands._common import print_summary, run_output, with_diagnose
from trainlab.errors import TrainlabError


def register(commands: argparse._SubParsersAction) -> None:
    run = commands.add_parser("run", help="train one recipe and write a run directory",
                              description="Train one recipe (YAML) and write runs/<name>-<time>/.")
    run.add_argument("recipe", nargs="?", help="recipe YAML file")
    run.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                     help="override a recipe value, e.g. --set optim.lr=0.01 (repeatable; values are YAML)")
    run.add_argument("--resume", metavar="RUN_DIR",
                     help="continue a killed run from its newest valid checkpoint; with --set only the keys safe "
                          "mid-run: stopping.epochs, stopping.early.patience, checkpoint.every, checkpoint.every_steps")
    run.add_argument("--runs-dir", default="runs", help="where new run directories go (default: runs)")
    run.add_argument("--quiet", action="store_true", help="no progress output; only the final summary")
    run.add_argument("--diagnose", action="store_true",
                     help="probe every layer (same as diagnose: true): probes.csv, histograms, report figures")
    run.add_argument("--track", metavar="TRACKERS",
                     help="mirror the run to TensorBoard and/or MLflow: tensorboard,mlflow (the recipe key tracking; "
                          "see docs/tracking.md)")
    run.add_argument("--nproc", type=int, default=1, metavar="N",
                     help="train in N processes with DistributedDataParallel (gloo on CPU, nccl on GPUs), each on its "
                          "shard of every batch; process 0 writes the run directory (default: 1; under torchrun: "
                          "its processes)")
    run.set_defaults(handler=cmd_run)


def cmd_run(args: argparse.Namespace) -> None:
    from trainlab.recipe import load_recipe
    from trainlab.run import resume_run, run_recipe
    from trainlab.tracking import track_overrides

    if args.nproc != 1:
        _launch(args)
        return
    if args.resume:
        if args.recipe or args.diagnose or args.track:
            raise TrainlabError("--resume takes a run directory (no RECIPE, --diagnose or --track); its recipe.yaml "
                                "is reused as saved, and --set only changes what is safe mid-run (stopping.epochs, …)")
        print_summary(resume_run(args.resume, run_output(args.quiet), changes=args.set))
        return
    if not args.recipe:
        raise TrainlabError("trainlab run needs a RECIPE file (or --resume RUN_DIR); try examples/mnist1d_cnn.yaml")
    recipe = with_diagnose(load_recipe(args.recipe, [*args.set, *track_overrides(args.track)]), args.diagnose)
    print_summary(run_recipe(recipe, args.runs_dir, run_output(args.quiet)))


def _launch(args: argparse.Namespace) -> None:
    """``--nproc N``: the same command in N processes (torch's elastic launcher, as torchrun), after the
    recipe is checked here, so that a mistake is reported once."""
    from trainlab.recipe import load_recipe
    from trainlab.run import check_distributed
    from trainlab.rundir import RunDir
    from trainlab.train.distributed import launch

    if args.resume:
        check_distributed(RunDir(args.resume).recipe(), args.nproc)
    elif args.recipe:
        check_distributed(load_recipe(args.recipe, args.set), args.nproc)
    launch(args.nproc, _worker, argparse.Namespace(**{**vars(args), "nproc": 1}))


def _worker(args: argparse.Namespace) -> None:
    """One process of ``trainlab run --nproc N``: process 0 prints a mistake (every process meets it)."""
    from trainlab.train.distributed import is_main_process

    try:
        cmd_run(args)
    except TrainlabError as e:
        if is_main_process():
            for line in str(e).splitlines():
                print(f"error: {line}", file=sys.stderr, flush=True)
        raise SystemExit(e.exit_code) from None

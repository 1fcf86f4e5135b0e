"""``trainlab doctor RUN_DIR``: what is wrong with a run, the evidence, and the fix."""
from __future__ import annotations

import argparse
import json


def register(commands: argparse._SubParsersAction) -> None:
    doctor = commands.add_parser(
        "doctor", help="diagnose a run: findings with evidence and recipe changes that fix them",
        description="Read a run directory (metrics, probes from `diagnose:`/--diagnose, final weights) and report "
                    "what went wrong, with the evidence and concrete recipe changes.")
    doctor.add_argument("run_dir", help="a run directory written by trainlab run")
    doctor.add_argument("--json", action="store_true", help="print the findings as JSON")
    doctor.add_argument("--fix", action="store_true",
                        help="write RUN_DIR/recipe.fixed.yaml with the first remedy of every finding applied")
    doctor.add_argument("--bayes-error", type=float, default=0.0, metavar="E",
                        help="the best error reachable on this task, as a fraction (default 0); "
                             "avoidable bias = train error − E")
    doctor.set_defaults(handler=run_doctor)


def run_doctor(args: argparse.Namespace) -> None:
    from trainlab.diagnose.doctor import diagnose, render_text, write_fixed_recipe

    findings = diagnose(args.run_dir, args.bayes_error)
    if args.json:
        print(json.dumps([f.to_dict() for f in findings], indent=1))
    else:
        print(render_text(findings))
    if args.fix:
        path = write_fixed_recipe(args.run_dir, findings)
        print(f"fixed recipe: {path}; run it with: trainlab run {path}" if path else "nothing to fix")

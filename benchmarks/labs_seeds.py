"""Labs with vectorized seeds against the same labs one seed at a time (``trainlab lab --separate``).

The labs whose arms train one recipe over many seeds (C7, C12, C17, C20, C25) hand each arm's seeds
to ``trainlab.tools.vectorized.fit_seeds``: one batched model where the recipe allows, else one after
another. This script runs each lab both ways in this process, alternating (the order flips every
repeat), checks that the two results carry the same numbers (every row and criterion; labs run on
one CPU thread, where vectorized seeds give each copy its separate run's bits) and prints the wall
times and their ratio, per lab and in total.

    python benchmarks/labs_seeds.py                     # full variants (10 seeds), 1 repeat
    python benchmarks/labs_seeds.py --quick --repeats 3 # quick variants
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

from trainlab.labs import get_lab
from trainlab.labs.training import separate_seeds

LABS = ("C7", "C12", "C17", "C20", "C25")


def numbers(result) -> str:
    """Every row and criterion of a lab result (not its timing, note or files), as JSON text."""
    return json.dumps({k: v for k, v in result.to_dict().items() if k not in ("seconds", "note", "files")},
                      sort_keys=True, default=str)


def timed(lab: str, quick: bool, separate: bool):
    started = time.perf_counter()
    if separate:
        with separate_seeds():
            result = get_lab(lab).run(quick, None)
    else:
        result = get_lab(lab).run(quick, None)
    return time.perf_counter() - started, result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--labs", default=",".join(LABS), help="comma-separated lab ids")
    parser.add_argument("--quick", action="store_true", help="the quick variants (3 seeds; C17 5)")
    parser.add_argument("--repeats", type=int, default=1, help="timed runs of each way per lab")
    args = parser.parse_args(argv)
    totals = {"vectorized": 0.0, "separate": 0.0}
    same = True
    print(f"{'lab':>4} {'vectorized s':>13} {'separate s':>11} {'ratio':>6}  numbers")
    for lab in args.labs.split(","):
        times = {"vectorized": [], "separate": []}
        results = {}
        for repeat in range(args.repeats):
            order = ("vectorized", "separate") if repeat % 2 == 0 else ("separate", "vectorized")
            for way in order:
                seconds, result = timed(lab, args.quick, way == "separate")
                times[way].append(seconds)
                results[way] = numbers(result)
        identical = results["vectorized"] == results["separate"]
        same &= identical
        v, s = statistics.median(times["vectorized"]), statistics.median(times["separate"])
        totals["vectorized"] += v
        totals["separate"] += s
        print(f"{lab:>4} {v:13.2f} {s:11.2f} {v / s:6.2f}  {'identical' if identical else 'DIFFERENT'}", flush=True)
    v, s = totals["vectorized"], totals["separate"]
    print(f"{'all':>4} {v:13.2f} {s:11.2f} {v / s:6.2f}  {'identical' if same else 'DIFFERENT'}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())

"""The ``trainlab`` command line; it mirrors the Python API one to one.

Each subcommand is a module of :mod:`trainlab.commands` (found by discovery); this module only
builds the parser and is the one error boundary: every error ends in short lines on stderr and an
exit code, never a traceback (``trainlab --debug …`` shows it):

* 2, a user error: :class:`~trainlab.errors.TrainlabError` (recipe, data, run directory), one line per problem;
* 1, the environment: ``OSError`` (naming the file) and ``MemoryError``;
* 1, a bug: any other exception, one line ``internal error: …; rerun with --debug for the traceback``;
* 130, Ctrl-C, with the command that resumes the interrupted run directory.

Every line is bounded in length and has passwords in URIs hidden.
"""
from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
import traceback

import trainlab
import trainlab.commands
from trainlab.errors import TrainlabError, bounded_line
from trainlab.safety.locks import interrupted_dir
from trainlab.safety.redaction import redact

FIRST = ("run", "demo", "listing")  # listed first in --help; the rest alphabetically


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(
        prog="trainlab",
        description="Train neural networks the way the lectures teach it: Recipe → Run → Report.",
        epilog="Start with `trainlab demo`; see `trainlab COMMAND --help` for each command.",
    )
    main.add_argument("--version", action="version", version=f"trainlab {trainlab.__version__}")
    main.add_argument("--debug", action="store_true",
                      help="show the traceback of an error (also with the environment variable TRAINLAB_DEBUG=1)")
    commands = main.add_subparsers(dest="command", metavar="COMMAND")
    names = [m.name for m in pkgutil.iter_modules(trainlab.commands.__path__) if not m.name.startswith("_")]
    for name in sorted(names, key=lambda n: (FIRST.index(n) if n in FIRST else len(FIRST), n)):
        importlib.import_module(f"trainlab.commands.{name}").register(commands)
    return main


MAX_PROBLEMS = 30  # lines of one error printed; the rest are counted


def _say(lines: list[str], prefix: str = "error: ") -> None:
    shown = lines[:MAX_PROBLEMS] + ([f"… and {len(lines) - MAX_PROBLEMS} more"] if len(lines) > MAX_PROBLEMS else [])
    for line in shown:
        print(bounded_line(prefix + redact(line)), file=sys.stderr)


def report_error(error: BaseException) -> int:
    """Print ``error`` as short lines on stderr; return the exit code (see the module docstring)."""
    if isinstance(error, TrainlabError):
        _say(str(error).splitlines() or [type(error).__name__])
        return error.exit_code
    if isinstance(error, KeyboardInterrupt):
        run_dir = interrupted_dir()
        _say([f"resume with: trainlab run --resume {run_dir}" if run_dir else "nothing to resume"], "interrupted; ")
        return 130
    if isinstance(error, MemoryError):
        _say(["out of memory; use smaller sizes (model, data.batch_size) or free memory"])
        return 1
    if isinstance(error, OSError):  # a full disk, a read-only or missing directory: say which file
        where = f" ({error.filename})" if error.filename else ""
        _say([f"{error.strerror or error}{where}"])
        return 1
    text = " ".join(str(error).split()) or "(no message)"
    _say([f"internal error: {type(error).__name__}: {text[:200]}; rerun with --debug for the traceback"], "")
    return 1


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command is None:
        parser().print_help()
        return 0
    try:
        args.handler(args)
    except (Exception, KeyboardInterrupt) as e:  # noqa: BLE001  (the one boundary: every error ends as lines)
        if args.debug or os.environ.get("TRAINLAB_DEBUG") == "1":
            traceback.print_exc()
        return report_error(e)
    return 0


if __name__ == "__main__":
    sys.exit(main())

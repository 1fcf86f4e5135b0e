"""The ``trainlab`` command line; it mirrors the Python API one to one.

Each subcommand is a module of :mod:`trainlab.commands` (found by discovery); this module only
builds the parser and turns errors into one-line messages with an exit code.
"""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

import trainlab
import trainlab.commands
from trainlab.errors import TrainlabError

FIRST = ("run", "demo", "listing")  # listed first in --help; the rest alphabetically


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(
        prog="trainlab",
        description="Train neural networks the way the lectures teach it: Recipe → Run → Report.",
        epilog="Start with `trainlab demo`; see `trainlab COMMAND --help` for each command.",
    )
    main.add_argument("--version", action="version", version=f"trainlab {trainlab.__version__}")
    commands = main.add_subparsers(dest="command", metavar="COMMAND")
    names = [m.name for m in pkgutil.iter_modules(trainlab.commands.__path__) if not m.name.startswith("_")]
    for name in sorted(names, key=lambda n: (FIRST.index(n) if n in FIRST else len(FIRST), n)):
        importlib.import_module(f"trainlab.commands.{name}").register(commands)
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

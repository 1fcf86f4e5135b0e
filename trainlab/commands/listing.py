"""``trainlab list [KIND] [--markdown]``: every registered name with its description and parameters."""
from __future__ import annotations

import argparse
import sys

from trainlab import registry
from trainlab.commands._common import console
from trainlab.errors import TrainlabError


def register(commands: argparse._SubParsersAction) -> None:
    listing = commands.add_parser("list", help="list registered datasets, models, optimizers, …",
                                  description="List every registered name with a one-line description.")
    listing.add_argument("kind", nargs="?", help=f"one of: {', '.join(registry.ALL)} (default: all)")
    listing.add_argument("--markdown", action="store_true",
                         help="print the whole catalogue with formulas and YAML snippets (docs/techniques.md)")
    listing.set_defaults(handler=cmd_list)


def cmd_list(args: argparse.Namespace) -> None:
    from rich.markup import escape
    from rich.table import Table

    if args.markdown:
        from trainlab.report.techniques import techniques_markdown

        sys.stdout.write(techniques_markdown())
        return
    tables = registry.ALL
    if args.kind:
        if args.kind not in tables:
            singular = {t.kind: name for name, t in tables.items()}
            if args.kind not in singular:
                raise TrainlabError(f"list: '{args.kind}' is not a kind; known kinds: {', '.join(tables)}")
            args.kind = singular[args.kind]
        tables = {args.kind: tables[args.kind]}
    out = console()
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
        out.print(view)
        out.print()

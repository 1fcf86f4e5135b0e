"""User-facing errors: one clear line, exit code 2, no traceback from deep inside torch."""
from __future__ import annotations

import difflib
from collections.abc import Iterable

LINE_CHARS = 400  # one printed line of an error at most; a value's repr is cut sooner (trainlab.safety.text)


def bounded_line(line: str, limit: int = LINE_CHARS) -> str:
    """``line`` cut to ``limit`` characters, with … when cut."""
    return line if len(line) <= limit else line[: limit - 1] + "…"


class TrainlabError(Exception):
    """An error caused by the user's input (recipe, data, run directory).

    The CLI prints ``str(error)`` on one line per problem and exits with code 2 (the CLI's error
    boundary is :func:`trainlab.cli.report_error`).
    """

    exit_code = 2


class RecipeError(TrainlabError):
    """A recipe that does not validate; carries one message per problem."""

    def __init__(self, problems: list[str]):
        self.problems = [bounded_line(" ".join(str(p).split("\n"))) for p in problems]  # one line each, bounded
        super().__init__("\n".join(self.problems))


class CheckpointError(TrainlabError):
    """A checkpoint that is missing, truncated, edited or otherwise unreadable."""


def did_you_mean(value: str, known: Iterable[str]) -> str:
    """Return "did you mean 'x'? " for the closest known name, or ''."""
    close = difflib.get_close_matches(str(value), list(known), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'? " if close else ""

"""Hide passwords before a command line or a storage URL is written to a file or printed.

One function, :func:`redact`, used by run.json's ``command``, comparison.json, search logs and
reports, and every error line the command line prints.

>>> redact("--storage postgresql://trainlab:S3CRETpw@db.example:5432/study")
'--storage postgresql://trainlab:***@db.example:5432/study'
>>> redact("mysql://u@h/db?password=x&ssl=1"), redact("sqlite:///runs/study.db")
('mysql://u@h/db?password=***&ssl=1', 'sqlite:///runs/study.db')
"""
from __future__ import annotations

import re
from collections.abc import Iterable

HIDDEN = "***"
# scheme://user:PASSWORD@host — the password runs to the last "@" before the path
_URI_PASSWORD = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]*:)(?P<password>[^\s/]*)(?=@)")
_QUERY_PASSWORD = re.compile(r"(?P<head>[?&;](?:password|passwd|pwd)=)(?P<password>[^&;\s]*)", re.IGNORECASE)


def redact(text: str) -> str:
    """``text`` with every password in a URI (``user:PASSWORD@``, ``?password=…``) replaced by ***."""
    text = _URI_PASSWORD.sub(lambda m: m["head"] + HIDDEN, text)
    return _QUERY_PASSWORD.sub(lambda m: m["head"] + HIDDEN, text)


def redact_argv(argv: Iterable[str]) -> list[str]:
    """A command line (``sys.argv``) with :func:`redact` applied to each word."""
    return [redact(str(word)) for word in argv]

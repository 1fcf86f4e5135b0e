"""Bounded text for messages: a value shown in an error never grows with the value."""
from __future__ import annotations

import reprlib
from typing import Any

VALUE_CHARS = 80  # a value's repr in a message is cut to this many characters

_repr = reprlib.Repr()  # keyword arguments only from Python 3.12
_repr.maxlevel, _repr.maxstring, _repr.maxlong, _repr.maxother = 3, VALUE_CHARS, 40, VALUE_CHARS
_repr.maxtuple = _repr.maxlist = _repr.maxarray = _repr.maxdict = _repr.maxset = _repr.maxfrozenset = 6
_repr.maxdeque = 6


def shorten(value: Any, limit: int = VALUE_CHARS) -> str:
    """``repr(value)`` in at most ``limit`` characters; the work is bounded too (reprlib stops at a
    few levels and items, so a huge or deeply shared value costs no more than a small one).

    >>> len(shorten("x" * 1000)), shorten(list(range(10**6)))
    (80, '[0, 1, 2, 3, 4, 5, ...]')
    """
    text = _repr.repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"

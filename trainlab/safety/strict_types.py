"""Numbers in recipes: finite, and never ``true``/``false``.

pydantic's lax mode turns ``epochs: true`` into 1 and accepts ``lr: .inf``; its strict mode would
also refuse a YAML list for a tuple. These types keep lax mode and refuse only booleans for numbers
(``Int``, ``Float``) and non-finite floats (``Float``). :func:`strict_annotation` rewrites a
factory's type hints the same way, so a technique's parameters follow the same rules as the
recipe's own fields (written by hand: pydantic has no "no bool for numbers" switch).

>>> import pydantic
>>> pydantic.TypeAdapter(strict_annotation(list[int] | None)).validate_python([1, 2])
[1, 2]
>>> [pydantic.TypeAdapter(t).validator.isinstance_python(v) for t, v in ((Int, True), (Float, float("inf")))]
[False, False]
"""
from __future__ import annotations

import types
import typing
from typing import Annotated, Any, Literal, Union

from pydantic import AllowInfNan, BeforeValidator, Strict


def _is_bool(value: Any) -> bool:
    kind = type(value)
    return isinstance(value, bool) or (kind.__module__ == "numpy" and kind.__name__ in ("bool", "bool_"))


def _not_bool(value: Any) -> Any:
    if _is_bool(value):
        raise ValueError("expected a number, not true/false")
    return value


def _plain_bool(value: Any) -> Any:
    return bool(value) if _is_bool(value) else value


Int = Annotated[int, BeforeValidator(_not_bool)]
Float = Annotated[float, BeforeValidator(_not_bool), AllowInfNan(False)]
Bool = Annotated[bool, Strict(), BeforeValidator(_plain_bool)]  # true/false only (numpy's too), not 1/"yes"

_SIMPLE = {int: Int, float: Float, bool: Bool}


def strict_annotation(annotation: Any) -> Any:
    """``annotation`` with every ``int``/``float``/``bool`` inside it (unions, lists, tuples, dicts,
    ``Annotated``) replaced by :data:`Int`/:data:`Float`/:data:`Bool`."""
    if annotation in _SIMPLE:
        return _SIMPLE[annotation]
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is None or not args or origin is Literal:
        return annotation
    if origin is Annotated:
        return Annotated[(strict_annotation(args[0]), *annotation.__metadata__)]
    converted = tuple(strict_annotation(a) for a in args)
    if origin in (Union, types.UnionType):
        return Union[converted]  # noqa: UP007  (built from a tuple)
    try:
        return origin[converted] if origin in (list, tuple, dict, set, frozenset) else annotation[converted]
    except TypeError:
        return annotation  # a generic that cannot be re-subscripted: left as declared

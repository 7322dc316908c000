"""Pydantic validation errors, translated into `<path>: <what is wrong and the fix>`."""

from __future__ import annotations

import difflib
import types
import typing
from typing import Any

from pydantic import BaseModel

from hazardwatch.vocabulary.config_schema import KINDS, SWITCHABLE, RawSite

# ------------------------------------------------------------ pydantic errors, translated


def error_path(loc: tuple[int | str, ...]) -> str:
    """Render a pydantic location as `a[2].b.c`.

    >>> error_path(("enterprises", 2, "hazard_sources", 0, "grade"))
    'enterprises[2].hazard_sources[0].grade'
    """
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def show_value(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the text {value[:40]!r}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"a {type(value).__name__}"


_EXPECTED = {
    "string_type": "text",
    "float_type": "a number",
    "int_type": "a whole number",
    "int_from_float": "a whole number",
    "bool_type": "true or false",
    "list_type": "a list",
    "model_type": "a mapping (key: value)",
    "model_attributes_type": "a mapping (key: value)",
    "dict_type": "a mapping (key: value)",
}


def describe_error(err: Any) -> str:
    kind, loc, value = err["type"], err["loc"], err.get("input")
    ctx = err.get("ctx") or {}
    if kind == "missing":
        return "required field is missing; add it"
    if kind == "extra_forbidden":
        name = str(loc[-1])
        allowed = _fields_at(RawSite, loc[:-1])
        close = difflib.get_close_matches(name, allowed, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return f"unknown field {name!r}{hint} (allowed: {', '.join(allowed)})"
    if kind == "literal_error":
        if loc and loc[-1] == "kind":
            guess = close_kind(value)
            hint = f"; did you mean {guess!r}? (its other checks assumed it)" if guess else ""
            return f"unknown kind {value!r}; valid kinds: {', '.join(KINDS)}{hint}"
        return f"{value!r} is not allowed; expected {ctx.get('expected')}"
    if kind in _EXPECTED:
        hint = ""
        if kind == "string_type" and isinstance(value, int | float):
            hint = "; put it in quotes"
        elif kind in ("float_type", "int_type") and isinstance(value, str) and _numeric(value):
            hint = "; write the number without quotes"
        elif kind == "float_type" and isinstance(value, str) and loc[-1] in SWITCHABLE:
            hint = "; or write off (or null) to switch the check off"
        return f"expected {_EXPECTED[kind]}, got {show_value(value)}{hint}"
    if kind == "greater_than_equal":
        if ctx.get("ge") == 0:
            return f"must not be negative (got {value!r}); use 0 or more"
        return f"must be at least {_bound(ctx.get('ge'))} (got {value!r})"
    if kind == "greater_than":
        return f"must be greater than {_bound(ctx.get('gt'))} (got {value!r})"
    if kind == "less_than_equal":
        return f"must be at most {_bound(ctx.get('le'))} (got {value!r})"
    if kind == "string_too_short":
        return "must not be empty"
    if kind in ("too_short", "too_long"):
        if loc and loc[-1] == "range":
            return f"expected [lo, hi], two numbers; got {len(value)} item(s)"
        if not value:
            return "the list is empty; add at least one item"
        return err["msg"]
    if kind == "finite_number":
        return "must be a finite number, not NaN or infinity"
    return str(err["msg"])


def close_kind(value: Any) -> str | None:
    """The sensor kind a misspelt one most likely meant, if one is close enough.

    >>> close_kind("temprature"), close_kind("gas_combustable"), close_kind("gas")
    ('temperature', 'gas_combustible', None)
    """
    if not isinstance(value, str):
        return None
    close = difflib.get_close_matches(value.strip().lower(), KINDS, n=1, cutoff=0.75)
    return close[0] if close else None


def _bound(x: Any) -> str:
    """A schema bound as written in the config: 0, not 0.0."""
    return f"{x:g}" if isinstance(x, float) else str(x)


def _numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _fields_at(model: type[BaseModel], loc: tuple[int | str, ...]) -> list[str]:
    """The field names of the schema model found at `loc` (for 'did you mean')."""
    tp: Any = model
    for part in loc:
        tp = _strip_optional(tp)
        if isinstance(part, int):
            tp = typing.get_args(tp)[0]  # list[X] -> X
        elif typing.get_origin(tp) is dict:
            tp = typing.get_args(tp)[1]  # dict[str, X] -> X, whatever the key
        elif isinstance(tp, type) and issubclass(tp, BaseModel) and part in tp.model_fields:
            tp = tp.model_fields[part].annotation
        else:
            return []
    tp = _strip_optional(tp)
    return list(tp.model_fields) if isinstance(tp, type) and issubclass(tp, BaseModel) else []


def _strip_optional(tp: Any) -> Any:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        rest = [a for a in typing.get_args(tp) if a is not type(None)]
        return rest[0] if len(rest) == 1 else tp
    return tp

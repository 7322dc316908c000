"""A config that failed its schema, set right as far as its structure allows, so the checks
that need a whole site (limits, duplicates, references) still run and every problem of the
file is reported in one pass.

A misspelt `kind` is read as the kind it is closest to (the message says so); a list item
(an enterprise, hazard source, unit or sensor) with any other schema error is set aside.
An error outside every list item (`park:`, `defaults:`, `areas:`) cannot be set aside:
then only the schema's errors are reported.

>>> data = {"enterprises": [{"id": "a"}, {"id": "b", "x": 1}, {"id": "c"}]}
>>> fixed = repair(data, [{"type": "extra_forbidden", "loc": ("enterprises", 1, "x")}])
>>> fixed.data, fixed.path_text("enterprises[1].id: duplicate")
({'enterprises': [{'id': 'a'}, {'id': 'c'}]}, 'enterprises[2].id: duplicate')
"""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from hazardwatch.vocabulary.config_errors import close_kind

_LISTS = ("enterprises", "hazard_sources", "units", "sensors")
_PATH = re.compile(
    r"enterprises\[(\d+)\](?:\.hazard_sources\[(\d+)\](?:\.units\[(\d+)\](?:\.sensors\[(\d+)\])?)?)?"
)
_NAMED = ("tag", "id", "area")  # what other parts of a site may refer to an item by
_GONE = object()

Loc = tuple[int | str, ...]


@dataclass
class Repair:
    """The config set right, and how to speak of it in the original file's terms."""

    data: dict[str, Any]
    # for each list that lost items (its path in the file): the file's index of each kept item
    kept: dict[Loc, list[int]] = field(default_factory=dict)
    names: set[str] = field(default_factory=set)  # tags, ids and areas of what was set aside

    def path_text(self, text: str) -> str:
        """`text` with every path in it numbered as in the file, not as in `data`."""
        return _PATH.sub(self._renumber, text)

    def concerns_set_aside(self, text: str) -> bool:
        """Whether a problem names something set aside: a consequence, not a problem."""
        return any(repr(name) in text for name in self.names)

    def _renumber(self, match: re.Match[str]) -> str:
        parent: Loc = ()
        out = []
        for name, index in zip(_LISTS, match.groups(), strict=True):
            if index is None:
                break
            parent = (*parent, name)
            kept = self.kept.get(parent)
            original = kept[int(index)] if kept is not None else int(index)
            out.append(f"{name}[{original}]")
            parent = (*parent, original)
        return ".".join(out)


def repair(data: dict[str, Any], errors: Sequence[Any]) -> Repair | None:
    """The config with each schema error set right or set aside; None where it cannot be."""
    fixed = copy.deepcopy(data)
    aside: list[Loc] = []
    for error in errors:
        loc: Loc = tuple(error["loc"])
        guess = close_kind(error.get("input")) if loc[-1:] == ("kind",) else None
        if error["type"] == "literal_error" and guess is not None:
            _at(fixed, loc[:-1])["kind"] = guess
            continue
        item = _item(loc)
        if item is None:
            return None
        aside.append(item)
    out = Repair(fixed)
    for item in sorted(set(aside), key=len):  # outermost first: what is inside goes with it
        if any(item[: len(outer)] == outer for outer in aside if len(outer) < len(item)):
            continue
        container = _at(fixed, item[:-1])
        out.names |= _names(container[item[-1]])
        container[item[-1]] = _GONE
    for item in sorted({a[:-1] for a in aside}, key=len, reverse=True):
        _drop_gone(fixed, item, out)
    return out


def _item(loc: Loc) -> Loc | None:
    """The innermost list item (enterprise, hazard source, unit, sensor) holding `loc`."""
    for i in range(len(loc) - 1, 0, -1):
        if isinstance(loc[i], int) and loc[i - 1] in _LISTS:
            return loc[: i + 1]
    return None


def _at(data: Any, loc: Loc) -> Any:
    for part in loc:
        data = data[part]
    return data


def _drop_gone(data: dict[str, Any], loc: Loc, out: Repair) -> None:
    try:
        items = _at(data, loc)
    except (KeyError, IndexError, TypeError):  # inside something set aside itself
        return
    if not isinstance(items, list) or _GONE not in items:
        return
    # the file's index of each kept item: the path of `loc` is still the file's (lists
    # are emptied innermost first, so no outer index has moved yet)
    out.kept[loc] = [i for i, x in enumerate(items) if x is not _GONE]
    items[:] = [x for x in items if x is not _GONE]


def _names(item: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(item, dict):
        for key, value in item.items():
            if key in _NAMED and isinstance(value, str):
                found.add(value)
            found |= _names(value)
    elif isinstance(item, list):
        for value in item:
            found |= _names(value)
    return found

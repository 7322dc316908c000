"""Salvage: the rows of a gateway batch whose document the JSON parsers refuse as a whole.

orjson refuses integers beyond a double and nesting past 1,024 levels; the stdlib refuses
integers past 4,300 digits, nesting past the recursion limit and bytes that are not UTF-8.
One such row must not cost the batch its good rows: here the frame ``{"ts": ..., "r": [...]}``
is walked by hand and each row parsed on its own, so only the bad row is lost.

>>> batch = salvage_batch(b'{"ts": 5, "r": [["a", 1], [[[[0]]]], ["b", 2]]}', max_depth=3)
>>> batch["ts"], batch["r"][0], batch["r"][1].reason, batch["r"][2]
(5, ['a', 1], <Reason.TOO_DEEP: 'too_deep'>, ['b', 2])
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from json.decoder import scanstring
from typing import Any

from ingest.decoded import Reason
from ingest.fields import STDLIB_JSON, BadField

MAX_DEPTH = 64  # a row is [tag, v, ts?, q?]: anything deeper is not a row

_WS = re.compile(r"[ \t\n\r]*")
# strings (unrolled, so a long one is one match) and the characters that shape the nesting
_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{},]', re.S)
# bytes that were not UTF-8 come back from "surrogateescape" as U+DC80..U+DCFF
_NOT_UTF8 = re.compile("[\udc80-\udcff]")


@dataclass(frozen=True, slots=True)
class Unparsed:
    """One row that could not be parsed: its reason, detail and raw bytes."""

    reason: Reason
    detail: str
    raw: bytes


def salvage_batch(payload: bytes, max_depth: int = MAX_DEPTH) -> dict[str, Any]:
    """The batch object, its rows parsed one by one; a row no parser takes is an `Unparsed`.

    Raises BadField when the frame itself is broken (then nothing can be trusted).
    """
    text = payload.decode("utf-8", "surrogateescape")
    return _Frame(text, max_depth).parse()


class _Frame:
    def __init__(self, text: str, max_depth: int) -> None:
        self.text = text
        self.max_depth = max_depth

    def parse(self) -> dict[str, Any]:
        text = self.text
        header: dict[str, Any] = {}
        pos = _skip_ws(text, self._expect(_skip_ws(text, 0), "{"))
        while not text.startswith("}", pos):
            pos = self._expect(pos, '"')
            key, pos = self._string(pos)
            pos = _skip_ws(text, self._expect(_skip_ws(text, pos), ":"))
            if key == "r" and text.startswith("[", pos):
                header["r"], pos = self._rows(pos + 1)
            else:
                header[key], pos = self._field(key, pos)
            pos = _skip_ws(text, pos)
            if not text.startswith("}", pos):
                pos = _skip_ws(text, self._expect(pos, ","))
        if _skip_ws(text, pos + 1) != len(text):
            raise self._broken(pos + 1, "extra data after the object")
        return header

    def _rows(self, pos: int) -> tuple[list[Any], int]:
        text = self.text
        rows: list[Any] = []
        pos = _skip_ws(text, pos)
        if text.startswith("]", pos):
            return rows, pos + 1
        while True:
            row, pos = self._row(pos)
            rows.append(row)
            pos = _skip_ws(text, pos)
            if text.startswith("]", pos):
                return rows, pos + 1
            pos = _skip_ws(text, self._expect(pos, ","))

    def _row(self, start: int) -> tuple[Any, int]:
        text = self.text
        end, depth = _extent(text, start)  # also proves the frame goes on after this row
        raw = text[start:end].encode("utf-8", "surrogateescape")
        if depth > self.max_depth:
            detail = f"row is nested {depth} levels deep (max {self.max_depth})"
            return Unparsed(Reason.TOO_DEEP, detail, raw), end
        bad = _NOT_UTF8.search(text, start, end)
        if bad is not None:
            byte = ord(bad.group()) - 0xDC00
            detail = f"row is not UTF-8 (byte 0x{byte:02x} at char {bad.start() - start})"
            return Unparsed(Reason.MALFORMED_JSON, detail, raw), end
        try:
            row, stop = STDLIB_JSON.raw_decode(text, start)
        except ValueError as exc:
            return Unparsed(Reason.MALFORMED_JSON, f"row is not JSON: {exc}", raw), end
        if stop != end:
            detail = f"row is not JSON: extra data at char {stop - start}"
            return Unparsed(Reason.MALFORMED_JSON, detail, raw), end
        return row, end

    def _field(self, key: str, start: int) -> tuple[Any, int]:
        """A field beside the rows (the default ts, ...): it serves every row, so it must parse."""
        text = self.text
        end, depth = _extent(text, start)
        if depth > self.max_depth:
            detail = f"field {key!r} is nested {depth} levels deep (max {self.max_depth})"
            raise BadField(Reason.TOO_DEEP, detail)
        if _NOT_UTF8.search(text, start, end):
            raise BadField(Reason.MALFORMED_JSON, f"not JSON: field {key!r} is not UTF-8")
        try:
            value, stop = STDLIB_JSON.raw_decode(text, start)
        except ValueError as exc:
            raise BadField(Reason.MALFORMED_JSON, f"not JSON: field {key!r}: {exc}") from None
        if stop != end:
            raise self._broken(stop, f"extra data in field {key!r}")
        return value, end

    def _string(self, pos: int) -> tuple[str, int]:
        try:
            return scanstring(self.text, pos)
        except ValueError as exc:
            raise BadField(Reason.MALFORMED_JSON, f"not JSON: {exc}") from None

    def _expect(self, pos: int, char: str) -> int:
        if not self.text.startswith(char, pos):
            raise self._broken(pos, f"expected {char!r}")
        return pos + 1

    def _broken(self, pos: int, what: str) -> BadField:
        return BadField(Reason.MALFORMED_JSON, f"not JSON: {what} at char {pos}")


def _skip_ws(text: str, pos: int) -> int:
    match = _WS.match(text, pos)
    assert match is not None  # the pattern matches the empty string
    return match.end()


def _extent(text: str, start: int) -> tuple[int, int]:
    """(end, depth) of the value starting at `start`: where the `,` `]` or `}` that closes
    it stands, and how deep its brackets nest.

    Counts brackets and skips strings, so it measures a value no parser takes.
    """
    depth = deepest = 0
    for match in _TOKEN.finditer(text, start):
        char = match.group()[0]
        if char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            if depth == 0:
                return _trim(text, start, match.start()), deepest
            depth -= 1
        elif char == "," and depth == 0:
            return _trim(text, start, match.start()), deepest
    raise BadField(Reason.MALFORMED_JSON, f"not JSON: unterminated value at char {start}")


def _trim(text: str, start: int, end: int) -> int:
    while end > start and text[end - 1] in " \t\n\r":
        end -= 1
    return end

"""The fields of a reading on the wire: value, quality, timestamp, JSON; each checked with a
specific reason (ingest.decoded.Reason) when it is bad."""

from __future__ import annotations

import json
import math
import re
from datetime import datetime
from typing import Any

import orjson

from hazardwatch.model import Quality
from ingest.decoded import Reason

_QUALITY = {"good": Quality.GOOD, "uncertain": Quality.UNCERTAIN, "bad": Quality.BAD}
_NON_FINITE_WORDS = frozenset(
    {"nan", "-nan", "+nan", "inf", "-inf", "+inf", "infinity", "-infinity", "+infinity"}
)


class BadField(Exception):
    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def kind_of(x: object) -> str:
    """JSON-ish name of a value's type, for details."""
    if x is None:
        return "null"
    return {bool: "bool", int: "number", float: "number", str: "string", list: "array"}.get(
        type(x), "object" if isinstance(x, dict) else type(x).__name__
    )


def short(x: object, limit: int = 60) -> str:
    text = repr(x)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def reading_value(v: Any) -> float:
    """A reading's value as a finite float, or BadField."""
    t = type(v)
    if t is float:
        if v - v == 0.0:  # false for NaN and +-inf
            return float(v)
        raise BadField(Reason.NOT_FINITE, f"v is {v!r}")
    if t is int:
        try:
            return float(v)
        except OverflowError:
            raise BadField(Reason.NOT_FINITE, "v overflows a double") from None
    if t is str and v.strip().lower() in _NON_FINITE_WORDS:
        raise BadField(Reason.NOT_FINITE, f"v is the string {short(v)}")
    raise BadField(Reason.WRONG_TYPE, f"v must be a number, got {kind_of(v)} {short(v)}")


def reading_quality(q: Any) -> int:
    if q is None:
        return Quality.GOOD
    found = _QUALITY.get(q) if type(q) is str else None
    if found is None:
        raise BadField(Reason.BAD_QUALITY, f"q must be good|uncertain|bad, got {short(q)}")
    return found


MAX_DIGITS = 400  # a double holds no integer longer than 309 digits


def parse_int(text: str) -> int | float:
    """The stdlib parser's integer hook: an integer too long for a double is ±inf, like 1e400.

    Without it the stdlib refuses an integer of 4,300 digits or more, and with it the
    whole document.

    >>> parse_int("42"), parse_int("-" + "9" * 500)
    (42, -inf)
    """
    if len(text) <= MAX_DIGITS:
        return int(text)
    return -math.inf if text.startswith("-") else math.inf


STDLIB_JSON = json.JSONDecoder(parse_int=parse_int)
MAX_STDLIB_DEPTH = 512  # well inside the recursion limit, wherever the decoder is called

# strings (unrolled, so a long one is one match) and the characters that shape the nesting
TOKEN = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{},]', re.S)


def nesting(payload: bytes) -> int:
    """How deep the arrays and objects of a JSON text nest (strings skipped).

    >>> nesting(b'{"a": [[1], "]]]"]}'), nesting(b"7")
    (3, 0)
    """
    depth = deepest = 0
    for match in TOKEN.finditer(payload):
        char = match.group()[:1]
        if char in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
        elif char in (b"]", b"}"):
            depth -= 1
    return deepest


def loads(payload: bytes) -> Any:
    """Parse JSON; fall back to the stdlib only on error, so NaN/1e400 become not_finite rows."""
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        first = exc
    payload = bytes(payload)
    # the stdlib's depth limit moves with the stack: it is only asked what it surely
    # parses, so the same payload gets the same answer anywhere
    brackets = payload.count(b"[") + payload.count(b"{")
    depth = nesting(payload) if brackets > MAX_STDLIB_DEPTH else 0
    if depth > MAX_STDLIB_DEPTH:
        raise BadField(Reason.TOO_DEEP, f"nested {depth} levels deep (max {MAX_STDLIB_DEPTH})")
    try:
        # orjson refuses NaN literals and numbers that overflow a double; the stdlib
        # parses them, so one bad value costs one row instead of the whole batch.
        return STDLIB_JSON.decode(payload.decode("utf-8"))
    except ValueError:  # also UnicodeDecodeError
        raise BadField(Reason.MALFORMED_JSON, f"not JSON: {first}") from None


class TsWindow:
    """Timestamps accepted for one message: parsed, then checked against receipt time."""

    __slots__ = ("_iso", "hi", "lo", "max_age_s", "max_future_s", "received")

    def __init__(self, received: float, max_age_s: float, max_future_s: float) -> None:
        self.received = received
        self.max_age_s, self.max_future_s = max_age_s, max_future_s
        self.lo = received - max_age_s
        self.hi = received + max_future_s
        self._iso: dict[str, float] = {}  # gateways repeat one ISO string for many rows

    def ts(self, raw: Any) -> float:
        t = type(raw)
        if t is float or t is int:
            try:
                ts = float(raw)
            except OverflowError:
                raise BadField(Reason.BAD_TIMESTAMP, "ts overflows a double") from None
            if ts - ts != 0.0:
                raise BadField(Reason.BAD_TIMESTAMP, f"ts is {ts!r}")
        elif t is str:
            ts = self._iso[raw] if raw in self._iso else self._parse_iso(raw)
        else:
            raise BadField(
                Reason.BAD_TIMESTAMP,
                f"ts must be epoch seconds or an ISO 8601 string, got {kind_of(raw)}",
            )
        if ts > self.hi:
            hint = " (milliseconds instead of seconds?)" if ts > 1e11 else ""
            raise BadField(
                Reason.TS_FUTURE,
                f"ts {ts:.3f} is {ts - self.received:.1f} s after receipt "
                f"(max {self.max_future_s:g} s){hint}",
            )
        if ts < self.lo:
            raise BadField(
                Reason.TS_TOO_OLD,
                f"ts {ts:.3f} is {self.received - ts:.1f} s before receipt "
                f"(max {self.max_age_s:g} s)",
            )
        return ts

    def _parse_iso(self, raw: str) -> float:
        try:
            parsed = datetime.fromisoformat(raw)
            if parsed.tzinfo is None or parsed.utcoffset() is None:
                raise BadField(
                    Reason.BAD_TIMESTAMP,
                    f"ISO timestamp {short(raw)} has no UTC offset (add Z or +08:00)",
                )
            ts = parsed.timestamp()
        except (ValueError, OverflowError, OSError):
            raise BadField(Reason.BAD_TIMESTAMP, f"ts {short(raw)} is not ISO 8601") from None
        self._iso[raw] = ts
        return ts

"""The fields of a reading on the wire: value, quality, timestamp, JSON; each checked with a
specific reason (ingest.decoded.Reason) when it is bad."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
import orjson

from hazardwatch.vocabulary.model import Quality
from ingest.decoded import Reason

_QUALITY = {"good": Quality.GOOD, "uncertain": Quality.UNCERTAIN, "bad": Quality.BAD}
# a text cell (a CSV's) of a quality column: empty is a missing "q"
_QUALITY_CELL: dict[Any, int] = {**_QUALITY, "": Quality.GOOD, None: Quality.GOOD}
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


MAX_EPOCH_S = 1e11  # beyond year 5000: almost surely milliseconds
MS_HINT = " (milliseconds instead of seconds?)"


def timestamp(raw: Any, iso: dict[str, float] | None = None) -> float:
    """A reading's `ts` as epoch seconds: a finite number, or ISO 8601 with a UTC offset.

    `iso` caches parsed strings (senders repeat one ISO time for many rows).

    >>> timestamp(1763800000.5), timestamp("2025-11-22T16:26:40+08:00")
    (1763800000.5, 1763800000.0)
    """
    t = type(raw)
    if t is float or t is int:
        try:
            ts = float(raw)
        except OverflowError:
            raise BadField(Reason.BAD_TIMESTAMP, "ts overflows a double") from None
        if ts - ts != 0.0:
            raise BadField(Reason.BAD_TIMESTAMP, f"ts is {ts!r}")
        return ts
    if t is str:
        if iso is not None and raw in iso:
            return iso[raw]
        ts = _parse_iso(raw)
        if iso is not None:
            iso[raw] = ts
        return ts
    raise BadField(
        Reason.BAD_TIMESTAMP,
        f"ts must be epoch seconds or an ISO 8601 string, got {kind_of(raw)}",
    )


def _parse_iso(raw: str) -> float:
    try:
        parsed = datetime.fromisoformat(raw)
        if parsed.tzinfo is None or parsed.utcoffset() is None:
            raise BadField(
                Reason.BAD_TIMESTAMP,
                f"ISO timestamp {short(raw)} has no UTC offset (add Z or +08:00)",
            )
        return parsed.timestamp()
    except (ValueError, OverflowError, OSError):
        raise BadField(Reason.BAD_TIMESTAMP, f"ts {short(raw)} is not ISO 8601") from None


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
        ts = timestamp(raw, self._iso)
        if ts > self.hi:
            hint = MS_HINT if ts > MAX_EPOCH_S else ""
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


# ------------------------------------------------------------------ columns of text cells
# A recorded file (CSV) holds every field as text. A cell that reads as a number is what a
# JSON number is on the wire, any other cell a JSON string; each goes through the same
# function as a field of an MQTT payload, so it is accepted or rejected alike, for the same
# reason and with the same words. Columns are parsed in C; only odd cells go one by one.


def _numbers(cells: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(values, numeric): numeric is False where a cell is no number (its value NaN)."""
    try:
        values = np.array(cells, dtype=np.float64)
        return values, np.ones(values.shape[0], np.bool_)
    except ValueError:
        pass
    values = np.full(len(cells), np.nan)
    numeric = np.zeros(len(cells), np.bool_)
    for i, text in enumerate(cells):
        try:
            values[i] = float(text)
            numeric[i] = True
        except ValueError:
            continue
    return values, numeric


def _as_wire(text: str, number: float, numeric: bool) -> float | str:
    return number if numeric else text


def values(cells: Sequence[str]) -> tuple[np.ndarray, dict[int, BadField]]:
    """`reading_value` over a column of text cells: (values, the problem of each bad cell).

    >>> v, bad = values(["1.5", "nan", "twelve"])
    >>> float(v[0]), [(i, b.reason.value) for i, b in bad.items()], bad[2].detail
    (1.5, [(1, 'not_finite'), (2, 'wrong_type')], "v must be a number, got string 'twelve'")
    """
    out, numeric = _numbers(cells)
    bad: dict[int, BadField] = {}
    for i in np.flatnonzero(~numeric | ~np.isfinite(out)).tolist():
        try:
            reading_value(_as_wire(cells[i], float(out[i]), bool(numeric[i])))
        except BadField as problem:
            bad[i] = problem
        out[i] = np.nan
    return out, bad


def timestamps(cells: Sequence[str]) -> tuple[np.ndarray, dict[int, BadField]]:
    """`timestamp` over a column of text cells: (epoch seconds, NaN where bad; the problems).

    >>> ts, bad = timestamps(["1763800000.5", "2025-11-22T08:26:41Z", "2025-11-22T08:26:41"])
    >>> ts[:2].tolist(), bad[2].reason.value, bad[2].detail[-35:]
    ([1763800000.5, 1763800001.0], 'bad_timestamp', 'has no UTC offset (add Z or +08:00)')
    """
    out, numeric = _numbers(cells)
    bad: dict[int, BadField] = {}
    iso: dict[str, float] = {}  # long files repeat one ISO time for every tag
    for i in np.flatnonzero(~numeric | ~np.isfinite(out)).tolist():
        try:
            out[i] = timestamp(_as_wire(cells[i], float(out[i]), bool(numeric[i])), iso)
        except BadField as problem:
            out[i] = np.nan
            bad[i] = problem
    return out, bad


def qualities(cells: Sequence[str | None]) -> tuple[np.ndarray, dict[int, BadField]]:
    """`reading_quality` over a column of text cells; an empty cell is a missing ``q``.

    >>> q, bad = qualities(["good", "", "bad", "GOOD"])
    >>> q.tolist(), bad[3].detail
    ([0, 0, 2, 0], "q must be good|uncertain|bad, got 'GOOD'")
    """
    codes = list(map(_QUALITY_CELL.get, cells))
    bad: dict[int, BadField] = {}
    if None in codes:
        for i, code in enumerate(codes):
            if code is None:
                try:
                    reading_quality(cells[i])
                except BadField as problem:
                    bad[i] = problem
                codes[i] = Quality.GOOD
    return np.array(codes, np.uint8).reshape(len(codes)), bad

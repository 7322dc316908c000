"""Wire format v1: MQTT topic + payload bytes -> a columnar Batch, rejections, gateway status.

Topics under the configurable root (default ``hw``):

- ``<root>/<enterprise>/<tag>``: one reading ``{"v": 12.3, "ts": 1763800000.5, "q": "good"}``
- ``<root>/<enterprise>/_batch/<gateway>``: ``{"ts": <default>, "r": [[tag, v, ts?, q?], ...]}``
- ``<root>/<enterprise>/_status/<gateway>``: ``online`` or ``offline``
- ``<root>/<enterprise>/_plan``: a transfer plan or its end (ingest.plans)

The decoder never raises on outside input: every row ends up either in the batch or as
exactly one `Rejection`; a message-level rejection (``row is None``) accepts nothing.
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from typing import Any

import numpy as np
import orjson

from hazardwatch.vocabulary.model import (
    FLAG_TS_AHEAD,
    FLAG_TS_FROM_RECEIPT,
    Batch,
    Quality,
    SensorTable,
)
from ingest.decoded import Decoded, GatewayStatus, Reason, Rejection
from ingest.fields import (
    BadField,
    TsWindow,
    kind_of,
    loads,
    reading_quality,
    reading_value,
    short,
)
from ingest.plans import decode_plan
from ingest.salvage import Unparsed, salvage_batch
from ingest.tag_orders import TagOrders

log = logging.getLogger(__name__)

MAX_PAYLOAD_BYTES = 256 * 1024
MAX_FUTURE_S = 300.0
# A reading stamped later than this after its receipt is judged at receipt time, flagged
# FLAG_TS_AHEAD and noted: a device clock ahead must not make the detector wait for it (the
# detector ignores a reading older than the last one it applied). [product default]
AHEAD_TOLERANCE_S = 5.0
MAX_AGE_S = 7 * 24 * 3600.0

_STATUS = {b"online": True, b"offline": False}


def _frozen_empty() -> Batch:
    empty = Batch.empty()
    for column in (empty.sensor, empty.ts, empty.value, empty.quality, empty.flags):
        column.flags.writeable = False
    return empty


_EMPTY = _frozen_empty()  # shared by every message that yields no readings


class Decoder:
    """Turns one MQTT message into good readings, rejections and gateway status."""

    def __init__(
        self,
        table: SensorTable,
        root_topic: str = "hw",
        max_payload_bytes: int = MAX_PAYLOAD_BYTES,
        max_future_s: float = MAX_FUTURE_S,
        max_age_s: float = MAX_AGE_S,
        ahead_tolerance_s: float = AHEAD_TOLERANCE_S,
    ) -> None:
        self.table = table
        self.ahead_tolerance_s = ahead_tolerance_s
        self.root_topic = root_topic.strip("/")
        self.max_payload_bytes = max_payload_bytes
        self.max_future_s = max_future_s
        self.max_age_s = max_age_s
        self._prefix = self.root_topic + "/"
        # One dict per enterprise, so a row costs one lookup and no enterprise compare.
        self._tags_of: dict[str, dict[str, int]] = {}
        for i, (tag, ent) in enumerate(zip(table.tags, table.enterprise, strict=True)):
            self._tags_of.setdefault(ent, {})[tag] = i
        self._routes: dict[str, tuple[str, str, str, int]] = {}
        self.orders = TagOrders(table.tags)

    def decode(self, topic: str, payload: bytes, received_ts: float) -> Decoded:
        """Decode one message; never raises."""
        try:
            decoded = self._decode(topic, payload, received_ts)
            ts = decoded.batch.ts
            if ts.size and ts.max() > received_ts + self.ahead_tolerance_s:
                decoded = self._judged_at_receipt(topic, decoded, received_ts)
            return decoded
        except Exception as exc:
            log.exception("decoder bug on topic %r", topic)
            detail = f"decoder error {type(exc).__name__}: {exc}"
            return _rejected(Reason.INTERNAL_ERROR, topic, detail, bytes(payload[:4096]))

    def _judged_at_receipt(self, topic: str, decoded: Decoded, received: float) -> Decoded:
        """The readings stamped more than the tolerance after receipt, moved to receipt time
        and flagged FLAG_TS_AHEAD; each noted (Reason.TS_AHEAD) with its original ts."""
        b = decoded.batch
        ahead = b.ts > received + self.ahead_tolerance_s
        noted = tuple(
            Rejection(
                Reason.TS_AHEAD,
                topic,
                f"ts {t:.3f} is {t - received:.1f} s after receipt (tolerance "
                f"{self.ahead_tolerance_s:g} s): judged at receipt time; the device's clock "
                "runs ahead",
                orjson.dumps([self.table.tags[i], v, t]),
            )
            for i, v, t in zip(
                b.sensor[ahead].tolist(), b.value[ahead].tolist(), b.ts[ahead].tolist(), strict=True
            )
        )
        batch = Batch(
            sensor=b.sensor,
            ts=np.where(ahead, received, b.ts),
            value=b.value,
            quality=b.quality,
            flags=b.flags | (ahead * np.uint8(FLAG_TS_AHEAD)).astype(np.uint8),
        )
        return replace(decoded, batch=batch, noted=decoded.noted + noted)

    # ------------------------------------------------------------------ dispatch

    def _decode(self, topic: str, payload: bytes, received: float) -> Decoded:
        size = len(payload)
        if size > self.max_payload_bytes:
            detail = (
                f"payload is {size} bytes, limit {self.max_payload_bytes}"
                f" (dead letter keeps the first {self.max_payload_bytes})"
            )
            return _rejected(Reason.OVERSIZE, topic, detail, payload[: self.max_payload_bytes])
        try:
            route = self._routes.get(topic) or self._route(topic)
            form, enterprise, name, idx = route
            if form == "single":
                return self._single(idx, payload, received)
            if form == "batch":
                return self._batch(topic, enterprise, name, payload, received)
            if form == "plan":
                window = TsWindow(received, self.max_age_s, self.max_future_s)
                plan = decode_plan(loads(payload), enterprise, self.table, window)
                return Decoded(_EMPTY, [], plan=plan)
            return self._status(enterprise, name, payload, received)
        except BadField as bad:
            return _rejected(bad.reason, topic, bad.detail, payload)

    def _route(self, topic: str) -> tuple[str, str, str, int]:
        """(form, enterprise, tag or gateway, sensor index or -1); cached once it resolves."""
        if not topic.startswith(self._prefix):
            raise BadField(Reason.BAD_TOPIC, f"topic is not under {self._prefix!r}")
        parts = topic[len(self._prefix) :].split("/")
        route: tuple[str, str, str, int] | None = None
        if len(parts) == 2 and parts[0] and parts[1] == "_plan":
            if parts[0] not in self._tags_of:
                raise BadField(Reason.UNKNOWN_GATEWAY, f"enterprise {short(parts[0])} is unknown")
            route = ("plan", parts[0], "", -1)
        elif len(parts) == 2 and parts[0] and parts[1] and not parts[1].startswith("_"):
            route = ("single", parts[0], parts[1], self._resolve(parts[0], parts[1]))
        elif len(parts) == 3 and parts[0] and parts[2] and parts[1] in ("_batch", "_status"):
            self._gateway(parts[0], parts[2])
            route = (parts[1][1:], parts[0], parts[2], -1)
        if route is None:
            raise BadField(
                Reason.BAD_TOPIC,
                f"expected {self._prefix}<enterprise>/<tag>, .../_batch/<gateway>, "
                ".../_status/<gateway> or .../_plan",
            )
        # only topics that resolved are kept, so the cache is bounded by the site config
        self._routes[topic] = route
        return route

    def _gateway(self, enterprise: str, gateway: str) -> None:
        if f"{enterprise}/{gateway}" not in self.table.gateway_sensors:
            raise BadField(
                Reason.UNKNOWN_GATEWAY,
                f"gateway {gateway!r} of enterprise {enterprise!r} is not in the site config",
            )

    def _resolve(self, enterprise: str, tag: str) -> int:
        idx = self._tags_of.get(enterprise, {}).get(tag)
        if idx is not None:
            return idx
        owner = self.table.tag_index.get(tag)
        if owner is None:
            raise BadField(Reason.UNKNOWN_TAG, f"tag {short(tag)} is not in the site config")
        raise BadField(
            Reason.WRONG_ENTERPRISE,
            f"tag {tag!r} belongs to enterprise {self.table.enterprise[owner]!r},"
            f" not {enterprise!r}",
        )

    # ------------------------------------------------------------------ the three forms

    def _status(self, enterprise: str, gateway: str, payload: bytes, received: float) -> Decoded:
        online = _STATUS.get(bytes(payload).strip())
        if online is None:
            raise BadField(
                Reason.WRONG_TYPE,
                f"status payload must be 'online' or 'offline', got {short(bytes(payload))}",
            )
        status = GatewayStatus(enterprise, gateway, online, received)
        return Decoded(_EMPTY, [], status)

    def _single(self, idx: int, payload: bytes, received: float) -> Decoded:
        obj = loads(payload)
        if type(obj) is not dict:
            raise BadField(
                Reason.WRONG_TYPE,
                f'payload must be an object like {{"v": 1.5}}, got {kind_of(obj)}',
            )
        if "v" not in obj:
            raise BadField(Reason.WRONG_TYPE, "payload has no 'v'")
        value = reading_value(obj["v"])
        raw_ts = obj.get("ts")
        if raw_ts is None:
            ts, flags = received, FLAG_TS_FROM_RECEIPT
        else:
            ts, flags = TsWindow(received, self.max_age_s, self.max_future_s).ts(raw_ts), 0
        quality = reading_quality(obj.get("q"))
        return Decoded(
            Batch(
                sensor=np.array([idx], np.int64),
                ts=np.array([ts], np.float64),
                value=np.array([value], np.float64),
                quality=np.array([quality], np.uint8),
                flags=np.array([flags], np.uint8),
            ),
            [],
        )

    def _batch(
        self, topic: str, enterprise: str, gateway: str, payload: bytes, received: float
    ) -> Decoded:
        salvaged = False
        try:
            obj: Any = loads(payload)
        except BadField as bad:
            if bad.reason not in _SALVAGEABLE:
                raise
            # one row no parser takes must not cost the others: parse row by row
            obj, salvaged = salvage_batch(bytes(payload)), True
        if type(obj) is not dict:
            raise BadField(
                Reason.WRONG_TYPE,
                f'payload must be an object like {{"r": [...]}}, got {kind_of(obj)}',
            )
        rows = obj.get("r")
        if type(rows) is not list:
            raise BadField(Reason.WRONG_TYPE, f"'r' must be an array of rows, got {kind_of(rows)}")
        seq = _seq(enterprise, gateway, obj)
        window = TsWindow(received, self.max_age_s, self.max_future_s)
        # The default ts is checked once; if it is bad, only the rows that need it fail.
        default_ts: float = received
        default_flags = FLAG_TS_FROM_RECEIPT
        default_bad: BadField | None = None
        if obj.get("ts") is not None:
            default_flags = 0
            try:
                default_ts = window.ts(obj["ts"])
            except BadField as bad:
                default_bad = BadField(bad.reason, f"batch default {bad.detail}")
        lookup = self._tags_of.get(enterprise, {})
        rejections: list[Rejection] = []
        if default_bad is None and rows and not salvaged:
            batch = _all_good(rows, lookup, self.orders, window, default_ts, default_flags)
            if batch is not None:
                return Decoded(batch, rejections, seq=seq)
        batch = self._row_by_row(
            topic, rows, enterprise, window, default_ts, default_flags, default_bad, rejections
        )
        if len(batch) > 1:
            batch = _drop_duplicates(batch, rows, rejections, topic, self.table.tags)
        return Decoded(batch, rejections, seq=seq)

    def _row_by_row(
        self,
        topic: str,
        rows: list[Any],
        enterprise: str,
        window: TsWindow,
        default_ts: float,
        default_flags: int,
        default_bad: BadField | None,
        rejections: list[Rejection],
    ) -> Batch:
        """The careful path: each row validated on its own, bad rows become rejections."""
        sensors: list[int] = []
        values: list[float] = []
        stamps: list[float] = []
        odd: list[tuple[int, int, int]] = []  # (position, quality, flags) where not default
        for i, row in enumerate(rows):
            try:
                idx, ts, value, quality, flags = self._row(
                    row, enterprise, window, default_ts, default_flags, default_bad
                )
            except BadField as bad:
                rejections.append(Rejection(bad.reason, topic, bad.detail, _dump(row), i))
                continue
            sensors.append(idx)
            values.append(value)
            stamps.append(ts)
            if quality or flags:
                odd.append((len(sensors) - 1, quality, flags))
        return _columns(sensors, stamps, values, odd)

    def _row(
        self,
        row: Any,
        enterprise: str,
        window: TsWindow,
        default_ts: float,
        default_flags: int,
        default_bad: BadField | None,
    ) -> tuple[int, float, float, int, int]:
        if type(row) is not list:
            if type(row) is Unparsed:
                raise BadField(row.reason, row.detail)
            raise BadField(
                Reason.WRONG_TYPE, f"row must be an array [tag, v, ts?, q?], got {kind_of(row)}"
            )
        n = len(row)
        if not 2 <= n <= 4:
            raise BadField(Reason.WRONG_TYPE, f"row has {n} items, expected 2 to 4")
        tag = row[0]
        if type(tag) is not str:
            raise BadField(Reason.WRONG_TYPE, f"tag must be a string, got {kind_of(tag)}")
        idx = self._resolve(enterprise, tag)
        value = reading_value(row[1])
        if n >= 3 and row[2] is not None:
            ts, flags = window.ts(row[2]), 0
        elif default_bad is not None:
            raise default_bad
        else:
            ts, flags = default_ts, default_flags
        quality = reading_quality(row[3]) if n == 4 else Quality.GOOD
        return idx, ts, value, quality, flags


_NUMBER = frozenset({float, int})
_SALVAGEABLE = frozenset({Reason.MALFORMED_JSON, Reason.TOO_DEEP})


def _all_good(
    rows: list[Any],
    lookup: dict[str, int],
    orders: TagOrders,
    window: TsWindow,
    default_ts: float,
    default_flags: int,
) -> Batch | None:
    """A batch whose rows are all good, in a few C-level passes; None if any row is not.

    Handles the common shapes, all ``[tag, v]`` or all ``[tag, v, ts]`` with numeric
    values and timestamps and no duplicates. Anything else, or any doubt, returns None
    and the caller goes row by row.
    """
    try:
        columns = tuple(zip(*rows, strict=True))
    except (TypeError, ValueError):  # a row without items, or rows of different lengths
        return None
    if len(columns) == 2:
        tags, values = columns
        stamps: tuple[Any, ...] | None = None
    elif len(columns) == 3:
        tags, values, stamps = columns
    else:
        return None
    # exact types: bool is an int subclass, and dict or string rows unpack to strings
    if not set(map(type, values)) <= _NUMBER:
        return None
    if stamps is not None and not set(map(type, stamps)) <= _NUMBER:
        return None
    try:
        resolved = orders.resolve(lookup, tags)
        if resolved is None:
            return None
        value = np.array(values, np.float64)
        ts = np.array(stamps, np.float64) if stamps is not None else None
    except (TypeError, OverflowError):
        return None
    if not np.isfinite(value).all():
        return None
    sensors, unique = resolved
    n = len(sensors)
    if ts is None:
        if not unique:
            return None
        ts = np.full(n, default_ts, np.float64)
        flags = np.full(n, default_flags, np.uint8)
    else:
        if not ((ts >= window.lo) & (ts <= window.hi)).all():
            return None
        if not unique and len(set(zip(sensors.tolist(), ts.tolist(), strict=True))) != n:
            return None
        flags = np.zeros(n, np.uint8)
    return Batch(
        sensor=sensors,
        ts=ts,
        value=value,
        quality=np.zeros(n, np.uint8),
        flags=flags,
    )


def _seq(enterprise: str, gateway: str, obj: dict[str, Any]) -> tuple[str, int] | None:
    """The batch's optional sequence number; -1 stands for one that is not a whole number
    of 0 or more (counted as bad; the rows are judged as usual)."""
    if "seq" not in obj:
        return None
    seq = obj["seq"]
    ok = type(seq) is int and 0 <= seq < 2**63
    return f"{enterprise}/{gateway}", seq if ok else -1


def _rejected(reason: Reason, topic: str, detail: str, payload: bytes) -> Decoded:
    return Decoded(_EMPTY, [Rejection(reason, topic, detail, bytes(payload), None)])


def _dump(row: Any) -> bytes:
    if type(row) is Unparsed:
        return row.raw
    try:
        return orjson.dumps(row)
    except (TypeError, orjson.JSONEncodeError):
        # NaN from the stdlib fallback, or integers beyond 64 bits
        return json.dumps(row, default=repr).encode("utf-8", "backslashreplace")


def _columns(
    sensors: list[int], stamps: list[float], values: list[float], odd: list[tuple[int, int, int]]
) -> Batch:
    n = len(sensors)
    quality = np.zeros(n, np.uint8)
    flags = np.zeros(n, np.uint8)
    for pos, q, f in odd:
        quality[pos] = q
        flags[pos] = f
    return Batch(
        sensor=np.array(sensors, np.int64),
        ts=np.array(stamps, np.float64),
        value=np.array(values, np.float64),
        quality=quality,
        flags=flags,
    )


def _drop_duplicates(
    batch: Batch, rows: list[Any], rejections: list[Rejection], topic: str, tags: tuple[str, ...]
) -> Batch:
    """Keep the first of several rows with the same sensor and ts; reject the others."""
    order = np.lexsort((batch.ts, batch.sensor))
    s, t = batch.sensor[order], batch.ts[order]
    if not np.any((s[1:] == s[:-1]) & (t[1:] == t[:-1])):
        return batch
    rejected = {r.row for r in rejections}
    row_of = [i for i in range(len(rows)) if i not in rejected]  # accepted rows, in order
    seen: set[tuple[int, float]] = set()
    keep = np.ones(len(batch), np.bool_)
    for pos, key in enumerate(zip(batch.sensor.tolist(), batch.ts.tolist(), strict=True)):
        if key in seen:
            keep[pos] = False
            i = row_of[pos]
            detail = f"tag {tags[key[0]]!r} at ts {key[1]:.3f} already appeared in this message"
            rejections.append(Rejection(Reason.DUPLICATE, topic, detail, _dump(rows[i]), i))
        seen.add(key)
    rejections.sort(key=lambda r: r.row if r.row is not None else -1)
    return Batch(
        sensor=batch.sensor[keep],
        ts=batch.ts[keep],
        value=batch.value[keep],
        quality=batch.quality[keep],
        flags=batch.flags[keep],
    )

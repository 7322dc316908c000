"""Rows: the readings of one message of a gateway input, gathered one by one into a Batch.

The ThingsBoard and Sparkplug inputs find their readings one at a time, each already
resolved to a sensor index and checked; `Rows` keeps the first of several readings of one
sensor at one ts (the others are rejected as duplicates), judges a reading stamped past
`ahead_after` at receipt time as wire format v1 does (FLAG_TS_AHEAD, noted) and builds the
columns once.

>>> rows = Rows("t")
>>> rows.add(3, 10.0, 1.5, 0, 0); rows.add(3, 10.0, 1.6, 0, 0)
>>> batch = rows.batch()
>>> batch.value.tolist(), [r.reason.value for r in rows.rejections]
([1.5], ['duplicate'])
"""

from __future__ import annotations

import numpy as np
import orjson

from hazardwatch.vocabulary.model import FLAG_TS_AHEAD, Batch
from ingest.decoded import Reason, Rejection


class Rows:
    """Readings and rejections of one message, in the order they were found."""

    __slots__ = (
        "_flags",
        "_odd",
        "_quality",
        "_seen",
        "ahead_after",
        "noted",
        "received",
        "rejections",
        "sensor",
        "tags",
        "topic",
        "ts",
        "value",
    )

    def __init__(
        self,
        topic: str,
        received: float = float("inf"),
        ahead_after: float = float("inf"),
        tags: tuple[str, ...] = (),
    ) -> None:
        self.topic = topic
        self.tags = tags  # names for the dead letter, by sensor index
        self.received = received
        self.ahead_after = ahead_after  # readings stamped later: judged at receipt time
        self.noted: list[Rejection] = []
        self.sensor: list[int] = []
        self.ts: list[float] = []
        self._quality: list[int] = []
        self._flags: list[int] = []
        self._odd = False  # any quality or flag not zero
        self._seen: set[tuple[int, float]] = set()
        self.rejections: list[Rejection] = []
        self.value: list[float] = []

    def add(self, sensor: int, ts: float, value: float, quality: int, flags: int) -> None:
        """One checked reading; a second one of the same sensor and ts is a duplicate."""
        if ts > self.ahead_after:
            raw = self._raw(sensor, value, ts)
            detail = (
                f"ts {ts:.3f} is {ts - self.received:.1f} s after receipt: judged at receipt "
                "time; the device's clock runs ahead"
            )
            self.noted.append(Rejection(Reason.TS_AHEAD, self.topic, detail, raw))
            ts, flags = self.received, flags | FLAG_TS_AHEAD
        key = (sensor, ts)
        if key in self._seen:
            raw = self._raw(sensor, value, ts)
            self.reject(Reason.DUPLICATE, f"{raw.decode()} already came in this message", raw)
            return
        self._seen.add(key)
        self.sensor.append(sensor)
        self.ts.append(ts)
        self.value.append(value)
        self._quality.append(quality)
        self._flags.append(flags)
        if quality or flags:
            self._odd = True

    def extend(self, sensors: list[int], stamps: list[float], values: list[float]) -> None:
        """Readings already checked, in the window and not ahead, of good quality and no
        flags: taken in bulk unless one repeats a sensor and ts (then one by one)."""
        keys = list(zip(sensors, stamps, strict=True))
        if len(set(keys)) != len(keys) or not self._seen.isdisjoint(keys):
            for sensor, ts, value in zip(sensors, stamps, values, strict=True):
                self.add(sensor, ts, value, 0, 0)
            return
        self._seen.update(keys)
        n = len(keys)
        self.sensor += sensors
        self.ts += stamps
        self.value += values
        self._quality += [0] * n
        self._flags += [0] * n

    def _raw(self, sensor: int, value: float, ts: float) -> bytes:
        """The reading as the dead letter shows it: ``[tag, value, ts]``."""
        name = self.tags[sensor] if sensor < len(self.tags) else sensor
        return orjson.dumps([name, value, ts])

    def reject(self, reason: Reason, detail: str, raw: bytes) -> None:
        """One bad part of the message; `row` is its place among the parts found so far."""
        row = len(self.sensor) + len(self.rejections)
        self.rejections.append(Rejection(reason, self.topic, detail, raw, row))

    def __len__(self) -> int:
        return len(self.sensor)

    def batch(self) -> Batch:
        n = len(self.sensor)
        if self._odd:
            quality = np.array(self._quality, np.uint8)
            flags = np.array(self._flags, np.uint8)
        else:
            quality = np.zeros(n, np.uint8)
            flags = np.zeros(n, np.uint8)
        return Batch(
            sensor=np.array(self.sensor, np.int64),
            ts=np.array(self.ts, np.float64),
            value=np.array(self.value, np.float64),
            quality=quality,
            flags=flags,
        )

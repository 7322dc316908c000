"""Minute aggregates and downsampled series: the arithmetic of history, no I/O.

An aggregate row is (sensor, minute start, min, max, sum, count). Partial aggregates of
the same minute (from two blocks, or a block and the unwritten tail) combine exactly:
min of mins, max of maxes, sum of sums and counts. A bucket of a downsampled series is
(start, min, max, mean, count); buckets start at `origin + k * width` and a bucket of a
whole number of minutes, aligned on a minute, is exactly the combination of its minutes,
so a month answers from aggregates what it would answer from raw readings.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

MINUTE_S = 60.0


class Aggregates(NamedTuple):
    """Minute aggregates, sorted by (sensor, minute); one row per (sensor, minute)."""

    sensor: np.ndarray  # int64
    minute: np.ndarray  # float64, the minute's start, epoch seconds
    min: np.ndarray
    max: np.ndarray
    sum: np.ndarray
    count: np.ndarray  # int64

    @classmethod
    def empty(cls) -> Aggregates:
        f = np.empty(0)
        return cls(np.empty(0, np.int64), f, f, f, f, np.empty(0, np.int64))


class Buckets(NamedTuple):
    """A downsampled series: per bucket its start, min, max, mean and reading count."""

    ts: np.ndarray
    min: np.ndarray
    max: np.ndarray
    mean: np.ndarray
    count: np.ndarray


def _starts(*keys: np.ndarray) -> np.ndarray:
    """Indices where any key changes (keys sorted together), with 0 first."""
    n = len(keys[0])
    change = np.zeros(n, bool)
    if n:
        change[0] = True
    for k in keys:
        change[1:] |= k[1:] != k[:-1]
    return np.flatnonzero(change)


def rollup(sensor: np.ndarray, ts: np.ndarray, value: np.ndarray) -> Aggregates:
    """Minute aggregates of readings sorted by (sensor, ts).

    >>> a = rollup(np.array([1, 1, 1, 2]), np.array([0.0, 30.0, 61.0, 5.0]),
    ...            np.array([1.0, 3.0, 7.0, 2.0]))
    >>> a.minute.tolist(), a.min.tolist(), a.max.tolist(), a.sum.tolist(), a.count.tolist()
    ([0.0, 60.0, 0.0], [1.0, 7.0, 2.0], [3.0, 7.0, 2.0], [4.0, 7.0, 2.0], [2, 1, 1])
    """
    minute = np.floor(ts / MINUTE_S) * MINUTE_S
    at = _starts(sensor, minute)
    if len(at) == 0:
        return Aggregates.empty()
    counts = np.diff(np.append(at, len(ts))).astype(np.int64)
    return Aggregates(
        sensor[at].astype(np.int64),
        minute[at],
        np.minimum.reduceat(value, at),
        np.maximum.reduceat(value, at),
        np.add.reduceat(value, at),
        counts,
    )


def combine(parts: list[Aggregates]) -> Aggregates:
    """Partial aggregates merged into one row per (sensor, minute), sorted."""
    parts = [p for p in parts if len(p.sensor)]
    if not parts:
        return Aggregates.empty()
    cat = Aggregates(*(np.concatenate(cols) for cols in zip(*parts, strict=True)))
    order = np.lexsort((cat.minute, cat.sensor))
    s = Aggregates(*(np.asarray(c)[order] for c in cat))
    at = _starts(s.sensor, s.minute)
    if len(at) == len(s.sensor):
        return s
    return Aggregates(
        s.sensor[at],
        s.minute[at],
        np.minimum.reduceat(s.min, at),
        np.maximum.reduceat(s.max, at),
        np.add.reduceat(s.sum, at),
        np.add.reduceat(s.count, at),
    )


def bucket_width(since: float, until: float, points: int) -> tuple[float, float]:
    """(origin, width) of at most `points` buckets covering [since, until].

    Widths are whole seconds, and whole minutes aligned on a minute from 60 s up, so
    such buckets are made of minute aggregates exactly.

    >>> bucket_width(0.0, 86400.0, 1000)
    (0.0, 120.0)
    >>> bucket_width(10.0, 100.0, 1000)
    (10.0, 1.0)
    """
    width = max(1.0, math.ceil((until - since) / points))
    origin = float(math.floor(since))
    if width >= MINUTE_S:
        origin = math.floor(since / MINUTE_S) * MINUTE_S
        width = math.ceil((until - origin) / points / MINUTE_S) * MINUTE_S
        while (until - origin) / width >= points:
            width += MINUTE_S
    else:
        while (until - origin) / width >= points:
            width += 1.0
    return origin, width


def downsample(ts: np.ndarray, value: np.ndarray, origin: float, width: float) -> Buckets:
    """Readings sorted by ts into buckets of `width` from `origin` (empty buckets left out).

    >>> b = downsample(np.array([0.0, 1.0, 2.5, 9.0]), np.array([1.0, 5.0, 3.0, 2.0]), 0.0, 2.0)
    >>> b.ts.tolist(), b.min.tolist(), b.max.tolist(), b.mean.tolist(), b.count.tolist()
    ([0.0, 2.0, 8.0], [1.0, 3.0, 2.0], [5.0, 3.0, 2.0], [3.0, 3.0, 2.0], [2, 1, 1])
    """
    k = np.floor((ts - origin) / width)
    at = _starts(k)
    if len(at) == 0:
        return Buckets(*(np.empty(0) for _ in range(4)), np.empty(0, np.int64))
    count = np.diff(np.append(at, len(ts))).astype(np.int64)
    return Buckets(
        origin + k[at] * width,
        np.minimum.reduceat(value, at),
        np.maximum.reduceat(value, at),
        np.add.reduceat(value, at) / count,
        count,
    )


def downsample_aggregates(agg: Aggregates, origin: float, width: float) -> Buckets:
    """One sensor's minute aggregates (sorted by minute) into buckets of whole minutes.

    >>> a = Aggregates(np.zeros(3, np.int64), np.array([0.0, 60.0, 180.0]),
    ...     np.array([1.0, 0.0, 4.0]), np.array([2.0, 9.0, 4.0]), np.array([3.0, 9.0, 4.0]),
    ...     np.array([2, 3, 1]))
    >>> b = downsample_aggregates(a, 0.0, 120.0)
    >>> b.ts.tolist(), b.min.tolist(), b.max.tolist(), b.mean.tolist(), b.count.tolist()
    ([0.0, 120.0], [0.0, 4.0], [9.0, 4.0], [2.4, 4.0], [5, 1])
    """
    k = np.floor((agg.minute - origin) / width)
    at = _starts(k)
    if len(at) == 0:
        return Buckets(*(np.empty(0) for _ in range(4)), np.empty(0, np.int64))
    count = np.add.reduceat(agg.count, at)
    return Buckets(
        origin + k[at] * width,
        np.minimum.reduceat(agg.min, at),
        np.maximum.reduceat(agg.max, at),
        np.add.reduceat(agg.sum, at) / count,
        count,
    )

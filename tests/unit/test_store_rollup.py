"""Minute aggregates and downsampling against plain loops over the same readings."""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from hazardwatch.storage.rollup import (
    Aggregates,
    bucket_width,
    combine,
    downsample,
    downsample_aggregates,
    rollup,
)

T0 = 1_763_800_000.0


def naive_buckets(ts: list[float], value: list[float], origin: float, width: float) -> dict:
    """{bucket start: (min, max, mean, count)} by one loop over the readings."""
    groups: dict[float, list[float]] = defaultdict(list)
    for t, v in zip(ts, value, strict=True):
        groups[origin + math.floor((t - origin) / width) * width].append(v)
    return {k: (min(g), max(g), sum(g) / len(g), len(g)) for k, g in sorted(groups.items())}


def as_dict(ts: np.ndarray, *cols: np.ndarray) -> dict:
    return {t: tuple(c[i] for c in cols) for i, t in enumerate(ts.tolist())}


readings = st.lists(
    st.tuples(
        st.integers(0, 3),
        st.floats(0, 3 * 3600, allow_nan=False),
        st.floats(-1e3, 1e3, allow_nan=False),
    ),
    max_size=300,
)


def sorted_columns(rows: list[tuple[int, float, float]]) -> tuple[np.ndarray, ...]:
    rows = sorted(rows, key=lambda r: (r[0], r[1]))
    sensor = np.array([r[0] for r in rows], np.int64)
    ts = np.array([T0 + r[1] for r in rows])
    value = np.array([r[2] for r in rows])
    return sensor, ts, value


@settings(max_examples=200, deadline=None)
@given(readings)
def test_rollup_is_each_minute_min_max_sum_count(rows: list) -> None:
    sensor, ts, value = sorted_columns(rows)
    agg = rollup(sensor, ts, value)
    for s in range(4):
        m = sensor == s
        want = naive_buckets(ts[m].tolist(), value[m].tolist(), 0.0, 60.0)
        a = agg.sensor == s
        got = as_dict(agg.minute[a], agg.min[a], agg.max[a], agg.sum[a] / agg.count[a],
                      agg.count[a])  # fmt: skip
        assert got.keys() == want.keys()
        for k, (lo, hi, mean, n) in want.items():
            assert got[k][0] == lo and got[k][1] == hi and got[k][3] == n
            assert math.isclose(got[k][2], mean, rel_tol=1e-9, abs_tol=1e-9)


@settings(max_examples=200, deadline=None)
@given(readings, st.integers(1, 8))
def test_partial_aggregates_combine_to_the_aggregates_of_all(rows: list, parts: int) -> None:
    sensor, ts, value = sorted_columns(rows)
    pieces = []
    cuts = np.array_split(np.random.default_rng(len(rows)).permutation(len(rows)), parts)
    for idx in cuts:
        idx = np.sort(idx)  # a subset of sorted rows stays sorted
        pieces.append(rollup(sensor[idx], ts[idx], value[idx]))
    whole, merged = rollup(sensor, ts, value), combine(pieces)
    for a, b in zip(whole, merged, strict=True):
        assert np.allclose(a, b, rtol=1e-9, atol=1e-9)


@settings(max_examples=200, deadline=None)
@given(readings, st.integers(1, 50))
def test_buckets_from_aggregates_equal_buckets_from_readings(rows: list, points: int) -> None:
    sensor, ts, value = sorted_columns(rows)
    m = sensor == 0
    origin, width = bucket_width(T0, T0 + 3 * 3600, points)
    assert (width % 60 == 0 and origin % 60 == 0) or width < 60
    if width < 60:
        return
    agg = rollup(sensor[m], ts[m], value[m])
    a = downsample_aggregates(agg, origin, width)
    want = naive_buckets(ts[m].tolist(), value[m].tolist(), origin, width)
    got = as_dict(a.ts, a.min, a.max, a.mean, a.count)
    assert got.keys() == want.keys()
    for k, w in want.items():
        assert np.allclose(got[k], w, rtol=1e-9, atol=1e-9)


@settings(max_examples=300, deadline=None)
@given(
    st.floats(0, 1e9, allow_nan=False),
    st.floats(0, 1e8, allow_nan=False),
    st.integers(1, 5000),
    st.lists(st.floats(0, 1, allow_nan=False), max_size=200),
)
def test_never_more_buckets_than_points(since: float, span: float, points: int, at: list) -> None:
    until = since + span
    origin, width = bucket_width(since, until, points)
    ts = np.sort(np.array([since, until, *(since + f * span for f in at)]))
    b = downsample(ts, np.ones(len(ts)), origin, width)
    assert len(b.ts) <= points
    assert origin <= since and b.count.sum() == len(ts)
    assert all(0 <= (t - origin) / width < points for t in b.ts)


def test_month_to_1000_points_uses_whole_minute_buckets() -> None:
    origin, width = bucket_width(T0, T0 + 30 * 86400, 1000)
    assert (origin, width) == (math.floor(T0 / 60) * 60, 2640.0)


def test_empty_inputs_give_empty_answers() -> None:
    assert len(rollup(np.empty(0, np.int64), np.empty(0), np.empty(0)).sensor) == 0
    assert len(combine([Aggregates.empty()]).sensor) == 0
    assert len(downsample(np.empty(0), np.empty(0), 0.0, 1.0).ts) == 0

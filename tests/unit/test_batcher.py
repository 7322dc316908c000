"""Batcher: many decoded batches in, one batch in stable time order out."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from hazardwatch.vocabulary.model import FLAG_TS_FROM_RECEIPT, Batch, Quality
from ingest import Batcher


def test_flush_merges_and_sorts_by_ts_keeping_every_column_aligned() -> None:
    b = Batcher()
    b.add(Batch.of([0, 1], [30.0, 10.0], [3.0, 1.0], [Quality.BAD, 0], [0, FLAG_TS_FROM_RECEIPT]))
    b.add(Batch.of([2], [20.0], [2.0], [Quality.UNCERTAIN]))
    assert b.rows == 3
    out = b.flush()
    assert out.ts.tolist() == [10.0, 20.0, 30.0]
    assert out.sensor.tolist() == [1, 2, 0]
    assert out.value.tolist() == [1.0, 2.0, 3.0]
    assert out.quality.tolist() == [0, Quality.UNCERTAIN, Quality.BAD]
    assert out.flags.tolist() == [FLAG_TS_FROM_RECEIPT, 0, 0]
    assert b.rows == 0 and len(b.flush()) == 0


def test_equal_timestamps_keep_arrival_order() -> None:
    b = Batcher()
    b.add(Batch.of([5, 6], [2.0, 1.0], [50.0, 60.0]))
    b.add(Batch.of([7, 5], [1.0, 2.0], [70.0, 51.0]))
    out = b.flush()
    assert out.sensor.tolist() == [6, 7, 5, 5]
    assert out.value.tolist() == [60.0, 70.0, 50.0, 51.0]


def test_empty_batches_are_not_pending() -> None:
    b = Batcher()
    b.add(Batch.empty())
    assert b.rows == 0
    out = b.flush()
    assert len(out) == 0 and out.sensor.dtype == np.int64


@settings(max_examples=100)
@given(
    st.lists(
        st.lists(st.tuples(st.integers(0, 4), st.integers(0, 20)), max_size=8),
        max_size=6,
    )
)
def test_each_sensor_comes_out_in_time_order_and_nothing_is_lost(
    messages: list[list[tuple[int, int]]],
) -> None:
    b = Batcher()
    arrival = 0
    for rows in messages:
        values = list(range(arrival, arrival + len(rows)))
        arrival += len(rows)
        b.add(Batch.of([s for s, _ in rows], [float(t) for _, t in rows], values))
    out = b.flush()
    assert len(out) == arrival
    assert sorted(out.value.tolist()) == list(range(arrival))
    assert np.all(np.diff(out.ts) >= 0)
    # stability: among equal ts, arrival order (the value) is increasing
    for t in np.unique(out.ts):
        same = out.value[out.ts == t]
        assert np.all(np.diff(same) > 0)

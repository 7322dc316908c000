"""The back-test's columnar read (hazardwatch.storage.columns) answers what the store's own
`readings` answers sensor by sensor: compacted blocks, sealed and open logs, repeats across
logs (first arrival kept), partial windows, a subset of the sensors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hazardwatch.storage import BlockStore
from hazardwatch.storage.columns import by_sensor, read_columns
from hazardwatch.vocabulary.model import Batch


def _same(a, b) -> None:  # type: ignore[no-untyped-def]
    assert a.sensor.tolist() == b.sensor.tolist()
    assert a.ts.tolist() == b.ts.tolist()
    assert a.value.tolist() == b.value.tolist()
    assert a.quality.tolist() == b.quality.tolist()
    assert a.sensor.dtype == np.int64 and a.quality.dtype == np.uint8


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_columns_equal_the_stores_readings_sensor_by_sensor(tmp_path: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    store = BlockStore(tmp_path / "r", log_rows=300, background=False)
    for k in range(12):
        n = int(rng.integers(50, 200))
        sensor = rng.integers(0, 9, n)
        ts = np.round(100.0 * k + rng.uniform(-30, 130, n), 1)  # overlapping, unordered
        value = rng.normal(0, 1, n)
        quality = rng.integers(0, 3, n).astype(np.uint8)
        store.write(Batch(sensor, ts, value, quality, np.zeros(n, np.uint8)))
        if k == 8:
            store.compact()  # some logs stay sealed, one open
    try:
        for sensors in (np.arange(9), np.array([7, 2, 5]), np.array([3])):
            for lo, hi in ((-1e9, 1e9), (250.0, 640.5), (333.3, 333.3)):
                _same(read_columns(store, sensors, lo, hi), by_sensor(store, sensors, lo, hi))
    finally:
        store.close()


def test_a_reading_repeated_across_logs_is_read_once_first_arrival_kept(tmp_path: Path) -> None:
    store = BlockStore(tmp_path / "r", background=False)
    ones = np.ones(3)
    store.write(Batch.of(np.array([0, 1, 1]), np.array([1.0, 1.0, 2.0]), ones))
    store.seal()
    store.write(Batch.of(np.array([1, 1]), np.array([2.0, 3.0]), 2 * ones[:2]))  # a replay
    store.seal()
    store.compact()
    store.write(Batch.of(np.array([0, 0]), np.array([1.0, 4.0]), 3 * ones[:2]))  # in the log
    try:
        c = read_columns(store, np.array([0, 1]), 0.0, 10.0)
        assert list(zip(c.sensor.tolist(), c.ts.tolist(), c.value.tolist(), strict=True)) == [
            (0, 1.0, 1.0),
            (1, 1.0, 1.0),
            (1, 2.0, 1.0),
            (1, 3.0, 2.0),
            (0, 4.0, 3.0),
        ]
    finally:
        store.close()

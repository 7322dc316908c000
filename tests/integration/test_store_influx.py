"""InfluxStore against a real VictoriaMetrics: round trip, and an outage that loses nothing."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import httpx
import numpy as np
import pytest

from hazardwatch.storage import InfluxSettings, InfluxStore, Spool, SpooledStore, StoreError
from hazardwatch.vocabulary.model import Batch
from tests.victoria import VictoriaMetrics

pytestmark = pytest.mark.integration

T0 = 1_763_800_000.0
TAGS = ["e1-T1-LT", "e1 T2,LT=x", 'odd"tag\\']  # line-protocol and selector escapes


def store_for(vm: VictoriaMetrics, **kw: float) -> InfluxStore:
    return InfluxStore(InfluxSettings(url=vm.url, org="o", bucket="b", **kw), TAGS)  # type: ignore[arg-type]


def flush(vm: VictoriaMetrics) -> None:
    httpx.get(f"{vm.url}/internal/force_flush", timeout=10).raise_for_status()


def test_readings_come_back_by_sensor_window_and_limit(victoria_metrics: VictoriaMetrics) -> None:
    n = 50
    k = np.arange(n)
    batch = Batch.of(k % 3, T0 + k * 0.5, k * 1.5 - 10.0, k % 3 == 1)
    with store_for(victoria_metrics) as store:
        assert store.write(batch) == n
        flush(victoria_metrics)
        for sensor, tag in enumerate(TAGS):
            rows = store.readings(sensor)
            mine = k[k % 3 == sensor]
            assert [r.ts for r in rows] == (T0 + mine * 0.5).tolist(), tag
            assert [r.value for r in rows] == (mine * 1.5 - 10.0).tolist()
            assert {r.quality for r in rows} == {int(sensor == 1)}
        window = store.readings(0, since=T0 + 3, until=T0 + 12, limit=4)
        # Sensor 0 reads every 1.5 s; the newest four within [T0 + 3, T0 + 12].
        assert [r.ts for r in window] == [T0 + 7.5, T0 + 9, T0 + 10.5, T0 + 12]
        assert store.readings(1, since=T0 + 1000) == []


def test_a_reading_written_twice_is_read_once(victoria_metrics: VictoriaMetrics) -> None:
    batch = Batch.of([0, 0], [T0, T0 + 1], [1.0, 2.0])
    with store_for(victoria_metrics) as store:
        store.write(batch)
        store.write(batch)
        flush(victoria_metrics)
        assert [(r.ts, r.value) for r in store.readings(0)] == [(T0, 1.0), (T0 + 1, 2.0)]


def test_a_dead_server_fails_writes_and_reads_with_a_store_error(
    victoria_metrics: VictoriaMetrics,
) -> None:
    victoria_metrics.stop()
    with store_for(victoria_metrics, timeout_s=2.0) as store:
        with pytest.raises(StoreError, match=r"write to http://127\.0\.0\.1:\d+ failed"):
            store.write(Batch.of([0], [T0], [1.0]))
        with pytest.raises(StoreError, match=r"read from http://127\.0\.0\.1:\d+ failed"):
            store.readings(0)


def test_an_outage_spools_and_every_reading_arrives_exactly_once(
    victoria_metrics: VictoriaMetrics, tmp_path: Path
) -> None:
    vm = victoria_metrics
    writer = SpooledStore(store_for(vm, timeout_s=2.0), Spool(tmp_path / "spool"), backoff_s=0.0)
    per_batch, batches = 30, 12
    sent: list[Batch] = []

    def send(i: int) -> None:
        k = np.arange(i * per_batch, (i + 1) * per_batch)
        b = Batch.of(k % 3, T0 + k, k * 0.25)
        sent.append(b)
        writer.write(b)

    for i in range(4):
        send(i)
    assert writer.pending_rows == 0
    vm.stop()
    for i in range(4, 8):
        send(i)
    assert writer.pending_rows == 4 * per_batch
    assert writer.stats.errors >= 1 and writer.stats.last_error
    vm.start()
    for i in range(8, batches):
        send(i)
    for _ in range(20):  # bounded: each call drains up to drain_rows
        if writer.pending_rows == 0:
            break
        writer.drain()
    assert writer.pending_rows == 0
    writer.close()

    series = vm.export('{__name__="reading_value"}')
    got = Counter(
        (s["metric"]["tag"], t, v)
        for s in series
        for t, v in zip(s["timestamps"], s["values"], strict=True)
    )
    want = Counter(
        (TAGS[int(s)], round(t * 1000), v)
        for b in sent
        for s, t, v in zip(b.sensor, b.ts, b.value, strict=True)
    )
    assert sum(got.values()) == per_batch * batches  # nothing lost, nothing twice
    assert got == want

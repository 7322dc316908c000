"""VictoriaMetrics answers `history` as the embedded store does, through its query API."""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import pytest

from hazardwatch.storage import BlockStore, InfluxSettings, InfluxStore
from hazardwatch.vocabulary.model import Batch
from tests.victoria import VictoriaMetrics

pytestmark = pytest.mark.integration

T0 = 1_763_800_020.0  # on a minute
TAGS = ["T1.LT", 'odd "tag" \\ x']


def test_victoria_history_equals_the_block_store_history(
    victoria_metrics: VictoriaMetrics, tmp_path: Path
) -> None:
    rng = np.random.default_rng(7)
    n = 6 * 3600  # six hours at 1 Hz, both sensors
    k = np.arange(n)
    batch = Batch.of(k % 2, T0 + k // 2 * 1.0, rng.normal(10, 2, n).round(3))
    vm_store = InfluxStore(InfluxSettings(url=victoria_metrics.url), TAGS)
    blocks = BlockStore(tmp_path / "blocks", background=False)
    try:
        vm_store.write(batch)
        blocks.write(batch)
        httpx.get(f"{victoria_metrics.url}/internal/force_flush", timeout=10).raise_for_status()
        for sensor in (0, 1):
            for since, until, points in (
                (T0, T0 + 99, 1000),  # 100 readings: raw
                (T0, T0 + 3 * 3600 - 1, 500),  # 22 s buckets
                (T0 + 17, T0 + 3 * 3600 - 1, 50),  # 4 min buckets from minute aggregates
            ):
                want = blocks.history(sensor, since, until, points)
                got = vm_store.history(sensor, since, until, points)
                assert got.bucket_s == want.bucket_s
                assert got.buckets.ts.tolist() == want.buckets.ts.tolist()
                assert got.buckets.count.tolist() == want.buckets.count.tolist()
                for a, b in zip(got.buckets[1:4], want.buckets[1:4], strict=True):
                    assert np.allclose(a, b, rtol=1e-9)
    finally:
        vm_store.close()
        blocks.close()

"""The service's store loop on real stores: an outage spools, recovery drains, nothing is lost."""

from __future__ import annotations

import asyncio
import sqlite3
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from hazardwatch.shell.service import Service, Settings, Stored
from hazardwatch.storage import InfluxSettings, Spool, SpooledStore, SqliteStore
from hazardwatch.vocabulary.config import parse_site
from hazardwatch.vocabulary.model import Batch
from ingest import Receipt
from tests.e2e.harness import E2E_SITE
from tests.victoria import VictoriaMetrics
from tests.waiting import until

pytestmark = pytest.mark.integration

T0 = 1_763_800_000.0
FAST_RETRY = {"store_backoff_s": 0.05, "store_backoff_max_s": 0.2, "store_retry_poll_s": 0.05}


def readings(start: int, n: int, sensors: int) -> Batch:
    k = np.arange(start, start + n)
    return Batch.of(k % sensors, T0 + k, k * 0.5)


async def test_influx_outage_spools_in_health_and_drains_exactly_once(
    victoria_metrics: VictoriaMetrics, tmp_path: Path
) -> None:
    vm = victoria_metrics
    site = parse_site(E2E_SITE, "e2e.yaml")
    settings = Settings(
        data_dir=tmp_path / "data", store="influx", influx=InfluxSettings(url=vm.url), **FAST_RETRY
    )
    svc = Service(site, settings)
    n_sensors = svc.table.n
    queue: asyncio.Queue[Stored | None] = asyncio.Queue()
    loop = asyncio.create_task(svc._store_loop(queue))
    try:
        await queue.put((readings(0, 100, n_sensors), Receipt()))
        await until(lambda: svc._health()["store"]["written"] == 100, "the first readings")

        await asyncio.to_thread(vm.stop)
        for i in range(1, 5):
            await queue.put((readings(i * 100, 100, n_sensors), Receipt()))
        await until(lambda: svc._health()["store"]["spool"]["rows"] == 400, "400 spooled")
        store = svc._health()["store"]
        assert store["errors"] >= 1 and "failed" in store["last_error"]
        assert store["spool"]["segments"] >= 1 and store["backend"] == "influx"

        await asyncio.to_thread(vm.start)
        # Nothing new arrives: the idle loop drains the spool on its own.
        await until(lambda: svc._health()["store"]["spool"]["rows"] == 0, "the spool to drain")
        await queue.put((readings(500, 100, n_sensors), Receipt()))
        await queue.put(None)
        await asyncio.wait_for(loop, 30)
    finally:
        if not loop.done():
            loop.cancel()
        svc.close()
    assert svc.writer.stats.written == 600

    series = vm.export('{__name__="reading_value"}')
    got = Counter((s["metric"]["tag"], t) for s in series for t in s["timestamps"])
    assert sum(got.values()) == 600 and set(got.values()) == {1}  # each reading exactly once
    assert {tag for tag, _ in got} == set(svc.table.tags)


def test_a_locked_sqlite_database_spools_and_recovers(tmp_path: Path) -> None:
    db = tmp_path / "readings.db"
    store = SqliteStore(db, busy_timeout_s=0.05)
    writer = SpooledStore(store, Spool(tmp_path / "spool"), backoff_s=0.0)
    writer.write(readings(0, 10, 3))
    other = sqlite3.connect(db, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # another writer holds the database (a backup, say)
        writer.write(readings(10, 10, 3))
        writer.write(readings(20, 10, 3))
        assert writer.pending_rows == 20
        assert "locked" in (writer.stats.last_error or "")
        other.execute("ROLLBACK")
    finally:
        other.close()
    writer.write(readings(30, 10, 3))
    assert writer.pending_rows == 0
    assert store.count() == 40
    rows = [r for s in range(3) for r in store.readings(s)]
    assert sorted(r.value for r in rows) == [k * 0.5 for k in range(40)]
    writer.close()


def test_the_spool_of_a_stopped_service_drains_when_it_starts_again(tmp_path: Path) -> None:
    """Readings spooled when the service stopped reach the store after the restart."""
    site = parse_site(E2E_SITE, "e2e.yaml")
    data = tmp_path / "data"
    svc = Service(site, Settings(data_dir=data, **FAST_RETRY))
    svc.writer.spool.append(readings(0, 25, svc.table.n))  # left over from the last run
    svc.close()

    again = Service(site, Settings(data_dir=data, **FAST_RETRY))

    async def run_store_loop() -> None:
        queue: asyncio.Queue[Stored | None] = asyncio.Queue()
        loop = asyncio.create_task(again._store_loop(queue))
        await until(lambda: again.writer.pending_rows == 0, "the spool to drain")
        await queue.put(None)
        await asyncio.wait_for(loop, 10)

    try:
        assert again._health()["store"]["spool"]["rows"] == 25
        asyncio.run(run_store_loop())
        assert again.store.count() == 25  # type: ignore[attr-defined]
    finally:
        again.close()

"""The detector's memory across a service restart: saved while running and at shutdown,
loaded before the journal's conditions, reported in /api/health. Real files, real broker."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from detectors import checkpoint
from hazardwatch.shell.service import Service, Settings
from hazardwatch.vocabulary.clock import FakeClock
from hazardwatch.vocabulary.config import parse_site
from hazardwatch.vocabulary.model import Batch
from tests.brokers import Mosquitto
from tests.e2e.harness import E2E_SITE
from tests.waiting import until

T0 = 1_763_800_000.0
BASELINE = ("base_n", "base_mean", "base_var", "base_sigma", "warm", "cusum")


def _service(data: Path, clock: FakeClock, **settings: object) -> Service:
    site = parse_site(E2E_SITE, "e2e.yaml")
    return Service(site, Settings(data_dir=data, **settings), clock=clock)  # type: ignore[arg-type]


def _readings(svc: Service, rounds: range) -> Batch:
    """Every sensor, 5 s apart, a little noise around the middle of its range."""
    n = svc.table.n
    k = np.repeat(np.asarray(rounds), n)
    sensor = np.tile(np.arange(n), len(rounds))
    value = 5.0 + 0.1 * ((k + sensor) % 3)
    return Batch.of(sensor, T0 + 5.0 * k, value)


@pytest.mark.integration
async def test_memory_saved_while_running_and_at_shutdown_comes_back_after_a_restart(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    clock = FakeClock(T0)
    svc = _service(tmp_path, clock, broker_url=mosquitto.url, checkpoint_interval_s=0.05)
    assert svc.view.health()["checkpoint"]["loaded"]["note"] == "no checkpoint"
    stop = asyncio.Event()
    running = asyncio.create_task(svc.run(stop, serve_http=False))
    try:
        svc.handle_batch(_readings(svc, range(20)))
        await until(lambda: svc.memory.stats.saves >= 1, "a periodic checkpoint", 10.0, 0.02)
        saves = svc.memory.stats.saves
        for _ in range(5):  # nothing new applied: nothing rewritten
            await asyncio.sleep(0.05)
        assert svc.memory.stats.saves == saves
        svc.handle_batch(_readings(svc, range(20, 40)))
    finally:
        stop.set()
        await asyncio.wait_for(running, 30)
    health = svc.view.health()["checkpoint"]
    assert health["saves"] == saves + 1 and health["errors"] == 0  # the one at shutdown
    assert health["last_bytes"] == (tmp_path / "detector.npz").stat().st_size
    assert health["last_saved_ts"] == T0 and health["last_save_s"] is not None

    clock.advance(600)
    again = _service(tmp_path, clock)
    loaded = again.view.health()["checkpoint"]["loaded"]
    n = again.table.n
    assert loaded == {
        "saved_at": T0, "restored": n, "fresh": 0, "changed": 0, "dropped": 0, "note": "",
        "error": None,
    }  # fmt: skip
    assert (again.detector.state.base_n == 40).any()
    for name in BASELINE:
        old, new = getattr(svc.detector.state, name), getattr(again.detector.state, name)
        assert np.array_equal(old, new), name
    assert again.detector.check_stale(T0 + 601) == []  # staleness counts from the restart
    again.close()


def test_a_corrupt_checkpoint_is_reported_and_the_detector_starts_fresh(tmp_path: Path) -> None:
    clock = FakeClock(T0)
    (tmp_path / "detector.npz").write_bytes(b"PK\x03\x04 not really a zip")
    svc = _service(tmp_path, clock)
    loaded = svc.view.health()["checkpoint"]["loaded"]
    assert "detector.npz: unreadable" in loaded["error"]
    assert (loaded["restored"], loaded["fresh"]) == (0, svc.table.n)
    assert (svc.detector.state.base_n == 0).all()
    svc.handle_batch(_readings(svc, range(3)))  # and it runs
    assert svc.detector.stats["applied"] == 3 * svc.table.n
    svc.close()


def test_a_failing_save_is_counted_and_the_next_one_succeeds(tmp_path: Path) -> None:
    clock = FakeClock(T0)
    svc = _service(tmp_path, clock)
    svc.handle_batch(_readings(svc, range(3)))
    (tmp_path / "detector.npz").mkdir()  # cannot be replaced by a file
    assert asyncio.run(svc.save_checkpoint()) is None
    health = svc.view.health()["checkpoint"]
    assert (health["errors"], health["saves"]) == (1, 0) and "detector.npz" in health["last_error"]
    (tmp_path / "detector.npz").rmdir()
    info = asyncio.run(svc.save_checkpoint())
    assert info is not None and info.rows == svc.table.n
    assert svc.view.health()["checkpoint"]["saves"] == 1
    svc.close()


def test_interval_zero_neither_loads_nor_saves(tmp_path: Path) -> None:
    clock = FakeClock(T0)
    svc = _service(tmp_path, clock)
    svc.handle_batch(_readings(svc, range(5)))
    asyncio.run(svc.save_checkpoint())
    svc.close()
    off = _service(tmp_path, clock, checkpoint_interval_s=0)
    assert off.view.health()["checkpoint"]["loaded"]["restored"] == 0
    assert (off.detector.state.base_n == 0).all()
    off.close()  # one service per data dir at a time (the reading store's lock)
    on = _service(tmp_path, clock)
    assert on.view.health()["checkpoint"]["loaded"]["restored"] == on.table.n
    info = checkpoint.load(on.detector, tmp_path / "detector.npz", on.table.tags)
    assert info.restored == on.table.n  # the file is what the service loaded
    on.close()

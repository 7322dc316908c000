"""SpooledStore: a failing store spools instead of dropping, then drains in order."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hazardwatch.storage import ReadingRow, Spool, SpooledStore
from hazardwatch.vocabulary.model import Batch

T0 = 1_763_800_000.0


class FlakyStore:
    """An in-memory store that fails while `down` is set."""

    def __init__(self) -> None:
        self.rows: list[float] = []
        self.down = False
        self.calls = 0

    def write(self, batch: Batch) -> int:
        self.calls += 1
        if self.down:
            raise ConnectionRefusedError("store down")
        self.rows.extend(batch.value.tolist())
        return len(batch)

    def readings(
        self, sensor: int, since: float | None = None, until: float | None = None, limit: int = 1000
    ) -> list[ReadingRow]:
        return []

    def purge(self, older_than_ts: float) -> int:
        return 0

    def close(self) -> None:
        pass


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def values(start: int, n: int) -> Batch:
    k = np.arange(start, start + n, dtype=float)
    return Batch.of(np.zeros(n, int), T0 + k, k)


def make(tmp_path: Path, **kw: float) -> tuple[SpooledStore, FlakyStore, Clock]:
    store, clock = FlakyStore(), Clock()
    writer = SpooledStore(store, Spool(tmp_path / "spool"), monotonic=clock, **kw)  # type: ignore[arg-type]
    return writer, store, clock


def test_a_failed_write_is_spooled_and_arrives_once_in_order_after_recovery(
    tmp_path: Path,
) -> None:
    writer, store, clock = make(tmp_path, backoff_s=1.0)
    assert writer.write(values(0, 5)) == 5
    store.down = True
    assert writer.write(values(5, 5)) == 0
    assert writer.stats.errors == 1 and "store down" in (writer.stats.last_error or "")
    assert writer.write(values(10, 5)) == 0  # resting: straight to the spool
    assert store.calls == 2
    assert writer.health()["rows"] == 10 and writer.health()["retry_in_s"] == 1.0
    assert writer.health()["failures_in_a_row"] == 1
    store.down = False
    clock.t = 1.5
    assert writer.write(values(15, 5)) == 15  # joins the end of the spool, all drain
    assert store.rows == list(np.arange(20.0))
    assert writer.pending_rows == 0 and writer.stats.written == 20
    assert writer.health()["failures_in_a_row"] == 0
    writer.close()


def test_backoff_doubles_to_its_ceiling_and_resets_on_success(tmp_path: Path) -> None:
    writer, store, clock = make(tmp_path, backoff_s=1.0, backoff_max_s=3.0)
    store.down = True
    writer.write(values(0, 1))
    waits = []
    for _ in range(3):
        waits.append(writer.health()["retry_in_s"])
        clock.t += waits[-1]
        writer.drain()
    assert waits == [1.0, 2.0, 3.0]
    store.down = False
    clock.t += 3.0
    assert writer.drain() == 1
    store.down = True
    writer.write(values(1, 1))
    assert writer.health()["retry_in_s"] == 1.0
    writer.close()


def test_drain_is_bounded_per_call(tmp_path: Path) -> None:
    writer, store, clock = make(tmp_path, drain_rows=10, chunk_rows=10)
    store.down = True
    for i in range(5):
        writer.write(values(i * 10, 10))
    store.down = False
    clock.t = 100.0
    assert writer.drain() == 10
    assert writer.drain() == 10
    assert writer.pending_rows == 30
    writer.close()


def test_a_full_spool_counts_lost_readings_and_says_why(tmp_path: Path) -> None:
    store, clock = FlakyStore(), Clock()
    writer = SpooledStore(store, Spool(tmp_path, max_bytes=400), monotonic=clock)
    store.down = True
    writer.write(values(0, 10))  # 276 bytes spooled
    writer.write(values(10, 10))  # would pass 400
    h = writer.health()
    assert h["rows"] == 10 and h["refused"] == 10
    assert "SpoolFullError" in (writer.stats.last_error or "")
    writer.close()


def test_the_spool_drains_after_a_restart(tmp_path: Path) -> None:
    writer, store, _ = make(tmp_path)
    store.down = True
    writer.write(values(0, 7))
    writer.close()
    again, store2, _ = make(tmp_path)
    assert again.pending_rows == 7
    assert again.drain() == 7 and store2.rows == list(np.arange(7.0))
    again.close()

"""The BlockStore: round trips through the log and the blocks, compaction, crashes, purge."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from hazardwatch.storage import BlockStore, SqliteStore, StoreError, block_store
from hazardwatch.vocabulary.model import Batch

T0 = 1_763_800_020.0  # on a minute
DAY = 86400.0


def readings(start: int, n: int, sensors: int = 5) -> Batch:
    """n readings numbered from `start`: sensor k % sensors, one second apart, value k."""
    k = np.arange(start, start + n)
    return Batch.of(k % sensors, T0 + k, k * 1.0, k % 3)


def store(path: Path, **kw: object) -> BlockStore:
    return BlockStore(path, background=False, **kw)  # type: ignore[arg-type]


def compacted(s: BlockStore) -> None:
    s.seal()
    s.compact()


def test_readings_are_the_same_before_and_after_compaction(tmp_path: Path) -> None:
    with store(tmp_path, log_rows=1000) as s:
        for i in range(10):
            s.write(readings(i * 300, 300))
        before = [s.readings(k, limit=10_000) for k in range(5)]
        compacted(s)
        assert len(list((tmp_path / "raw").glob("*.blk"))) == 3  # 3 full logs + the rest
        assert not list((tmp_path / "log").glob("*.log"))[:-1]  # only the new active log
        after = [s.readings(k, limit=10_000) for k in range(5)]
    assert before == after
    assert [r.value for r in after[2]] == list(np.arange(2, 3000, 5) * 1.0)
    assert after[2][0].quality == 2


def test_readings_match_the_sqlite_store_on_the_same_writes(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    batches = []
    for _ in range(30):
        n = int(rng.integers(1, 200))
        batches.append(
            Batch.of(rng.integers(0, 4, n), T0 + rng.integers(0, 500, n), rng.normal(0, 1, n))
        )
    with store(tmp_path / "b", log_rows=700) as s, SqliteStore(tmp_path / "r.db") as ref:
        for b in batches:
            s.write(b)
            ref.write(b)
        s.seal()
        s.compact()  # part compacted, part in memory: both are asked
        s.write(batches[3])  # a repeat, in the tail this time
        for k in range(4):
            for lo, hi, limit in ((None, None, 10_000), (T0 + 100, T0 + 300, 10_000),
                                  (None, T0 + 400, 7)):  # fmt: skip
                assert s.readings(k, lo, hi, limit) == ref.readings(k, lo, hi, limit)


def test_a_reopened_store_has_every_written_reading(tmp_path: Path) -> None:
    with store(tmp_path, log_rows=500) as s:
        for i in range(6):
            s.write(readings(i * 200, 200))
        s.seal()
        s.compact()
        s.write(readings(1200, 50))  # in the log only
    with store(tmp_path) as s:
        assert s.count() == 1250
        assert [r.value for r in s.readings(0, limit=10_000)] == list(range(0, 1250, 5))
        compacted(s)
        assert s.count() == 1250


def test_a_log_torn_by_a_crash_keeps_its_whole_records(tmp_path: Path) -> None:
    with store(tmp_path) as s:
        s.write(readings(0, 10))
        s.write(readings(10, 10))
    (log,) = (tmp_path / "log").glob("*.log")
    data = log.read_bytes()
    log.write_bytes(data[:-7])  # the second record torn in the middle
    with store(tmp_path) as s:
        assert s.count() == 10
        s.write(readings(20, 10))
        compacted(s)
        assert [r.value for r in s.readings(0, limit=100)] == [0.0, 5.0, 20.0, 25.0]


def test_a_crash_between_block_and_log_unlink_stores_the_readings_once(tmp_path: Path) -> None:
    with store(tmp_path) as s:
        s.write(readings(0, 20))
        s.seal()
        (sealed,) = (tmp_path / "log").glob("000000000001.log")
        kept = sealed.read_bytes()
        s.compact()
    sealed.write_bytes(kept)  # as if the process died before unlinking the log
    with store(tmp_path) as s:
        assert s.count() == 20
        assert not sealed.exists()


def test_writes_and_reads_never_wait_for_a_compaction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inside, release = threading.Event(), threading.Event()
    real = block_store.write_block

    def slow_write_block(*args: object, **kw: object) -> None:
        inside.set()
        assert release.wait(30), "the test did not release the compaction"
        real(*args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(block_store, "write_block", slow_write_block)
    with store(tmp_path) as s:
        s.write(readings(0, 100))
        s.seal()
        compactor = threading.Thread(target=s.compact)
        compactor.start()
        try:
            assert inside.wait(30)
            # The compactor is stuck in the middle of writing a block: the path goes on.
            s.write(readings(100, 100))
            assert len(s.readings(0, limit=1000)) == 40
            assert s.purge(T0) == 0
        finally:
            release.set()
            compactor.join(30)
        assert len(s.readings(0, limit=1000)) == 40


def test_the_background_thread_compacts_sealed_logs(tmp_path: Path) -> None:
    with BlockStore(tmp_path, log_rows=100) as s:
        s.write(readings(0, 150))  # over log_rows: sealed on the spot
        for _ in range(200):  # bounded poll, no sleep: the compactor runs on its own
            if list((tmp_path / "raw").glob("*.blk")):
                break
            threading.Event().wait(0.05)
        assert len(list((tmp_path / "raw").glob("*.blk"))) == 1
        assert s.count() == 150


def test_purge_drops_whole_blocks_past_the_cutoff_and_keeps_the_boundary(tmp_path: Path) -> None:
    with store(tmp_path) as s:
        for day in range(4):  # one block per day, 100 readings of sensor 0 each
            k = np.arange(100)
            s.write(Batch.of(np.zeros(100), T0 + day * DAY + k * 60, k * 1.0))
            compacted(s)
        last_of_day1 = T0 + DAY + 99 * 60
        assert s.purge(last_of_day1) == 100  # day 0 only: day 1's last reading is not older
        assert s.readings(0, limit=1)[0].ts == T0 + 3 * DAY + 99 * 60
        assert s.readings(0, since=0, until=T0 + DAY + 1)[0].ts == T0 + DAY
        assert s.purge(last_of_day1 + 0.001) == 100
        assert len(s.readings(0, limit=10_000)) == 200
        # the minute aggregates outlive the raw readings: day 0 is still in the history
        h = s.history(0, T0, T0 + DAY - 1, 100)
        assert h.source == "aggregates" and int(h.buckets.count.sum()) == 100


def test_aggregates_go_after_their_own_retention(tmp_path: Path) -> None:
    with store(tmp_path) as s:
        for day in range(3):
            s.write(Batch.of([1, 1], [T0 + day * DAY, T0 + day * DAY + 30], [1.0, 3.0]))
            compacted(s)
        assert s.purge_aggregates(T0 + DAY) == 1  # day 0's minute
        s.purge(T0 + 10 * DAY)
        h = s.history(1, T0 - DAY, T0 + 3 * DAY, 10)
        assert h.source == "aggregates"
        assert h.buckets.count.tolist() == [2, 2] and h.buckets.mean.tolist() == [2.0, 2.0]


def test_aggregate_blocks_merge_and_a_crashed_merge_counts_once(tmp_path: Path) -> None:
    with store(tmp_path, merge_fanin=4) as s:
        for i in range(9):
            s.write(readings(i * 100, 100, sensors=1))
            compacted(s)
        names = sorted(p.name for p in (tmp_path / "agg").glob("*.blk"))
        assert [n.split("-")[0] for n in names] == ["0", "1", "1"]
        want = s.history(0, T0, T0 + 900, 10)
    # A merge that died before unlinking its inputs: the inputs come back beside the result.
    level1 = tmp_path / "agg" / names[1]
    first, last = (int(x) for x in level1.stem.split("-")[1:])
    for seq in range(first, last + 1):  # (any block's bytes: they must not be counted)
        (tmp_path / "agg" / f"0-{seq:012d}-{seq:012d}.blk").write_bytes(level1.read_bytes())
    with store(tmp_path) as s:
        got = s.history(0, T0, T0 + 900, 10)
    assert got.source == want.source == "aggregates"
    assert got.buckets.count.tolist() == want.buckets.count.tolist()
    assert int(got.buckets.count.sum()) == 900


def test_history_is_raw_when_few_and_buckets_when_many(tmp_path: Path) -> None:
    with store(tmp_path) as s:
        s.write(readings(0, 3000, sensors=1))  # 3,000 s at 1 Hz, value = seconds since T0
        few = s.history(0, T0, T0 + 99, 1000)
        assert few.source == "raw" and few.bucket_s == 0.0
        assert few.buckets.ts.tolist() == (T0 + np.arange(100)).tolist()
        assert few.buckets.mean.tolist() == list(range(100))
        short = s.history(0, T0, T0 + 2999, 1000)  # 3 s buckets: from raw
        assert short.source == "raw" and short.bucket_s == 3.0
        assert len(short.buckets.ts) == 1000 and short.buckets.max[0] == 2.0
        long = s.history(0, T0, T0 + 2999, 10)  # 5 min buckets: from the minute aggregates
        compacted(s)
        again = s.history(0, T0, T0 + 2999, 10)
    assert long.source == again.source == "aggregates" and long.bucket_s == 300.0
    for a, b in zip(long.buckets, again.buckets, strict=True):
        assert np.array_equal(a, b)
    assert long.buckets.min.tolist() == list(range(0, 3000, 300))
    assert long.buckets.max.tolist() == list(range(299, 3000, 300))
    assert long.buckets.mean.tolist() == [k + 149.5 for k in range(0, 3000, 300)]


def test_sqlite_history_equals_the_block_store_history_from_raw(tmp_path: Path) -> None:
    rng = np.random.default_rng(9)
    b = Batch.of(rng.integers(0, 3, 5000), T0 + rng.uniform(0, 2000, 5000), rng.normal(0, 1, 5000))
    with store(tmp_path / "b") as s, SqliteStore(tmp_path / "r.db") as ref:
        s.write(b)
        ref.write(b)
        for since, until, points in ((T0, T0 + 2000, 100), (T0 + 5, T0 + 50, 1000)):
            want, got = s.history(1, since, until, points), ref.history(1, since, until, points)
            assert got.bucket_s == want.bucket_s
            for x, y in zip(got.buckets, want.buckets, strict=True):
                assert np.allclose(x, y, rtol=1e-9)


def test_no_more_blocks_are_mapped_than_allowed(tmp_path: Path) -> None:
    with store(tmp_path, max_mapped=3, merge_fanin=100) as s:
        for i in range(12):
            s.write(readings(i * 50, 50))
            compacted(s)
        got = s.readings(4, limit=10_000)
        assert [r.value for r in got] == list(range(4, 600, 5))
        assert s.history(4, T0, T0 + 599, 5).buckets.count.tolist() == [24] * 5
        blocks = [*s._raw.values(), *(a.block for a in s._agg)]
        assert len(blocks) == 24 and sum(b.mapped for b in blocks) <= 3


def test_a_second_writer_is_refused_and_a_reader_sees_everything(tmp_path: Path) -> None:
    with store(tmp_path) as s:
        s.write(readings(0, 100))
        compacted(s)
        s.write(readings(100, 50))  # in the writer's log only
        with pytest.raises(StoreError, match="in use by another process"):
            BlockStore(tmp_path)
        files = sorted(p.name for p in tmp_path.rglob("*"))
        with BlockStore(tmp_path, readonly=True) as r:
            assert r.count() == 150
            assert r.readings(0, limit=1000) == s.readings(0, limit=1000)
            assert r.history(0, T0, T0 + 149, 3).buckets.count.tolist() == [10, 10, 10]
            for act in (lambda: r.write(readings(150, 5)), r.seal, lambda: r.purge(T0 + 99)):
                with pytest.raises(StoreError, match="read-only"):
                    act()
        assert sorted(p.name for p in tmp_path.rglob("*")) == files  # the reader changed nothing
    with store(tmp_path) as s:  # the writer's lock went with it
        assert s.count() == 150

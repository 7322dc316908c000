"""The on-disk spool: order, durability across reopen, torn tails, the size bound."""

from __future__ import annotations

import struct
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hazardwatch.storage import Spool, SpoolFullError
from hazardwatch.vocabulary.model import Batch

T0 = 1_763_800_000.0


def batch(start: int, n: int) -> Batch:
    """n readings numbered from `start`, every column distinct, so order and content show."""
    k = np.arange(start, start + n)
    return Batch.of(k % 7, T0 + k * 0.5, k * 1.25, k % 3, k % 2)


def columns(b: Batch) -> list[list[float]]:
    return [getattr(b, c).tolist() for c in ("sensor", "ts", "value", "quality", "flags")]


def drain_all(spool: Spool, **kw: int) -> Batch:
    got: list[Batch] = []
    spool.drain(got.append, **kw)
    return Batch.concat(got)


def test_drain_replays_what_was_appended_oldest_first(tmp_path: Path) -> None:
    with Spool(tmp_path) as spool:
        spool.append(batch(0, 3))
        spool.append(batch(3, 4))
        assert spool.pending_rows == 7
        got = drain_all(spool)
        assert columns(got) == columns(batch(0, 7))
        assert spool.pending_rows == 0 and spool.pending_segments == 0
    assert list(tmp_path.glob("*.seg")) == []


def test_pending_readings_survive_reopen_and_drained_ones_do_not_come_back(
    tmp_path: Path,
) -> None:
    with Spool(tmp_path, segment_bytes=200) as spool:
        for i in range(5):
            spool.append(batch(i * 4, 4))
        spool.drain(lambda b: None, chunk_rows=6, max_rows=6)  # a chunk and a half segment
    with Spool(tmp_path) as again:
        assert again.pending_rows == 20 - 8  # two records of 4 fit the 6-row chunk budget
        assert columns(drain_all(again)) == columns(batch(8, 12))


def test_a_crash_after_draining_a_segment_before_deleting_it_replays_nothing(
    tmp_path: Path,
) -> None:
    with Spool(tmp_path) as spool:
        spool.append(batch(0, 4))
    (seg,) = tmp_path.glob("*.seg")
    # What the cursor says once the store took the whole segment, just before the unlink.
    (tmp_path / "cursor").write_bytes(struct.pack("<QQ", int(seg.stem), seg.stat().st_size))
    with Spool(tmp_path) as again:
        assert again.pending_rows == 0 and not seg.exists()
        again.append(batch(4, 2))
        assert again.pending_rows == 2
        assert columns(drain_all(again)) == columns(batch(4, 2))


def test_a_failed_write_keeps_everything_in_order(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    for i in range(4):
        spool.append(batch(i * 10, 10))
    taken: list[Batch] = []

    def flaky(b: Batch) -> None:
        if len(taken) == 1:
            raise ConnectionError("store down")
        taken.append(b)

    with pytest.raises(ConnectionError):
        spool.drain(flaky, chunk_rows=10)
    assert spool.pending_rows == 30
    spool.drain(taken.append, chunk_rows=10)
    assert columns(Batch.concat(taken)) == columns(batch(0, 40))
    spool.close()


def test_a_torn_last_record_is_cut_off_on_reopen(tmp_path: Path) -> None:
    with Spool(tmp_path) as spool:
        spool.append(batch(0, 5))
        spool.append(batch(5, 5))
    (seg,) = tmp_path.glob("*.seg")
    data = seg.read_bytes()
    seg.write_bytes(data[:-7])  # a crash in the middle of the second write
    with Spool(tmp_path) as again:
        assert again.stats.torn_bytes == len(data) // 2 - 7
        assert again.pending_rows == 5
        again.append(batch(100, 2))
        assert columns(drain_all(again)) == columns(Batch.concat([batch(0, 5), batch(100, 2)]))


@pytest.mark.parametrize(
    ("damage", "kept"),
    [
        pytest.param(lambda d: d + b"HWS1\x05", 6, id="half-a-header"),
        pytest.param(lambda d: d + b"\x00" * 40, 6, id="zeros"),
        pytest.param(lambda d: d[:-1] + bytes([d[-1] ^ 0xFF]), 3, id="flipped-byte"),
    ],
)
def test_garbage_at_the_tail_is_never_read_as_readings(
    tmp_path: Path, damage: Callable[[bytes], bytes], kept: int
) -> None:
    with Spool(tmp_path) as spool:
        spool.append(batch(0, 3))
        spool.append(batch(3, 3))
    (seg,) = tmp_path.glob("*.seg")
    seg.write_bytes(damage(seg.read_bytes()))
    with Spool(tmp_path) as again:
        assert again.stats.torn_bytes > 0
        assert columns(drain_all(again)) == columns(batch(0, kept))


def test_a_full_spool_refuses_with_a_clear_error_and_counts_it(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=1000)
    spool.append(batch(0, 20))  # 16 + 20 * 26 = 536 bytes
    with pytest.raises(SpoolFullError, match=r"full .* 20 readings refused"):
        spool.append(batch(20, 20))
    assert spool.stats.refused_rows == 20
    assert spool.pending_rows == 20
    drain_all(spool)
    spool.append(batch(20, 20))  # room again once drained
    assert columns(drain_all(spool)) == columns(batch(20, 20))
    spool.close()


def test_segments_rotate_and_go_once_drained(tmp_path: Path) -> None:
    spool = Spool(tmp_path, segment_bytes=200)
    for i in range(6):
        spool.append(batch(i * 10, 10))  # 276 bytes: past 200, so one record a segment
    assert spool.pending_segments == 6 and len(list(tmp_path.glob("*.seg"))) == 6
    assert spool.drain(lambda b: None, chunk_rows=10, max_rows=25) == 30
    assert spool.pending_segments == 3 and len(list(tmp_path.glob("*.seg"))) == 3
    spool.close()


def test_a_record_larger_than_the_chunk_goes_whole(tmp_path: Path) -> None:
    with Spool(tmp_path) as spool:
        spool.append(batch(0, 100))
        sizes: list[int] = []
        spool.drain(lambda b: sizes.append(len(b)), chunk_rows=10)
    assert sizes == [100]


@settings(max_examples=40, deadline=None)
@given(
    sizes=st.lists(st.integers(0, 40), max_size=12),
    chunk=st.integers(1, 60),
    reopen_after=st.integers(0, 12),
    values=st.sampled_from([1.0, np.nan, np.inf, -0.0, 1e300]),
)
def test_round_trip_keeps_every_row_bit_for_bit(
    sizes: list[int], chunk: int, reopen_after: int, values: float
) -> None:
    batches, start = [], 0
    for n in sizes:
        b = batch(start, n)
        b.value[: n // 2] = values
        batches.append(b)
        start += n
    with tempfile.TemporaryDirectory() as tmp:
        spool = Spool(Path(tmp), segment_bytes=500)
        for i, b in enumerate(batches):
            if i == reopen_after:
                spool.close()
                spool = Spool(Path(tmp), segment_bytes=500)
            spool.append(b)
        assert spool.pending_rows == sum(sizes)
        got = drain_all(spool, chunk_rows=chunk)
        spool.close()
    want = Batch.concat(batches)
    for col in ("sensor", "ts", "value", "quality", "flags"):
        assert getattr(got, col).dtype == getattr(want, col).dtype
        assert getattr(got, col).tobytes() == getattr(want, col).tobytes()

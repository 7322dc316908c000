"""An append-only on-disk spool of Batches: readings wait here while their store is down.

Layout: a folder of segment files `<seq>.seg`, each a run of records, plus a `cursor`
file saying how far the oldest segment has been drained. A record is a 16-byte header
(magic, rows, payload bytes, CRC-32 of the payload) and the batch's five columns back to
back (26 bytes a row). Every append is flushed and fsynced before it returns, so a
kill -9 loses nothing that was appended; a record torn by a crash in the middle of a
write fails its length or CRC check and is cut off on reopen, never read as data.

Draining replays records oldest first and moves the cursor (written atomically) only
after the store took them, so a failed write is retried from the same record. A crash
between the store's success and the cursor's update replays that one chunk again: the
spool delivers at least once, and the stores keep a (sensor, ts) duplicate once.
"""

from __future__ import annotations

import logging
import os
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from hazardwatch.storage.durable import fsync_dir
from hazardwatch.vocabulary.model import Batch, HazardWatchError

log = logging.getLogger("hazardwatch.storage.spool")

_HEADER = struct.Struct("<4sIII")  # magic, rows, payload bytes, crc32(payload)
_MAGIC = b"HWS1"
# (column, dtype) in payload order; little-endian on disk whatever the machine.
_COLUMNS = (("sensor", "<i8"), ("ts", "<f8"), ("value", "<f8"), ("quality", "u1"), ("flags", "u1"))
ROW_BYTES = sum(np.dtype(d).itemsize for _, d in _COLUMNS)
_CURSOR = struct.Struct("<QQ")  # segment seq, byte offset within it


class SpoolFullError(HazardWatchError):
    """The spool holds its maximum size: the batch was not appended."""


@dataclass
class SpoolStats:
    """What the spool did since it was opened."""

    appended_rows: int = 0
    drained_rows: int = 0
    refused_rows: int = 0
    torn_bytes: int = 0  # bytes cut off or skipped on reopen (a crash mid-append)


@dataclass
class _Segment:
    seq: int
    size: int  # bytes of valid records
    rows: int  # rows in valid records

    def name(self) -> str:
        return f"{self.seq:012d}.seg"


def encode_record(batch: Batch) -> bytes:
    payload = b"".join(
        np.ascontiguousarray(getattr(batch, col), dtype=dt).tobytes() for col, dt in _COLUMNS
    )
    return _HEADER.pack(_MAGIC, len(batch), len(payload), zlib.crc32(payload)) + payload


def decode_record(payload: bytes, n: int) -> Batch:
    cols: dict[str, np.ndarray] = {}
    at = 0
    for col, dt in _COLUMNS:
        disk = np.dtype(dt)
        # A copy in native byte order: the batch owns its arrays, not the read buffer.
        cols[col] = np.frombuffer(payload, dtype=disk, count=n, offset=at).astype(
            disk.newbyteorder("=")
        )
        at += disk.itemsize * n
    return Batch(**cols)


def read_record(data: bytes, at: int) -> tuple[int, int] | None:
    """(rows, end offset) of the record at `at`, or None if it is torn or damaged."""
    if at + _HEADER.size > len(data):
        return None
    magic, n, length, crc = _HEADER.unpack_from(data, at)
    end = at + _HEADER.size + length
    if magic != _MAGIC or length != n * ROW_BYTES or end > len(data):
        return None
    if zlib.crc32(memoryview(data)[at + _HEADER.size : end]) != crc:
        return None
    return n, end


def read_records(data: bytes) -> tuple[list[Batch], int]:
    """The batches of the whole records at the start of `data`, and where they end."""
    batches: list[Batch] = []
    at = 0
    while (rec := read_record(data, at)) is not None:
        n, end = rec
        batches.append(decode_record(data[at + _HEADER.size : end], n))
        at = end
    return batches, at


class Spool:
    """Batches on disk, oldest first, bounded by `max_bytes`. One thread uses it at a time."""

    def __init__(
        self, directory: Path, *, max_bytes: int = 1 << 30, segment_bytes: int = 16 << 20
    ) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.max_bytes = int(max_bytes)
        self.segment_bytes = int(segment_bytes)
        self.stats = SpoolStats()
        self._segments: list[_Segment] = []
        self._active: _Segment | None = None  # the segment appends go to, open in _file
        self._file: BinaryIO | None = None
        self._cursor = (0, 0)  # (seq, offset): everything before it reached the store
        self._cursor_rows = 0  # rows of the head segment before the cursor
        self._open()

    # ------------------------------------------------------------------ state

    @property
    def pending_rows(self) -> int:
        return sum(s.rows for s in self._segments) - self._cursor_rows

    @property
    def pending_segments(self) -> int:
        return len(self._segments)

    @property
    def pending_bytes(self) -> int:
        return sum(s.size for s in self._segments)

    def __len__(self) -> int:
        return self.pending_rows

    # ------------------------------------------------------------------ open

    def _open(self) -> None:
        cursor_file = self.directory / "cursor"
        if cursor_file.exists():
            raw = cursor_file.read_bytes()
            if len(raw) == _CURSOR.size:
                self._cursor = _CURSOR.unpack(raw)
            else:  # written by atomic rename, so only a foreign file gets here
                log.error("spool %s: unreadable cursor, draining from the start", self.directory)
        seqs = sorted(int(p.stem) for p in self.directory.glob("*.seg") if p.stem.isdigit())
        for i, seq in enumerate(seqs):
            path = self.directory / f"{seq:012d}.seg"
            if seq < self._cursor[0]:
                path.unlink()  # drained; a crash came between the cursor and the unlink
                continue
            data = path.read_bytes()
            at, rows = 0, 0
            while (rec := read_record(data, at)) is not None:
                n, end = rec
                if seq == self._cursor[0] and end <= self._cursor[1]:
                    self._cursor_rows += n
                rows += n
                at = end
            if at < len(data):
                self.stats.torn_bytes += len(data) - at
                log.warning(
                    "spool %s: %d bytes after the last whole record of %s %s",
                    self.directory,
                    len(data) - at,
                    path.name,
                    "cut off (torn by a crash)" if i == len(seqs) - 1 else "skipped (damaged)",
                )
                if i == len(seqs) - 1:
                    with path.open("r+b") as f:
                        f.truncate(at)
                        os.fsync(f.fileno())
            if rows == 0 or (seq == self._cursor[0] and self._cursor[1] >= at):
                path.unlink()  # empty, or drained up to a crash before its unlink
                continue
            self._segments.append(_Segment(seq, at, rows))
        if not self._segments or self._segments[0].seq != self._cursor[0]:
            # The cursor's segment is gone: the oldest one left starts from its beginning.
            seq = self._segments[0].seq if self._segments else self._cursor[0]
            self._cursor, self._cursor_rows = (seq, 0), 0

    # ---------------------------------------------------------------- append

    def append(self, batch: Batch) -> None:
        """Put a batch on disk (fsynced before returning); SpoolFullError when it would not fit."""
        n = len(batch)
        if n == 0:
            return
        record = encode_record(batch)
        if self.pending_bytes + len(record) > self.max_bytes:
            self.stats.refused_rows += n
            raise SpoolFullError(
                f"spool {self.directory} is full ({self.pending_bytes:,} of {self.max_bytes:,}"
                f" bytes): {n} readings refused"
            )
        if self._active is None or self._active.size >= self.segment_bytes:
            self._rotate()
        assert self._active is not None and self._file is not None
        self._file.write(record)
        self._file.flush()
        os.fsync(self._file.fileno())
        self._active.size += len(record)
        self._active.rows += n
        self.stats.appended_rows += n

    def _rotate(self) -> None:
        self._close_file()
        seq = max((s.seq for s in self._segments), default=self._cursor[0] - 1) + 1
        seg = _Segment(seq, 0, 0)
        self._file = (self.directory / seg.name()).open("ab")
        fsync_dir(self.directory)  # the new file's name survives a power cut too
        self._segments.append(seg)
        self._active = seg
        if len(self._segments) == 1:
            self._set_cursor(seq, 0, 0)

    def _close_file(self) -> None:
        if self._file is not None:
            self._file.close()
        self._file = None
        self._active = None

    # ----------------------------------------------------------------- drain

    def drain(
        self, write_fn: Callable[[Batch], object], *, chunk_rows: int = 50_000, max_rows: int = -1
    ) -> int:
        """Replay oldest first into `write_fn`, `chunk_rows` at a time; returns rows drained.

        Stops when the spool is empty or `max_rows` (if >= 0) have gone. An exception of
        `write_fn` propagates; what it did not take stays spooled, in order.
        """
        drained = 0
        while self._segments and (max_rows < 0 or drained < max_rows):
            head = self._segments[0]
            seq, offset = self._cursor
            if offset >= head.size:
                self._drop_head()
                continue
            with (self.directory / head.name()).open("rb") as f:
                f.seek(offset)
                # At most one chunk of records (and the first record, however large).
                data = f.read(min(head.size - offset, _HEADER.size + chunk_rows * ROW_BYTES))
            batches: list[Batch] = []
            at = rows = 0
            while (rec := read_record(data, at)) is not None:
                n, end = rec
                if batches and rows + n > chunk_rows:
                    break
                batches.append(decode_record(data[at + _HEADER.size : end], n))
                at, rows = end, rows + n
            if not batches:  # the first record is larger than the chunk: read it whole
                with (self.directory / head.name()).open("rb") as f:
                    f.seek(offset)
                    header = f.read(_HEADER.size)
                    data = header + f.read(_HEADER.unpack(header)[2])
                n, at = read_record(data, 0) or (0, 0)
                if n == 0:
                    raise HazardWatchError(f"spool {self.directory}: damaged record in {seq}")
                batches = [decode_record(data[_HEADER.size : at], n)]
            chunk = Batch.concat(batches)
            write_fn(chunk)
            rows = len(chunk)  # the oversized-record path above did not count its rows
            drained += rows
            self.stats.drained_rows += rows
            self._set_cursor(seq, offset + at, self._cursor_rows + rows)
            if offset + at >= head.size:
                self._drop_head()
        return drained

    def _drop_head(self) -> None:
        head = self._segments.pop(0)
        if head is self._active:
            self._close_file()
        nxt = self._segments[0].seq if self._segments else head.seq + 1
        # The cursor moves first: a crash before the unlink leaves a segment _open deletes.
        self._set_cursor(nxt, 0, 0)
        (self.directory / head.name()).unlink(missing_ok=True)

    def _set_cursor(self, seq: int, offset: int, rows: int) -> None:
        tmp = self.directory / "cursor.tmp"
        with tmp.open("wb") as f:
            f.write(_CURSOR.pack(seq, offset))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.directory / "cursor")
        self._cursor, self._cursor_rows = (seq, offset), rows

    def close(self) -> None:
        self._close_file()

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

"""The embedded reading store: an arrival-order log, compacted into sensor-major blocks.

Writes append the batch to the active log file (checksummed records, fsynced before
`write` returns, so a kill -9 loses nothing written) and keep it in memory. Once the log
holds `log_rows` readings (or is `log_age_s` old) it is sealed, and a background thread
compacts it: sorted by (sensor, ts), a (sensor, ts) repeated kept once (the first
arrival), written as a raw block file (blocks.py) plus a block of its minute aggregates;
only then is the log file deleted. Aggregate blocks are merged `merge_fanin` at a time
into larger ones, so a month is a few hundred blocks, not thousands.

The writer never waits for the compactor: they share only in-memory lists, swapped
under a lock held for microseconds. Queries read the memory-mapped blocks that overlap
their range plus the unsealed and sealed-but-uncompacted tail in memory. Purging
unlinks whole blocks (a block outlives the cutoff until its last reading passes it, so
raw readings are kept at least the retention); aggregate blocks go after
`aggregate_days`, by the store's own thread.

One process writes a store (a lock file says which; a second writer is refused); others
may open it `readonly` to read what is on disk, compacted or not (a back-test beside the
running service).

A reading repeated across two logs (a spool replaying a chunk after a crash) is
returned once by `readings` and `history` from raw, but counts twice in its minute's
aggregate.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np

from hazardwatch.storage.blocks import Block, write_block
from hazardwatch.storage.durable import fsync_dir
from hazardwatch.storage.rollup import (
    Aggregates,
    Buckets,
    bucket_width,
    combine,
    downsample,
    downsample_aggregates,
    rollup,
)
from hazardwatch.storage.spool import encode_record, read_records
from hazardwatch.storage.store import History, ReadingRow, StoreError
from hazardwatch.vocabulary.model import Batch

log = logging.getLogger("hazardwatch.storage.blocks")

DAY_S = 86400.0
_AGG_COLUMNS = ("ts", "min", "max", "sum", "count")  # "ts" is the minute's start


@dataclass
class _Log:
    """One arrival-order log: its file and its readings, in memory until compacted."""

    seq: int
    batches: list[Batch] = field(default_factory=list)
    rows: int = 0
    opened: float = field(default_factory=time.monotonic)

    def path(self, folder: Path) -> Path:
        return folder / f"{self.seq:012d}.log"


@dataclass
class _AggBlock:
    level: int
    first: int  # seqs of the logs it holds, first..last
    last: int
    block: Block

    @staticmethod
    def file_name(level: int, first: int, last: int) -> str:
        return f"{level}-{first:012d}-{last:012d}.blk"

    def name(self) -> str:
        return self.file_name(self.level, self.first, self.last)


@dataclass
class Retention:
    """How long history is kept (standards.md: raw at least 30 days)."""

    raw_days: float = 90.0
    aggregate_days: float = 3 * 365.0


class BlockStore:
    """Readings in `folder`: log/ (arrival order), raw/ and agg/ (sensor-major blocks)."""

    def __init__(
        self,
        folder: Path,
        *,
        log_rows: int = 2_000_000,
        log_age_s: float = 300.0,
        merge_fanin: int = 16,
        merge_max_rows: int = 4_000_000,
        aggregate_days: float = Retention.aggregate_days,
        max_mapped: int = 4096,
        clock: Callable[[], float] = time.time,
        background: bool = True,
        readonly: bool = False,
    ) -> None:
        self.folder = Path(folder)
        self.readonly = readonly
        self.log_rows = log_rows
        self.log_age_s = log_age_s
        self.merge_fanin = merge_fanin
        self.merge_max_rows = merge_max_rows
        self.aggregate_days = aggregate_days
        self.clock = clock
        self.max_mapped = max_mapped
        self.compact_errors = 0
        # Blocks mapped now, least recently used first: a park's 90 days are tens of
        # thousands of blocks, more than a process may map (vm.max_map_count, 65,530).
        self._mapped: OrderedDict[int, Block] = OrderedDict()
        self._map_lock = threading.Lock()
        self._dirs = {name: self.folder / name for name in ("log", "raw", "agg")}
        self._lockfile: BinaryIO | None = None
        if readonly:
            if not self._dirs["log"].is_dir():
                raise StoreError(f"{self.folder}: no reading store here")
        else:
            for d in self._dirs.values():
                d.mkdir(parents=True, exist_ok=True)
            self._lockfile = _lock_folder(self.folder)
        self._lock = threading.Lock()  # the lists below; held for list swaps only
        self._write_lock = threading.Lock()  # the active log's file: writer vs sealing
        self._wake = threading.Condition(threading.Lock())
        self._raw: dict[int, Block] = {}
        self._agg: list[_AggBlock] = []
        self._sealed: list[_Log] = []  # waiting for the compactor, oldest first
        self._open_existing()
        self._active = _Log(self._next_seq())
        self._file: BinaryIO | None = None
        if not readonly:
            self._file = self._active.path(self._dirs["log"]).open("ab")
            fsync_dir(self._dirs["log"])
        self._closed = False
        self._thread: threading.Thread | None = None
        if background and not readonly:
            self._thread = threading.Thread(target=self._run, name="block-compactor", daemon=True)
            self._thread.start()

    # ------------------------------------------------------------------ open

    def _open_existing(self) -> None:
        """Blocks and logs on disk; a writer also mends what a crash left (a reader, which
        may look while the writer works, only skips it)."""
        mend = not self.readonly
        for tmp in self.folder.glob("*/*.tmp") if mend else ():
            tmp.unlink()  # a block a crash interrupted; its log is still there
        for path in sorted(self._dirs["raw"].glob("*.blk")):
            self._raw[int(path.stem)] = Block.open(path)
        aggs = []
        for path in sorted(self._dirs["agg"].glob("*.blk")):
            level, first, last = (int(x) for x in path.stem.split("-"))
            aggs.append(_AggBlock(level, first, last, Block.open(path)))
        # A merge that crashed before unlinking its inputs: they are inside the merged one.
        for a in aggs:
            inside = any(
                b is not a and b.level > a.level and b.first <= a.first and a.last <= b.last
                for b in aggs
            )
            if inside:
                a.block.close()
                if mend:
                    (self._dirs["agg"] / a.name()).unlink()
            else:
                self._agg.append(a)
        for path in sorted(self._dirs["log"].glob("*.log")):
            seq = int(path.stem)
            if seq in self._raw:
                if mend:
                    path.unlink()  # compacted; the crash came before the log's unlink
                continue
            try:
                data = path.read_bytes()
            except FileNotFoundError:  # (a reader) compacted meanwhile: its block is new
                continue
            batches, end = read_records(data)
            if end < len(data) and mend:
                log.warning("%s: %d bytes torn by a crash cut off", path, len(data) - end)
                with path.open("r+b") as f:
                    f.truncate(end)
                    os.fsync(f.fileno())
            if batches:
                self._sealed.append(_Log(seq, batches, sum(len(b) for b in batches)))
            elif mend:
                path.unlink()

    def _next_seq(self) -> int:
        seqs = [*self._raw, *(a.last for a in self._agg), *(s.seq for s in self._sealed)]
        return max(seqs, default=0) + 1

    # ----------------------------------------------------------------- write

    def write(self, batch: Batch) -> int:
        n = len(batch)
        if n == 0:
            return 0
        self._writable()
        record = encode_record(batch)
        # Our own copy: the caller may reuse its arrays (the record holds the bytes anyway).
        kept = Batch(batch.sensor.copy(), batch.ts.copy(), batch.value.copy(),
                     batch.quality.copy(), batch.flags.copy())  # fmt: skip
        with self._write_lock:
            assert self._file is not None
            self._file.write(record)
            self._file.flush()
            os.fsync(self._file.fileno())
            with self._lock:
                self._active.batches.append(kept)
                self._active.rows += n
            full = self._active.rows >= self.log_rows
        if full or time.monotonic() - self._active.opened >= self.log_age_s:
            self.seal()
        return n

    def seal(self) -> None:
        """Hand the active log to the compactor and start a new one."""
        self._writable()
        with self._write_lock:
            if self._active.rows == 0:
                return
            assert self._file is not None
            self._file.close()
            new = _Log(self._active.seq + 1)
            self._file = new.path(self._dirs["log"]).open("ab")
            fsync_dir(self._dirs["log"])
            with self._lock:
                self._sealed.append(self._active)
                self._active = new
        with self._wake:
            self._wake.notify()

    # ------------------------------------------------------------- compaction

    def _run(self) -> None:
        while True:
            with self._wake:
                if not self._closed and not self._sealed:
                    self._wake.wait(timeout=min(self.log_age_s, 60.0))
            if self._closed:
                return
            try:
                if time.monotonic() - self._active.opened >= self.log_age_s:
                    self.seal()
                self.compact()
                self.purge_aggregates(self.clock() - self.aggregate_days * DAY_S)
            except Exception:  # logged and counted; the logs stay until a later try works
                self.compact_errors += 1
                log.exception("block compaction failed")
                with self._wake:
                    self._wake.wait(timeout=5.0)

    def compact(self) -> int:
        """Compact every sealed log, then merge aggregate blocks; returns logs compacted.

        Called by the store's thread; tests (background=False) call `seal` and this."""
        self._writable()
        done = 0
        while True:
            with self._lock:
                if not self._sealed:
                    break
                sealed = self._sealed[0]
            self._compact_log(sealed)
            done += 1
        while self._merge_aggregates():
            pass
        return done

    def _compact_log(self, sealed: _Log) -> None:
        b = Batch.concat(sealed.batches)
        order = np.lexsort((b.ts, b.sensor))  # stable: the first arrival of a repeat leads
        sensor, ts = b.sensor[order], b.ts[order]
        keep = np.ones(len(order), bool)
        keep[1:] = (sensor[1:] != sensor[:-1]) | (ts[1:] != ts[:-1])
        order, sensor, ts = order[keep], sensor[keep], ts[keep]
        value = b.value[order]
        raw_path = self._dirs["raw"] / f"{sealed.seq:012d}.blk"
        write_block(raw_path, sensor, {"ts": ts, "value": value, "quality": b.quality[order]})
        a = self._write_agg(0, sealed.seq, sealed.seq, rollup(sensor, ts, value))
        with self._lock:
            self._raw[sealed.seq] = Block.open(raw_path)
            self._agg.append(a)
            self._sealed.remove(sealed)
        sealed.path(self._dirs["log"]).unlink(missing_ok=True)

    def _write_agg(self, level: int, first: int, last: int, agg: Aggregates) -> _AggBlock:
        path = self._dirs["agg"] / _AggBlock.file_name(level, first, last)
        cols = dict(zip(_AGG_COLUMNS, (agg.minute, agg.min, agg.max, agg.sum, agg.count),
                        strict=True))  # fmt: skip
        write_block(path, agg.sensor, cols)
        return _AggBlock(level, first, last, Block.open(path))

    def _merge_aggregates(self) -> bool:
        """Merge `merge_fanin` aggregate blocks of one level, oldest first, if any qualify."""
        with self._lock:
            levels: dict[int, list[_AggBlock]] = {}
            for a in sorted(self._agg, key=lambda a: a.first):
                levels.setdefault(a.level, []).append(a)
        for level, group in sorted(levels.items()):
            if len(group) < self.merge_fanin:
                continue
            take = group[: self.merge_fanin]
            if sum(a.block.rows for a in take) > self.merge_max_rows:
                continue
            merged = combine([_agg_rows(self._use(a.block), 0, a.block.rows) for a in take])
            out = self._write_agg(level + 1, take[0].first, take[-1].last, merged)
            with self._lock:
                self._agg = [a for a in self._agg if a not in take] + [out]
            self._forget([a.block for a in take])
            for a in take:
                (self._dirs["agg"] / a.name()).unlink(missing_ok=True)
            return True
        return False

    # ------------------------------------------------------------------ reads

    def _use(self, blk: Block) -> Block:
        """`blk`, counted as recently used; the least recently used beyond `max_mapped`
        are unmapped (mapped again when next used)."""
        with self._map_lock:
            self._mapped[id(blk)] = blk
            self._mapped.move_to_end(id(blk))
            while len(self._mapped) > self.max_mapped:
                self._mapped.popitem(last=False)[1].release()
        return blk

    def _forget(self, blocks: list[Block]) -> None:
        """Blocks gone (purged, merged): unmapped, out of the recently used."""
        with self._map_lock:
            for blk in blocks:
                self._mapped.pop(id(blk), None)
                blk.release()

    def _tail(self) -> list[Batch]:
        with self._lock:
            return [b for lg in (*self._sealed, self._active) for b in lg.batches]

    def _raw_parts(
        self, sensor: int, lo: float, hi: float, newest: int | None = None
    ) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """(ts, value, quality) pieces of one sensor in [lo, hi], in arrival order.

        With `newest`, blocks are read newest first and no further once `newest` readings
        are in hand and the next block ends before the oldest of them."""
        with self._lock:
            blocks = [(k, b) for k, b in self._raw.items() if b.t_first <= hi and b.t_last >= lo]
            tail = [(lg.seq, lg.batches) for lg in (*self._sealed, self._active)]
        found: list[tuple[int, tuple[np.ndarray, np.ndarray, np.ndarray]]] = []
        for seq, batches in tail:
            for b in batches:
                m = (b.sensor == sensor) & (b.ts >= lo) & (b.ts <= hi)
                if m.any():
                    found.append((seq, (b.ts[m], b.value[m], b.quality[m])))
        blocks.sort(key=lambda kb: kb[1].t_last, reverse=True)
        rows = sum(len(p[0]) for _, p in found)
        for seq, blk in blocks:
            if newest is not None and rows >= newest:
                ts = np.unique(np.concatenate([p[0] for _, p in found]))  # a repeat once
                if len(ts) >= newest and blk.t_last < ts[-newest]:
                    break
            a, z = self._use(blk).span(sensor, lo, hi)
            if z > a:
                c = blk.columns
                found.append((seq, (c["ts"][a:z], c["value"][a:z], c["quality"][a:z])))
                rows += z - a
        found.sort(key=lambda sp: sp[0])  # stable: a log's batches keep their order
        return [p for _, p in found]

    def _raw_series(
        self, sensor: int, lo: float, hi: float, newest: int | None = None
    ) -> tuple[np.ndarray, ...]:
        """One sensor's readings in [lo, hi], ascending by ts, each ts once (first kept);
        complete in its `newest` last readings at least."""
        parts = self._raw_parts(sensor, lo, hi, newest)
        if not parts:
            return np.empty(0), np.empty(0), np.empty(0, np.uint8)
        ts, value, quality = (np.concatenate(c) for c in zip(*parts, strict=True))
        order = np.argsort(ts, kind="stable")
        ts = ts[order]
        keep = np.ones(len(ts), bool)
        keep[1:] = ts[1:] != ts[:-1]
        return ts[keep], value[order][keep], quality[order][keep]

    def readings(
        self, sensor: int, since: float | None = None, until: float | None = None, limit: int = 1000
    ) -> list[ReadingRow]:
        lo = -np.inf if since is None else float(since)
        hi = np.inf if until is None else float(until)
        ts, value, quality = self._raw_series(int(sensor), lo, hi, newest=limit)
        ts, value, quality = ts[-limit:], value[-limit:], quality[-limit:]
        return [
            ReadingRow(*r) for r in zip(ts.tolist(), value.tolist(), quality.tolist(), strict=True)
        ]

    def _aggregates(self, sensor: int, lo: float, hi: float) -> Aggregates:
        """One sensor's minute aggregates for minutes starting in [lo, hi]."""
        with self._lock:
            blocks = [a.block for a in self._agg]
        parts = []
        for blk in blocks:
            if blk.t_first > hi or blk.t_last < lo:
                continue
            a, z = self._use(blk).span(sensor, lo, hi)
            if z > a:
                parts.append(_agg_rows(blk, a, z))
        for b in self._tail():
            m = (b.sensor == sensor) & (b.ts >= lo) & (b.ts < hi + 60.0)
            if m.any():
                order = np.argsort(b.ts[m], kind="stable")
                parts.append(rollup(b.sensor[m][order], b.ts[m][order], b.value[m][order]))
        agg = combine(parts)
        keep = (agg.minute >= lo) & (agg.minute <= hi)
        return Aggregates(*(c[keep] for c in agg))

    def history(self, sensor: int, since: float, until: float, points: int) -> History:
        """At most `points` buckets (min/max/mean/count) of one sensor over [since, until];
        the readings themselves when there are no more than `points`.

        Buckets of a minute or more come from the minute aggregates (raw readings past
        their retention are gone, the aggregates stay); shorter ones from raw."""
        origin, width = bucket_width(since, until, points)
        if width < 60.0 and since < self._raw_start():
            # the range reaches back past the raw readings kept: whole minutes, then
            origin, width = bucket_width(since, max(until, since + 60.0 * points), points)
        total = 0
        if width >= 60.0:
            agg = self._aggregates(int(sensor), origin, until)
            total = int(agg.count.sum())
            if total > points:
                return History("aggregates", width, downsample_aggregates(agg, origin, width))
        ts, value, _ = self._raw_series(int(sensor), since, until)
        if len(ts) < total:  # few readings, but the raw ones are purged: their minutes
            return History("aggregates", width, downsample_aggregates(agg, origin, width))
        if len(ts) <= points:
            return History("raw", 0.0, Buckets(ts, value, value, value, np.ones(len(ts), np.int64)))
        return History("raw", width, downsample(ts, value, origin, width))

    def _raw_start(self) -> float:
        """Where raw readings begin, when aggregates reach further back (purged raw);
        else -inf."""
        with self._lock:
            raw = [b.t_first for b in self._raw.values()]
            agg = [a.block.t_first for a in self._agg]
        raw += [float(b.ts.min()) for b in self._tail()]
        if not agg or (raw and min(agg) >= min(raw) - 60.0):
            return -np.inf
        return min(raw, default=np.inf)

    def count(self) -> int:
        with self._lock:
            blocks = list(self._raw.values())
        return sum(b.rows for b in blocks) + sum(len(b) for b in self._tail())

    # ------------------------------------------------------------- retention

    def purge(self, older_than_ts: float) -> int:
        """Drop raw blocks whose every reading is older than `older_than_ts` (unlinks)."""
        self._writable()
        with self._lock:
            old = {k: b for k, b in self._raw.items() if b.t_last < older_than_ts}
            for k in old:
                del self._raw[k]
        self._forget(list(old.values()))
        for k in old:
            (self._dirs["raw"] / f"{k:012d}.blk").unlink(missing_ok=True)
        return sum(b.rows for b in old.values())

    def purge_aggregates(self, older_than_ts: float) -> int:
        """Drop aggregate blocks whose every minute starts before `older_than_ts`."""
        self._writable()
        with self._lock:
            old = [a for a in self._agg if a.block.t_last < older_than_ts]
            self._agg = [a for a in self._agg if a not in old]
        self._forget([a.block for a in old])
        for a in old:
            (self._dirs["agg"] / a.name()).unlink(missing_ok=True)
        return sum(a.block.rows for a in old)

    def close(self) -> None:
        """Stop the compactor (a compaction under way finishes first); logs left uncompacted
        are compacted at the next open."""
        with self._wake:
            self._closed = True
            self._wake.notify()
        if self._thread is not None:
            self._thread.join()
        with self._write_lock:
            if self._file is not None:
                self._file.close()
        if self._lockfile is not None:
            self._lockfile.close()  # releases the flock
            self._lockfile = None

    def _writable(self) -> None:
        if self.readonly:
            raise StoreError(f"{self.folder}: opened read-only")

    def __enter__(self) -> BlockStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _lock_folder(folder: Path) -> BinaryIO:
    """An exclusive lock on the store for this process: two writers would compact the same
    logs. Released when the file closes, or when the process dies."""
    f = (folder / "lock").open("a+b")
    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.close()
        raise StoreError(
            f"{folder} is in use by another process (a running service?); "
            "open it read-only to look at it meanwhile"
        ) from None
    return f


def _agg_rows(blk: Block, a: int, z: int) -> Aggregates:
    c = blk.columns
    idx = np.searchsorted(blk.starts, np.arange(a, z), "right") - 1
    return Aggregates(
        blk.sensors[idx],
        c["ts"][a:z],
        c["min"][a:z],
        c["max"][a:z],
        c["sum"][a:z],
        c["count"][a:z].astype(np.int64),
    )

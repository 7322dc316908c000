"""Several sensors' stored readings in one call, as numpy columns (a back-test's read).

`read_columns(store, sensors, since, until)` answers what `readings` would answer sensor by
sensor (each (sensor, ts) once, its first arrival kept), for all `sensors` at once, sorted
by (ts, sensor). Over a BlockStore it slices the sensor-major blocks' memory-mapped columns
directly: no Python object per reading. Any other store is read sensor by sensor
(`by_sensor`), the same answer, slower.

>>> import tempfile
>>> from pathlib import Path
>>> from hazardwatch.vocabulary.model import Batch
>>> store = BlockStore(Path(tempfile.mkdtemp()), background=False)
>>> _ = store.write(Batch.of(np.array([1, 0, 1]), np.array([5.0, 6.0, 7.0]), np.ones(3)))
>>> store.seal(); _ = store.compact()
>>> c = read_columns(store, np.array([0, 1]), 0.0, 10.0)
>>> c.sensor.tolist(), c.ts.tolist()
([1, 0, 1], [5.0, 6.0, 7.0])
>>> store.close()
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hazardwatch.storage.block_store import BlockStore
from hazardwatch.storage.blocks import Block
from hazardwatch.storage.store import ReadingStore

MAX_ROWS = 10_000_000  # `readings`' limit per sensor for stores read sensor by sensor


@dataclass(frozen=True, eq=False)
class Columns:
    """Readings of several sensors, one entry per reading."""

    sensor: np.ndarray  # int64
    ts: np.ndarray  # float64
    value: np.ndarray  # float64
    quality: np.ndarray  # uint8

    def __len__(self) -> int:
        return int(self.sensor.shape[0])


def read_columns(store: ReadingStore, sensors: np.ndarray, since: float, until: float) -> Columns:
    """The readings of `sensors` with since <= ts <= until, sorted by (ts, sensor), each
    (sensor, ts) once: the first to arrive, as `store.readings` keeps it."""
    if isinstance(store, BlockStore):
        return _from_blocks(store, np.unique(np.asarray(sensors, np.int64)), since, until)
    return by_sensor(store, sensors, since, until)


def by_sensor(store: ReadingStore, sensors: np.ndarray, since: float, until: float) -> Columns:
    """`read_columns` through the store's `readings`, one sensor at a time."""
    parts = []
    for s in np.unique(np.asarray(sensors, np.int64)).tolist():
        rows = store.readings(s, since, until, MAX_ROWS)
        if rows:
            a = np.array(rows, np.float64)
            parts.append((np.full(len(rows), s, np.int64), a[:, 0], a[:, 1], a[:, 2]))
    if not parts:
        return _empty()
    sensor, ts, value, quality = (np.concatenate(c) for c in zip(*parts, strict=True))
    order = np.lexsort((sensor, ts))
    return Columns(sensor[order], ts[order], value[order], quality[order].astype(np.uint8))


def _empty() -> Columns:
    return Columns(np.empty(0, np.int64), np.empty(0), np.empty(0), np.empty(0, np.uint8))


def _from_blocks(store: BlockStore, sensors: np.ndarray, lo: float, hi: float) -> Columns:
    # The store's lists, under its lock as its own reads take them (held for a copy only).
    with store._lock:
        blocks = sorted((k, b) for k, b in store._raw.items() if b.t_first <= hi and b.t_last >= lo)
        tail = [(lg.seq, list(lg.batches)) for lg in (*store._sealed, store._active)]
    found: list[tuple[int, tuple[np.ndarray, ...]]] = []
    for seq, blk in blocks:
        part = _block_part(store._use(blk), sensors, lo, hi)
        if part is not None:
            found.append((seq, part))
    for seq, batches in tail:
        for b in batches:
            m = np.isin(b.sensor, sensors) & (b.ts >= lo) & (b.ts <= hi)
            if m.any():
                found.append((seq, (b.sensor[m], b.ts[m], b.value[m], b.quality[m])))
    if not found:
        return _empty()
    found.sort(key=lambda sp: sp[0])  # arrival order; stable: a log's batches keep theirs
    sensor, ts, value, quality = (
        np.concatenate(c) for c in zip(*(p for _, p in found), strict=True)
    )
    order = np.lexsort((sensor, ts))  # stable: a repeat's first arrival leads
    sensor, ts = sensor[order], ts[order]
    again = (sensor[1:] == sensor[:-1]) & (ts[1:] == ts[:-1])  # a spool's replay, say
    if again.any():
        keep = np.r_[True, ~again]
        order, sensor, ts = order[keep], sensor[keep], ts[keep]
    return Columns(sensor, ts, value[order], quality[order].astype(np.uint8, copy=False))


def _block_part(
    blk: Block, sensors: np.ndarray, lo: float, hi: float
) -> tuple[np.ndarray, ...] | None:
    """(sensor, ts, value, quality) of `sensors` in [lo, hi] out of one block, or None."""
    have, starts = blk.sensors, blk.starts
    pos = np.searchsorted(have, sensors)
    inside = pos < have.size
    pos = pos[inside]
    pos = pos[have[pos] == sensors[inside]]
    if pos.size == 0:
        return None
    cols = blk.columns
    a, z = starts[pos], starts[pos + 1]
    count = z - a
    if pos.size == have.size:
        idx = None  # every sensor of the block: all its rows, in order
    else:
        # the rows a[i]..z[i] of each sensor, back to back
        idx = np.arange(int(count.sum())) + np.repeat(a - (np.cumsum(count) - count), count)
    sensor = np.repeat(have[pos], count)
    ts = cols["ts"] if idx is None else cols["ts"][idx]
    if blk.t_first < lo or blk.t_last > hi:
        m = (ts >= lo) & (ts <= hi)
        if not m.any():
            return None
        idx = np.flatnonzero(m) if idx is None else idx[m]
        sensor, ts = sensor[m], ts[m]
    if idx is None:
        return sensor, ts, cols["value"], cols["quality"]
    return sensor, ts, cols["value"][idx], cols["quality"][idx]

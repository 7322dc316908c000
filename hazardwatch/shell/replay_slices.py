"""Cutting a stream of CSV chunks into the time slices replay feeds to the service."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from hazardwatch.shell.replay_csv import Chunk
from hazardwatch.vocabulary.model import (
    Batch,
)
from ingest import Reason, Rejection

# A wide CSV without a config says nothing of each instrument's range: a range this wide
# means no out-of-range alarms, so only trend, drift and signal-fault checks speak.


@dataclass(frozen=True, eq=False)
class Slice:
    """The readings of one time slice, sorted by ts (ties in file order)."""

    id: int  # floor(ts / slice_s)
    start: float
    end: float
    row: np.ndarray
    batch: Batch

    def part(self, mask: np.ndarray) -> Batch:
        b = self.batch
        return Batch(b.sensor[mask], b.ts[mask], b.value[mask], b.quality[mask], b.flags[mask])


class Slicer:
    """Turns chunks in file order into slices in time order, holding back only the last.

    A row whose slice has already run is late: it joins the next slice to run, where the
    detector applies it if it is still newer than its sensor's last reading (as a late MQTT
    message joins the next batch live). Of several rows with one tag and one ts in a slice
    the first is kept and the others are rejected as `duplicate`.
    """

    def __init__(self, slice_s: float, tags: Sequence[str], source: str) -> None:
        if not slice_s > 0:
            raise ValueError(f"slice_s must be positive, got {slice_s}")
        self.slice_s = float(slice_s)
        self.tags = tags
        self.source = source
        self.late = 0
        self.duplicates: list[Rejection] = []  # taken by the caller after each call
        self._done: int | None = None  # the last slice id handed out
        self._held: list[np.ndarray] = []  # row, sensor, ts, value, quality, slice id

    def feed(self, chunk: Chunk) -> list[Slice]:
        """Take a chunk; return the slices it completes."""
        sid = np.floor(chunk.ts / self.slice_s).astype(np.int64)
        if self._done is not None:
            late = sid <= self._done
            self.late += int(np.count_nonzero(late))
            sid[late] = self._done + 1
        columns = [chunk.row, chunk.sensor, chunk.ts, chunk.value, chunk.quality, sid]
        if self._held:
            columns = [np.concatenate([a, b]) for a, b in zip(self._held, columns, strict=True)]
        self._held = columns
        if columns[0].size == 0:
            return []
        return self._emit(int(columns[5].max()))

    def finish(self) -> list[Slice]:
        """The slices still held, at the end of the input."""
        if not self._held or self._held[0].size == 0:
            return []
        return self._emit(int(self._held[5].max()) + 1)

    def _emit(self, below: int) -> list[Slice]:
        """Slices with an id under `below`, in id order; the rest stays held."""
        row, sensor, ts, value, quality, sid = self._held
        out = sid < below
        if not out.any():
            return []
        keep = ~out
        self._held = [a[keep] for a in self._held]
        row, sensor, ts, value, quality, sid = (
            a[out] for a in (row, sensor, ts, value, quality, sid)
        )
        order = np.lexsort((ts, sid))  # stable: equal ts keep file order
        row, sensor, ts, value, quality, sid = (
            a[order] for a in (row, sensor, ts, value, quality, sid)
        )
        bounds = np.flatnonzero(np.r_[True, sid[1:] != sid[:-1], True])
        slices = []
        for a, b in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
            slices.append(
                self._slice(int(sid[a]), row[a:b], sensor[a:b], ts[a:b], value[a:b], quality[a:b])
            )
        self._done = int(sid[-1])
        return slices

    def _slice(
        self,
        sid: int,
        row: np.ndarray,
        sensor: np.ndarray,
        ts: np.ndarray,
        value: np.ndarray,
        quality: np.ndarray,
    ) -> Slice:
        keep = self._first_of_duplicates(row, sensor, ts, value)
        if keep is not None:
            row, sensor, ts, value, quality = (a[keep] for a in (row, sensor, ts, value, quality))
        batch = Batch(sensor, ts, value, quality, np.zeros(sensor.shape[0], np.uint8))
        return Slice(sid, sid * self.slice_s, (sid + 1) * self.slice_s, row, batch)

    def _first_of_duplicates(
        self, row: np.ndarray, sensor: np.ndarray, ts: np.ndarray, value: np.ndarray
    ) -> np.ndarray | None:
        """A mask keeping the first row of each (sensor, ts); None when there is nothing to drop."""
        if sensor.size < 2:
            return None
        order = np.lexsort((row, ts, sensor))
        s, t = sensor[order], ts[order]
        again = (s[1:] == s[:-1]) & (t[1:] == t[:-1])
        if not again.any():
            return None
        keep = np.ones(sensor.size, np.bool_)
        first = np.maximum.accumulate(np.where(np.r_[True, ~again], np.arange(s.size), 0))
        for k in (np.flatnonzero(again) + 1).tolist():
            i = int(order[k])
            keep[i] = False
            tag = self.tags[int(sensor[i])]
            seen = int(row[order[first[k]]])
            detail = f"tag {tag!r} at ts {ts[i]:.3f} already appeared in row {seen}"
            payload = f"{ts[i]!r},{tag},{value[i]!r}".encode()
            self.duplicates.append(
                Rejection(Reason.DUPLICATE, self.source, detail, payload, int(row[i]))
            )
        return keep


def sorted_slices(chunks: Iterable[Chunk], slice_s: float) -> Iterator[Slice]:
    """The Slicer's slices for chunks already in time order across chunks, each (sensor,
    ts) once (a store's read, `hazardwatch.storage.read_columns`): cut where the slice id
    changes, without the Slicer's sorting and duplicate checks; the last slice of a chunk
    waits for the next chunk, which may continue it."""
    if not slice_s > 0:
        raise ValueError(f"slice_s must be positive, got {slice_s}")
    held: list[np.ndarray] = []  # row, sensor, ts, value, quality of the last slice
    for chunk in chunks:
        columns = [chunk.row, chunk.sensor, chunk.ts, chunk.value, chunk.quality]
        if held:
            columns = [np.concatenate([a, b]) for a, b in zip(held, columns, strict=True)]
        if columns[0].size == 0:
            continue
        sid = np.floor(columns[2] / slice_s).astype(np.int64)
        cut = np.flatnonzero(sid[1:] != sid[:-1]) + 1
        bounds = [0, *cut.tolist()]
        for a, b in itertools.pairwise(bounds):
            yield _cut(columns, a, b, int(sid[a]), slice_s)
        held = [c[bounds[-1] :] for c in columns]
    if held and held[0].size:
        yield _cut(held, 0, held[0].size, int(np.floor(held[2][0] / slice_s)), slice_s)


def _cut(columns: list[np.ndarray], a: int, b: int, sid: int, slice_s: float) -> Slice:
    row, sensor, ts, value, quality = (c[a:b] for c in columns)
    batch = Batch(sensor, ts, value, quality, np.zeros(b - a, np.uint8))
    return Slice(sid, sid * slice_s, (sid + 1) * slice_s, row, batch)

"""Sensor-major block files: rows sorted by (sensor, time), one sensor's rows contiguous.

A block is one file: a 64-byte header (magic, rows, sensors, columns, first and last
time), the sorted distinct sensor indices, where each sensor's rows start, then each
column back to back, 8-byte aligned. It is written once (temporary name, fsync,
rename) and read through one memory map, so finding a sensor is a binary search over
its sensor list and its rows in a time range a binary search over a slice of `ts`:
no parsing, no copy, whatever the size of the file.

>>> import tempfile, numpy as np
>>> d = Path(tempfile.mkdtemp())
>>> cols = {"ts": np.array([1.0, 2.0, 5.0]), "value": np.array([10.0, 20.0, 50.0])}
>>> write_block(d / "b", np.array([3, 3, 7]), cols)
>>> b = Block.open(d / "b")
>>> b.rows, b.t_first, b.t_last
(3, 1.0, 5.0)
>>> lo, hi = b.span(3, 1.5, 9.0)
>>> b.columns["value"][lo:hi].tolist()
[20.0]
"""

from __future__ import annotations

import mmap
import os
import struct
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from hazardwatch.storage.durable import fsync_dir

_HEADER = struct.Struct("<4sQQQdd16x")  # magic, rows, sensors, columns, t_first, t_last
_MAGIC = b"HWB1"
_NAME = struct.Struct("<16s4s")  # column name, dtype code (numpy str, e.g. "<f8")


def _align(n: int) -> int:
    return (n + 7) & ~7


def write_block(path: Path, sensor: np.ndarray, columns: Mapping[str, np.ndarray]) -> None:
    """Write rows already sorted by (sensor, ts) as a block file at `path`, durably.

    `columns` must hold "ts" (float64); every column has one entry per row of `sensor`.
    """
    sensor = np.asarray(sensor, dtype=np.int64)
    n = len(sensor)
    cut = np.flatnonzero(np.diff(sensor)) + 1
    sensors = sensor[np.concatenate(([0], cut))] if n else np.empty(0, np.int64)
    starts = np.concatenate(([0], cut, [n])).astype(np.int64) if n else np.zeros(1, np.int64)
    ts = columns["ts"]
    t_first = float(ts.min()) if n else 0.0
    t_last = float(ts.max()) if n else 0.0
    names = b"".join(
        _NAME.pack(name.encode(), np.asarray(col).dtype.newbyteorder("<").str.encode())
        for name, col in columns.items()
    )
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as f:
        f.write(_HEADER.pack(_MAGIC, n, len(sensors), len(columns), t_first, t_last))
        f.write(names)
        f.write(b"\0" * (_align(_HEADER.size + len(names)) - _HEADER.size - len(names)))
        for arr in (sensors, starts, *columns.values()):
            data = np.ascontiguousarray(arr, dtype=np.asarray(arr).dtype.newbyteorder("<"))
            f.write(data.tobytes())
            f.write(b"\0" * (_align(data.nbytes) - data.nbytes))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


class Block:
    """A block file, read through a memory map (the OS caches what is read).

    The header is read at open; the map is made on first use and can be `release`d (a
    store keeps thousands of blocks but maps only those in use: a process has a limit of
    memory maps). Arrays handed out stay valid after a release: they hold the map.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        with self.path.open("rb") as f:
            head = f.read(_HEADER.size)
        if len(head) < _HEADER.size:
            raise ValueError(f"{path}: not a block file (too short)")
        magic, n, _, _, t_first, t_last = _HEADER.unpack(head)
        if magic != _MAGIC:
            raise ValueError(f"{path}: not a block file (magic {magic!r})")
        self.rows: int = n
        self.t_first: float = t_first
        self.t_last: float = t_last
        self._arrays: tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]] | None = None

    @classmethod
    def open(cls, path: Path) -> Block:
        return cls(path)

    @property
    def mapped(self) -> bool:
        return self._arrays is not None

    def _map(self) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        arrays = self._arrays
        if arrays is not None:
            return arrays
        with self.path.open("rb") as f:
            mem = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        _, n, n_sensors, n_cols, _, _ = _HEADER.unpack_from(mem, 0)
        at = _HEADER.size
        specs = []
        for _ in range(n_cols):
            name, code = _NAME.unpack_from(mem, at)
            specs.append((name.rstrip(b"\0").decode(), np.dtype(code.rstrip(b"\0").decode())))
            at += _NAME.size
        at = _align(at)

        def take(dtype: np.dtype, count: int) -> np.ndarray:
            nonlocal at
            arr = np.frombuffer(mem, dtype=dtype, count=count, offset=at)
            at += _align(arr.nbytes)
            return arr

        sensors = take(np.dtype("<i8"), n_sensors)
        starts = take(np.dtype("<i8"), n_sensors + 1)
        columns = {name: take(dtype, n) for name, dtype in specs}
        self._arrays = arrays = (sensors, starts, columns)
        return arrays

    @property
    def sensors(self) -> np.ndarray:
        """The distinct sensor indices, ascending."""
        return self._map()[0]

    @property
    def starts(self) -> np.ndarray:
        """Where each sensor's rows start, and the row count last."""
        return self._map()[1]

    @property
    def columns(self) -> dict[str, np.ndarray]:
        return self._map()[2]

    def rows_of(self, sensor: int) -> tuple[int, int]:
        """[lo, hi) of one sensor's rows; (0, 0) when it has none here."""
        sensors, starts, _ = self._map()
        i = int(np.searchsorted(sensors, sensor))
        if i == len(sensors) or sensors[i] != sensor:
            return 0, 0
        return int(starts[i]), int(starts[i + 1])

    def span(self, sensor: int, since: float, until: float) -> tuple[int, int]:
        """[lo, hi) of one sensor's rows with since <= ts <= until."""
        lo, hi = self.rows_of(sensor)
        if lo == hi:
            return 0, 0
        ts = self.columns["ts"][lo:hi]
        return lo + int(np.searchsorted(ts, since, "left")), lo + int(
            np.searchsorted(ts, until, "right")
        )

    def release(self) -> None:
        """Unmap (once no array handed out is alive); the next use maps it again."""
        self._arrays = None

    def close(self) -> None:
        self.release()

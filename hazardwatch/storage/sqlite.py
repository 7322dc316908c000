"""Embedded reading store: one SQLite file, WAL, keyed by (sensor, ts).

The (sensor, ts) key keeps one sensor's history contiguous on disk, which is what makes
the per-sensor queries of the dashboard fast (components.md: 60 ms for a day at 1 Hz),
and it makes duplicate readings idempotent.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import numpy as np

from hazardwatch.storage.rollup import Buckets, bucket_width
from hazardwatch.storage.store import History, ReadingRow
from hazardwatch.vocabulary.model import Batch

_SCHEMA = """
CREATE TABLE IF NOT EXISTS readings (
    sensor INTEGER NOT NULL,
    ts REAL NOT NULL,
    value REAL NOT NULL,
    quality INTEGER NOT NULL,
    PRIMARY KEY (sensor, ts)
) WITHOUT ROWID;
"""


class SqliteStore:
    """Readings in a SQLite file; safe to call from one writer thread and any readers."""

    def __init__(self, path: Path, *, busy_timeout_s: float = 5.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        # One connection, serialised by a lock: writes come from one pipeline and reads
        # are short, so a pool would buy nothing but complexity.
        self._db = sqlite3.connect(
            self.path, timeout=busy_timeout_s, check_same_thread=False, isolation_level=None
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode survives a kill -9 of the process (not a power cut).
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def write(self, batch: Batch) -> int:
        n = len(batch)
        if n == 0:
            return 0
        rows = zip(
            batch.sensor.tolist(),
            batch.ts.tolist(),
            batch.value.tolist(),
            batch.quality.tolist(),
            strict=True,
        )
        with self._lock:
            self._db.execute("BEGIN")
            try:
                self._db.executemany("INSERT OR IGNORE INTO readings VALUES (?, ?, ?, ?)", rows)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        return n

    def readings(
        self, sensor: int, since: float | None = None, until: float | None = None, limit: int = 1000
    ) -> list[ReadingRow]:
        lo = float("-inf") if since is None else float(since)
        hi = float("inf") if until is None else float(until)
        with self._lock:
            cur = self._db.execute(
                "SELECT ts, value, quality FROM readings WHERE sensor = ? AND ts >= ? AND ts <= ?"
                " ORDER BY ts DESC LIMIT ?",
                (int(sensor), lo, hi, int(limit)),
            )
            rows = cur.fetchall()
        rows.reverse()
        return [ReadingRow(*r) for r in rows]

    def history(self, sensor: int, since: float, until: float, points: int) -> History:
        """Downsampled in SQL from raw readings (this store keeps no aggregates)."""
        origin, width = bucket_width(since, until, points)
        args = (int(sensor), float(since), float(until))
        with self._lock:
            n = self._db.execute(
                "SELECT count(*) FROM readings WHERE sensor = ? AND ts BETWEEN ? AND ?", args
            ).fetchone()[0]
            if n <= points:
                rows = self._db.execute(
                    "SELECT ts, value, value, value, 1 FROM readings"
                    " WHERE sensor = ? AND ts BETWEEN ? AND ? ORDER BY ts",
                    args,
                ).fetchall()
            else:
                rows = self._db.execute(
                    "SELECT ? + CAST((ts - ?) / ? AS INTEGER) * ?, min(value), max(value),"
                    " avg(value), count(*) FROM readings WHERE sensor = ? AND ts BETWEEN ? AND ?"
                    " GROUP BY 1 ORDER BY 1",
                    (origin, origin, width, width, *args),
                ).fetchall()
        cols = list(zip(*rows, strict=True)) or [(), (), (), (), ()]
        buckets = Buckets(*(np.array(c, dtype=float) for c in cols[:4]),
                          np.array(cols[4], dtype=np.int64))  # fmt: skip
        return History("raw", 0.0 if n <= points else width, buckets)

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM readings").fetchone()[0])

    def purge(self, older_than_ts: float) -> int:
        with self._lock:
            cur = self._db.execute("DELETE FROM readings WHERE ts < ?", (float(older_than_ts),))
            return int(cur.rowcount)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> SqliteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

"""Embedded reading store: one SQLite file, WAL, keyed by (sensor, ts).

The (sensor, ts) key keeps one sensor's history contiguous on disk, which is what makes
the per-sensor queries of the dashboard fast (components.md: 60 ms for a day at 1 Hz),
and it makes duplicate readings idempotent.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from hazardwatch.model import Batch
from hazardwatch.storage.store import ReadingRow

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

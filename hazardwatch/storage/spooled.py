"""A store with a spool in front: a failed write is kept on disk and replayed, never dropped.

While the spool holds anything, new batches join its end, so readings reach the store
in the order they came. After a failure the store is left alone for a backoff (doubling
up to a ceiling) and every batch goes straight to the spool, so a dead server costs an
fsync per batch instead of a timeout; then the spool drains, oldest first, a bounded
number of rows per call so the caller (the store loop) is never held for long.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hazardwatch.storage.spool import Spool, SpoolFullError
from hazardwatch.storage.store import ReadingRow, ReadingStore
from hazardwatch.vocabulary.model import Batch

log = logging.getLogger("hazardwatch.storage")


@dataclass
class WriterStats:
    written: int = 0  # rows the store took, directly or from the spool
    spooled: int = 0  # rows that went to the spool
    refused: int = 0  # rows lost because the spool was full (or its disk failed)
    errors: int = 0  # failed store writes
    last_error: str | None = None


class SpooledStore:
    """Writes to `store`, spooling what it cannot take; reads and purges go to `store`.

    Readings still in the spool are not visible to `readings` until they drain.
    """

    def __init__(
        self,
        store: ReadingStore,
        spool: Spool,
        *,
        chunk_rows: int = 50_000,
        drain_rows: int = 200_000,
        backoff_s: float = 0.5,
        backoff_max_s: float = 30.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.spool = spool
        self.chunk_rows = chunk_rows
        self.drain_rows = drain_rows
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
        self.stats = WriterStats()
        self._monotonic = monotonic
        self._failures = 0
        self._retry_at = float("-inf")

    @property
    def pending_rows(self) -> int:
        return self.spool.pending_rows

    def _resting(self) -> bool:
        return self._monotonic() < self._retry_at

    def write(self, batch: Batch) -> int:
        """Store or spool a batch (never raises for a store failure); rows the store took."""
        if len(batch) == 0:
            return 0
        if self.spool.pending_rows or self._resting():
            self._spool(batch)
            return self.drain()
        try:
            n = self.store.write(batch)
        except Exception as exc:  # any backend failure: the readings wait on disk
            self._failed(exc)
            self._spool(batch)
            return 0
        self._failures = 0
        self.stats.written += n
        return n

    def drain(self) -> int:
        """Replay up to `drain_rows` spooled rows unless resting after a failure; rows stored."""
        if not self.spool.pending_rows or self._resting():
            return 0
        before = self.spool.stats.drained_rows
        try:
            self.spool.drain(self.store.write, chunk_rows=self.chunk_rows, max_rows=self.drain_rows)
        except Exception as exc:
            self._failed(exc)
        else:
            self._failures = 0
        n = self.spool.stats.drained_rows - before
        self.stats.written += n
        return n

    def _spool(self, batch: Batch) -> None:
        try:
            self.spool.append(batch)
        except (SpoolFullError, OSError) as exc:
            self.stats.refused += len(batch)
            self.stats.last_error = f"{type(exc).__name__}: {exc}"
            log.error("readings lost: %s", exc)
            return
        self.stats.spooled += len(batch)

    def _failed(self, exc: Exception) -> None:
        self._failures += 1
        delay = min(self.backoff_max_s, self.backoff_s * 2 ** (self._failures - 1))
        self._retry_at = self._monotonic() + delay
        self.stats.errors += 1
        self.stats.last_error = f"{type(exc).__name__}: {exc}"
        log.error("reading store write failed (retry in %.1f s, spooling): %s", delay, exc)

    def health(self) -> dict[str, Any]:
        """The spool's state for /api/health."""
        return {
            "rows": self.spool.pending_rows,
            "segments": self.spool.pending_segments,
            "bytes": self.spool.pending_bytes,
            "max_bytes": self.spool.max_bytes,
            "spooled": self.stats.spooled,
            "refused": self.stats.refused,
            "torn_bytes": self.spool.stats.torn_bytes,
            "retry_in_s": round(max(0.0, self._retry_at - self._monotonic()), 3),
            # Failed writes in a row: 0 once the store takes writes again (last_error stays).
            "failures_in_a_row": self._failures,
        }

    def readings(
        self, sensor: int, since: float | None = None, until: float | None = None, limit: int = 1000
    ) -> list[ReadingRow]:
        return self.store.readings(sensor, since, until, limit)

    def purge(self, older_than_ts: float) -> int:
        return self.store.purge(older_than_ts)

    def close(self) -> None:
        try:
            self.store.close()
        finally:
            self.spool.close()

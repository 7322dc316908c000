"""The service's keeper of the detector's memory (detectors.checkpoint): loaded once at
start, saved every interval and at a graceful shutdown, reported in /api/health."""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from detectors import CheckpointInfo, Detector, checkpoint
from hazardwatch.vocabulary.clock import Clock
from hazardwatch.vocabulary.model import SensorTable

log = logging.getLogger("hazardwatch.shell.memory")


@dataclass
class CheckpointStats:
    """The detector checkpoint as /api/health reports it."""

    loaded_saved_at: float | None = None  # the loaded checkpoint's time; None: none loaded
    restored: int = 0
    fresh: int = 0
    changed: int = 0
    dropped: int = 0
    load_note: str = ""  # why nothing was restored, if so
    load_error: str | None = None
    saves: int = 0
    last_saved_ts: float | None = None
    last_copy_s: float | None = None  # time the copy held the event loop
    last_save_s: float | None = None  # time the write took (in a thread)
    last_bytes: int = 0
    errors: int = 0
    last_error: str | None = None

    def loaded(self, info: CheckpointInfo) -> None:
        self.loaded_saved_at = None if math.isnan(info.saved_at) else info.saved_at
        self.restored, self.fresh = info.restored, info.fresh
        self.changed, self.dropped, self.load_note = info.changed, info.dropped, info.note

    def health(self, path: Path, interval_s: float) -> dict[str, Any]:
        loaded = {
            "saved_at": self.loaded_saved_at,
            "restored": self.restored,
            "fresh": self.fresh,
            "changed": self.changed,
            "dropped": self.dropped,
            "note": self.load_note,
            "error": self.load_error,
        }
        saved = {k: v for k, v in asdict(self).items() if k.startswith(("saves", "last", "err"))}
        return {"path": str(path), "interval_s": interval_s, **saved, "loaded": loaded}


class DetectorMemory:
    """Where a service's detector keeps its memory: `path`, saved every `interval_s`
    (0: never saved nor loaded, every start is fresh)."""

    def __init__(self, table: SensorTable, path: Path, interval_s: float) -> None:
        self.table = table
        self.path = path
        self.interval_s = interval_s
        self.stats = CheckpointStats(fresh=table.n)
        self._save_lock = asyncio.Lock()  # never two saves at once
        self._write_lock = threading.Lock()  # nor two writers, even past a cancelled save
        self._saved_applied: int | None = None

    @property
    def tags(self) -> Sequence[str]:
        return self.table.tags

    def detector(self, start_ts: float) -> Detector:
        """A detector with the memory of the last checkpoint; fresh if there is none or it
        cannot be read (logged: a bad checkpoint never stops the service). Restore the
        journal's conditions on it afterwards."""
        detector = Detector(self.table, start_ts=start_ts)
        if self.interval_s > 0:
            try:
                info = checkpoint.load(detector, self.path, self.tags)
            except Exception as exc:  # a bad file, or a bug: the memory is lost, not the service
                log.error("detector memory starts fresh: %s", exc)
                self.stats.load_error = str(exc)
                detector = Detector(self.table, start_ts=start_ts)  # nothing half restored
            else:
                self.stats.loaded(info)
                log.info(
                    "detector memory from %s: %d sensors restored, %d fresh (%d changed), "
                    "%d dropped%s", info.path, info.restored, info.fresh, info.changed,
                    info.dropped, f" ({info.note})" if info.note else "",
                )  # fmt: skip
        self._saved_applied = detector.stats["applied"]
        return detector

    async def save(self, detector: Detector, now: float) -> CheckpointInfo | None:
        """Save the memory of `detector`: copied on the loop, written in a thread.

        Returns None when nothing was applied since the last save or the save failed (logged
        and counted in the health report, never raised).
        """
        async with self._save_lock:
            applied = detector.stats["applied"]
            if applied == self._saved_applied:
                return None
            stats = self.stats
            started = time.perf_counter()
            try:
                snap = checkpoint.snapshot(detector, self.tags, now)
                copied = time.perf_counter() - started
                info = await asyncio.to_thread(self._write, snap)
            except Exception as exc:  # disk full, permissions: the next save tries again
                stats.errors += 1
                stats.last_error = str(exc)
                log.error("detector checkpoint %s failed: %s", self.path, exc)
                return None
            self._saved_applied = applied
            stats.saves += 1
            stats.last_saved_ts, stats.last_bytes = info.saved_at, info.nbytes
            stats.last_copy_s, stats.last_save_s = copied, info.seconds
            return info

    async def keep(self, detector: Detector, clock: Clock) -> None:
        """Save every `interval_s`, forever (a stage of the service)."""
        while True:
            await asyncio.sleep(self.interval_s)
            await self.save(detector, clock.now())

    def health(self) -> dict[str, Any]:
        return self.stats.health(self.path, self.interval_s)

    def _write(self, snap: checkpoint.Snapshot) -> CheckpointInfo:
        with self._write_lock:
            return checkpoint.write(snap, self.path)

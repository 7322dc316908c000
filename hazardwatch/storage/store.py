"""The reading store interface every backend implements."""

from __future__ import annotations

from typing import NamedTuple, Protocol

from hazardwatch.storage.rollup import Buckets
from hazardwatch.vocabulary.model import Batch, HazardWatchError


class StoreError(HazardWatchError):
    """A backend could not do what was asked (server down, refused, disk failed)."""


class ReadingRow(NamedTuple):
    ts: float
    value: float
    quality: int


class History(NamedTuple):
    """A downsampled series of one sensor: `source` "raw" or "aggregates" (minute
    aggregates), `bucket_s` the bucket width (0: the readings themselves, one a bucket)."""

    source: str
    bucket_s: float
    buckets: Buckets


class ReadingStore(Protocol):
    """Raw readings by sensor index; duplicates (same sensor and ts) are kept once."""

    def write(self, batch: Batch) -> int:
        """Store a batch; returns the number of rows handed to the backend."""
        ...

    def readings(
        self, sensor: int, since: float | None = None, until: float | None = None, limit: int = 1000
    ) -> list[ReadingRow]:
        """The newest `limit` readings of one sensor within [since, until], ascending by ts."""
        ...

    def history(self, sensor: int, since: float, until: float, points: int) -> History:
        """At most `points` buckets (min/max/mean/count) over [since, until]; the readings
        themselves when there are no more than `points`."""
        ...

    def purge(self, older_than_ts: float) -> int:
        """Drop raw readings older than a time; returns how many went."""
        ...

    def close(self) -> None: ...

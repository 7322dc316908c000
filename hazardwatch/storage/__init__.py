"""Where readings live: a small store interface, its backends and the spool behind them."""

from hazardwatch.storage.spool import Spool, SpoolFullError, SpoolStats
from hazardwatch.storage.sqlite import SqliteStore
from hazardwatch.storage.store import ReadingRow, ReadingStore

__all__ = ["ReadingRow", "ReadingStore", "Spool", "SpoolFullError", "SpoolStats", "SqliteStore"]

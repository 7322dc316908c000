"""Where readings live: a small store interface and its embedded SQLite implementation."""

from hazardwatch.storage.sqlite import SqliteStore
from hazardwatch.storage.store import ReadingRow, ReadingStore

__all__ = ["ReadingRow", "ReadingStore", "SqliteStore"]

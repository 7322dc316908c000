"""Where readings live: a small store interface, its backends and the spool behind them."""

from hazardwatch.storage.influx import INFLUX_ENV, InfluxSettings, InfluxStore
from hazardwatch.storage.spool import Spool, SpoolFullError, SpoolStats
from hazardwatch.storage.spooled import SpooledStore, WriterStats
from hazardwatch.storage.sqlite import SqliteStore
from hazardwatch.storage.store import ReadingRow, ReadingStore, StoreError

__all__ = [
    "INFLUX_ENV",
    "InfluxSettings",
    "InfluxStore",
    "ReadingRow",
    "ReadingStore",
    "Spool",
    "SpoolFullError",
    "SpoolStats",
    "SpooledStore",
    "SqliteStore",
    "StoreError",
    "WriterStats",
]

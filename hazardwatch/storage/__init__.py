"""Where readings live: a small store interface, its backends and the spool behind them."""

from hazardwatch.storage.block_store import BlockStore, Retention
from hazardwatch.storage.columns import Columns, read_columns
from hazardwatch.storage.influx import INFLUX_ENV, InfluxSettings, InfluxStore
from hazardwatch.storage.rollup import Buckets
from hazardwatch.storage.spool import Spool, SpoolFullError, SpoolStats
from hazardwatch.storage.spooled import SpooledStore, WriterStats
from hazardwatch.storage.sqlite import SqliteStore
from hazardwatch.storage.store import History, ReadingRow, ReadingStore, StoreError

__all__ = [
    "INFLUX_ENV",
    "BlockStore",
    "Buckets",
    "Columns",
    "History",
    "InfluxSettings",
    "InfluxStore",
    "ReadingRow",
    "ReadingStore",
    "Retention",
    "Spool",
    "SpoolFullError",
    "SpoolStats",
    "SpooledStore",
    "SqliteStore",
    "StoreError",
    "WriterStats",
    "read_columns",
]

"""Readings on an InfluxDB v2-write-compatible server, through `influxdb-client`.

Write path (any server with `/api/v2/write`: InfluxDB 2.x/3.x, VictoriaMetrics): one
line per reading, measurement `reading`, tag `tag` (the sensor's tag, not its index, so
history survives a reordered site config), fields `value` (float) and `quality`
(integer, Quality), millisecond timestamps. Milliseconds because VictoriaMetrics keeps
no finer time and readings come every 1-10 s; a (tag, ms) pair is one reading.

Read path: the Prometheus-style export API (`/api/v1/export`) of VictoriaMetrics, where
field `value` becomes the series `reading_value`; `history` asks its query API
(`/api/v1/query_range` with `min/max/avg/count_over_time` over each bucket). InfluxDB
2.x/3.x have no such API (their reads are Flux or SQL) and nothing here reads from
them: with InfluxDB, write here and query it with its own tools. VictoriaMetrics keeps
every sample it is sent, duplicates included, unless started with
`-dedup.minScrapeInterval=1ms`; `readings` returns a (tag, ts) once either way (a
bucket's count from `history` counts a repeat twice without that flag).

Retention is the server's (bucket retention, `-retentionPeriod`): `purge` deletes nothing.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
import urllib3
from influxdb_client import InfluxDBClient, WritePrecision
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.rest import ApiException

from hazardwatch.storage.rollup import Buckets, bucket_width
from hazardwatch.storage.store import History, ReadingRow, StoreError
from hazardwatch.vocabulary.model import Batch

MEASUREMENT = "reading"
_LINE = "%s%r,quality=%di %d"  # prefix, value, quality, ms
INFLUX_ENV = {
    "url": "HAZARDWATCH_INFLUX_URL",
    "org": "HAZARDWATCH_INFLUX_ORG",
    "bucket": "HAZARDWATCH_INFLUX_BUCKET",
    "token": "HAZARDWATCH_INFLUX_TOKEN",
}
# The first read window before `until`, doubled until `limit` readings are in it: a
# dashboard's "latest 1000" must not export a sensor's whole 90 days.
_FIRST_WINDOW_S = 3600.0
_FUTURE_S = 300.0  # ingest refuses readings further ahead of its clock than this


@dataclass(frozen=True)
class InfluxSettings:
    """Where the server is. The token comes from the environment, never from the repo."""

    url: str = "http://127.0.0.1:8086"
    org: str = "hazardwatch"
    bucket: str = "hazardwatch"
    token: str = ""
    timeout_s: float = 10.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **given: str | None) -> InfluxSettings:
        """Settings from `given` values, else the HAZARDWATCH_INFLUX_* variables, else defaults."""
        env = os.environ if env is None else env
        values: dict[str, str] = {}
        for name, var in INFLUX_ENV.items():
            value = given.get(name)
            if value is None:
                value = env.get(var)
            if value is not None:
                values[name] = value
        return cls(**values)


def escape_tag(value: str) -> str:
    """A tag value as line protocol wants it: commas, equals signs and spaces escaped.

    >>> escape_tag("T 1,a=b")
    'T\\\\ 1\\\\,a\\\\=b'
    """
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=").replace(" ", "\\ ")


def line_prefixes(tags: Sequence[str]) -> np.ndarray:
    """Per sensor index, the start of its lines: measurement, escaped tag, `value=`."""
    return np.array([f"{MEASUREMENT},tag={escape_tag(t)} value=" for t in tags], dtype=object)


def to_lines(prefixes: np.ndarray, batch: Batch) -> bytes:
    """Line protocol for a batch; `prefixes` from `line_prefixes` of the site's tags.

    Values are finite by the Batch contract (line protocol has no NaN or infinity).

    >>> b = Batch.of([1, 0], [1763800000.5, 1763800001.0], [12.3, -4.0], [0, 2])
    >>> print(to_lines(line_prefixes(["T0", "T 1"]), b).decode())
    reading,tag=T\\ 1 value=12.3,quality=0i 1763800000500
    reading,tag=T0 value=-4.0,quality=2i 1763800001000
    """
    ts_ms = np.rint(batch.ts * 1000.0).astype(np.int64)
    # One %-format per row over precomputed prefixes: the fastest pure-Python form measured
    # (about 1.3x a str.format of the whole line).
    rows = zip(
        prefixes[batch.sensor].tolist(),
        batch.value.tolist(),
        batch.quality.tolist(),
        ts_ms.tolist(),
        strict=True,
    )
    return "\n".join(map(_LINE.__mod__, rows)).encode()


class InfluxStore:
    """A ReadingStore on an InfluxDB v2-write-compatible server (reads: VictoriaMetrics)."""

    def __init__(self, settings: InfluxSettings, tags: Sequence[str], *, chunk_rows: int = 50_000):
        self.settings = settings
        self.tags = tuple(tags)
        self._prefixes = line_prefixes(self.tags)
        self._chunk_rows = chunk_rows
        # No retries inside the client: a failed write comes back at once and the caller
        # (the spool) decides when to try again.
        self._client = InfluxDBClient(
            url=settings.url,
            token=settings.token or "-",
            org=settings.org,
            timeout=int(settings.timeout_s * 1000),
        )
        self._write_api = self._client.write_api(write_options=SYNCHRONOUS)
        # urllib3, which influxdb-client brings, rather than one more HTTP client.
        self._http = urllib3.PoolManager(
            timeout=urllib3.Timeout(total=settings.timeout_s), retries=False
        )

    def write(self, batch: Batch) -> int:
        n = len(batch)
        for lo in range(0, n, self._chunk_rows):
            part = batch if n <= self._chunk_rows else _slice(batch, lo, lo + self._chunk_rows)
            try:
                self._write_api.write(
                    bucket=self.settings.bucket,
                    org=self.settings.org,
                    record=to_lines(self._prefixes, part),
                    write_precision=WritePrecision.MS,
                )
            except (ApiException, urllib3.exceptions.HTTPError) as exc:
                raise StoreError(f"write to {self.settings.url} failed: {_reason(exc)}") from exc
        return n

    def readings(
        self, sensor: int, since: float | None = None, until: float | None = None, limit: int = 1000
    ) -> list[ReadingRow]:
        """Newest `limit` readings of a sensor in [since, until], ascending (VictoriaMetrics)."""
        if limit <= 0:
            return []
        hi = time.time() + _FUTURE_S if until is None else float(until)
        floor = 0.0 if since is None else float(since)
        window = _FIRST_WINDOW_S
        while True:
            lo = max(floor, hi - window)
            found = self._export(self.tags[sensor], lo, hi)
            if len(found[0]) >= limit or lo <= floor:
                break
            window *= 4
        values, qualities = found
        times = sorted(values)[-limit:]
        return [ReadingRow(t / 1000.0, float(values[t]), int(qualities.get(t, 0))) for t in times]

    def history(self, sensor: int, since: float, until: float, points: int) -> History:
        """Buckets computed by VictoriaMetrics (its query API); the readings when few."""
        series = self._series(self.tags[sensor])
        span_ms = round((until - since) * 1000) + 1
        found = self._query("/api/v1/query", f"count_over_time({series}[{span_ms}ms])",
                            {"time": f"{until:.3f}"})  # fmt: skip
        n = int(float(found[0][1])) if found else 0
        if n <= points:
            values, _ = self._export(self.tags[sensor], since, until)
            ts = np.array(sorted(values), dtype=float)
            v = np.array([values[int(t)] for t in ts], dtype=float)
            return History("raw", 0.0, Buckets(ts / 1000.0, v, v, v, np.ones(len(ts), np.int64)))
        origin, width = bucket_width(since, until, points)
        # VictoriaMetrics evaluates at t over (t - width, t]: 1 ms before each bucket's end,
        # so a bucket is [start, start + width) as the embedded stores make them.
        params = {
            "start": f"{origin + width - 0.001:.3f}",
            "end": f"{until + width:.3f}",
            "step": f"{round(width * 1000)}ms",
            "nocache": "1",  # no rounding of start to the step
        }
        cols: dict[str, dict[float, float]] = {}
        for fn in ("min", "max", "avg", "count"):
            got = self._query(
                "/api/v1/query_range", f"{fn}_over_time({series}[{round(width * 1000)}ms])", params
            )
            cols[fn] = {round(float(t) + 0.001 - width, 3): float(v) for t, v in got}
        ts = np.array(sorted(cols["count"]), dtype=float)
        buckets = Buckets(
            ts,
            *(
                np.array([cols[fn].get(t, np.nan) for t in ts.tolist()])
                for fn in ("min", "max", "avg")
            ),
            np.array([cols["count"][t] for t in ts.tolist()], dtype=np.int64),
        )
        return History("raw", width, buckets)

    @staticmethod
    def _series(tag: str) -> str:
        quoted = tag.replace("\\", "\\\\").replace('"', '\\"')
        return f'{MEASUREMENT}_value{{tag="{quoted}"}}'

    def _query(self, path: str, query: str, params: dict[str, str]) -> list[list[Any]]:
        """The values of the one series a query answers ([t, "v"] pairs), or []."""
        url = self.settings.url.rstrip("/") + path
        try:
            resp = self._http.request("GET", url, fields={"query": query, **params})
        except urllib3.exceptions.HTTPError as exc:
            raise StoreError(f"query to {self.settings.url} failed: {exc}") from exc
        if resp.status != 200:
            raise StoreError(
                f"{url} answered {resp.status}: {resp.data[:200]!r} (history needs VictoriaMetrics)"
            )
        result = orjson.loads(resp.data)["data"]["result"]
        if not result:
            return []
        if "value" in result[0]:
            return [result[0]["value"]]
        return result[0]["values"]

    def _export(self, tag: str, lo: float, hi: float) -> tuple[dict[int, float], dict[int, int]]:
        """One sensor's values and qualities by ms timestamp in [lo, hi]."""
        quoted = tag.replace("\\", "\\\\").replace('"', '\\"')
        match = f'{{__name__=~"{MEASUREMENT}_(value|quality)",tag="{quoted}"}}'
        params = {"match[]": match, "start": f"{lo:.3f}", "end": f"{hi:.3f}"}
        try:
            resp = self._http.request(
                "GET", self.settings.url.rstrip("/") + "/api/v1/export", fields=params
            )
        except urllib3.exceptions.HTTPError as exc:
            raise StoreError(f"read from {self.settings.url} failed: {exc}") from exc
        if resp.status != 200:
            raise StoreError(
                f"{self.settings.url}/api/v1/export answered {resp.status}: "
                f"{resp.data[:200]!r} (the read path needs VictoriaMetrics)"
            )
        values: dict[int, float] = {}
        qualities: dict[int, int] = {}
        for line in resp.data.splitlines():
            if not line:
                continue
            item = orjson.loads(line)
            into = values if item["metric"]["__name__"].endswith("_value") else qualities
            # A dict: a duplicate (tag, ts) collapses to one reading.
            into.update(zip(item["timestamps"], item["values"], strict=True))
        return values, qualities

    def purge(self, older_than_ts: float) -> int:
        return 0  # the server's retention policy does this (see the module docstring)

    def close(self) -> None:
        self._write_api.close()
        self._client.close()
        self._http.clear()

    def __enter__(self) -> InfluxStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _reason(exc: Exception) -> str:
    if isinstance(exc, ApiException):
        return f"HTTP {exc.status} {exc.reason}: {str(exc.body)[:200]}"
    return f"{type(exc).__name__}: {exc}"


def _slice(batch: Batch, lo: int, hi: int) -> Batch:
    return Batch(
        sensor=batch.sensor[lo:hi],
        ts=batch.ts[lo:hi],
        value=batch.value[lo:hi],
        quality=batch.quality[lo:hi],
        flags=batch.flags[lo:hi],
    )

"""Recorded readings from a CSV file, streamed in chunks, with bad rows as typed rejections.

Two forms, told apart by the header (which is required):

- long: ``ts,tag,value`` or ``ts,tag,value,quality``, one reading per row;
- wide: ``ts,<tag>,<tag>,...``, one row per time, one column per sensor; a blank cell is
  no reading.

``ts`` is epoch seconds or ISO 8601 with a UTC offset. Value, ts and quality cells go
through ingest's own field functions (`ingest.fields`, a column at a time), so a row is
accepted or refused as the same reading over MQTT would be: bad rows become
`ingest.Rejection`s with the reason and the words the live decoder gives.
Only one chunk of rows is in memory at a time.
"""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import IO, Self

import numpy as np

from hazardwatch.vocabulary.model import HazardWatchError
from ingest import Reason, Rejection, fields
from ingest.fields import MAX_EPOCH_S, MS_HINT, BadField

CHUNK_ROWS = 50_000
MAX_CELLS_PER_CHUNK = 1_000_000  # wide files: fewer rows per chunk, so a chunk stays small

TS_NAMES = frozenset({"ts", "time", "timestamp"})


class ReplayInputError(HazardWatchError):
    """The input file cannot be read at all (missing, empty, or a header we cannot use)."""


class Form(StrEnum):
    LONG = "long"
    WIDE = "wide"


@dataclass(frozen=True, slots=True)
class Header:
    """What the first line of the file says: the form and, for a wide file, its tags."""

    form: Form
    tags: tuple[str, ...] = ()  # wide: one per value column, in column order
    has_quality: bool = False  # long: a fourth column `quality`

    @property
    def width(self) -> int:
        if self.form is Form.WIDE:
            return 1 + len(self.tags)
        return 4 if self.has_quality else 3


def parse_header(fields: list[str], source: str = "<csv>") -> Header:
    """Tell long from wide; raise ReplayInputError naming the problem.

    >>> parse_header(["ts", "tag", "value"]).form, parse_header(["ts", "LT1", "TT1"]).tags
    (<Form.LONG: 'long'>, ('LT1', 'TT1'))
    """
    names = [f.strip() for f in fields]
    lower = [n.lower() for n in names]
    if not names or lower[0] not in TS_NAMES:
        raise ReplayInputError(
            f"{source}: line 1: the header must start with a ts column "
            f"(ts,tag,value[,quality] or ts,<tag>,<tag>,...); got {','.join(names)[:80]!r}"
        )
    if lower[1:3] == ["tag", "value"]:
        if len(lower) == 3:
            return Header(Form.LONG)
        if len(lower) == 4 and lower[3] == "quality":
            return Header(Form.LONG, has_quality=True)
        raise ReplayInputError(
            f"{source}: line 1: a long CSV has the columns ts,tag,value[,quality]; "
            f"got {','.join(names)[:80]!r}"
        )
    tags = names[1:]
    if not tags:
        raise ReplayInputError(f"{source}: line 1: a wide CSV needs a column per tag after ts")
    seen: set[str] = set()
    for i, tag in enumerate(tags, start=2):
        if not tag:
            raise ReplayInputError(f"{source}: line 1: column {i} has no tag name")
        if tag in seen:
            raise ReplayInputError(f"{source}: line 1: column {i}: tag {tag!r} appears twice")
        seen.add(tag)
    return Header(Form.WIDE, tuple(tags))


@dataclass(frozen=True, eq=False)
class Chunk:
    """The readings of a run of consecutive rows, in file order, and the rows' rejections.

    `row` is each reading's data row number (1 = the first row after the header).
    `readings` = accepted + rejected; a rejection counts once, whether a cell or a row.
    """

    rows: int  # data rows in this chunk
    row: np.ndarray  # int64
    sensor: np.ndarray  # int64
    ts: np.ndarray  # float64
    value: np.ndarray  # float64
    quality: np.ndarray  # uint8
    rejections: list[Rejection]

    @property
    def accepted(self) -> int:
        return int(self.sensor.shape[0])

    @property
    def readings(self) -> int:
        return self.accepted + len(self.rejections)


def _epoch_bounds(ts: np.ndarray) -> dict[int, BadField]:
    """Timestamps no receipt time of a recording can make sense of, with live's reasons.

    Live judges a ``ts`` against the time it arrives (`TsWindow`); a recording has no
    arrival time, so only what is beyond any of them is refused: milliseconds read as
    seconds land in the year 5000 and are `TS_FUTURE` with live's hint.
    """
    odd = np.abs(ts) >= MAX_EPOCH_S
    if not odd.any():
        return {}
    bad: dict[int, BadField] = {}
    for i in np.flatnonzero(odd).tolist():
        t = float(ts[i])
        if t > 0:
            bad[i] = BadField(Reason.TS_FUTURE, f"ts {t:.3f} is past the year 5000{MS_HINT}")
        else:
            bad[i] = BadField(Reason.TS_TOO_OLD, f"ts {t:.3f} is before the year -1200")
        ts[i] = np.nan
    return bad


def _timestamps(cells: Sequence[str]) -> tuple[np.ndarray, dict[int, BadField]]:
    """A ts column through ingest's own parsing, then the recording's bounds."""
    ts, bad = fields.timestamps(cells)
    bad.update(_epoch_bounds(ts))
    return ts, bad


def _indices(tag_index: Mapping[str, int], tags: Sequence[str]) -> np.ndarray:
    """Sensor index per tag, -1 where the tag is unknown."""
    found = list(map(tag_index.get, tags))
    try:
        return np.array(found, np.int64)
    except TypeError:  # None for an unknown tag
        return np.array([-1 if i is None else i for i in found], np.int64)


def _line(fields: list[str] | tuple[str, ...]) -> bytes:
    """A row re-serialised as one CSV line, for the dead-letter file."""
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(fields)
    return out.getvalue().encode("utf-8", "surrogateescape")


class CsvReader:
    """Streams a CSV file of readings as `Chunk`s; use as a context manager.

    `tag_index` resolves tags to sensor indices (the SensorTable's). A chunk holds at most
    `chunk_rows` rows (fewer for a wide file with many columns).
    """

    def __init__(
        self, path: Path, tag_index: Mapping[str, int], chunk_rows: int = CHUNK_ROWS
    ) -> None:
        self.path = Path(path)
        self.source = str(path)
        self.tag_index = tag_index
        self._file: IO[str] | None = None
        try:
            self._file = open(self.path, encoding="utf-8-sig", errors="surrogateescape", newline="")
        except OSError as exc:
            raise ReplayInputError(f"{self.source}: cannot read it: {exc.strerror}") from None
        self._reader = csv.reader(self._file)
        try:
            first = next(self._reader, None)
        except csv.Error as exc:
            self.close()
            raise ReplayInputError(f"{self.source}: line 1: unreadable header: {exc}") from None
        if first is None:
            self.close()
            raise ReplayInputError(f"{self.source}: the file is empty; it needs a header line")
        try:
            self.header = parse_header(first, self.source)
        except ReplayInputError:
            self.close()
            raise
        width = self.header.width
        self.chunk_rows = max(1, min(int(chunk_rows), MAX_CELLS_PER_CHUNK // width))
        self.rows_read = 0

    def chunks(self) -> Iterator[Chunk]:
        """Every chunk until the end of the file."""
        while True:
            chunk = self.read_chunk()
            if chunk is None:
                return
            yield chunk

    def read_chunk(self) -> Chunk | None:
        """The next chunk, or None at the end of the file."""
        if self._file is None:
            raise ValueError(f"{self.source} is closed")
        rows: list[list[str]] = []
        numbers: list[int] = []
        rejections: list[Rejection] = []
        reader = self._reader
        start = self.rows_read
        while (budget := self.chunk_rows - (self.rows_read - start)) > 0:
            block: list[list[str]] = []
            error: csv.Error | None = None
            try:
                # extend() keeps what it took before an error, so a bad line costs one row.
                block.extend(itertools.islice(reader, budget))
            except csv.Error as exc:  # a broken quote or an oversized field: one bad row
                error = exc
            taken = len(block)
            if not all(block):
                block = [record for record in block if record]  # blank lines are no rows
            numbers.extend(range(self.rows_read + 1, self.rows_read + 1 + len(block)))
            self.rows_read += len(block)
            rows.extend(block)
            if error is not None:
                self.rows_read += 1
                detail = f"line {reader.line_num}: unreadable CSV: {error}"
                rejections.append(self._reject(Reason.WRONG_TYPE, detail, b"", self.rows_read))
            elif taken < budget:
                break  # the end of the file
        count = self.rows_read - start
        if count == 0:
            return None
        if self.header.form is Form.LONG:
            return self._long(count, rows, numbers, rejections)
        return self._wide(count, rows, numbers, rejections)

    # ------------------------------------------------------------------ the two forms

    def _reject(self, reason: Reason, detail: str, payload: bytes, row: int) -> Rejection:
        return Rejection(reason, self.source, detail, payload, row)

    def _shaped(
        self, rows: list[list[str]], numbers: list[int], rejections: list[Rejection]
    ) -> tuple[list[list[str]], list[int]]:
        """Rows with as many fields as the header; the others rejected whole."""
        width = self.header.width
        if set(map(len, rows)) <= {width}:
            return rows, numbers
        keep, kept = [], []
        for record, number in zip(rows, numbers, strict=True):
            n = len(record)
            if n == width or (n == 3 and width == 4 and self.header.form is Form.LONG):
                keep.append(record if n == width else [*record, ""])
                kept.append(number)
            else:
                detail = f"row has {n} fields, the header has {width}"
                rejections.append(self._reject(Reason.WRONG_TYPE, detail, _line(record), number))
        return keep, kept

    def _long(
        self, count: int, rows: list[list[str]], numbers: list[int], rejections: list[Rejection]
    ) -> Chunk:
        rows, numbers = self._shaped(rows, numbers, rejections)
        n = len(rows)
        columns = list(zip(*rows, strict=True)) if rows else [()] * self.header.width
        ts, bad_ts = _timestamps(columns[0])
        tags = columns[1]
        sensor = _indices(self.tag_index, tags)
        value, bad_v = fields.values(columns[2])
        if self.header.has_quality:
            quality, bad_q = fields.qualities(columns[3])
        else:
            quality, bad_q = np.zeros(n, np.uint8), {}
        ok = (sensor >= 0) & np.isfinite(value) & np.isfinite(ts)
        if bad_q:
            ok[list(bad_q)] = False
        for i in np.flatnonzero(~ok).tolist():
            # One reason per row, in the order the MQTT decoder checks: tag, value, ts, quality.
            if sensor[i] < 0:
                reason, detail = Reason.UNKNOWN_TAG, f"tag {tags[i][:60]!r} is not in the site"
            else:
                problem = bad_v.get(i) or bad_ts.get(i) or bad_q[i]
                reason, detail = problem.reason, problem.detail
            cells = rows[i]
            if self.header.has_quality and not cells[3]:
                cells = cells[:3]  # as written: the padding of a row without quality goes
            rejections.append(self._reject(reason, detail, _line(cells), numbers[i]))
        rejections.sort(key=lambda r: r.row or 0)
        return Chunk(
            rows=count,
            row=np.asarray(numbers, np.int64)[ok],
            sensor=sensor[ok],
            ts=ts[ok],
            value=value[ok],
            quality=quality[ok],
            rejections=rejections,
        )

    def _wide(
        self, count: int, rows: list[list[str]], numbers: list[int], rejections: list[Rejection]
    ) -> Chunk:
        rows, numbers = self._shaped(rows, numbers, rejections)
        tags = self.header.tags
        columns = list(zip(*rows, strict=True)) if rows else [()] * self.header.width
        ts, bad_ts = _timestamps(columns[0])
        for i, problem in bad_ts.items():  # no time, no readings: the row counts once
            rejections.append(
                self._reject(problem.reason, problem.detail, _line(rows[i]), numbers[i])
            )
        good = np.isfinite(ts)
        m = len(tags)
        n = len(rows)
        value = np.full((n, m), np.nan)
        ok = np.zeros((n, m), np.bool_)
        sensor = _indices(self.tag_index, tags)
        for j in range(m):
            cells = columns[j + 1]
            present = np.fromiter((bool(c) and not c.isspace() for c in cells), np.bool_, n)
            present &= good
            if not present.any():
                continue
            where = np.flatnonzero(present)
            texts = cells if present.all() else [cells[i] for i in where.tolist()]
            parsed, bad_v = fields.values(texts)
            fine = np.isfinite(parsed)
            if sensor[j] >= 0:
                value[where, j] = parsed
                ok[where, j] = fine
            if sensor[j] >= 0 and fine.all():
                continue
            for k in np.flatnonzero(~fine | (sensor[j] < 0)).tolist():
                i = int(where[k])
                text = cells[i]
                if sensor[j] < 0:
                    reason, detail = (
                        Reason.UNKNOWN_TAG,
                        f"column {tags[j][:60]!r} is not in the site",
                    )
                else:
                    reason = bad_v[k].reason
                    detail = f"column {tags[j][:60]!r}: {bad_v[k].detail}"
                payload = _line([columns[0][i], tags[j], text])
                rejections.append(self._reject(reason, detail, payload, numbers[i]))
        rejections.sort(key=lambda r: r.row or 0)
        flat = ok.ravel()  # row-major: file order
        return Chunk(
            rows=count,
            row=np.repeat(np.asarray(numbers, np.int64), m)[flat],
            sensor=np.tile(sensor, n)[flat],
            ts=np.repeat(ts, m)[flat],
            value=value.ravel()[flat],
            quality=np.zeros(int(np.count_nonzero(flat)), np.uint8),
            rejections=rejections,
        )

    # ------------------------------------------------------------------ lifetime

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

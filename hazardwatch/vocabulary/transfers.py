"""Transfer plans: taken in (API, simulator), checked against the site, kept on disk.

An operator or the DCS says "fill e02-T201 to 13.5 m" before starting a pump; the detector
then raises OVERRUN if the level passes the target (detectors.plans). A plan stays open
until it is closed, replaced by the next plan of the same tank, or expires (default 24 h:
the service's tick closes it, hazardwatch.shell.timers.PlanExpiry).
The book is a SQLite file beside the alarm journal, so a restarted service keeps its plans.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from weakref import WeakKeyDictionary

from hazardwatch.vocabulary.clock import Clock
from hazardwatch.vocabulary.model import (
    ConditionChange,
    HazardWatchError,
    Kind,
    SensorTable,
    TransferPlan,
)

DEFAULT_EXPIRY_S = 24 * 3600.0
MAX_TOLERANCE_SPAN = 0.25  # a tolerance wider than this share of the span watches nothing

_SCHEMA = """
CREATE TABLE IF NOT EXISTS transfers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tag TEXT NOT NULL, target REAL NOT NULL, direction INTEGER NOT NULL, ts REAL NOT NULL,
    tolerance REAL, expires_ts REAL, by TEXT NOT NULL, note TEXT NOT NULL,
    closed_ts REAL, closed_by TEXT, close_reason TEXT
);
CREATE INDEX IF NOT EXISTS transfers_open ON transfers (closed_ts);
"""


class TransferError(HazardWatchError):
    """A plan the site cannot take, or a transfer in the wrong state; the message says why."""


class TransferNotFound(TransferError):
    pass


@dataclass(frozen=True, slots=True)
class Transfer:
    """A plan as the book keeps it: its id and, once closed, when, by whom and why."""

    id: int
    plan: TransferPlan
    unit: str
    closed_ts: float | None = None
    closed_by: str | None = None
    close_reason: str | None = None  # "closed", "replaced" or "expired"

    @property
    def open(self) -> bool:
        return self.closed_ts is None

    def to_dict(self) -> dict[str, Any]:
        p = self.plan
        return {
            "id": self.id,
            "unit": self.unit,
            "tag": p.tag,
            "target": p.target,
            "direction": "fill" if p.direction > 0 else "empty",
            "tolerance": p.tolerance,
            "ts": p.ts,
            "expires_ts": p.expires_ts,
            "by": p.by,
            "note": p.note,
            "open": self.open,
            "closed_ts": self.closed_ts,
            "closed_by": self.closed_by,
            "close_reason": self.close_reason,
        }


def plan_for(
    table: SensorTable,
    *,
    target: float,
    ts: float,
    unit: str | None = None,
    tag: str | None = None,
    direction: int | None = None,
    current: float | None = None,
    tolerance: float | None = None,
    expires_in_s: float | None = DEFAULT_EXPIRY_S,
    by: str = "",
    note: str = "",
) -> TransferPlan:
    """A checked plan for the level sensor `tag` (or `unit`'s first level sensor).

    Without `direction`, a target above the `current` level fills and below it empties.
    Refused: no such tank or level sensor, a non-finite target or one outside the range or
    at an HH/LL limit (a plan may not aim at an alarm), a target equal to the level.
    """
    where = level_sensor_of(table, unit, tag)
    name = table.tags[where]
    lo, hi = float(table.range_lo[where]), float(table.range_hi[where])
    if not math.isfinite(target) or not lo <= target <= hi:
        raise TransferError(f"target {target} for {name}: outside its range {lo:g}..{hi:g}")
    hh, ll = float(table.limit_hh[where]), float(table.limit_ll[where])
    if target >= hh or target <= ll:
        at = f"HH {hh:g}" if target >= hh else f"LL {ll:g}"
        raise TransferError(f"target {target:g} for {name} is at or past {at}: plan inside LL..HH")
    if direction is None:
        if current is None or not math.isfinite(current):
            raise TransferError(f"{name} has no level reading yet: give direction fill or empty")
        if current == target:
            raise TransferError(f"{name} is already at {target:g}: nothing to transfer")
        direction = 1 if target > current else -1
    if direction not in (-1, 1):
        raise TransferError(f"direction {direction}: +1 (fill) or -1 (empty)")
    if tolerance is not None and not 0 < tolerance <= MAX_TOLERANCE_SPAN * (hi - lo):
        limit = MAX_TOLERANCE_SPAN * (hi - lo)
        raise TransferError(f"tolerance {tolerance} for {name}: must be > 0 and <= {limit:g}")
    if expires_in_s is not None and not expires_in_s > 0:
        raise TransferError(f"expires_in_s {expires_in_s}: must be > 0")
    expires = None if expires_in_s is None else ts + expires_in_s
    return TransferPlan(name, float(target), direction, ts, tolerance, expires, by, note)


def level_sensor_of(table: SensorTable, unit: str | None, tag: str | None) -> int:
    """The sensor index of level sensor `tag`, or of `unit`'s first level sensor."""
    if (unit is None) == (tag is None):
        raise TransferError("name the tank by exactly one of unit or tag")
    if tag is not None:
        where = table.tag_index.get(tag)
        if where is None:
            raise TransferError(f"unknown tag {tag!r}")
        if table.kind[where] != Kind.LEVEL:
            kind = Kind(int(table.kind[where])).label
            raise TransferError(f"{tag} is a {kind} sensor: a plan needs a level sensor")
        return where
    where = _first_levels(table).get(unit)  # type: ignore[arg-type]
    if where is None or where < 0:
        raise TransferError(
            f"unit {unit!r} " + ("unknown" if where is None else "has no level sensor")
        )
    return where


# Each unit's first level sensor (-1: it has none), built once per table: a plan by unit
# (the API, every `_plan` message) must not scan the park's sensors.
_LEVELS: WeakKeyDictionary[SensorTable, dict[str, int]] = WeakKeyDictionary()


def _first_levels(table: SensorTable) -> dict[str, int]:
    found = _LEVELS.get(table)
    if found is None:
        found = {}
        for i, (unit, kind) in enumerate(zip(table.unit, table.kind.tolist(), strict=True)):
            if found.get(unit, -1) < 0:
                found[unit] = i if kind == Kind.LEVEL else -1
        _LEVELS[table] = found
    return found


class TransferBook:
    """Plans on disk: at most one open plan per level sensor."""

    def __init__(self, path: Path, table: SensorTable) -> None:
        self.table = table
        # Used from the event loop thread only; tests drive it from a client's thread.
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # an accepted plan survives a power cut
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def add(self, plan: TransferPlan) -> tuple[Transfer, Transfer | None]:
        """Keep `plan` open; returns it and the open plan of the same tank it replaced."""
        if plan.tag not in self.table.tag_index:
            raise TransferError(f"unknown tag {plan.tag!r}")
        old = self.open_for(plan.tag)
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            if old is not None:
                self._close(old.id, plan.ts, plan.by, "replaced")
            cur = self._db.execute(
                "INSERT INTO transfers (tag, target, direction, ts, tolerance, expires_ts, by,"
                " note) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (plan.tag, plan.target, plan.direction, plan.ts, plan.tolerance,
                 plan.expires_ts, plan.by, plan.note),
            )  # fmt: skip
        new = self.get(int(cur.lastrowid or 0))
        return new, (None if old is None else self.get(old.id))

    def finish(self, transfer_id: int, ts: float, by: str, reason: str = "closed") -> Transfer:
        """Close an open plan; TransferNotFound or TransferError (already closed)."""
        t = self.get(transfer_id)
        if not t.open:
            raise TransferError(f"transfer {transfer_id} is already {t.close_reason}")
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._close(transfer_id, ts, by, reason)
        return self.get(transfer_id)

    def _close(self, transfer_id: int, ts: float, by: str, reason: str) -> None:
        self._db.execute(
            "UPDATE transfers SET closed_ts = ?, closed_by = ?, close_reason = ? WHERE id = ?",
            (ts, by, reason, transfer_id),
        )

    def get(self, transfer_id: int) -> Transfer:
        rows = self._select("WHERE id = ?", (transfer_id,))
        if not rows:
            raise TransferNotFound(f"no transfer with id {transfer_id}")
        return rows[0]

    def open_for(self, tag: str) -> Transfer | None:
        rows = self._select("WHERE tag = ? AND closed_ts IS NULL", (tag,))
        return rows[0] if rows else None

    def transfers(self, include_closed: bool = False, limit: int = 500) -> list[Transfer]:
        """Newest first; `limit` -1 for all."""
        where = "" if include_closed else "WHERE closed_ts IS NULL"
        return self._select(f"{where} ORDER BY id DESC LIMIT ?", (limit,))

    def expired(self, now: float) -> list[Transfer]:
        return self._select("WHERE closed_ts IS NULL AND expires_ts <= ?", (now,))

    def next_expiry(self) -> float | None:
        """When the first open plan expires (None: no open plan expires)."""
        row = self._db.execute(
            "SELECT MIN(expires_ts) FROM transfers WHERE closed_ts IS NULL"
        ).fetchone()
        return None if row[0] is None else float(row[0])

    def _select(self, tail: str, args: tuple[Any, ...]) -> list[Transfer]:
        cols = "id, tag, target, direction, ts, tolerance, expires_ts, by, note, closed_ts, closed_by, close_reason"  # noqa: E501
        out = []
        for r in self._db.execute(f"SELECT {cols} FROM transfers {tail}", args):
            plan = TransferPlan(r[1], r[2], int(r[3]), r[4], r[5], r[6], r[7], r[8])
            where = self.table.tag_index.get(plan.tag)
            unit = "" if where is None else self.table.unit[where]
            out.append(Transfer(int(r[0]), plan, unit, r[9], r[10], r[11]))
        return out


Judge = Callable[[int, TransferPlan | None, float], list[ConditionChange]]


class TransferDesk:
    """Plans in, OVERRUN out: the book plus the detector, for the API and the simulators.

    `judge(sensor, plan or None, ts)` hands a plan (None: closed) to the detector and
    returns its changes; `emit(changes)` journals and publishes them.
    """

    def __init__(
        self,
        book: TransferBook,
        judge: Judge,
        emit: Callable[[list[ConditionChange]], object],
        clock: Clock,
        level: Callable[[int], float] = lambda sensor: math.nan,
    ) -> None:
        self.book, self._judge, self._emit, self._clock = book, judge, emit, clock
        self._level = level
        table = book.table
        for t in book.transfers(limit=-1):  # every open plan, however many tanks the park has
            if table.tag_index.get(t.plan.tag) is None:  # the site lost the tank
                book.finish(t.id, clock.now(), "hazardwatch", "expired")
            else:
                self._apply(t.plan.tag, t.plan, t.plan.ts)

    def plan(self, *, unit: str | None = None, tag: str | None = None, **request: Any) -> Transfer:
        """Check (plan_for, the tank's last level as `current`) and open a plan, made now
        unless `ts` is given."""
        table = self.book.table
        where = level_sensor_of(table, unit, tag)
        ts = request.pop("ts", None)
        plan = plan_for(
            table,
            tag=table.tags[where],
            current=self._level(where),
            ts=self._clock.now() if ts is None else ts,
            **request,
        )
        return self.open(plan)

    def open(self, plan: TransferPlan) -> Transfer:
        return self.take(plan)[0]

    def take(self, plan: TransferPlan) -> tuple[Transfer, list[Any]]:
        """Open a checked plan; returns it and what emitting its changes returned."""
        transfer, _ = self.book.add(plan)
        return transfer, self._apply(plan.tag, plan, plan.ts)

    def close(self, transfer_id: int, by: str, reason: str = "closed") -> Transfer:
        return self.finish(transfer_id, by, reason)[0]

    def finish(
        self, transfer_id: int, by: str, reason: str = "closed"
    ) -> tuple[Transfer, list[Any]]:
        """Close an open plan now; returns it and what emitting its changes returned."""
        now = self._clock.now()
        transfer = self.book.finish(transfer_id, now, by, reason)
        return transfer, self._apply(transfer.plan.tag, None, now)

    def expire(self, now: float) -> list[ConditionChange]:
        """Close every plan past its expiry; returns the detector's changes for the caller
        to emit (the tick's PlanExpiry timer, hazardwatch.shell.timers, hands them on)."""
        changes: list[ConditionChange] = []
        for t in self.book.expired(now):
            self.book.finish(t.id, now, "hazardwatch", "expired")
            changes += self._judge(self.book.table.tag_index[t.plan.tag], None, now)
        return changes

    def _apply(self, tag: str, plan: TransferPlan | None, ts: float) -> list[Any]:
        sensor = self.book.table.tag_index[tag]
        changes = self._judge(sensor, plan, ts)
        if not changes:
            return []
        emitted = self._emit(changes)
        return list(emitted) if isinstance(emitted, list) else []

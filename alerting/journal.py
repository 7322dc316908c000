"""The alarm journal: every alarm transition and risk-colour change, in one SQLite file.

The journal is the source of truth; the manager's in-memory state is rebuilt from it.
WAL with synchronous=NORMAL: a committed transaction survives a crash or kill -9 of the
process (not necessarily a power cut, which would need synchronous=FULL). Beside the
append-only event log it keeps `alarm`, the latest snapshot of every alarm, written in the
same transaction, so a restart and the closed-alarm queries need not replay years of events.

The mute markers (alerting.mute) are kept the same way: `marker_event`, every marker set
or ended with who, when, from where and why, and `marker`, the markers in force, written
in the same transaction as the alarm events they cause.
"""

from __future__ import annotations

import math
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

from alerting.alarm import Alarm, AlarmEvent
from alerting.disposal import Cause, Disposal
from alerting.lifecycle import AlertingError, Event
from alerting.mute import Marker, MarkerChange, MuteKind
from alerting.priority import ColourChange, Priority
from hazardwatch.vocabulary.model import AlarmState, Condition, RiskColour

SCHEMA_VERSION = 3

_SNAPSHOT = (
    "sensor INTEGER NOT NULL, tag TEXT NOT NULL, condition TEXT NOT NULL,"
    " priority INTEGER NOT NULL, state TEXT NOT NULL, enterprise TEXT NOT NULL,"
    " hazard_source TEXT NOT NULL, unit TEXT NOT NULL, value REAL, raised_ts REAL NOT NULL,"
    " changed_ts REAL NOT NULL, cleared_ts REAL, acked_ts REAL, acked_by TEXT, ack_comment TEXT,"
    " eta_ts REAL, muted TEXT, disposal_cause TEXT, disposal_action TEXT, disposed_by TEXT,"
    " disposed_ts REAL, disposal_url TEXT, closed_ts REAL, closed_by TEXT, camera_url TEXT"
)
_SNAPSHOT_COLS = (
    "sensor, tag, condition, priority, state, enterprise, hazard_source, unit, value,"
    " raised_ts, changed_ts, cleared_ts, acked_ts, acked_by, ack_comment, eta_ts, muted,"
    " disposal_cause, disposal_action, disposed_by, disposed_ts, disposal_url, closed_ts,"
    " closed_by, camera_url"
)
_N_SNAPSHOT = 25
_ADDED_IN_3 = (
    "muted TEXT",
    "disposal_cause TEXT",
    "disposal_action TEXT",
    "disposed_by TEXT",
    "disposed_ts REAL",
    "disposal_url TEXT",
    "closed_ts REAL",
    "closed_by TEXT",
    "camera_url TEXT",
)

# Version 1 -> 2 added eta_ts (predicted time of crossing) to both snapshots; NULL for old rows.
_MIGRATE_1_TO_2 = """
ALTER TABLE alarm_event ADD COLUMN eta_ts REAL;
ALTER TABLE alarm ADD COLUMN eta_ts REAL;
PRAGMA user_version = 2;
"""

_MARKERS = """
CREATE TABLE IF NOT EXISTS marker_event (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL, target TEXT NOT NULL, condition TEXT NOT NULL, is_on INTEGER NOT NULL,
    ts REAL NOT NULL, who TEXT, origin TEXT, why TEXT,
    set_by TEXT NOT NULL, since_ts REAL NOT NULL, until_ts REAL, set_why TEXT, set_origin TEXT
);
CREATE TABLE IF NOT EXISTS marker (
    kind TEXT NOT NULL, target TEXT NOT NULL, condition TEXT NOT NULL,
    set_by TEXT NOT NULL, since_ts REAL NOT NULL, until_ts REAL, set_why TEXT, set_origin TEXT,
    PRIMARY KEY (kind, target, condition)
);
CREATE INDEX IF NOT EXISTS alarm_unclosed ON alarm (raised_ts) WHERE closed_ts IS NULL;
"""

# Version 2 -> 3 added the mute mark, the disposal record, the closing and the camera link
# to both snapshots, who/where/why to the event rows, and the mute markers' tables.
_MIGRATE_2_TO_3 = (
    "".join(
        f"ALTER TABLE {t} ADD COLUMN {c};\n" for t in ("alarm_event", "alarm") for c in _ADDED_IN_3
    )
    + "".join(
        f"ALTER TABLE alarm_event ADD COLUMN {c};\n"
        for c in ("who TEXT", "origin TEXT", "why TEXT")
    )
    + _MARKERS
    + "PRAGMA user_version = 3;\n"
)

# AUTOINCREMENT: a sequence number is never reused, even after old events are purged.
# IF NOT EXISTS: two processes may create a fresh journal at the same moment.
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS alarm_event (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    alarm_id INTEGER NOT NULL, event TEXT NOT NULL,
    from_state TEXT NOT NULL, to_state TEXT NOT NULL, ts REAL NOT NULL,
    {_SNAPSHOT}, who TEXT, origin TEXT, why TEXT
);
CREATE INDEX IF NOT EXISTS alarm_event_by_alarm ON alarm_event (alarm_id, seq);
CREATE TABLE IF NOT EXISTS alarm (id INTEGER PRIMARY KEY, {_SNAPSHOT}, last_seq INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS alarm_by_state ON alarm (state, priority, raised_ts);
CREATE TABLE IF NOT EXISTS colour_change (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    hazard_source TEXT NOT NULL, old TEXT NOT NULL, new TEXT NOT NULL, ts REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS colour_change_by_source ON colour_change (hazard_source, seq);
{_MARKERS}
PRAGMA user_version = {SCHEMA_VERSION};
"""

# An alarm's snapshot replaced in place: INSERT OR REPLACE deletes the row and inserts it
# again, every index twice.
_UPSERT_ALARM = (
    f"INSERT INTO alarm (id, {_SNAPSHOT_COLS}, last_seq) VALUES (?{', ?' * _N_SNAPSHOT}, ?)"
    " ON CONFLICT (id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in [*_SNAPSHOT_COLS.split(", "), "last_seq"])
)


class JournalError(AlertingError):
    """The journal file cannot be opened, read or written."""


def _snapshot(a: Alarm) -> tuple[object, ...]:
    d = a.disposal
    return (
        a.sensor,
        a.tag,
        a.condition.label,
        int(a.priority),
        a.state.value,
        a.enterprise,
        a.hazard_source,
        a.unit,
        None if math.isnan(a.value) else a.value,  # SQLite would store NaN as NULL anyway
        a.raised_ts,
        a.changed_ts,
        a.cleared_ts,
        a.acked_ts,
        a.acked_by,
        a.ack_comment,
        a.eta_ts,
        a.muted,
        *((None,) * 5 if d is None else (d.cause.value, d.action, d.by, d.ts, d.attachment_url)),
        a.closed_ts,
        a.closed_by,
        a.camera_url,
    )


def _alarm(alarm_id: int, row: Sequence[Any]) -> Alarm:
    """An Alarm from the snapshot columns of a row (in _SNAPSHOT_COLS order)."""
    return Alarm(
        id=int(alarm_id),
        sensor=int(row[0]),
        tag=row[1],
        condition=Condition[row[2].upper()],
        priority=Priority(row[3]),
        state=AlarmState(row[4]),
        enterprise=row[5],
        hazard_source=row[6],
        unit=row[7],
        value=math.nan if row[8] is None else float(row[8]),
        raised_ts=row[9],
        changed_ts=row[10],
        cleared_ts=row[11],
        acked_ts=row[12],
        acked_by=row[13],
        ack_comment=row[14],
        eta_ts=row[15],
        muted=row[16],
        disposal=None
        if row[17] is None
        else Disposal(Cause(row[17]), row[18], row[19], row[20], row[21]),
        closed_ts=row[22],
        closed_by=row[23],
        camera_url=row[24],
    )


def _marker(row: Sequence[Any]) -> Marker:
    """A Marker from (kind, target, condition, set_by, since_ts, until_ts, set_why, set_origin)."""
    return Marker(MuteKind(row[0]), row[1], row[2], row[3], row[4], row[5], row[6], row[7])


class Journal:
    """Append-only alarm journal in a SQLite file; safe to share between threads.

    Every error it raises is a JournalError. Use as a context manager or call close().
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        try:
            # Autocommit mode: transactions are opened explicitly, one per append.
            self._db: sqlite3.Connection | None = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as e:
            raise JournalError(f"cannot open alarm journal {self.path}: {e}") from e
        try:
            self._open()
        except BaseException:
            self._db.close()
            self._db = None
            raise

    def _open(self) -> None:
        with self._guard("open") as db:
            db.execute("PRAGMA busy_timeout = 5000")
            mode = db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode != "wal":
                raise JournalError(f"alarm journal {self.path}: WAL mode refused (got {mode})")
            db.execute("PRAGMA synchronous = NORMAL")
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version == 0:
                db.executescript(f"BEGIN IMMEDIATE; {_SCHEMA} COMMIT;")
            elif version in (1, 2):
                steps = (_MIGRATE_1_TO_2, _MIGRATE_2_TO_3)[version - 1 :]
                db.executescript(f"BEGIN IMMEDIATE; {''.join(steps)} COMMIT;")
            elif version != SCHEMA_VERSION:
                raise JournalError(
                    f"alarm journal {self.path} has schema version {version}; "
                    f"this HazardWatch reads version {SCHEMA_VERSION}"
                )

    @contextmanager
    def _guard(self, what: str) -> Iterator[sqlite3.Connection]:
        """Serialise access and turn every sqlite3 error into a JournalError."""
        with self._lock:
            if self._db is None:
                raise JournalError(f"alarm journal {self.path} is closed")
            try:
                yield self._db
            except sqlite3.Error as e:
                raise JournalError(f"alarm journal {self.path}: {what} failed: {e}") from e

    # ------------------------------------------------------------------ writing

    def append(self, event: AlarmEvent) -> int:
        """Journal one transition; returns its sequence number once committed.

        The journal assigns `seq`: the one on `event` is ignored.
        """
        return self._write([event], ())[0][0]

    def append_colour(self, change: ColourChange) -> int:
        """Journal one risk-colour change; returns its sequence number once committed."""
        return self._write((), [change])[1][0]

    def append_many(
        self,
        events: Sequence[AlarmEvent],
        colour_changes: Sequence[ColourChange] = (),
        markers: Sequence[MarkerChange] = (),
    ) -> list[int]:
        """Journal transitions, colour changes and mute marker changes in one transaction;
        returns the events' seqs. Nothing of it is kept if any part fails.
        """
        return self._write(events, colour_changes, markers)[0]

    def _write(
        self,
        events: Sequence[AlarmEvent],
        colour_changes: Sequence[ColourChange],
        markers: Sequence[MarkerChange] = (),
    ) -> tuple[list[int], list[int]]:
        event_seqs: list[int] = []
        colour_seqs: list[int] = []
        with self._guard("append") as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                if events:
                    event_seqs = self._write_events(db, events)
                for c in colour_changes:
                    cur = db.execute(
                        "INSERT INTO colour_change (hazard_source, old, new, ts)"
                        " VALUES (?, ?, ?, ?)",
                        (c.hazard_source, c.old.value, c.new.value, c.ts),
                    )
                    colour_seqs.append(int(cur.lastrowid or 0))
                for m in markers:
                    self._write_marker(db, m)
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
        return event_seqs, colour_seqs

    @staticmethod
    def _write_events(db: sqlite3.Connection, events: Sequence[AlarmEvent]) -> list[int]:
        """The events and their alarms' snapshots, two statements for all of them (one per
        row was 8.5 % of the event loop at 2,150 transitions a second, issue 18). Inside the
        write transaction no one else assigns seqs: they are numbered here as AUTOINCREMENT
        would (after the highest ever used), and AUTOINCREMENT keeps the highest."""
        top = db.execute(
            "SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'alarm_event'),"
            " 0), coalesce((SELECT max(seq) FROM alarm_event), 0))"
        ).fetchone()[0]
        seqs = list(range(top + 1, top + 1 + len(events)))
        snaps = [_snapshot(e.alarm) for e in events]
        db.executemany(
            f"INSERT INTO alarm_event (seq, alarm_id, event, from_state, to_state, ts,"
            f" {_SNAPSHOT_COLS}, who, origin, why)"
            f" VALUES (?, ?, ?, ?, ?, ?{', ?' * _N_SNAPSHOT}, ?, ?, ?)",
            [
                (
                    seq,
                    e.alarm.id,
                    e.event.value,
                    e.from_state.value,
                    e.to_state.value,
                    e.ts,
                    *snap,
                    e.who,
                    e.where,
                    e.why,
                )
                for seq, e, snap in zip(seqs, events, snaps, strict=True)
            ],
        )
        # in order: a later transition of the same alarm in the round replaces the earlier
        db.executemany(
            _UPSERT_ALARM,
            [(e.alarm.id, *snap, seq) for seq, e, snap in zip(seqs, events, snaps, strict=True)],
        )
        return seqs

    @staticmethod
    def _write_marker(db: sqlite3.Connection, c: MarkerChange) -> None:
        m = c.marker
        setter = (m.who, m.since_ts, m.until_ts, m.why, m.where)
        db.execute(
            "INSERT INTO marker_event (kind, target, condition, is_on, ts, who, origin, why,"
            " set_by, since_ts, until_ts, set_why, set_origin)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (*m.key, int(c.on), c.ts, c.who, c.where, c.why, *setter),
        )
        if c.on:
            db.execute(
                "INSERT OR REPLACE INTO marker (kind, target, condition, set_by, since_ts,"
                " until_ts, set_why, set_origin) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (*m.key, *setter),
            )
        else:
            db.execute("DELETE FROM marker WHERE kind = ? AND target = ? AND condition = ?", m.key)

    # ------------------------------------------------------------------ reading

    def open_alarms(self) -> list[Alarm]:
        """Every alarm whose latest state is not NORMAL, by id."""
        with self._guard("read open alarms") as db:
            rows = db.execute(
                f"SELECT id, {_SNAPSHOT_COLS} FROM alarm WHERE state != ? ORDER BY id",
                (AlarmState.NORMAL.value,),
            ).fetchall()
        return [_alarm(r[0], r[1:]) for r in rows]

    def alarm(self, alarm_id: int) -> Alarm | None:
        """The latest snapshot of one alarm, open or closed; None if it never existed."""
        with self._guard("read alarm") as db:
            row = db.execute(
                f"SELECT {_SNAPSHOT_COLS} FROM alarm WHERE id = ?", (alarm_id,)
            ).fetchone()
        return None if row is None else _alarm(alarm_id, row)

    def closed_alarms(
        self,
        *,
        enterprise: str | None = None,
        hazard_source: str | None = None,
        priority: Priority | None = None,
        limit: int = 500,
    ) -> list[Alarm]:
        """Alarms back in NORMAL, highest priority then newest first."""
        where = ["state = ?"]
        args: list[object] = [AlarmState.NORMAL.value]
        for column, value in (
            ("enterprise", enterprise),
            ("hazard_source", hazard_source),
            ("priority", None if priority is None else int(priority)),
        ):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        args.append(max(0, limit))
        with self._guard("read closed alarms") as db:
            rows = db.execute(
                f"SELECT id, {_SNAPSHOT_COLS} FROM alarm WHERE {' AND '.join(where)}"
                " ORDER BY priority DESC, raised_ts DESC, id DESC LIMIT ?",
                args,
            ).fetchall()
        return [_alarm(r[0], r[1:]) for r in rows]

    def history(self, alarm_id: int) -> list[AlarmEvent]:
        """Every transition of one alarm, oldest first; empty for an unknown id."""
        with self._guard("read history") as db:
            rows = db.execute(
                f"SELECT seq, event, from_state, to_state, ts, who, origin, why, {_SNAPSHOT_COLS}"
                " FROM alarm_event WHERE alarm_id = ? ORDER BY seq",
                (alarm_id,),
            ).fetchall()
        return [
            AlarmEvent(
                seq=int(r[0]),
                alarm=_alarm(alarm_id, r[8:]),
                event=Event(r[1]),
                from_state=AlarmState(r[2]),
                to_state=AlarmState(r[3]),
                ts=float(r[4]),
                who=r[5],
                where=r[6],
                why=r[7],
            )
            for r in rows
        ]

    def events_after(self, seq: int, limit: int = 100_000) -> list[AlarmEvent]:
        """Transitions journalled after sequence number `seq`, oldest first (the
        notifier's catch-up at start)."""
        with self._guard("read events") as db:
            rows = db.execute(
                f"SELECT seq, event, from_state, to_state, ts, who, origin, why, alarm_id,"
                f" {_SNAPSHOT_COLS} FROM alarm_event WHERE seq > ? ORDER BY seq LIMIT ?",
                (seq, max(0, limit)),
            ).fetchall()
        return [
            AlarmEvent(int(r[0]), _alarm(r[8], r[9:]), Event(r[1]), AlarmState(r[2]),
                       AlarmState(r[3]), float(r[4]), r[5], r[6], r[7])
            for r in rows
        ]  # fmt: skip

    def last_seq(self) -> int:
        """The sequence number of the last transition journalled (0: none)."""
        with self._guard("read last seq") as db:
            top = db.execute("SELECT max(seq) FROM alarm_event").fetchone()[0]
        return 0 if top is None else int(top)

    def disposed_alarms(self, cause: Cause, since: float, until: float) -> list[Alarm]:
        """Alarms raised in [since, until] whose disposal record gives `cause`, oldest first
        (the incidents a back-test measures its first warnings against)."""
        with self._guard("read disposed alarms") as db:
            rows = db.execute(
                f"SELECT id, {_SNAPSHOT_COLS} FROM alarm WHERE disposal_cause = ?"
                " AND raised_ts BETWEEN ? AND ? ORDER BY raised_ts, id",
                (cause.value, since, until),
            ).fetchall()
        return [_alarm(r[0], r[1:]) for r in rows]

    def unclosed_alarms(self, limit: int = 500) -> list[Alarm]:
        """Alarms not yet closed (open or back to normal), oldest first."""
        with self._guard("read unclosed alarms") as db:
            rows = db.execute(
                f"SELECT id, {_SNAPSHOT_COLS} FROM alarm WHERE closed_ts IS NULL"
                " ORDER BY raised_ts, id LIMIT ?",
                (max(0, limit),),
            ).fetchall()
        return [_alarm(r[0], r[1:]) for r in rows]

    def markers(self) -> list[Marker]:
        """The mute markers in force."""
        with self._guard("read markers") as db:
            rows = db.execute(
                "SELECT kind, target, condition, set_by, since_ts, until_ts, set_why, set_origin"
                " FROM marker ORDER BY since_ts, kind, target, condition"
            ).fetchall()
        return [_marker(r) for r in rows]

    def marker_history(self) -> list[MarkerChange]:
        """Every mute marker set or ended, oldest first."""
        with self._guard("read marker history") as db:
            rows = db.execute(
                "SELECT kind, target, condition, set_by, since_ts, until_ts, set_why, set_origin,"
                " is_on, ts, who, why, origin FROM marker_event ORDER BY seq"
            ).fetchall()
        return [MarkerChange(_marker(r[:8]), bool(r[8]), r[9], r[10], r[11], r[12]) for r in rows]

    def operator_actions(self, limit: int, before_ts: float | None = None) -> list[dict[str, Any]]:
        """What people did (alarm events and mute markers that name who), newest first, at
        most `limit`, those at or before `before_ts` when given: rows for the audit."""
        until = math.inf if before_ts is None else before_ts
        with self._guard("read operator actions") as db:
            events = db.execute(
                "SELECT seq, ts, event, who, origin, why, alarm_id, tag FROM alarm_event"
                " WHERE who IS NOT NULL AND ts <= ? ORDER BY ts DESC, seq DESC LIMIT ?",
                (until, max(0, limit)),
            ).fetchall()
            marks = db.execute(
                "SELECT seq, ts, kind, is_on, who, origin, why, target, condition"
                " FROM marker_event WHERE who IS NOT NULL AND ts <= ?"
                " ORDER BY ts DESC, seq DESC LIMIT ?",
                (until, max(0, limit)),
            ).fetchall()
        rows = [
            {"seq": r[0], "ts": r[1], "action": r[2], "who": r[3], "where": r[4],
             "detail": r[5], "subject": f"alarm {r[6]} {r[7]}"}
            for r in events
        ] + [
            {"seq": r[0], "ts": r[1], "action": f"{r[2]}_{'on' if r[3] else 'off'}",
             "who": r[4], "where": r[5], "detail": r[6],
             "subject": r[7] if r[8] in ("", "*") else f"{r[7]} {r[8]}"}
            for r in marks
        ]  # fmt: skip
        rows.sort(key=lambda r: (-r["ts"], -r["seq"]))
        return rows[:limit]

    def next_alarm_id(self) -> int:
        """One more than the largest alarm id ever journalled (1 for an empty journal)."""
        with self._guard("read next id") as db:
            top = db.execute("SELECT max(alarm_id) FROM alarm_event").fetchone()[0]
        return 1 if top is None else int(top) + 1

    def colour_history(self, hazard_source: str) -> list[ColourChange]:
        """Every risk-colour change of one hazard source, oldest first."""
        with self._guard("read colour history") as db:
            rows = db.execute(
                "SELECT old, new, ts FROM colour_change WHERE hazard_source = ? ORDER BY seq",
                (hazard_source,),
            ).fetchall()
        return [ColourChange(hazard_source, RiskColour(o), RiskColour(n), ts) for o, n, ts in rows]

    def latest_colours(self) -> dict[str, RiskColour]:
        """The last journalled colour of every hazard source that ever changed colour."""
        with self._guard("read colours") as db:
            rows = db.execute(
                "SELECT hazard_source, new FROM colour_change WHERE seq IN"
                " (SELECT max(seq) FROM colour_change GROUP BY hazard_source)"
            ).fetchall()
        return {h: RiskColour(c) for h, c in rows}

    # ------------------------------------------------------------------ lifetime

    def close(self) -> None:
        """Close the file; further calls raise JournalError. Closing twice is harmless."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def __enter__(self) -> Journal:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

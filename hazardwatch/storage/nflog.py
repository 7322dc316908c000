"""The notification log: what is to be sent, every attempt, and the escalation timers.

Like Alertmanager's nflog, it decides deduplication: a notification is a row keyed by
(what it announces, channel), written "pending" before anything is sent, so a transition
is announced once per route whatever happens to the process; each attempt is appended to
`attempt` ("sent" or "failed", with the error) and the row's state follows in the same
transaction. `cursor` is the last alarm journal sequence number routed, so events
journalled but not yet routed when the process died are routed at start. `escalation`
holds each unacknowledged alarm's next escalation step and when it is due; `chatter` every
time an alarm was flagged chattering (alerting.chatter).

One SQLite file in WAL mode, synchronous=NORMAL (a commit survives kill -9), shared by the
pipeline (enqueue), the sender thread (due, record) and the API (listing).

>>> log = NotificationLog(":memory:")
>>> out = Outgoing("event:7", "room", 3, 0, "HH", {"id": "event:7"})
>>> log.enqueue([out, out], cursor=7), log.enqueue([out]), log.cursor()
(1, 0, 7)
>>> [n.key for n in log.due(now=0.0)]
['event:7']
>>> log.record(log.due(0.0)[0].id, 0.0, None), log.counts()["sent"]
('sent', 1)
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hazardwatch.vocabulary.model import HazardWatchError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS notification (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL, channel TEXT NOT NULL, alarm_id INTEGER, level INTEGER NOT NULL,
    title TEXT NOT NULL, body TEXT NOT NULL, created_ts REAL NOT NULL,
    state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, next_ts REAL NOT NULL,
    UNIQUE (key, channel)
);
CREATE INDEX IF NOT EXISTS notification_pending ON notification (next_ts) WHERE state = 'pending';
CREATE TABLE IF NOT EXISTS attempt (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    notification INTEGER NOT NULL, n INTEGER NOT NULL, ts REAL NOT NULL,
    outcome TEXT NOT NULL, error TEXT
);
CREATE INDEX IF NOT EXISTS attempt_by_notification ON attempt (notification, seq);
CREATE TABLE IF NOT EXISTS cursor (name TEXT PRIMARY KEY, seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS escalation (
    alarm_id INTEGER PRIMARY KEY, step INTEGER NOT NULL, due_ts REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS chatter (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    ts REAL NOT NULL, tag TEXT NOT NULL, condition TEXT NOT NULL, alarm_id INTEGER NOT NULL,
    activations INTEGER NOT NULL
);
PRAGMA user_version = 1;
"""

STATES = ("pending", "sent", "failed")


class NotificationLogError(HazardWatchError):
    """The notification log cannot be opened, read or written."""


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One notification to write: `key` names what it announces (an alarm event, an
    escalation step, a flood summary), `body` is the JSON sent (and kept) as is."""

    key: str
    channel: str
    alarm_id: int | None
    level: int
    title: str
    body: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Pending:
    """A notification due for an attempt (`attempts` made so far)."""

    id: int
    key: str
    channel: str
    title: str
    body: str  # JSON text, byte for byte what every attempt sends
    attempts: int


class NotificationLog:
    """The log in one SQLite file (":memory:" for a doctest); safe to share between threads."""

    def __init__(self, path: Path | str) -> None:
        self.path = path
        self._lock = threading.Lock()
        try:
            self._db: sqlite3.Connection | None = sqlite3.connect(
                path, isolation_level=None, check_same_thread=False
            )
            self._db.execute("PRAGMA busy_timeout = 5000")
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = NORMAL")
            self._fresh = self._db.execute("PRAGMA user_version").fetchone()[0] == 0
            self._db.executescript(f"BEGIN IMMEDIATE; {_SCHEMA} COMMIT;")
        except sqlite3.Error as e:
            raise NotificationLogError(f"cannot open notification log {path}: {e}") from e

    @property
    def fresh(self) -> bool:
        """Created by this open (its cursor should start at the journal's end)."""
        return self._fresh

    @contextmanager
    def _tx(self, what: str) -> Iterator[sqlite3.Connection]:
        with self._lock:
            db = self._db
            if db is None:
                raise NotificationLogError(f"notification log {self.path} is closed")
            try:
                db.execute("BEGIN IMMEDIATE")
                yield db
                db.execute("COMMIT")
            except BaseException as e:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                if isinstance(e, sqlite3.Error):
                    raise NotificationLogError(f"notification log: {what} failed: {e}") from e
                raise

    # ------------------------------------------------------------------ writing

    def enqueue(
        self,
        items: Sequence[Outgoing],
        *,
        now: float = 0.0,
        cursor: int | None = None,
        timers: Sequence[tuple[int, int | None, float]] = (),
    ) -> int:
        """Write `items` pending and due at once, created at `now` (one already logged
        under its key and channel is skipped); move the journal cursor; set or drop
        escalation timers (alarm_id, step or None to drop, due). One transaction; returns
        how many notifications are new."""
        new = 0
        with self._tx("enqueue") as db:
            for o in items:
                cur = db.execute(
                    "INSERT OR IGNORE INTO notification (key, channel, alarm_id, level, title,"
                    " body, created_ts, state, next_ts) VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', 0)",
                    (o.key, o.channel, o.alarm_id, o.level, o.title,
                     json.dumps(o.body, ensure_ascii=False, sort_keys=True), now),
                )  # fmt: skip
                new += cur.rowcount
            if cursor is not None:
                db.execute(
                    "INSERT INTO cursor (name, seq) VALUES ('journal', ?) ON CONFLICT (name)"
                    " DO UPDATE SET seq = max(seq, excluded.seq)",
                    (cursor,),
                )
            for alarm_id, step, due in timers:
                if step is None:
                    db.execute("DELETE FROM escalation WHERE alarm_id = ?", (alarm_id,))
                else:
                    db.execute(
                        "INSERT OR REPLACE INTO escalation (alarm_id, step, due_ts)"
                        " VALUES (?, ?, ?)",
                        (alarm_id, step, due),
                    )
        return new

    def record(self, notification_id: int, ts: float, error: str | None,
               retry_at: float | None = None) -> str:  # fmt: skip
        """Append one attempt: sent (`error` None) or failed; a failed one is tried again
        at `retry_at`, or is given up (state "failed") without it. Returns the new state."""
        state = "sent" if error is None else ("pending" if retry_at is not None else "failed")
        with self._tx("record") as db:
            n = db.execute(
                "UPDATE notification SET attempts = attempts + 1, state = ?, next_ts = ?"
                " WHERE id = ? RETURNING attempts",
                (state, ts if retry_at is None else retry_at, notification_id),
            ).fetchone()
            if n is None:
                raise NotificationLogError(f"no notification {notification_id}")
            db.execute(
                "INSERT INTO attempt (notification, n, ts, outcome, error) VALUES (?, ?, ?, ?, ?)",
                (notification_id, n[0], ts, "sent" if error is None else "failed", error),
            )
        return state

    def flag_chatter(self, flags: Sequence[tuple[float, str, str, int, int]]) -> None:
        """Append chattering flags: (ts, tag, condition, alarm_id, activations in window)."""
        with self._tx("flag chatter") as db:
            db.executemany(
                "INSERT INTO chatter (ts, tag, condition, alarm_id, activations)"
                " VALUES (?, ?, ?, ?, ?)",
                flags,
            )

    # ------------------------------------------------------------------ reading

    def chattering(self, since_ts: float = 0.0) -> list[dict[str, Any]]:
        """Alarms flagged chattering since `since_ts`, by sensor and condition: how many
        times (episodes), the last time and alarm id; most episodes first."""
        with self._tx("read chatter") as db:
            rows = db.execute(
                "SELECT tag, condition, count(*), max(ts), max(alarm_id) FROM chatter"
                " WHERE ts >= ? GROUP BY tag, condition ORDER BY count(*) DESC, max(ts) DESC",
                (since_ts,),
            ).fetchall()
        names = ("tag", "condition", "episodes", "last_ts", "alarm_id")
        return [dict(zip(names, r, strict=True)) for r in rows]

    def cursor(self) -> int:
        """The last alarm journal seq routed (0: none)."""
        with self._tx("read cursor") as db:
            row = db.execute("SELECT seq FROM cursor WHERE name = 'journal'").fetchone()
        return 0 if row is None else int(row[0])

    def due(self, now: float, limit: int = 100) -> list[Pending]:
        """Pending notifications whose next attempt is due at `now`, oldest first."""
        with self._tx("read due") as db:
            rows = db.execute(
                "SELECT id, key, channel, title, body, attempts FROM notification"
                " WHERE state = 'pending' AND next_ts <= ? ORDER BY next_ts, id LIMIT ?",
                (now, limit),
            ).fetchall()
        return [Pending(*r) for r in rows]

    def next_due(self) -> float | None:
        """When the earliest pending notification is due (None: nothing pending)."""
        with self._tx("read next due") as db:
            row = db.execute("SELECT min(next_ts) FROM notification WHERE state = 'pending'")
            ts = row.fetchone()[0]
        return None if ts is None else float(ts)

    def timers(self) -> dict[int, tuple[int, float]]:
        """Escalation timers: alarm_id -> (next step, due)."""
        with self._tx("read timers") as db:
            rows = db.execute("SELECT alarm_id, step, due_ts FROM escalation").fetchall()
        return {int(a): (int(s), float(d)) for a, s, d in rows}

    def counts(self) -> dict[str, int]:
        """Notifications by state, and failed attempts (retried or not)."""
        with self._tx("count") as db:
            by_state = dict(db.execute("SELECT state, count(*) FROM notification GROUP BY state"))
            failed = db.execute("SELECT count(*) FROM attempt WHERE outcome = 'failed'")
            attempts_failed = failed.fetchone()[0]
        return {**{s: int(by_state.get(s, 0)) for s in STATES}, "attempts_failed": attempts_failed}

    def listing(
        self, limit: int = 100, state: str | None = None, alarm_id: int | None = None
    ) -> list[dict[str, Any]]:
        """Newest first, each with its delivery log (every attempt)."""
        where, args = [], []
        for column, value in (("state", state), ("alarm_id", alarm_id)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        sql = (
            "SELECT id, key, channel, alarm_id, level, title, created_ts, state, attempts,"
            " next_ts FROM notification"
            + (f" WHERE {' AND '.join(where)}" if where else "")
            + " ORDER BY id DESC LIMIT ?"
        )
        with self._tx("list") as db:
            rows = db.execute(sql, (*args, max(0, limit))).fetchall()
            ids = [r[0] for r in rows]
            marks = ",".join("?" * len(ids))
            tries = db.execute(
                f"SELECT notification, n, ts, outcome, error FROM attempt"
                f" WHERE notification IN ({marks}) ORDER BY seq",
                ids,
            ).fetchall()
        log: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
        for nid, n, ts, outcome, error in tries:
            log[nid].append({"n": n, "ts": ts, "outcome": outcome, "error": error})
        names = ("id", "key", "channel", "alarm_id", "level", "title", "created_ts", "state",
                 "attempts", "next_ts")  # fmt: skip
        return [{**dict(zip(names, r, strict=True)), "log": log[r[0]]} for r in rows]

    def close(self) -> None:
        """Close the file; closing twice is harmless."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

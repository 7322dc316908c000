"""Accounts: users with argon2 password hashes, bearer tokens, sessions and an audit log.

One SQLite file in the data dir (`accounts.db`), WAL like the journal. Every change to a
user or a token is written with its audit row in the same transaction, so the audit
never misses a change nor names one that did not happen. Tokens and session ids are
random 256-bit strings: only their SHA-256 is stored, so a copy of the file opens nothing.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from hazardwatch.vocabulary.clock import Clock, SystemClock
from hazardwatch.vocabulary.model import HazardWatchError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS user (
    name TEXT PRIMARY KEY, role TEXT NOT NULL, hash TEXT NOT NULL,
    created_ts REAL NOT NULL, disabled INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS token (
    id INTEGER PRIMARY KEY AUTOINCREMENT, user TEXT NOT NULL, hash TEXT NOT NULL UNIQUE,
    created_ts REAL NOT NULL, revoked_ts REAL
);
CREATE TABLE IF NOT EXISTS session (
    hash TEXT PRIMARY KEY, user TEXT NOT NULL, csrf TEXT NOT NULL,
    created_ts REAL NOT NULL, expires_ts REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, ts REAL NOT NULL, action TEXT NOT NULL,
    who TEXT, where_ TEXT, subject TEXT, detail TEXT
);
"""

SESSION_S = 12 * 3600.0  # a shift, with margin


class Role(IntEnum):
    """What a user may do; each role includes those below it."""

    VIEWER = 1  # read
    OPERATOR = 2  # acknowledge, shelve, reset, dispose, close, plan transfers
    ENGINEER = 3  # config, limits, maintenance mode, out of service
    ADMIN = 4  # users

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, name: str) -> Role:
        """`Role.parse("operator")`; an unknown name is an AccountError naming the choices."""
        try:
            return cls[name.strip().upper()]
        except KeyError:
            choices = ", ".join(r.label for r in cls)
            raise AccountError(f"unknown role {name!r}; choose one of {choices}") from None


@dataclass(frozen=True)
class User:
    """An authenticated person or machine."""

    name: str
    role: Role


@dataclass(frozen=True)
class AuditRow:
    """One audit entry: a login, a failed login, a logout, a user or token change."""

    seq: int
    ts: float
    action: str
    who: str | None
    where: str | None
    subject: str | None
    detail: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": "accounts",
            "seq": self.seq,
            "ts": self.ts,
            "action": self.action,
            "who": self.who,
            "where": self.where,
            "subject": self.subject,
            "detail": self.detail,
        }


class AccountError(HazardWatchError):
    """A refused account change: a name taken, a bad role or password."""


class AccountNotFound(AccountError):
    """No user (or token) of that name (or id)."""


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _check_name(name: str) -> str:
    name = name.strip()
    if not 1 <= len(name) <= 64 or not name.isprintable():
        raise AccountError("a user name is 1 to 64 printable characters")
    return name


def new_password() -> str:
    """A generated password: 16 URL-safe characters (96 bits)."""
    return secrets.token_urlsafe(12)


class Accounts:
    """The accounts file; safe to share between threads (one connection, one lock).

    `hasher` sets the argon2 cost: the library's defaults in service, a cheap one in tests.
    """

    def __init__(
        self, path: Path, *, hasher: PasswordHasher | None = None, clock: Clock | None = None
    ) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.hasher = hasher or PasswordHasher()
        self.clock = clock or SystemClock()
        self._lock = threading.Lock()
        # Password hashes and the audit: a new file is readable by its owner only (SQLite
        # gives its -wal and -shm files the database file's permissions).
        if not self.path.exists():
            os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
        self._db = sqlite3.connect(
            self.path, timeout=5.0, isolation_level=None, check_same_thread=False
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    # ------------------------------------------------------------------ plumbing

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _audit(
        self,
        db: sqlite3.Connection,
        action: str,
        who: str | None,
        where: str | None,
        subject: str | None = None,
        detail: str | None = None,
    ) -> None:
        db.execute(
            "INSERT INTO audit (ts, action, who, where_, subject, detail)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (self.clock.now(), action, who, where, subject, detail),
        )

    def _user_row(self, db: sqlite3.Connection, name: str) -> tuple[str, str, str, int]:
        row = db.execute(
            "SELECT name, role, hash, disabled FROM user WHERE name = ?", (name,)
        ).fetchone()
        if row is None:
            raise AccountNotFound(f"no user {name!r}")
        return row

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # ------------------------------------------------------------------ users

    def add_user(
        self,
        name: str,
        role: Role,
        password: str,
        *,
        by: str | None = None,
        where: str | None = None,
    ) -> User:
        """A new user; the audit names `by` (None: the command line)."""
        name = _check_name(name)
        if not password:
            raise AccountError("an empty password is not allowed")
        hashed = self.hasher.hash(password)
        with self._tx() as db:
            if db.execute("SELECT 1 FROM user WHERE name = ?", (name,)).fetchone():
                raise AccountError(f"user {name!r} exists already")
            db.execute(
                "INSERT INTO user (name, role, hash, created_ts) VALUES (?, ?, ?, ?)",
                (name, role.label, hashed, self.clock.now()),
            )
            self._audit(db, "user_add", by, where, name, f"role={role.label}")
        return User(name, role)

    def set_password(
        self, name: str, password: str, *, by: str | None = None, where: str | None = None
    ) -> None:
        if not password:
            raise AccountError("an empty password is not allowed")
        hashed = self.hasher.hash(password)
        with self._tx() as db:
            self._user_row(db, name)
            db.execute("UPDATE user SET hash = ? WHERE name = ?", (hashed, name))
            # a new password ends the sessions opened with the old one
            db.execute("DELETE FROM session WHERE user = ?", (name,))
            self._audit(db, "user_passwd", by, where, name)

    def set_role(
        self, name: str, role: Role, *, by: str | None = None, where: str | None = None
    ) -> None:
        with self._tx() as db:
            old = self._user_row(db, name)[1]
            db.execute("UPDATE user SET role = ? WHERE name = ?", (role.label, name))
            self._audit(db, "user_role", by, where, name, f"role={old}->{role.label}")

    def disable(self, name: str, *, by: str | None = None, where: str | None = None) -> None:
        """The user can no longer log in; their sessions and tokens end (the name stays
        in the audit, so it is never given to someone else)."""
        now = self.clock.now()
        with self._tx() as db:
            self._user_row(db, name)
            db.execute("UPDATE user SET disabled = 1 WHERE name = ?", (name,))
            db.execute("DELETE FROM session WHERE user = ?", (name,))
            db.execute(
                "UPDATE token SET revoked_ts = ? WHERE user = ? AND revoked_ts IS NULL",
                (now, name),
            )
            self._audit(db, "user_disable", by, where, name)

    def users(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT name, role, created_ts, disabled FROM user ORDER BY name"
            ).fetchall()
        return [{"name": n, "role": r, "created_ts": t, "disabled": bool(d)} for n, r, t, d in rows]

    def user(self, name: str) -> User | None:
        """The enabled user of that name, or None."""
        with self._lock:
            row = self._db.execute(
                "SELECT role FROM user WHERE name = ? AND disabled = 0", (name,)
            ).fetchone()
        return None if row is None else User(name, Role.parse(row[0]))

    def verify(self, name: str, password: str) -> User | None:
        """The user if `password` is theirs (and they are enabled), else None.

        Slow on purpose (argon2): call it off the event loop. An unknown name costs a
        hash too, so the answer time does not tell which names exist.
        """
        with self._lock:
            row = self._db.execute(
                "SELECT role, hash FROM user WHERE name = ? AND disabled = 0", (name,)
            ).fetchone()
        if row is None:
            self.hasher.hash(password or "x")
            return None
        role, hashed = row
        try:
            self.hasher.verify(hashed, password)
        except (VerificationError, InvalidHashError):
            return None
        if self.hasher.check_needs_rehash(hashed):  # the cost was raised since
            with self._tx() as db:
                db.execute(
                    "UPDATE user SET hash = ? WHERE name = ?", (self.hasher.hash(password), name)
                )
        return User(name, Role.parse(role))

    # ------------------------------------------------------------------ tokens

    def issue_token(
        self, name: str, *, by: str | None = None, where: str | None = None
    ) -> tuple[int, str]:
        """(token id, token): the token is shown once; only its hash is kept."""
        token = "hw_" + secrets.token_urlsafe(32)
        with self._tx() as db:
            row = self._user_row(db, name)
            if row[3]:
                raise AccountError(f"user {name!r} is disabled")
            cur = db.execute(
                "INSERT INTO token (user, hash, created_ts) VALUES (?, ?, ?)",
                (name, _digest(token), self.clock.now()),
            )
            token_id = int(cur.lastrowid or 0)
            self._audit(db, "token_issue", by, where, name, f"token={token_id}")
        return token_id, token

    def revoke_token(
        self, token_id: int, *, by: str | None = None, where: str | None = None
    ) -> None:
        with self._tx() as db:
            row = db.execute(
                "SELECT user, revoked_ts FROM token WHERE id = ?", (token_id,)
            ).fetchone()
            if row is None:
                raise AccountNotFound(f"no token {token_id}")
            if row[1] is None:
                db.execute(
                    "UPDATE token SET revoked_ts = ? WHERE id = ?", (self.clock.now(), token_id)
                )
                self._audit(db, "token_revoke", by, where, row[0], f"token={token_id}")

    def tokens(self, name: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT id, user, created_ts, revoked_ts FROM token"
        args: tuple[str, ...] = ()
        if name is not None:
            sql, args = sql + " WHERE user = ?", (name,)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY id", args).fetchall()
        return [{"id": i, "user": u, "created_ts": c, "revoked_ts": r} for i, u, c, r in rows]

    def token_user(self, token: str) -> User | None:
        """Whose valid token this is, or None (unknown, revoked, or its user disabled)."""
        with self._lock:
            row = self._db.execute(
                "SELECT u.name, u.role FROM token t JOIN user u ON u.name = t.user"
                " WHERE t.hash = ? AND t.revoked_ts IS NULL AND u.disabled = 0",
                (_digest(token),),
            ).fetchone()
        return None if row is None else User(row[0], Role.parse(row[1]))

    # ------------------------------------------------------------------ sessions

    def open_session(self, user: User, *, where: str | None = None) -> tuple[str, str]:
        """(session id, CSRF token) of a new session; the login is audited with it."""
        sid, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
        now = self.clock.now()
        with self._tx() as db:
            db.execute("DELETE FROM session WHERE expires_ts < ?", (now,))
            db.execute(
                "INSERT INTO session (hash, user, csrf, created_ts, expires_ts)"
                " VALUES (?, ?, ?, ?, ?)",
                (_digest(sid), user.name, csrf, now, now + SESSION_S),
            )
            self._audit(db, "login", user.name, where)
        return sid, csrf

    def session(self, sid: str) -> tuple[User, str] | None:
        """(user, CSRF token) of a live session, or None."""
        with self._lock:
            row = self._db.execute(
                "SELECT u.name, u.role, s.csrf FROM session s JOIN user u ON u.name = s.user"
                " WHERE s.hash = ? AND s.expires_ts >= ? AND u.disabled = 0",
                (_digest(sid), self.clock.now()),
            ).fetchone()
        return None if row is None else (User(row[0], Role.parse(row[1])), row[2])

    def close_session(self, sid: str, user: User, *, where: str | None = None) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM session WHERE hash = ?", (_digest(sid),))
            self._audit(db, "logout", user.name, where)

    # ------------------------------------------------------------------ audit

    def record(
        self,
        action: str,
        who: str | None,
        where: str | None,
        subject: str | None = None,
        detail: str | None = None,
    ) -> None:
        """An audit row of its own: a failed or refused login."""
        with self._tx() as db:
            self._audit(db, action, who, where, subject, detail)

    def audit(self, *, limit: int = 100, before_ts: float | None = None) -> list[AuditRow]:
        """Audit rows, newest first; with `before_ts`, those at or before it."""
        sql = "SELECT seq, ts, action, who, where_, subject, detail FROM audit"
        args: list[object] = []
        if before_ts is not None:
            sql += " WHERE ts <= ?"
            args.append(before_ts)
        args.append(max(0, limit))
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY ts DESC, seq DESC LIMIT ?", args).fetchall()
        return [AuditRow(*r) for r in rows]

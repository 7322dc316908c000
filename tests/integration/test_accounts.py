"""The accounts file: what it keeps across a reopen, what it never keeps, and its audit."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from hazardwatch.storage.accounts import AccountError, AccountNotFound, Accounts, Role, User
from hazardwatch.vocabulary.clock import FakeClock
from tests.accounts import CHEAP, PASSWORD, make_accounts


def test_users_tokens_and_sessions_survive_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "accounts.db"
    a = make_accounts(path)
    a.add_user("li", Role.OPERATOR, PASSWORD)
    _, token = a.issue_token("li")
    sid, csrf = a.open_session(User("li", Role.OPERATOR))
    a.close()
    b = make_accounts(path)
    try:
        assert b.verify("li", PASSWORD) == User("li", Role.OPERATOR)
        assert b.token_user(token) == User("li", Role.OPERATOR)
        assert b.session(sid) == (User("li", Role.OPERATOR), csrf)
    finally:
        b.close()


def test_the_file_keeps_no_password_token_or_session_id_and_only_its_owner_reads_it(
    tmp_path: Path,
) -> None:
    path = tmp_path / "accounts.db"
    a = make_accounts(path)
    a.add_user("li", Role.OPERATOR, PASSWORD)
    _, token = a.issue_token("li")
    sid, _ = a.open_session(User("li", Role.OPERATOR))
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()}
    a.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith(path.name))
    for secret in (PASSWORD, token, sid):
        assert secret.encode() not in raw, secret
    assert b"$argon2id$" in raw
    assert modes == {f"{path.name}{end}": 0o600 for end in ("", "-wal", "-shm")}


def test_every_change_is_audited_in_its_transaction_and_a_refused_one_not_at_all(
    tmp_path: Path,
) -> None:
    clock = FakeClock(1000.0)
    a = make_accounts(tmp_path / "accounts.db", clock)
    try:
        a.add_user("li", Role.OPERATOR, PASSWORD, by="root", where="10.0.0.5")
        with pytest.raises(AccountError, match="exists already"):
            a.add_user("li", Role.ADMIN, PASSWORD, by="root")
        with pytest.raises(AccountNotFound):
            a.set_role("nobody", Role.ADMIN, by="root")
        a.set_role("li", Role.ENGINEER, by="root")
        a.set_password("li", "new one", by="li")
        token_id, _ = a.issue_token("li", by="root")
        a.revoke_token(token_id, by="root")
        a.revoke_token(token_id, by="root")  # already revoked: no second row
        a.disable("li", by="root")
        rows = [(r.action, r.who, r.subject, r.detail) for r in reversed(a.audit())]
        assert rows == [
            ("user_add", "root", "li", "role=operator"),
            ("user_role", "root", "li", "role=operator->engineer"),
            ("user_passwd", "li", "li", None),
            ("token_issue", "root", "li", f"token={token_id}"),
            ("token_revoke", "root", "li", f"token={token_id}"),
            ("user_disable", "root", "li", None),
        ]
        assert a.audit()[-1].where == "10.0.0.5"
        assert a.verify("li", "new one") is None  # disabled
    finally:
        a.close()


def test_a_new_password_ends_the_sessions_and_disabling_ends_the_tokens(tmp_path: Path) -> None:
    a = make_accounts(tmp_path / "accounts.db")
    try:
        user = a.add_user("li", Role.OPERATOR, PASSWORD)
        sid, _ = a.open_session(user)
        a.set_password("li", "other")
        assert a.session(sid) is None
        _, token = a.issue_token("li")
        a.disable("li")
        assert a.token_user(token) is None
        assert a.tokens("li")[0]["revoked_ts"] is not None
    finally:
        a.close()


def test_a_session_ends_after_its_time(tmp_path: Path) -> None:
    clock = FakeClock(0.0)
    a = make_accounts(tmp_path / "accounts.db", clock)
    try:
        sid, _ = a.open_session(a.add_user("li", Role.VIEWER, PASSWORD))
        clock.advance(12 * 3600 - 1)
        assert a.session(sid) is not None
        clock.advance(2)
        assert a.session(sid) is None
    finally:
        a.close()


def test_a_hash_of_a_lower_cost_is_upgraded_at_the_next_login(tmp_path: Path) -> None:
    path = tmp_path / "accounts.db"
    a = make_accounts(path)
    a.add_user("li", Role.VIEWER, PASSWORD)
    a.close()
    stronger = PasswordHasher(time_cost=2, memory_cost=16, parallelism=1)
    b = Accounts(path, hasher=stronger)
    try:
        assert b.verify("li", PASSWORD) is not None
        with b._lock:
            (hashed,) = b._db.execute("SELECT hash FROM user").fetchone()
        assert not stronger.check_needs_rehash(hashed)
        assert CHEAP.check_needs_rehash(hashed)
    finally:
        b.close()


def test_names_and_roles_are_checked(tmp_path: Path) -> None:
    a = make_accounts(tmp_path / "accounts.db")
    try:
        for bad in ("", " ", "x" * 65, "tab\there"):
            with pytest.raises(AccountError, match="1 to 64 printable"):
                a.add_user(bad, Role.VIEWER, PASSWORD)
        with pytest.raises(AccountError, match="choose one of viewer, operator"):
            Role.parse("root")
        with pytest.raises(AccountError, match="empty password"):
            a.add_user("li", Role.VIEWER, "")
    finally:
        a.close()

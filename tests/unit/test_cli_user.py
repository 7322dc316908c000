"""`hazardwatch user ...`: the first admin, passwords, tokens, revocation, the list."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from hazardwatch.shell.cli import app
from hazardwatch.storage.accounts import Accounts, Role, User


def _run(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["user", *args], input=stdin)
    return result.exit_code, result.stdout, result.stderr


def test_user_add_with_a_password_from_stdin_makes_a_user_who_can_log_in(tmp_path: Path) -> None:
    code, out, _ = _run("add", "root", "--role", "admin", "--data-dir", str(tmp_path),
                        "--password-stdin", stdin="s3cret pass\n")  # fmt: skip
    assert code == 0, out
    assert "password:" not in out
    accounts = Accounts(tmp_path / "accounts.db")
    try:
        assert accounts.verify("root", "s3cret pass") == User("root", Role.ADMIN)
        (row,) = accounts.audit()
        assert (row.action, row.subject, row.where) == ("user_add", "root", "cli")
        assert row.who is not None and row.who.startswith("cli")
    finally:
        accounts.close()


def test_user_add_without_a_password_prints_a_generated_one(tmp_path: Path) -> None:
    code, out, _ = _run("add", "li", "--role", "operator", "--data-dir", str(tmp_path))
    assert code == 0, out
    (password,) = [line.split(": ", 1)[1] for line in out.splitlines() if line.startswith("pass")]
    accounts = Accounts(tmp_path / "accounts.db")
    try:
        assert accounts.verify("li", password) == User("li", Role.OPERATOR)
    finally:
        accounts.close()


def test_a_bad_role_or_a_taken_name_fails_with_a_message(tmp_path: Path) -> None:
    code, _, err = _run("add", "li", "--role", "boss", "--data-dir", str(tmp_path))
    assert code == 2 and "choose one of viewer, operator, engineer, admin" in err
    assert _run("add", "li", "--data-dir", str(tmp_path))[0] == 0
    code, _, err = _run("add", "li", "--data-dir", str(tmp_path))
    assert code == 2 and "exists already" in err
    code, _, err = _run("passwd", "nobody", "--data-dir", str(tmp_path))
    assert code == 2 and "no user 'nobody'" in err


def test_token_prints_it_once_revoke_ends_it_and_list_shows_what_is_live(tmp_path: Path) -> None:
    d = str(tmp_path)
    _run("add", "scada", "--role", "viewer", "--data-dir", d)
    code, out, err = _run("token", "scada", "--data-dir", d)
    assert code == 0 and "token 1 for 'scada'" in err
    token = out.strip()
    accounts = Accounts(tmp_path / "accounts.db")
    try:
        assert accounts.token_user(token) == User("scada", Role.VIEWER)
        assert "scada\tviewer\ttokens: 1" in _run("list", "--data-dir", d)[1]
        assert _run("revoke", "1", "--data-dir", d)[0] == 0
        assert accounts.token_user(token) is None
        assert "scada\tviewer\ttokens: -" in _run("list", "--data-dir", d)[1]
    finally:
        accounts.close()


def test_passwd_role_and_disable(tmp_path: Path) -> None:
    d = str(tmp_path)
    _run("add", "li", "--data-dir", d)
    assert _run("passwd", "li", "--data-dir", d, "--password-stdin", stdin="new pw\n")[0] == 0
    assert _run("role", "li", "engineer", "--data-dir", d)[0] == 0
    accounts = Accounts(tmp_path / "accounts.db")
    try:
        assert accounts.verify("li", "new pw") == User("li", Role.ENGINEER)
        assert _run("disable", "li", "--data-dir", d)[0] == 0
        assert accounts.verify("li", "new pw") is None
        assert "li\tengineer (disabled)" in _run("list", "--data-dir", d)[1]
    finally:
        accounts.close()

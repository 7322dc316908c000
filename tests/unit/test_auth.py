"""Logging in and acting as someone: sessions, CSRF, tokens, roles, the login limit, audit."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from alerting import AlarmEvent
from dashboards import create_app
from dashboards.auth import CSRF_HEADER, SESSION_COOKIE, LoginLimiter
from hazardwatch.storage.accounts import Accounts, Role
from hazardwatch.vocabulary.model import AlarmState, Condition
from tests.accounts import PASSWORD, bearer, make_accounts
from tests.unit.test_api import T0, Park

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient


@pytest.fixture
def accounts(tmp_path: Path, park: Park) -> Iterator[Accounts]:
    a = make_accounts(tmp_path / "accounts.db", clock=park.clock)
    for name, role in (("viv", Role.VIEWER), ("olga", Role.OPERATOR), ("ed", Role.ENGINEER)):
        a.add_user(name, role, PASSWORD)
    a.add_user("root", Role.ADMIN, PASSWORD)
    try:
        yield a
    finally:
        a.close()


@pytest.fixture
def client(park: Park, accounts: Accounts) -> Iterator[TestClient]:
    limiter = LoginLimiter(limit=5, window_s=300, clock=park.clock)
    app = create_app(park.view(), accounts=accounts, limiter=limiter)
    with TestClient(app, base_url="http://127.0.0.1:8000") as c:
        yield c


def _login(client: TestClient, name: str, password: str = PASSWORD) -> str:
    r = client.post("/api/login", json={"name": name, "password": password})
    assert r.status_code == 200, r.text
    return r.json()["csrf"]


def _raise(park: Park) -> AlarmEvent:
    return park.change("T101.LT", Condition.HH, True, 18.5)


# ------------------------------------------------------------------ sessions


def test_login_sets_an_http_only_strict_cookie_and_answers_who_and_the_csrf_token(
    client: TestClient,
) -> None:
    r = client.post("/api/login", json={"name": "olga", "password": PASSWORD})
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "olga" and r.json()["role"] == "operator"
    assert len(r.json()["csrf"]) >= 20
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # plain http on loopback: a Secure cookie would never return
    me = client.get("/api/me").json()
    assert me == {"name": "olga", "role": "operator", "csrf": r.json()["csrf"]}


def test_over_https_the_session_cookie_is_secure(park: Park, accounts: Accounts) -> None:
    app = create_app(park.view(), accounts=accounts)
    with TestClient(app, base_url="https://hw.park.example") as client:
        r = client.post("/api/login", json={"name": "olga", "password": PASSWORD})
    assert r.status_code == 200
    assert "Secure" in r.headers["set-cookie"]


def test_a_session_acts_only_with_its_csrf_token_and_from_this_origin(
    park: Park, client: TestClient
) -> None:
    raised = _raise(park)
    csrf = _login(client, "olga")
    ack = f"/api/alarms/{raised.alarm.id}/ack"
    assert client.post(ack, json={}).status_code == 403  # no token: a forged form post
    assert client.post(ack, json={}, headers={CSRF_HEADER: "guess"}).status_code == 403
    other_site = {CSRF_HEADER: csrf, "Origin": "http://evil.example"}
    assert client.post(ack, json={}, headers=other_site).status_code == 403
    assert park.manager.get(raised.alarm.id).state is AlarmState.ACTIVE_UNACK
    same_site = {CSRF_HEADER: csrf, "Origin": "http://127.0.0.1:8000"}
    r = client.post(ack, json={"comment": "seen"}, headers=same_site)
    assert r.status_code == 200, r.text
    assert r.json()["alarm"]["acked_by"] == "olga"


def test_logout_ends_the_session(client: TestClient) -> None:
    csrf = _login(client, "viv")
    assert client.get("/api/alarms").status_code == 200
    assert client.post("/api/logout", headers={CSRF_HEADER: csrf}).status_code == 204
    client.cookies.clear()
    assert client.get("/api/alarms").status_code == 401


def test_a_stale_session_cookie_is_401(client: TestClient) -> None:
    client.cookies.set(SESSION_COOKIE, "made-up")
    r = client.get("/api/alarms")
    assert r.status_code == 401 and "log in again" in r.json()["detail"]


def test_a_wrong_password_is_401_and_audited_as_a_failed_login(
    client: TestClient, accounts: Accounts
) -> None:
    r = client.post("/api/login", json={"name": "olga", "password": "nope"})
    assert r.status_code == 401
    assert SESSION_COOKIE not in r.headers.get("set-cookie", "")
    (row,) = [a for a in accounts.audit() if a.action == "login_failed"]
    assert (row.who, row.where) == ("olga", "testclient")


# ------------------------------------------------------------------ the login limit


def test_five_failures_of_a_name_in_five_minutes_are_429_with_retry_after(
    park: Park, client: TestClient, accounts: Accounts
) -> None:
    for _ in range(5):
        wrong = client.post("/api/login", json={"name": "olga", "password": "nope"})
        assert wrong.status_code == 401
        park.clock.advance(10)
    r = client.post("/api/login", json={"name": "olga", "password": PASSWORD})
    assert r.status_code == 429  # even the right password: the guesser must not learn it
    assert int(r.headers["retry-after"]) == 300 - 50
    assert [a.action for a in accounts.audit(limit=1)] == ["login_refused"]
    park.clock.advance(300 - 50)
    assert client.post("/api/login", json={"name": "olga", "password": PASSWORD}).status_code == 200


def test_one_address_spraying_names_is_limited_too(client: TestClient) -> None:
    for name in ("a", "b", "c", "d", "e"):
        assert client.post("/api/login", json={"name": name, "password": "x"}).status_code == 401
    r = client.post("/api/login", json={"name": "olga", "password": PASSWORD})
    assert r.status_code == 429


def test_successful_logins_do_not_count_against_the_limit(client: TestClient) -> None:
    for _ in range(8):
        _login(client, "olga")


# ------------------------------------------------------------------ tokens and roles


def test_a_viewer_reads_but_cannot_acknowledge(
    park: Park, client: TestClient, accounts: Accounts
) -> None:
    raised = _raise(park)
    viewer = bearer(accounts, Role.VIEWER, "viv")
    assert client.get("/api/alarms", headers=viewer).status_code == 200
    r = client.post(f"/api/alarms/{raised.alarm.id}/ack", json={}, headers=viewer)
    assert r.status_code == 403
    assert r.json()["detail"].endswith("needs the operator role; viv is viewer")
    assert park.manager.get(raised.alarm.id).state is AlarmState.ACTIVE_UNACK


def test_a_revoked_token_and_a_disabled_users_token_are_401(
    park: Park, client: TestClient, accounts: Accounts
) -> None:
    token_id, token = accounts.issue_token("olga")
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/me", headers=headers).json()["name"] == "olga"
    accounts.revoke_token(token_id)
    r = client.get("/api/me", headers=headers)
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
    _, token = accounts.issue_token("olga")
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/me", headers=headers).status_code == 200
    accounts.disable("olga")
    assert client.get("/api/me", headers=headers).status_code == 401


def test_a_malformed_authorization_header_is_401(client: TestClient) -> None:
    for value in ("Basic b2xnYTpwdw==", "Bearer", "Bearer  ", "hw_token"):
        r = client.get("/api/alarms", headers={"Authorization": value})
        assert r.status_code == 401, value


def test_an_admin_adds_a_user_with_a_generated_password_who_then_logs_in(
    client: TestClient, accounts: Accounts
) -> None:
    admin = bearer(accounts, Role.ADMIN, "root")
    r = client.post("/api/users", json={"name": "new", "role": "operator"}, headers=admin)
    assert r.status_code == 201, r.text
    password = r.json()["password"]
    assert len(password) >= 16
    assert (
        client.post("/api/users", json={"name": "new", "role": "viewer"}, headers=admin).status_code
        == 409
    )
    _login(client, "new", password)
    r = client.patch("/api/users/new", json={"role": "engineer"}, headers=admin)
    assert r.json()["role"] == "engineer"
    assert client.patch("/api/users/nobody", json={}, headers=admin).status_code == 404
    r = client.post("/api/users/new/tokens", headers=admin)
    assert r.status_code == 201 and r.json()["token"].startswith("hw_")
    listed = client.get("/api/users/new/tokens", headers=admin).json()["tokens"]
    assert [t["id"] for t in listed] == [r.json()["id"]] and "token" not in listed[0]
    assert client.delete("/api/users/new", headers=admin).status_code == 204
    r = client.post("/api/login", json={"name": "new", "password": password})
    assert r.status_code == 401


# ------------------------------------------------------------------ the audit


def test_the_audit_lists_logins_failures_and_changes_newest_first_with_paging(
    park: Park, client: TestClient, accounts: Accounts
) -> None:
    park.clock.advance(1)
    csrf = _login(client, "olga")
    park.clock.advance(1)
    client.post("/api/login", json={"name": "olga", "password": "wrong"})
    park.clock.advance(1)
    client.post("/api/logout", headers={CSRF_HEADER: csrf})
    client.cookies.clear()
    park.clock.advance(1)
    admin = bearer(accounts, Role.ADMIN, "root")
    client.post("/api/users", json={"name": "kim", "role": "viewer"}, headers=admin)
    operator = bearer(accounts, Role.OPERATOR, "olga")
    engineer = bearer(accounts, Role.ENGINEER, "ed")

    assert client.get("/api/audit", headers=operator).status_code == 403
    rows = client.get("/api/audit", headers=engineer).json()["audit"]
    mine = [(r["action"], r["who"], r["subject"]) for r in rows if r["ts"] > T0]
    assert mine == [
        ("token_issue", None, "ed"),
        ("token_issue", None, "olga"),
        ("user_add", "root", "kim"),
        ("token_issue", None, "root"),
        ("logout", "olga", None),
        ("login_failed", "olga", None),
        ("login", "olga", None),
    ]
    assert all(r["where"] == "testclient" for r in rows if r["action"].startswith("log"))

    # four rows share the newest time: pages of two lose none of them
    paged: list[tuple[str, str | None, str | None]] = []
    params: dict[str, object] = {"limit": 2}
    while True:
        body = client.get("/api/audit", params=params, headers=engineer).json()
        paged += [(r["action"], r["who"], r["subject"]) for r in body["audit"]]
        if body["next"] is None:
            break
        params = {"limit": 2, **body["next"]}
    assert [p for p in paged if p in mine] == mine
    assert len(paged) == len(rows)


def test_the_audit_includes_the_journals_operator_actions_with_who_and_where(
    park: Park, client: TestClient, accounts: Accounts
) -> None:
    raised = _raise(park)
    csrf = _login(client, "olga")
    park.clock.advance(5)
    r = client.post(
        f"/api/alarms/{raised.alarm.id}/ack",
        json={"comment": "pump off"},
        headers={CSRF_HEADER: csrf},
    )
    assert r.status_code == 200, r.text
    client.cookies.clear()
    rows = client.get("/api/audit", headers=bearer(accounts, Role.ENGINEER, "ed")).json()["audit"]
    ack = rows[1]
    assert (ack["source"], ack["action"], ack["who"], ack["where"], ack["detail"]) == (
        "journal",
        "ack",
        "olga",
        "testclient",
        "pump off",
    )
    assert ack["subject"] == f"alarm {raised.alarm.id} T101.LT"
    assert [r["action"] for r in rows[:3]] == ["token_issue", "ack", "login"]


def test_every_action_leaves_an_audit_row_naming_who_and_from_where(
    park: Park, client: TestClient, accounts: Accounts
) -> None:
    olga, ed = bearer(accounts, Role.OPERATOR, "olga"), bearer(accounts, Role.ENGINEER, "ed")
    root = bearer(accounts, Role.ADMIN, "root")

    def ok(path: str, body: dict[str, object], headers: dict[str, str]) -> None:
        park.clock.advance(1)
        r = client.post(path, json=body, headers=headers)
        assert r.status_code == 200, (path, r.text)

    level = _raise(park).alarm.id
    ok(f"/api/alarms/{level}/ack", {"comment": "inlet closed"}, olga)
    ok(f"/api/alarms/{level}/shelve", {"duration_s": 600, "reason": "gauge check"}, olga)
    ok(f"/api/alarms/{level}/unshelve", {"reason": "checked"}, olga)
    gas = park.change("T201.GT", Condition.GAS2, True, 60.0).alarm.id
    park.change("T201.GT", Condition.GAS2, False, 5.0)  # latched
    ok(f"/api/alarms/{gas}/reset", {"reason": "area ventilated"}, olga)
    ok(f"/api/alarms/{gas}/ack", {}, olga)
    ok(f"/api/alarms/{gas}/dispose", {"cause": "process", "action": "flange tightened"}, olga)
    ok(f"/api/alarms/{gas}/close", {"reason": "done"}, olga)
    ok("/api/units/T101/maintenance", {"on": True, "reason": "cleaning"}, ed)
    ok("/api/units/T101/maintenance", {"on": False}, ed)
    ok("/api/sensors/T101.TT/out-of-service", {"on": True, "reason": "recalibration"}, ed)
    ok("/api/sensors/T101.TT/out-of-service", {"on": False}, ed)
    assert client.post("/api/login", json={"name": "olga", "password": "wrong"}).status_code == 401
    _login(client, "olga")
    client.cookies.clear()
    new = {"name": "newcomer", "role": "viewer", "password": PASSWORD}
    r = client.post("/api/users", json=new, headers=root)
    assert r.status_code in (200, 201), r.text

    rows = client.get("/api/audit?limit=200", headers=ed).json()["audit"]
    by_action: dict[str, list[dict[str, object]]] = {}
    for row in rows:
        by_action.setdefault(str(row["action"]), []).append(row)
    journal = {"ack", "shelve", "unshelve", "reset", "dispose", "close"}
    # the markers: maintenance mode suppresses its unit
    journal |= {"suppressed_on", "suppressed_off", "out_of_service_on", "out_of_service_off"}
    assert journal | {"login", "login_failed", "user_add"} <= by_action.keys()
    for action in journal:
        for row in by_action[action]:
            assert row["who"] in ("olga", "ed") and row["where"] == "testclient", row
    assert [r["who"] for r in by_action["ack"]] == ["olga", "olga"]
    (added,) = by_action["user_add"][:1]
    assert added["who"] == "root" and added["subject"] == "newcomer"

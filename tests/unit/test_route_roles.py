"""Every route of the app, walked from its own /openapi.json: who may call it.

A mutating route answers 401 without credentials and 403 to the role below its own, and
nothing changes; a route the role table (dashboards.auth.ROUTES) does not know answers
403 to everybody. The walk reads the routes from the app, so a route added later is
walked without a change here.
"""

from __future__ import annotations

import dataclasses
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from dashboards import create_app
from dashboards.auth import ROUTES, required_role
from hazardwatch.storage.accounts import Accounts, Role
from hazardwatch.vocabulary.model import Condition
from hazardwatch.vocabulary.transfers import TransferBook, TransferDesk
from tests.accounts import bearer, make_accounts
from tests.unit.test_api import Park

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

MUTATING = ("post", "put", "patch", "delete")


@dataclass
class Walked:
    app: FastAPI
    park: Park
    accounts: Accounts
    book: TransferBook
    params: dict[str, str]  # path parameter -> a value that names something real


@pytest.fixture
def walked(tmp_path: Path) -> Iterator[Walked]:
    park = Park.build(tmp_path / "journal.sqlite")
    raised = park.change("T101.LT", Condition.HH, True, 18.5)
    book = TransferBook(tmp_path / "transfers.db", park.table)
    desk = TransferDesk(book, lambda sensor, plan, ts: [], lambda changes: None, park.clock)
    plan = desk.plan(tag="T101.LT", target=15.0, direction=1, by="Li Ming")
    accounts = make_accounts(tmp_path / "accounts.db")
    accounts.add_user("someone", Role.VIEWER, "pw")
    token_id, _ = accounts.issue_token("someone")
    view = dataclasses.replace(park.view(), transfers=desk)
    params = {
        "alarm_id": str(raised.alarm.id),
        "transfer_id": str(plan.id),
        "name": "someone",
        "token_id": str(token_id),
    }
    try:
        yield Walked(create_app(view, accounts=accounts), park, accounts, book, params)
    finally:
        accounts.close()
        book.close()
        park.journal.close()


# Bodies that would do something if the route let the caller through; any other route
# gets {} (the role check comes before the body is read).
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("post", "/api/alarms/{alarm_id}/ack"): {"comment": "seen"},
    ("post", "/api/transfers"): {"tag": "T101.LT", "target": 14.0},
    ("post", "/api/users"): {"name": "intruder", "role": "admin", "password": "x"},
    ("patch", "/api/users/{name}"): {"role": "admin"},
}


def _url(path: str, params: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: params.get(m.group(1), "1"), path)


def _state(w: Walked) -> tuple[Any, ...]:
    """Everything a route could change: alarms, plans, users, tokens, the audit."""
    alarms = [a.to_dict() for a in w.park.manager.alarms(include_closed=True, limit=1000)]
    plans = [t.to_dict() for t in w.book.transfers(True, 1000)]
    audit = [r.to_dict() for r in w.accounts.audit(limit=1000)]
    return alarms, plans, w.accounts.users(), w.accounts.tokens(), audit


def _mutating_routes(app: FastAPI) -> list[tuple[str, str]]:
    with TestClient(app) as client:
        paths = client.get("/openapi.json").json()["paths"]
    return [(m, p) for p, ops in paths.items() for m in ops if m in MUTATING]


def _role_below(role: Role) -> Role | None:
    return None if role is Role.VIEWER else Role(role - 1)


def test_every_mutating_route_is_401_without_and_403_below_its_role_changing_nothing(
    walked: Walked,
) -> None:
    routes = _mutating_routes(walked.app)
    assert len(routes) >= 10, routes  # the walk sees the API, not an empty schema
    below = {r: bearer(walked.accounts, r) for r in Role}
    before = _state(walked)
    checked = 0
    with TestClient(walked.app) as client:
        for method, path in routes:
            need = required_role(method.upper(), path)
            if need is None:
                continue  # open by design: POST /api/login
            url, body = _url(path, walked.params), BODIES.get((method, path), {})
            r = client.request(method, url, json=body)
            assert r.status_code == (401 if need else 403), (method, path, r.text)
            if need:
                assert r.headers["www-authenticate"].startswith("Bearer"), (method, path)
                lower = _role_below(need)
                if lower is not None:
                    r = client.request(method, url, json=body, headers=below[lower])
                    assert r.status_code == 403, (method, path, lower, r.text)
                    assert need.label in r.json()["detail"]
            checked += 1
    assert checked >= 9
    # the tokens made for the walk are the only change, made before it
    assert _state(walked) == before


def test_the_walk_covers_the_routes_the_table_names(walked: Walked) -> None:
    """Every mutating row of the table that the app serves is among the walked routes."""
    walked_routes = {(m.upper(), p) for m, p in _mutating_routes(walked.app)}
    served = {(m, p) for m, p in ROUTES if m in ("POST", "PUT", "PATCH", "DELETE")}
    present = served & walked_routes
    assert ("POST", "/api/alarms/{alarm_id}/ack") in present
    assert ("POST", "/api/transfers") in present
    assert ("DELETE", "/api/tokens/{token_id}") in present


def test_a_mutating_route_missing_from_the_table_is_403_for_everybody(walked: Walked) -> None:
    called: list[str] = []

    @walked.app.post("/api/forgotten")
    async def forgotten() -> dict[str, str]:
        called.append("yes")
        return {"done": "yes"}

    @walked.app.delete("/elsewhere/{thing}")
    async def elsewhere(thing: str) -> dict[str, str]:
        called.append(thing)
        return {"done": thing}

    admin = bearer(walked.accounts, Role.ADMIN)
    with TestClient(walked.app) as client:
        for headers in ({}, admin):
            assert client.post("/api/forgotten", headers=headers).status_code == 403
            assert client.delete("/elsewhere/x", headers=headers).status_code == 403
        assert ("post", "/api/forgotten") in _mutating_routes(walked.app)
    assert called == []


def test_every_read_of_the_api_needs_a_viewer_but_health_and_the_page_are_open(
    walked: Walked,
) -> None:
    with TestClient(walked.app) as client:
        paths = client.get("/openapi.json").json()["paths"]
        reads = [p for p, ops in paths.items() if "get" in ops and p.startswith("/api/")]
        assert len(reads) >= 8, reads
        viewer = bearer(walked.accounts, Role.VIEWER)
        for path in reads:
            url = _url(path, walked.params)
            r = client.get(url)
            if path == "/api/health":
                assert r.status_code == 200
                continue
            assert r.status_code == 401, (path, r.status_code)
            need = required_role("GET", path)
            assert isinstance(need, Role)
            if need > Role.VIEWER:
                assert client.get(url, headers=viewer).status_code == 403, path
        for open_path in ("/", "/static/app.js", "/openapi.json", "/docs"):
            assert client.get(open_path).status_code == 200, open_path

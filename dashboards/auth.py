"""Who may call what: the route -> role table, enforced for every route of the app.

`authorize` is an app-level dependency (create_app installs it), so it runs before every
route's own code, including routes added later. It finds the matched route in `ROUTES`:
- a route in the table needs its role (None: open to all);
- a GET (or HEAD) under /api that is not in it needs a viewer; outside /api (the page,
  its assets, the API docs) it is open;
- any other method (POST, PUT, PATCH, DELETE) that is not in it is refused, 403 to
  everybody: a new mutating route cannot forget to say who may call it.
Without credentials the answer is 401 (with `WWW-Authenticate: Bearer`), with the wrong
role 403, both before the route's body runs, so nothing changes.

Credentials: `Authorization: Bearer <token>` (machines; revocable) or the session cookie
that `POST /api/login` sets (the page). A mutating request authenticated by the cookie
must also carry the session's CSRF token in `X-CSRF-Token` and, when the browser sends
an `Origin`, come from this server (SameSite=Strict keeps the cookie off other sites'
requests already; the token and the origin check hold where SameSite does not).

Routes use `acting_user` to learn who acts and from where (`Actor.name`, `.where`).
"""

from __future__ import annotations

import secrets
from collections import deque
from dataclasses import dataclass, field
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, HTTPException, Request

from hazardwatch.storage.accounts import Accounts, Role, User
from hazardwatch.vocabulary.clock import Clock, SystemClock

SESSION_COOKIE = "hw_session"
CSRF_HEADER = "X-CSRF-Token"
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

VIEWER, OPERATOR, ENGINEER, ADMIN = Role.VIEWER, Role.OPERATOR, Role.ENGINEER, Role.ADMIN

ROUTES: dict[tuple[str, str], Role | None] = {
    # (method, path as the route declares it) -> the least role, None: open
    ("GET", "/api/health"): None,  # monitoring
    ("POST", "/api/login"): None,
    ("POST", "/api/logout"): VIEWER,
    ("GET", "/api/me"): VIEWER,
    # alarms (operator actions)
    ("POST", "/api/alarms/{alarm_id}/ack"): OPERATOR,
    ("POST", "/api/alarms/{alarm_id}/shelve"): OPERATOR,
    ("POST", "/api/alarms/{alarm_id}/unshelve"): OPERATOR,
    ("POST", "/api/alarms/{alarm_id}/reset"): OPERATOR,
    ("POST", "/api/alarms/{alarm_id}/dispose"): OPERATOR,
    ("POST", "/api/alarms/{alarm_id}/close"): OPERATOR,
    # mutes (engineer)
    ("POST", "/api/units/{unit}/maintenance"): ENGINEER,
    ("POST", "/api/sensors/{tag}/out-of-service"): ENGINEER,
    # transfer plans
    ("POST", "/api/transfers"): OPERATOR,
    ("POST", "/api/transfers/{transfer_id}/close"): OPERATOR,
    # limits as audited data, back-tests (engineer)
    ("POST", "/api/limits/{tag}"): ENGINEER,
    ("POST", "/api/limits/{tag}/rollback"): ENGINEER,
    ("POST", "/api/backtests"): ENGINEER,
    # audit, users, tokens
    ("GET", "/api/audit"): ENGINEER,
    ("GET", "/api/users"): ADMIN,
    ("POST", "/api/users"): ADMIN,
    ("PATCH", "/api/users/{name}"): ADMIN,
    ("DELETE", "/api/users/{name}"): ADMIN,
    ("GET", "/api/users/{name}/tokens"): ADMIN,
    ("POST", "/api/users/{name}/tokens"): ADMIN,
    ("DELETE", "/api/tokens/{token_id}"): ADMIN,
}
"""One row per route that is not a plain read. Adding a mutating route means adding its
row here; until then it answers 403 (tests/unit/test_route_roles.py walks the API)."""


def required_role(method: str, path: str) -> Role | bool | None:
    """The least role `method path` needs: a Role, None (open) or False (refused to all).

    >>> required_role("GET", "/api/alarms"), required_role("GET", "/static/app.js")
    (<Role.VIEWER: 1>, None)
    >>> required_role("POST", "/api/alarms/{alarm_id}/ack"), required_role("POST", "/api/x")
    (<Role.OPERATOR: 2>, False)
    """
    key = ("GET" if method == "HEAD" else method, path)
    if key in ROUTES:
        return ROUTES[key]
    if method in READ_METHODS:
        return VIEWER if path == "/api" or path.startswith("/api/") else None
    return False


@dataclass(frozen=True)
class Actor:
    """Who acts, and from which address (None when unknown): for the journal's who/where."""

    user: User
    where: str | None

    @property
    def name(self) -> str:
        return self.user.name

    @property
    def role(self) -> Role:
        return self.user.role


@dataclass
class LoginLimiter:
    """Failed logins per key (a user name, an address): `limit` in `window_s` -> wait.

    Every attempt counts as a failure until it succeeds (`forgive`), so attempts that run
    at the same time cannot all slip under the limit.

    >>> from hazardwatch.vocabulary.clock import FakeClock
    >>> lim = LoginLimiter(limit=2, window_s=60, clock=FakeClock(0))
    >>> [lim.attempt(["u:a"]) for _ in range(3)]
    [(None, 0.0), (None, 0.0), (60.0, None)]
    """

    limit: int = 5
    window_s: float = 300.0
    clock: Clock = field(default_factory=SystemClock)
    max_keys: int = 100_000  # memory bound under a spray of names or addresses
    _failures: dict[str, deque[float]] = field(default_factory=dict)

    def _prune(self, key: str, now: float) -> deque[float]:
        q = self._failures.get(key)
        if q is None:
            return deque()
        while q and q[0] <= now - self.window_s:
            q.popleft()
        if not q:
            del self._failures[key]
        return q

    def attempt(self, keys: list[str]) -> tuple[float | None, float | None]:
        """(seconds to wait, None) when any key is over its limit; else (None, stamp)
        with the attempt counted against every key."""
        now = self.clock.now()
        wait = 0.0
        for key in keys:
            q = self._prune(key, now)
            if len(q) >= self.limit:
                wait = max(wait, q[0] + self.window_s - now)
        if wait > 0:
            return wait, None
        if len(self._failures) > self.max_keys:
            self._failures.clear()
        for key in keys:
            self._failures.setdefault(key, deque()).append(now)
        return None, now

    def forgive(self, keys: list[str], stamp: float) -> None:
        """The attempt made at `stamp` succeeded: it no longer counts."""
        for key in keys:
            q = self._failures.get(key)
            if q is not None and stamp in q:
                q.remove(stamp)


def _client(request: Request) -> str | None:
    return request.client.host if request.client else None


def _unauthorized(why: str) -> HTTPException:
    return HTTPException(401, why, headers={"WWW-Authenticate": 'Bearer realm="hazardwatch"'})


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    if origin is None:
        return True  # not a browser's cross-site request: those always carry Origin
    host = request.headers.get("host", "")
    return urlsplit(origin).netloc.lower() == host.lower()


def _authenticate(request: Request, accounts: Accounts, mutating: bool) -> User | None:
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _unauthorized("expected Authorization: Bearer <token>")
        user = accounts.token_user(token.strip())
        if user is None:
            raise _unauthorized("unknown or revoked token")
        return user
    sid = request.cookies.get(SESSION_COOKIE)
    if sid is None:
        return None
    found = accounts.session(sid)
    if found is None:
        raise _unauthorized("session expired or ended: log in again")
    user, csrf = found
    if mutating:
        sent = request.headers.get(CSRF_HEADER, "")
        if not secrets.compare_digest(sent.encode(), csrf.encode()):
            raise HTTPException(403, f"missing or wrong {CSRF_HEADER} header")
    return user


async def authorize(request: Request) -> None:
    """The app-level dependency: refuse before the route runs unless its role is met."""
    route = request.scope.get("route")
    path = getattr(route, "path", request.url.path)
    method = request.method
    need = required_role(method, path)
    if need is False:
        raise HTTPException(403, f"{method} {path} is not open to any role")
    mutating = method not in READ_METHODS
    if mutating and not _same_origin(request):
        raise HTTPException(403, "cross-origin request refused")
    if need is None:
        return
    accounts: Accounts = request.app.state.accounts
    user = _authenticate(request, accounts, mutating)
    if user is None:
        raise _unauthorized("log in, or send Authorization: Bearer <token>")
    if user.role < need:
        raise HTTPException(
            403, f"{method} {path} needs the {need.label} role; {user.name} is {user.role.label}"
        )
    request.state.actor = Actor(user, _client(request))


def acting_user(request: Request) -> Actor:
    """Who calls this route (set by `authorize`); use as `actor: ActingUser`."""
    actor = getattr(request.state, "actor", None)
    if actor is None:  # an open route asked for a user: it should not be open
        raise _unauthorized("log in, or send Authorization: Bearer <token>")
    return actor


ActingUser = Annotated[Actor, Depends(acting_user)]

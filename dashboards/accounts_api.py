"""REST for accounts: log in and out, who am I, users and tokens (admin), the audit.

POST   /api/login                   {name, password} -> session cookie + CSRF token
POST   /api/logout                  ends the session
GET    /api/me                      the caller (and the session's CSRF token)
GET    /api/users                   users (admin)
POST   /api/users                   add one (admin); a generated password if none is given
PATCH  /api/users/{name}            role, password, disabled (admin)
DELETE /api/users/{name}            disable (admin): the name stays in the audit
GET    /api/users/{name}/tokens     their bearer tokens, without the secrets (admin)
POST   /api/users/{name}/tokens     issue one: the token is in this answer only (admin)
DELETE /api/tokens/{token_id}       revoke (admin)
GET    /api/audit                   logins, failures, user and token changes, the alarm
                                    journal's operator actions and the other sources the
                                    wiring adds (limit changes), newest first (engineer)
Who may call which is in dashboards.auth.ROUTES.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from dashboards.auth import CSRF_HEADER, SESSION_COOKIE, ActingUser, LoginLimiter
from dashboards.schemas import ErrorOut
from dashboards.view import ServiceView
from hazardwatch.storage.accounts import (
    SESSION_S,
    AccountError,
    AccountNotFound,
    Accounts,
    Role,
    new_password,
)

_Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
_Password = Annotated[str, StringConstraints(min_length=1, max_length=1024)]
UserName = Annotated[str, PathParam(min_length=1, max_length=64, description="User name")]
TokenId = Annotated[int, PathParam(ge=1, le=2**63 - 1, description="Token id")]
RoleName = Annotated[str, Field(pattern="^(viewer|operator|engineer|admin)$")]


class LoginIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: _Name
    password: _Password


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: _Name
    role: RoleName
    password: _Password | None = Field(None, description="Omitted: one is generated")


class UserChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: RoleName | None = None
    password: _Password | None = None
    disabled: bool | None = Field(None, description="true disables; a disabled user stays so")


class MeOut(BaseModel):
    name: str
    role: str
    csrf: str | None = Field(None, description=f"Send as {CSRF_HEADER} on mutating requests")


# More of the audit, kept where it happens (the limit versions): rows at or before a time,
# newest first, at most so many, each with source, seq, ts, action, who, where, subject and
# detail. The wiring lists them in `app.state.audit_sources`; nothing is written twice.
AuditSource = Callable[[int, float | None], list[dict[str, Any]]]
AUDIT_SOURCES = "audit_sources"


def audit_sources(request: Request) -> Sequence[AuditSource]:
    """The audit sources the wiring added to the app (none by default)."""
    return getattr(request.app.state, AUDIT_SOURCES, ())


_TOO_MANY = {429: {"model": ErrorOut, "description": "Too many failed logins: see Retry-After"}}
_NO_USER = {404: {"model": ErrorOut, "description": "No such user or token"}}


def _where(request: Request) -> str | None:
    return request.client.host if request.client else None


def _refused(exc: AccountError) -> HTTPException:
    return HTTPException(404 if isinstance(exc, AccountNotFound) else 409, str(exc))


def accounts_router(view: ServiceView) -> APIRouter:
    """The account routes; the audit adds the operator actions of `view`'s alarm journal."""
    router = APIRouter(prefix="/api", tags=["accounts"])

    def accounts_of(request: Request) -> Accounts:
        return request.app.state.accounts

    @router.post(
        "/login",
        summary="Log in: sets the session cookie, answers the CSRF token",
        responses={401: {"model": ErrorOut, "description": "Wrong name or password"}, **_TOO_MANY},
    )
    async def login(body: LoginIn, request: Request, response: Response) -> MeOut:
        accounts = accounts_of(request)
        limiter: LoginLimiter = request.app.state.limiter
        where = _where(request)
        keys = [f"user:{body.name}", f"addr:{where}"]
        wait, stamp = limiter.attempt(keys)
        if wait is not None:
            accounts.record("login_refused", body.name, where, detail="rate limited")
            raise HTTPException(
                429,
                "too many failed logins: try again later",
                headers={"Retry-After": str(math.ceil(wait))},
            )
        # argon2 takes tens of milliseconds on purpose: not on the event loop
        user = await asyncio.to_thread(accounts.verify, body.name, body.password)
        if user is None:
            accounts.record("login_failed", body.name, where)
            raise HTTPException(401, "wrong name or password")
        assert stamp is not None
        limiter.forgive(keys, stamp)
        sid, csrf = accounts.open_session(user, where=where)
        response.set_cookie(
            SESSION_COOKIE,
            sid,
            max_age=int(SESSION_S),
            path="/",
            secure=request.url.scheme == "https",
            httponly=True,
            samesite="strict",
        )
        return MeOut(name=user.name, role=user.role.label, csrf=csrf)

    @router.post("/logout", status_code=204, summary="End this session")
    async def logout(request: Request, actor: ActingUser) -> Response:
        sid = request.cookies.get(SESSION_COOKIE)
        if sid is not None:
            accounts_of(request).close_session(sid, actor.user, where=actor.where)
        response = Response(status_code=204)
        response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
        return response

    @router.get("/me", summary="Who is calling, with the session's CSRF token")
    async def me(request: Request, actor: ActingUser) -> MeOut:
        csrf = None
        sid = request.cookies.get(SESSION_COOKIE)
        if sid is not None and "authorization" not in request.headers:
            found = accounts_of(request).session(sid)
            csrf = None if found is None else found[1]
        return MeOut(name=actor.name, role=actor.role.label, csrf=csrf)

    @router.get("/users", summary="Users (admin)")
    async def list_users(request: Request) -> dict[str, Any]:
        return {"users": accounts_of(request).users()}

    @router.post(
        "/users",
        status_code=201,
        summary="Add a user (admin)",
        responses={409: {"model": ErrorOut, "description": "The name is taken"}},
    )
    async def add_user(body: UserIn, request: Request, actor: ActingUser) -> dict[str, Any]:
        password = body.password or new_password()
        try:
            await asyncio.to_thread(
                accounts_of(request).add_user,
                body.name,
                Role.parse(body.role),
                password,
                by=actor.name,
                where=actor.where,
            )
        except AccountError as exc:
            raise _refused(exc) from None
        out: dict[str, Any] = {"name": body.name, "role": body.role}
        if body.password is None:
            out["password"] = password  # shown once
        return out

    @router.patch(
        "/users/{name}",
        summary="Change a user's role, password or state (admin)",
        responses=_NO_USER,
    )
    async def change_user(
        name: UserName, body: UserChange, request: Request, actor: ActingUser
    ) -> dict[str, Any]:
        accounts = accounts_of(request)
        who = {"by": actor.name, "where": actor.where}
        if not any(u["name"] == name for u in accounts.users()):
            raise HTTPException(404, f"no user {name!r}")
        try:
            if body.role is not None:
                accounts.set_role(name, Role.parse(body.role), **who)
            if body.password is not None:
                await asyncio.to_thread(accounts.set_password, name, body.password, **who)
            if body.disabled:
                accounts.disable(name, **who)
        except AccountError as exc:
            raise _refused(exc) from None
        (found,) = [u for u in accounts.users() if u["name"] == name]
        return found

    @router.delete(
        "/users/{name}", status_code=204, summary="Disable a user (admin)", responses=_NO_USER
    )
    async def disable_user(name: UserName, request: Request, actor: ActingUser) -> Response:
        try:
            accounts_of(request).disable(name, by=actor.name, where=actor.where)
        except AccountError as exc:
            raise _refused(exc) from None
        return Response(status_code=204)

    @router.get("/users/{name}/tokens", summary="A user's tokens, without secrets (admin)")
    async def list_tokens(name: UserName, request: Request) -> dict[str, Any]:
        return {"tokens": accounts_of(request).tokens(name)}

    @router.post(
        "/users/{name}/tokens",
        status_code=201,
        responses=_NO_USER,
        summary="Issue a bearer token; it is shown in this answer only (admin)",
    )
    async def issue_token(name: UserName, request: Request, actor: ActingUser) -> dict[str, Any]:
        try:
            token_id, token = accounts_of(request).issue_token(
                name, by=actor.name, where=actor.where
            )
        except AccountError as exc:
            raise _refused(exc) from None
        return {"id": token_id, "user": name, "token": token}

    @router.delete(
        "/tokens/{token_id}", status_code=204, summary="Revoke a token (admin)", responses=_NO_USER
    )
    async def revoke_token(token_id: TokenId, request: Request, actor: ActingUser) -> Response:
        try:
            accounts_of(request).revoke_token(token_id, by=actor.name, where=actor.where)
        except AccountError as exc:
            raise _refused(exc) from None
        return Response(status_code=204)

    @router.get("/audit", summary="Audit trail, newest first (engineer)")
    async def audit(
        request: Request,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        before_ts: Annotated[
            float | None,
            Query(allow_inf_nan=False, description="Page on: the `next` of the page before"),
        ] = None,
        skip: Annotated[int, Query(ge=0, le=100_000, description="With before_ts")] = 0,
    ) -> dict[str, Any]:
        """Rows at or before `before_ts`, leaving out the first `skip` of those at exactly
        `before_ts` (already on earlier pages): rows of the same time are never lost."""
        want = limit + skip + 1  # one more than the page: is there a next one?
        rows = [r.to_dict() for r in accounts_of(request).audit(limit=want, before_ts=before_ts)]
        journal = view.alarms.operator_actions(want, before_ts)
        rows += [{"source": "journal", **a} for a in journal]
        for source in audit_sources(request):
            rows += source(want, before_ts)
        rows.sort(key=lambda r: (-r["ts"], r["source"], -r["seq"]))
        page = rows[skip if before_ts is not None else 0 :][:limit]
        if len(rows) < want or not page:
            return {"audit": page, "next": None}
        last = page[-1]["ts"]
        same = sum(r["ts"] == last for r in page)
        if before_ts is not None and last == before_ts:
            same += skip
        return {"audit": page, "next": {"before_ts": last, "skip": same}}

    return router

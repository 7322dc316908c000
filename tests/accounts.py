"""Accounts for tests: a cheap argon2 cost, and users with bearer tokens in one call."""

from __future__ import annotations

from pathlib import Path

from argon2 import PasswordHasher

from hazardwatch.storage.accounts import Accounts, Role
from hazardwatch.vocabulary.clock import Clock

# argon2's smallest sane cost: the tests check behaviour, not the hash's strength
CHEAP = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
PASSWORD = "correct horse battery staple"


def make_accounts(path: Path, clock: Clock | None = None) -> Accounts:
    return Accounts(path, hasher=CHEAP, clock=clock)


def bearer(accounts: Accounts, role: Role, name: str | None = None) -> dict[str, str]:
    """Headers of a new user of `role` (named after it unless `name`) holding a token."""
    name = name or f"{role.label}-user"
    if accounts.user(name) is None:
        accounts.add_user(name, role, PASSWORD)
    _, token = accounts.issue_token(name)
    return {"Authorization": f"Bearer {token}"}

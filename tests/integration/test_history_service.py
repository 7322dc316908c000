"""The service stores readings in the BlockStore by default and serves their history."""

from __future__ import annotations

import asyncio
import warnings
from pathlib import Path

import numpy as np
import pytest

with warnings.catch_warnings():
    # Starlette asks for `httpx2` (not installed here); the `httpx` it falls back to works.
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

from hazardwatch.shell.service import Service, Settings, Stored
from hazardwatch.storage import BlockStore
from hazardwatch.storage.accounts import Role
from hazardwatch.vocabulary.config import parse_site
from hazardwatch.vocabulary.model import Batch
from ingest import Receipt
from tests.accounts import bearer
from tests.e2e.harness import E2E_SITE

pytestmark = pytest.mark.integration

T0 = 1_763_800_020.0


def test_stored_readings_come_back_through_the_history_api(tmp_path: Path) -> None:
    svc = Service(parse_site(E2E_SITE, "e2e.yaml"), Settings(data_dir=tmp_path / "data"))
    n = svc.table.n
    k = np.arange(600 * n)  # ten minutes of every sensor at 1 Hz

    async def store_all() -> None:
        queue: asyncio.Queue[Stored | None] = asyncio.Queue()
        loop = asyncio.create_task(svc._store_loop(queue))
        for part in np.array_split(k, 6):
            await queue.put((Batch.of(part % n, T0 + part // n, part * 1.0), Receipt()))
        await queue.put(None)
        await asyncio.wait_for(loop, 30)

    try:
        assert isinstance(svc.store, BlockStore)
        asyncio.run(store_all())
        tag = svc.table.tags[1]
        with TestClient(svc.app, base_url="http://127.0.0.1") as client:
            r = client.get(
                "/api/history",
                params={"tags": [tag], "since": T0, "until": T0 + 599, "points": 10},
                headers=bearer(svc.accounts, Role.VIEWER),
            )
        assert r.status_code == 200, r.text
        (s,) = r.json()["series"]
        assert s["bucket_s"] == 60.0 and s["count"] == [60] * 10
        assert s["min"][0] == 1.0 and s["max"][-1] == (599 * n + 1) * 1.0
    finally:
        svc.close()
    assert (tmp_path / "data" / "readings" / "log").is_dir()

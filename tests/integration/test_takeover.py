"""Two ingest sessions with one MQTT client id on a real mosquitto: each takes the session
from the other; both notice, back off, say why (naming --client-id), and the survivor
clears once the other is gone."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ingest import DeadLetter, Decoder, IngestCounters, Ingestor
from tests.brokers import Mosquitto
from tests.unit.test_decode import make_table
from tests.waiting import until

pytestmark = pytest.mark.integration

PAUSE_S = 0.2  # the first wait once taken over, doubling up to 1 s
YOUNG_S = 4.0  # a connection that lives this long is ours again


@contextlib.asynccontextmanager
async def session(url: str, path: Path, client_id: str) -> AsyncIterator[Ingestor]:
    """An Ingestor with its own dead letter and counters, its stream consumed in a task."""
    with DeadLetter(path) as dead:
        ingestor = Ingestor(
            url,
            Decoder(make_table()),
            dead,
            IngestCounters(),
            client_id=client_id,
            backoff_initial_s=0.05,
            takeover_young_s=YOUNG_S,
            takeover_pause_initial_s=PAUSE_S,
            takeover_pause_max_s=1.0,
        )
        async with ingestor:

            async def consume() -> None:
                async for _ in ingestor.stream():
                    pass

            task = asyncio.create_task(consume())
            try:
                yield ingestor
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task


async def test_two_sessions_with_one_client_id_back_off_and_name_the_fix(
    mosquitto: Mosquitto, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    async with session(mosquitto.url, tmp_path / "a.jsonl", "hw-twin") as a:
        await until(lambda: a.connected, "the first session to connect")
        async with session(mosquitto.url, tmp_path / "b.jsonl", "hw-twin") as b:
            await until(
                lambda: a.takeovers.streak >= 5 and b.takeovers.streak >= 5,
                "both sessions to see the session taken over",
                timeout_s=60,
            )
            for ingestor in (a, b):
                why = ingestor.takeovers.taken_over(ingestor.clock.now())
                assert why is not None and "--client-id" in why and "'hw-twin'" in why
                assert ingestor.counters.session_takeovers >= 5
                # backing off: once taken over, reconnections are at least a pause apart
                times = list(ingestor._reconnected_at)[-3:]
                gaps = [t1 - t0 for t0, t1 in itertools.pairwise(times)]
                assert gaps and min(gaps) >= PAUSE_S, gaps
        # the error names the cause and the fix; nothing else went wrong (asyncio included)
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert errors and all(r.name == "ingest.takeover" for r in errors), errors
        assert all("give each service its own --client-id" in r.getMessage() for r in errors)

        # the other is gone: a's connection lives, and the session is its own again
        await until(
            lambda: a.connected and a.takeovers.taken_over(a.clock.now()) is None,
            "the session to be ours again",
            timeout_s=30,
        )

"""The acknowledgement path on a real mosquitto (issue 18): a round of messages is made safe
by one append while its alarms are judged and journalled, and only then acknowledged; a
round is half the broker's window, so the broker refills while it commits; a quiet link does
not hold a reading for the whole batching wait; the live channel does not wait for the
reading store."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as paho
import pytest

from hazardwatch.shell.service import Service, Settings
from hazardwatch.storage import InfluxSettings
from hazardwatch.storage.spool import read_records
from hazardwatch.vocabulary.config import parse_site
from hazardwatch.vocabulary.model import Batch, Condition
from tests.brokers import Mosquitto, free_port, publisher
from tests.e2e.harness import E2E_SITE
from tests.integration.test_ingest_mqtt import NOW, js, publish_all, rig, take
from tests.waiting import until

pytestmark = pytest.mark.integration

GAS = "e1-T1-GT"  # gas: no on-delay, so one reading above level 2 raises at once
LEVELS = ("e1-T1-LT", "e1-T2-LT", "e1-S1-LT")


async def test_a_round_is_half_the_window_so_the_broker_refills_while_it_commits(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """With a window of 20 and rounds of 10, 40 messages come out as four rounds of 10
    (before: two of 20, the broker idle while each was made safe)."""
    messages = [("hw/ent1/TT-101", js({"v": float(i), "ts": NOW - 100 + i})) for i in range(40)]
    with publisher(mosquitto.url) as pub:
        async with rig(
            mosquitto.url, tmp_path, manual_ack=True, ack_window=20, round_messages=10
        ) as r:
            await asyncio.to_thread(publish_all, pub, messages)
            got = await take(r.ingestor, 40, max_rows=10_000, max_wait_s=5.0, timeout_s=20)
    assert [len(b) for b in got] == [10] * 4


async def test_a_quiet_link_flushes_a_reading_after_the_gap_not_the_whole_wait(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """One message, a wait of 60 s and a gap of 5 ms: it comes out long before the wait."""
    with publisher(mosquitto.url) as pub:
        async with rig(mosquitto.url, tmp_path, manual_ack=True) as r:
            await asyncio.to_thread(publish_all, pub, [("hw/ent1/TT-101", js({"v": 1.0}))])
            items = r.ingestor.receipted(10_000, max_wait_s=60.0, max_gap_s=0.005)
            async with asyncio.timeout(20), contextlib.aclosing(items) as items:
                item, receipt = await anext(items)
                receipt.done()
    assert isinstance(item, Batch) and len(item) == 1


def rows_on_disk(readings: Path) -> int:
    """Readings in the BlockStore's logs as a crash would find them (no compaction runs
    in this test: its logs hold far fewer than a block's rows)."""
    return sum(
        sum(len(b) for b in read_records(log.read_bytes())[0])
        for log in (readings / "log").glob("*.log")
    )


@contextlib.asynccontextmanager
async def running(svc: Service) -> Any:
    stop = asyncio.Event()
    task = asyncio.create_task(svc.run(stop, serve_http=False))
    try:
        await until(lambda: svc._health()["broker"]["connected"], "the service's connection")
        yield task
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


def batch_message(i: int, ts: float, gas: float) -> bytes:
    """Message i: three level readings and the gas detector's reading."""
    rows: list[list[Any]] = [[tag, 5.0 + 0.01 * i] for tag in LEVELS]
    rows.append([GAS, gas])
    return orjson.dumps({"ts": ts, "r": rows})


async def test_the_messages_of_a_round_are_on_disk_and_its_alarms_journalled_before_a_puback(
    mosquitto: Mosquitto, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """40 messages of 4 readings, a window of 20: at every PUBACK the service sends, the
    readings of that message and of all before it are in the store's fsynced log, the gas
    alarm that message 25 raised is journalled before its PUBACK leaves, and no message is
    acknowledged twice."""
    settings = Settings(
        broker_url=mosquitto.url,
        data_dir=tmp_path / "data",
        client_id=f"hw-commit-{mosquitto.port}",
        checkpoint_interval_s=0,
        judge_silence=False,
        ack_window=20,  # rounds of 10 messages
        max_batch_wait_s=5.0,
        max_batch_gap_s=5.0,  # a round waits for its ten, however they trickle in
    )
    svc = Service(parse_site(E2E_SITE, "e2e.yaml"), settings)
    readings = settings.data_dir / "readings"
    acked: list[tuple[int, int, int]] = []  # (mid, rows on disk, journalled events) at the ack
    real_ack = paho.Client.ack

    def spy(client: paho.Client, mid: int, qos: int) -> Any:
        acked.append((mid, rows_on_disk(readings), svc.journal.last_seq()))
        return real_ack(client, mid, qos)

    monkeypatch.setattr(paho.Client, "ack", spy)
    now = time.time()
    messages = [
        ("hw/e1/_batch/gw1", batch_message(i, now + i * 0.01, 60.0 if i == 25 else 1.0))
        for i in range(40)
    ]
    async with running(svc):
        with publisher(mosquitto.url, "gw1") as gw:
            await asyncio.to_thread(publish_all, gw, messages)
        await until(lambda: len(acked) >= 40, "40 acknowledgements")
        events = svc.journal.events_after(0)
        gas = [
            e
            for e in events
            if e.alarm.tag == GAS
            and e.alarm.condition in (Condition.GAS1, Condition.GAS2)
            and e.event.value == "activate"
        ]
    # stopped: every acknowledgement it would ever send (a repeat too) has been sent
    assert len(acked) == 40 and len({mid for mid, _, _ in acked}) == 40
    for i, (_, on_disk, _) in enumerate(acked):
        assert on_disk >= 4 * (i + 1), f"PUBACK {i} left with {on_disk} readings on disk"
    assert acked[0][1] >= 4 * 10  # the first round's ten messages, before its first PUBACK
    assert gas and max(e.seq for e in gas) <= acked[25][2]  # journalled before its PUBACK
    assert svc.counters.readings_accepted == 160


async def test_the_live_channel_carries_an_alarm_while_the_store_is_down(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """The reading store refuses every write (nothing listens at its URL): the reading is
    spooled, its message acknowledged, and its alarm is on the live channel all the same."""
    settings = Settings(
        broker_url=mosquitto.url,
        data_dir=tmp_path / "data",
        client_id=f"hw-live-{mosquitto.port}",
        checkpoint_interval_s=0,
        judge_silence=False,
        store="influx",
        influx=InfluxSettings(url=f"http://127.0.0.1:{free_port()}", timeout_s=2.0),
        store_backoff_s=30.0,
    )
    svc = Service(parse_site(E2E_SITE, "e2e.yaml"), settings)
    heard: list[dict[str, Any]] = []
    async with running(svc), svc.hub.subscribe() as live:
        with publisher(mosquitto.url, "gw1") as gw:
            message = [("hw/e1/_batch/gw1", batch_message(0, time.time(), 60.0))]
            await asyncio.to_thread(publish_all, gw, message)
        async with asyncio.timeout(20):
            while not any(m.get("type") == "alarm" for m in heard):
                event = await live.receive(20)
                assert event is not None, "the live channel ended"
                heard.append(event)
        await until(lambda: svc.writer.stats.spooled == 4, "the four readings spooled")
        await until(lambda: svc._ingestor is not None and svc._ingestor.acks.sent == 1, "PUBACK")
        assert svc.writer.stats.errors >= 1 and svc.writer.stats.written == 0
    alarm = next(m for m in heard if m.get("type") == "alarm")
    assert alarm["alarm"]["tag"] == GAS and alarm["event"] == "activate"

"""Ingest against a real mosquitto: interleaved bad input, broker restart, persistent session."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import numpy as np
import orjson
import paho.mqtt.client as paho
import pytest

from hazardwatch.vocabulary.clock import FakeClock
from hazardwatch.vocabulary.model import Batch
from ingest import (
    DeadLetter,
    Decoder,
    GatewayStatus,
    IngestCounters,
    IngestError,
    Ingestor,
    Reason,
)
from tests.brokers import Mosquitto, free_port, publisher
from tests.unit.test_decode import LT101, LT201, NOW, PT101, TT101, make_table

pytestmark = pytest.mark.integration

TABLE = make_table()


def publish_all(client: paho.Client, messages: list[tuple[str, bytes]]) -> None:
    infos = [client.publish(topic, payload, qos=1) for topic, payload in messages]
    for info in infos:
        info.wait_for_publish(timeout=5)
        assert info.is_published()


class Rig:
    """An Ingestor on the test broker with its dead letter, counters and fake clock."""

    def __init__(self, url: str, tmp_path: Path, client_id: str = "hw-ingest-test", **kw: object):
        self.deadletter = DeadLetter(tmp_path / "deadletter.jsonl")
        self.counters = IngestCounters()
        self.ingestor = Ingestor(
            url,
            Decoder(TABLE),
            self.deadletter,
            self.counters,
            client_id=client_id,
            clock=FakeClock(NOW),
            backoff_initial_s=0.05,
            backoff_max_s=0.5,
            connect_timeout_s=2.0,
            **kw,  # type: ignore[arg-type]
        )

    def dead(self) -> list[dict[str, object]]:
        return [orjson.loads(x) for x in self.deadletter.path.read_bytes().splitlines()]


@contextlib.asynccontextmanager
async def rig(url: str, tmp_path: Path, **kw: object) -> AsyncIterator[Rig]:
    r = Rig(url, tmp_path, **kw)
    try:
        async with r.ingestor:
            yield r
    finally:
        r.deadletter.close()


async def collect(
    ingestor: Ingestor, readings: int, statuses: int = 0, timeout_s: float = 10.0
) -> tuple[Batch, list[Batch | GatewayStatus]]:
    """Consume stream() until `readings` readings and `statuses` statuses have come out."""
    items: list[Batch | GatewayStatus] = []
    got = seen = 0
    async with (
        asyncio.timeout(timeout_s),
        contextlib.aclosing(ingestor.stream(max_rows=50, max_wait_s=0.02)) as stream,
    ):
        async for item in stream:
            items.append(item)
            if isinstance(item, Batch):
                assert len(item) > 0
                got += len(item)
            else:
                seen += 1
            if got >= readings and seen >= statuses:
                break
    return Batch.concat([b for b in items if isinstance(b, Batch)]), items


async def eventually(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    """Wait until `condition()` holds, polling; fail after `timeout_s`."""
    for _ in range(int(timeout_s / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"condition not met within {timeout_s} s")


def rows_of(batch: Batch) -> set[tuple[int, float, float]]:
    return set(zip(batch.sensor.tolist(), batch.ts.tolist(), batch.value.tolist(), strict=True))


def js(obj: object) -> bytes:
    return json.dumps(obj).encode()


# ------------------------------------------------------------------ tests


async def test_good_readings_come_out_and_bad_ones_go_to_the_dead_letter(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    good: list[tuple[str, bytes]] = []
    expected: set[tuple[int, float, float]] = set()
    bad: list[tuple[str, bytes, str]] = []
    for i in range(20):
        ts = NOW - 100 + i
        good.append(("hw/ent1/LT-101", js({"v": float(i), "ts": ts})))
        expected.add((LT101, ts, float(i)))
        rows = [["TT-101", 20.0 + i], ["PT-101", 100.0 + i, ts + 0.5], ["NOPE", 1.0]]
        good.append(("hw/ent1/_batch/gw1", js({"ts": ts, "r": rows})))
        expected |= {(TT101, ts, 20.0 + i), (PT101, ts + 0.5, 100.0 + i)}
    bad_messages = [
        ("hw/ent1/LT-101", b'{"v": 1.0', "malformed_json"),
        ("hw/ent1/LT-999", b'{"v": 1.0}', "unknown_tag"),
        ("hw/ent1/LT-201", b'{"v": 1.0}', "wrong_enterprise"),
        ("hw/ent1/TT-101", b'{"v": "hot"}', "wrong_type"),
        ("hw/ent1/TT-101", b'{"v": 1, "ts": 9999999999}', "ts_future"),
        ("hw/ent1/_batch/gw7", js({"r": [["LT-101", 1.0]]}), "unknown_gateway"),
        ("hw/ent1/TT-101", b"\xff\xfe\x00", "malformed_json"),
    ]
    bad.extend(bad_messages)
    messages: list[tuple[str, bytes]] = []
    for i, msg in enumerate(good):  # interleave: a bad message after every fifth good one
        messages.append(msg)
        if i % 5 == 4 and bad_messages:
            topic, payload, _ = bad_messages.pop(0)
            messages.append((topic, payload))
    messages.append(("hw/ent2/_batch/gwA", js({"ts": NOW, "r": [["LT-201", 7.0]]})))
    expected.add((LT201, NOW, 7.0))

    async with rig(mosquitto.url, tmp_path) as r:
        assert r.ingestor.connected
        with publisher(mosquitto.url) as pub:
            await asyncio.to_thread(publish_all, pub, messages)
            batch, items = await collect(r.ingestor, len(expected))
        assert rows_of(batch) == expected
        assert len(batch) == len(expected)  # nothing twice
        for b in items:  # every flushed batch is in time order
            assert isinstance(b, Batch) and np.all(np.diff(b.ts) >= 0)

        dead = r.dead()
        got = sorted((d["topic"], d["reason"]) for d in dead if d["row"] is None)
        assert got == sorted((t, reason) for t, _, reason in bad)
        # the unknown tag inside each gateway batch is a row rejection, the row kept
        rows = [d for d in dead if d["row"] is not None]
        assert len(rows) == 20
        assert {(d["reason"], d["row"], d["payload"]) for d in rows} == {
            ("unknown_tag", 2, '["NOPE",1.0]')
        }
        undecodable = [d for d in dead if str(d["payload"]).startswith("base64:")]
        assert len(undecodable) == 1

        snap = r.counters.snapshot()
        assert snap["messages_received"] == len(messages)
        assert snap["readings_accepted"] == len(expected)
        assert snap["rejected"]["unknown_tag"] == 21
        assert snap["rejected"]["malformed_json"] == 2
        assert snap["rejected_total"] == len(dead)


async def test_status_flushes_pending_readings_first_and_last_will_says_offline(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    async with rig(mosquitto.url, tmp_path) as r:
        with publisher(mosquitto.url, "gateway-A", will="hw/ent2/_status/gwA") as gw:
            await asyncio.to_thread(
                publish_all,
                gw,
                [
                    ("hw/ent2/LT-201", js({"v": 1.0, "ts": NOW})),
                    ("hw/ent2/_status/gwA", b"online"),
                ],
            )
            _, items = await collect(r.ingestor, readings=1, statuses=1)
            assert isinstance(items[0], Batch) and items[0].sensor.tolist() == [LT201]
            assert items[1] == GatewayStatus("ent2", "gwA", True, NOW)
            # the gateway dies without a DISCONNECT: the broker publishes its will
            sock = gw.socket()
            assert isinstance(sock, socket.socket)
            sock.shutdown(socket.SHUT_RDWR)
            _, items = await collect(r.ingestor, readings=0, statuses=1)
            assert items == [GatewayStatus("ent2", "gwA", False, NOW)]
        assert r.counters.snapshot()["gateway_status"] == {"online": 1, "offline": 1}


async def test_reconnects_after_broker_restart_and_later_readings_arrive(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    async with rig(mosquitto.url, tmp_path) as r:
        with publisher(mosquitto.url, "pub-1") as pub:
            await asyncio.to_thread(
                publish_all, pub, [("hw/ent1/LT-101", js({"v": 1.0, "ts": NOW - 10}))]
            )
            before, _ = await collect(r.ingestor, 1)
        assert rows_of(before) == {(LT101, NOW - 10, 1.0)}

        await asyncio.to_thread(mosquitto.restart)
        consumer = asyncio.ensure_future(collect(r.ingestor, 5))
        # publish once we are back: whatever the broker did with the session, these count
        await eventually(lambda: r.counters.reconnects >= 1 and r.ingestor.connected)
        with publisher(mosquitto.url, "pub-2") as pub:
            later = [("hw/ent1/TT-101", js({"v": float(i), "ts": NOW - 5 + i})) for i in range(5)]
            await asyncio.to_thread(publish_all, pub, later)
            after, _ = await consumer
        assert rows_of(after) == {(TT101, NOW - 5 + i, float(i)) for i in range(5)}
        assert r.ingestor.connected
        assert r.counters.reconnects >= 1


async def test_persistent_session_delivers_what_was_published_while_down(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    async with rig(mosquitto.url, tmp_path / "a", client_id="hw-persist") as r:
        assert r.ingestor.connected  # the broker now holds our QoS 1 subscription
    assert not r.ingestor.connected

    missed = [("hw/ent1/PT-101", js({"v": float(i), "ts": NOW - 20 + i})) for i in range(10)]
    with publisher(mosquitto.url) as pub:
        await asyncio.to_thread(publish_all, pub, missed)

    async with rig(mosquitto.url, tmp_path / "b", client_id="hw-persist") as r:
        batch, _ = await collect(r.ingestor, 10)
    assert rows_of(batch) == {(PT101, NOW - 20 + i, float(i)) for i in range(10)}


async def take(
    ingestor: Ingestor,
    readings: int,
    *,
    done: bool = True,
    max_rows: int = 7,
    max_wait_s: float = 0.02,
    timeout_s: float = 10.0,
) -> list[Batch]:
    """The batches receipted() gives until `readings` readings came; their receipts marked
    done or left."""
    got: list[Batch] = []
    async with (
        asyncio.timeout(timeout_s),
        contextlib.aclosing(ingestor.receipted(max_rows, max_wait_s=max_wait_s)) as items,
    ):
        async for item, receipt in items:
            assert isinstance(item, Batch)
            got.append(item)
            if done:
                receipt.done()
            if sum(len(b) for b in got) >= readings:
                break
    return got


async def receive(
    ingestor: Ingestor, readings: int, *, done: bool, timeout_s: float = 10.0
) -> Batch:
    """Take `readings` readings from receipted(); mark their receipts done or leave them."""
    return Batch.concat(await take(ingestor, readings, done=done, timeout_s=timeout_s))


async def test_a_message_is_acknowledged_only_when_its_readings_are_done(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """What a crashed consumer never marked done comes again. (That what it did mark done
    reaches the broker is shown by the window test below: mosquitto sends past its
    in-flight limit only as acknowledgements arrive. A redelivery of an acknowledged
    message is still allowed by QoS 1, and the stores keep one copy.)"""
    first = [("hw/ent1/LT-101", js({"v": float(i), "ts": NOW - 30 + i})) for i in range(20)]
    want = {(LT101, NOW - 30 + i, float(i)) for i in range(20)}
    with publisher(mosquitto.url) as pub:
        async with rig(mosquitto.url, tmp_path / "a", client_id="hw-acks", manual_ack=True) as r:
            await asyncio.to_thread(publish_all, pub, first)
            assert rows_of(await receive(r.ingestor, 20, done=False)) == want
            assert r.ingestor.acks.sent == 0 and r.ingestor.acks.outstanding == 20
        # Gone without marking anything done: every message comes again.
        async with rig(mosquitto.url, tmp_path / "b", client_id="hw-acks", manual_ack=True) as r:
            assert rows_of(await receive(r.ingestor, 20, done=True)) == want
            await eventually(lambda: r.ingestor.acks.sent >= 20 and not r.ingestor.acks.outstanding)


async def test_the_ack_window_flushes_readings_before_the_broker_stops_sending(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """A window of 10 flushes every 10 messages, long before the batch's row or time limit
    (mosquitto alone would stop at its in-flight limit of 20 until the 1 s wait ran out),
    and the rest follow as they are done: all 90 come through a broker that sends at most
    20 unacknowledged, so the acknowledgements reach it."""
    messages = [("hw/ent1/TT-101", js({"v": float(i), "ts": NOW - 100 + i})) for i in range(90)]
    with publisher(mosquitto.url) as pub:
        async with rig(mosquitto.url, tmp_path, manual_ack=True, ack_window=10) as r:
            await asyncio.to_thread(publish_all, pub, messages)
            got = await take(r.ingestor, 90, max_rows=10_000, max_wait_s=1.0)
    assert [len(b) for b in got] == [10] * 9


async def test_fail_fast_raises_when_no_broker_answers(tmp_path: Path) -> None:
    url = f"mqtt://127.0.0.1:{free_port()}"
    r = Rig(url, tmp_path, fail_fast=True)
    r.ingestor.connect_timeout_s = 0.3
    try:
        async with asyncio.timeout(10):
            with pytest.raises(IngestError, match="cannot connect to MQTT broker"):
                async with r.ingestor:
                    pass
    finally:
        r.deadletter.close()
    assert r.counters.connect_failures >= 2  # it retried with backoff inside the window


async def test_without_fail_fast_it_waits_for_the_broker_to_come(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    mosquitto.stop()
    async with rig(mosquitto.url, tmp_path) as r:
        assert not r.ingestor.connected
        consumer = asyncio.ensure_future(collect(r.ingestor, 1))
        await asyncio.sleep(0.2)  # a few refused attempts
        assert not consumer.done()
        await asyncio.to_thread(mosquitto.start)
        await eventually(lambda: r.ingestor.connected)
        with publisher(mosquitto.url) as pub:
            await asyncio.to_thread(
                publish_all, pub, [("hw/ent1/LT-101", js({"v": 2.0, "ts": NOW}))]
            )
            batch, _ = await consumer
        assert rows_of(batch) == {(LT101, NOW, 2.0)}
        assert r.counters.connect_failures >= 2
        assert r.counters.reconnects == 0  # the first successful connection is not a reconnect


async def test_decoder_rejections_never_stop_the_stream(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    async with rig(mosquitto.url, tmp_path) as r:
        with publisher(mosquitto.url) as pub:
            junk = [("hw/ent1/LT-101", bytes([i]) * 7) for i in range(0, 256, 8)]
            last = ("hw/ent1/LT-101", js({"v": 3.0, "ts": NOW}))
            await asyncio.to_thread(publish_all, pub, [*junk, last])
            batch, _ = await collect(r.ingestor, 1)
        assert rows_of(batch) == {(LT101, NOW, 3.0)}
        assert r.counters.rejected_total == len(junk)  # b"8888888" is JSON, of the wrong type
        assert r.counters.rejected_by_reason[Reason.WRONG_TYPE] == 1
        assert r.counters.rejected_by_reason[Reason.INTERNAL_ERROR] == 0

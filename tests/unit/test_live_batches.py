"""The live channel writes a burst of alarm events in one chunk, not one write per event
(issue 18: at 100 k readings/s the stream's socket writes were 6 % of the event loop)."""

from __future__ import annotations

from dashboards.api import _event_stream
from dashboards.live import Hub


async def test_receive_many_takes_the_event_and_every_one_queued_behind_it() -> None:
    hub = Hub()
    async with hub.subscribe() as sub:
        for i in range(3):
            hub.publish({"type": "alarm", "n": i})
        assert [e["n"] for e in await sub.receive_many(1.0)] == [0, 1, 2]
        hub.publish({"type": "alarm", "n": 3})
        hub.publish({"type": "alarm", "n": 4})
        assert [e["n"] for e in await sub.receive_many(1.0, limit=1)] == [3]
        assert [e["n"] for e in await sub.receive_many(1.0)] == [4]
        assert await sub.receive_many(0.01) == []


async def test_the_stream_sends_the_events_queued_meanwhile_in_one_chunk() -> None:
    hub = Hub()
    stream = _event_stream(hub, heartbeat_s=15.0)
    try:
        assert await anext(stream) == b"retry: 3000\n\n"  # subscribed now
        for i in range(3):
            hub.publish({"type": "alarm", "n": i})
        chunk = await anext(stream)
        assert chunk == b"".join(b'data: {"type":"alarm","n":%d}\n\n' % i for i in range(3))
    finally:
        await stream.aclose()

"""The live channel: an in-process broadcast hub feeding every Server-Sent-Events client.

The service publishes plain JSON-ready dicts; each subscriber owns a bounded queue, so a
slow browser loses old events (and is told to re-fetch) instead of slowing the service.

>>> alarm_free = risk_message("hs1", "blue"); alarm_free["type"], alarm_free["colour"]
('risk', 'blue')
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from types import TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable

    from alerting import AlarmEvent, ColourChange

RESYNC: dict[str, Any] = {"type": "resync"}
"""Sent in place of the events a slow subscriber lost: the client must re-fetch its state."""


def alarm_message(event: AlarmEvent) -> dict[str, Any]:
    """The live message for one alarm transition: `{"type": "alarm", **event.to_dict()}`."""
    return {"type": "alarm", **event.to_dict()}


def risk_message(hazard_source: str, colour: str) -> dict[str, Any]:
    """The live message for a hazard source whose risk colour is now `colour`."""
    return {"type": "risk", "hazard_source": hazard_source, "colour": str(colour)}


class HubNotifier:
    """The live channel as a notifier of the alarm pipeline (alerting.pipeline): pushes
    the journalled transitions, then the risk colour changes they caused."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    def notify(self, events: Iterable[AlarmEvent], colours: Iterable[ColourChange]) -> None:
        for event in events:
            self.hub.publish(alarm_message(event))
        for change in colours:
            self.hub.publish(risk_message(change.hazard_source, change.new))


class Subscription:
    """One subscriber's bounded queue; use as `async with hub.subscribe() as sub`.

    Touched only from the event loop it was created on; other threads go through
    `call_soon_threadsafe` (see `Hub.publish`).
    """

    def __init__(self, hub: Hub, maxsize: int) -> None:
        self._hub = hub
        self._maxsize = maxsize
        self._queue: deque[dict[str, Any]] = deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = 0
        self._wake: asyncio.Event | None = None
        self._closed = False
        self.dropped = 0

    async def __aenter__(self) -> Subscription:
        if self._loop is not None:
            raise RuntimeError("a Subscription is not re-entrant")
        self._loop = asyncio.get_running_loop()
        self._thread = threading.get_ident()
        self._wake = asyncio.Event()
        if not self._hub._attach(self):
            self._closed = True
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._hub._detach(self)
        self._closed = True

    @property
    def closed(self) -> bool:
        """The hub closed (or the subscription ended) and nothing is left to deliver."""
        return self._closed and not self._queue

    async def receive(self, timeout_s: float | None = None) -> dict[str, Any] | None:
        """The next event; None after `timeout_s` with nothing to send, or once `closed`."""
        assert self._wake is not None, "use `async with hub.subscribe() as sub`"
        if not self._queue and not self._closed:
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout_s)
            except TimeoutError:
                return None
        return self._queue.popleft() if self._queue else None

    async def receive_many(
        self, timeout_s: float | None = None, limit: int = 1000
    ) -> list[dict[str, Any]]:
        """The next event and every one queued behind it (up to `limit`), so a stream
        writes a burst in one go instead of one socket write per event; empty after
        `timeout_s` with nothing to send, or once `closed`."""
        first = await self.receive(timeout_s)
        if first is None:
            return []
        events = [first]
        while self._queue and len(events) < limit:
            events.append(self._queue.popleft())
        return events

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> dict[str, Any]:
        event = await self.receive()
        if event is None:
            raise StopAsyncIteration
        return event

    # ------------------------------------------------------------ hub side

    def _offer(self, event: dict[str, Any]) -> None:
        """Queue `event` from any thread."""
        if threading.get_ident() == self._thread:
            self._push(event)
            return
        assert self._loop is not None
        try:
            self._loop.call_soon_threadsafe(self._push, event)
        except RuntimeError:
            # The subscriber's loop is closed: it is gone and will detach itself.
            pass

    def _push(self, event: dict[str, Any]) -> None:
        if self._closed:
            return
        if len(self._queue) >= self._maxsize:
            # The client re-fetches on RESYNC, so the queued events are worthless to it.
            self.dropped += len(self._queue)
            self._hub._count_dropped(len(self._queue))
            self._queue.clear()
            self._queue.append(RESYNC)
        self._queue.append(event)
        assert self._wake is not None
        self._wake.set()

    def _end(self) -> None:
        """Stop after what is queued (from any thread)."""
        if threading.get_ident() == self._thread:
            self._close_here()
            return
        assert self._loop is not None
        try:
            self._loop.call_soon_threadsafe(self._close_here)
        except RuntimeError:
            pass

    def _close_here(self) -> None:
        self._closed = True
        assert self._wake is not None
        self._wake.set()


class Hub:
    """Broadcasts events to any number of subscribers, each with a queue of `maxsize`.

    `publish` may be called from any thread: from the subscriber's own event loop it
    queues at once, from elsewhere it hands over with `call_soon_threadsafe`. `close()`
    ends every subscription (call it before stopping the web server, so open streams do
    not hold up its shutdown); later subscriptions end at once.
    """

    def __init__(self, maxsize: int = 1000) -> None:
        if maxsize < 1:
            raise ValueError(f"maxsize must be at least 1, got {maxsize}")
        self.maxsize = maxsize
        self._lock = threading.Lock()
        self._subs: set[Subscription] = set()
        self._closed = False
        self._published = 0
        self._dropped = 0

    def subscribe(self) -> Subscription:
        """A new subscription; enter it with `async with` to start receiving."""
        return Subscription(self, self.maxsize)

    def publish(self, event: dict[str, Any]) -> None:
        """Send `event` (a JSON-ready dict with a "type") to every current subscriber."""
        with self._lock:
            subs = list(self._subs)
            self._published += 1
        for sub in subs:
            sub._offer(event)

    def publish_threadsafe(self, loop: asyncio.AbstractEventLoop, event: dict[str, Any]) -> None:
        """Publish from a foreign thread on `loop` (kept for callers that own a loop)."""
        loop.call_soon_threadsafe(self.publish, event)

    def close(self) -> None:
        """End every subscription after what it has queued; refuse new ones."""
        with self._lock:
            self._closed = True
            subs = list(self._subs)
        for sub in subs:
            sub._end()

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def subscribers(self) -> int:
        with self._lock:
            return len(self._subs)

    def stats(self) -> dict[str, Any]:
        """JSON-ready counters for the health endpoint."""
        with self._lock:
            return {
                "subscribers": len(self._subs),
                "published": self._published,
                "dropped": self._dropped,
                "closed": self._closed,
            }

    # ---------------------------------------------------- subscription side

    def _attach(self, sub: Subscription) -> bool:
        with self._lock:
            if self._closed:
                return False
            self._subs.add(sub)
            return True

    def _detach(self, sub: Subscription) -> None:
        with self._lock:
            self._subs.discard(sub)

    def _count_dropped(self, n: int) -> None:
        with self._lock:
            self._dropped += n

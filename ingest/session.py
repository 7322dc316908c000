"""The MQTT session: subscribe, reconnect with backoff, decode, batch, dead-letter, count."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any, Self, cast
from urllib.parse import urlsplit

import aiomqtt

from hazardwatch.vocabulary.clock import Clock, SystemClock
from hazardwatch.vocabulary.model import Batch, HazardWatchError
from ingest.acks import Acks, Receipt
from ingest.batcher import Batcher
from ingest.counters import IngestCounters
from ingest.deadletter import DeadLetter
from ingest.decode import Decoder
from ingest.decoded import Decoded, GatewayStatus, Reply
from ingest.router import Router
from ingest.takeover import Takeovers

log = logging.getLogger(__name__)

_LOST = object()  # the connection dropped while waiting for a message
_GONE = object()  # the sender of a message whose connection has dropped: never acknowledged


class IngestError(HazardWatchError):
    """The ingest session cannot do its job (bad broker URL, refused subscription, ...)."""


def parse_broker_url(url: str) -> tuple[str, int, str | None, str | None]:
    """``mqtt://[user:pass@]host[:port]`` -> (host, port, username, password).

    >>> parse_broker_url("mqtt://127.0.0.1:18830")
    ('127.0.0.1', 18830, None, None)
    """
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "tcp") or not parts.hostname:
        raise IngestError(f"broker URL {url!r} must look like mqtt://HOST:PORT")
    try:
        port = parts.port or 1883
    except ValueError as exc:
        raise IngestError(f"broker URL {url!r}: {exc}") from None
    return parts.hostname, port, parts.username, parts.password


class Ingestor:
    """A persistent QoS 1 MQTT session that yields decoded readings and gateway status.

    ``async with Ingestor(...) as ingest: async for item in ingest.stream(): ...``

    The session is persistent (clean_session=False, fixed `client_id`), so messages
    published while the service was down arrive when it comes back. A lost broker is
    retried forever with exponential backoff (`backoff_initial_s` * `backoff_factor`**n,
    capped at `backoff_max_s`); with `fail_fast`, entering the context raises IngestError
    if the first connection does not succeed within `connect_timeout_s`.

    With `manual_ack` (what the service uses), a message is acknowledged to the broker
    only when the consumer of `receipted()` says what it carried is safe (ingest.acks):
    until then the broker keeps it, and a crash costs a redelivery, never a reading. At
    most `ack_window` messages wait for that (set it no higher than the broker's in-flight
    limit, mosquitto's max_inflight_messages, 20 by default): pending readings are flushed
    when the window is full, or once they carry `round_messages` messages (default: the
    window). A round of half the window lets the broker send the other half while the
    first is made safe, instead of both waiting on each other. Without `manual_ack`, paho
    acknowledges each message on receipt.
    """

    def __init__(
        self,
        broker_url: str,
        decoder: Decoder | Router,
        deadletter: DeadLetter,
        counters: IngestCounters,
        client_id: str,
        topics: list[str] | None = None,
        clock: Clock | None = None,
        *,
        qos: int = 1,
        connect_timeout_s: float = 5.0,
        fail_fast: bool = False,
        backoff_initial_s: float = 0.5,
        backoff_factor: float = 2.0,
        backoff_max_s: float = 10.0,
        keepalive_s: int = 15,
        manual_ack: bool = False,
        ack_window: int = 20,
        round_messages: int | None = None,
        takeover_young_s: float = 120.0,
        takeover_after: int = 3,
        takeover_pause_initial_s: float = 1.0,
        takeover_pause_max_s: float = 60.0,
    ) -> None:
        self.broker_url = broker_url
        self._host, self._port, self._username, self._password = parse_broker_url(broker_url)
        self.decoder = decoder
        self.deadletter = deadletter
        self.counters = counters
        self.client_id = client_id
        if topics:
            self.topics = list(topics)
        elif isinstance(decoder, Router):  # every input that is on
            self.topics = decoder.topics()
        else:
            self.topics = [f"{decoder.root_topic}/#"]
        self.clock: Clock = clock or SystemClock()
        self.qos = qos
        self.connect_timeout_s = connect_timeout_s
        self.fail_fast = fail_fast
        self.backoff_initial_s = backoff_initial_s
        self.backoff_factor = backoff_factor
        self.backoff_max_s = backoff_max_s
        self.keepalive_s = keepalive_s
        self.manual_ack = manual_ack
        self.ack_window = max(1, int(ack_window))
        self.round_messages = max(1, min(int(round_messages or ack_window), self.ack_window))
        self.acks = Acks()
        self.takeovers = Takeovers(
            client_id,
            broker_url,
            young_s=takeover_young_s,
            after=takeover_after,
            pause_initial_s=takeover_pause_initial_s,
            pause_max_s=takeover_pause_max_s,
        )
        self._stale = 0  # messages in the inbox from a connection that has dropped
        # One inbox shared by every client object of this session: messages the broker
        # already counts as delivered survive a reconnect instead of dying with a client.
        self._inbox: asyncio.Queue[aiomqtt.Message] = asyncio.Queue()
        self._client: aiomqtt.Client | None = None
        self._next_task: asyncio.Future[aiomqtt.Message] | None = None
        self._ever_connected = False
        self._reconnected_at: deque[float] = deque(maxlen=256)  # clock times, newest last
        self._entered = False
        self._streaming = False

    @property
    def backlog(self) -> int:
        """Messages received from the broker and not yet decoded: how far behind we are."""
        return self._inbox.qsize()

    @property
    def connected(self) -> bool:
        """Whether a broker connection with our subscriptions is up (as of the last receive)."""
        return self._client is not None

    def reconnects_within(self, window_s: float) -> int:
        """Reconnections in the last `window_s` seconds of the clock (a storm shows here)."""
        since = self.clock.now() - window_s
        return sum(1 for t in self._reconnected_at if t >= since)

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> Self:
        if self._entered:
            raise IngestError("an Ingestor is not re-entrant")
        self._entered = True
        try:
            if self.fail_fast:
                await self._connect(deadline_s=self.connect_timeout_s)
            else:
                # One early attempt claims the persistent session; stream() keeps trying.
                self._client = await self._attempt()
                if self._client is not None:
                    self._took_session(at_once=True)
        except BaseException:
            self._entered = False
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        task, self._next_task = self._next_task, None
        if task is not None:
            task.cancel()
            # retrieve the outcome, so asyncio does not warn about an unseen MqttError
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await task
        await self._drop_client()
        self._entered = False

    # ------------------------------------------------------------------ connection

    def _inbox_factory(self, maxsize: int = 0) -> asyncio.Queue[aiomqtt.Message]:
        return self._inbox

    async def _attempt(self) -> aiomqtt.Client | None:
        """One connect + subscribe; None (counted and logged) if the broker is not there."""
        client = aiomqtt.Client(
            self._host,
            self._port,
            username=self._username,
            password=self._password,
            identifier=self.client_id,
            clean_session=False,
            keepalive=self.keepalive_s,
            timeout=self.connect_timeout_s,
            queue_type=cast("type[asyncio.Queue[aiomqtt.Message]]", self._inbox_factory),
        )
        paho = client._client  # aiomqtt has no manual acknowledgement of its own: paho has
        if self.manual_ack:
            paho.manual_ack_set(True)
        try:
            await client.__aenter__()
        except aiomqtt.MqttError as exc:
            self.counters.connect_failures += 1
            log.warning("cannot connect to %s: %s", self.broker_url, exc)
            return None
        try:
            granted = await client.subscribe([(t, self.qos) for t in self.topics])
        except aiomqtt.MqttError as exc:
            self.counters.connect_failures += 1
            log.warning("subscribe on %s failed: %s", self.broker_url, exc)
            await self._close(client)
            return None
        refused = [t for t, code in zip(self.topics, granted, strict=False) if _refused(code)]
        if refused:
            await self._close(client)
            raise IngestError(f"broker {self.broker_url} refused the subscription to {refused}")
        if self._ever_connected:
            self.counters.reconnects += 1
            self._reconnected_at.append(self.clock.now())
            log.info("reconnected to %s", self.broker_url)
        self._ever_connected = True
        self.acks.connected(paho if self.manual_ack else None)
        return client

    async def _connect(self, deadline_s: float | None = None) -> None:
        """Try until connected, sleeping with exponential backoff between attempts."""
        loop = asyncio.get_running_loop()
        pause = self.takeovers.pause_s()
        if pause:  # another client takes our session as soon as we have it: let it be
            await asyncio.sleep(pause)
        started = loop.time()
        delay = self.backoff_initial_s
        failed = 0
        while (client := await self._attempt()) is None:
            failed += 1
            wait = delay
            if deadline_s is not None:
                left = deadline_s - (loop.time() - started)
                if left <= 0:
                    raise IngestError(
                        f"cannot connect to MQTT broker {self.broker_url} within {deadline_s:g} s"
                    )
                wait = min(delay, left)
            await asyncio.sleep(wait)
            delay = min(delay * self.backoff_factor, self.backoff_max_s)
        self._client = client
        self._took_session(at_once=not failed)

    def _took_session(self, *, at_once: bool) -> None:
        self.takeovers.connected(self.clock.now(), at_once=at_once)
        self.counters.session_takeovers = self.takeovers.total

    async def _drop_client(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            self.takeovers.lost(self.clock.now())
        # What is still in the inbox came over this connection: never acknowledged, the
        # broker sends it again over the next one.
        self._stale = self._inbox.qsize()
        self.acks.connected(None)
        if client is not None:
            await self._close(client)

    @staticmethod
    async def _close(client: aiomqtt.Client) -> None:
        # Acknowledgements queued last go out before the DISCONNECT that follows them
        # (bounded, and not at all once the connection is gone: a dead socket never drains).
        paho = client._client
        for _ in range(100):
            if client._disconnected.done() or not paho.want_write():
                break
            await asyncio.sleep(0.01)
        # A connection that dropped on its own leaves its error in this future, which
        # aiomqtt's exit does not read: read it whenever it comes (it may come after the
        # exit, when the broker drops a connection that is being closed), or asyncio logs
        # it as never retrieved.
        client._disconnected.add_done_callback(_read_drop)
        try:
            await client.__aexit__(None, None, None)
        except aiomqtt.MqttError as exc:
            log.info("MQTT disconnect was not clean: %s", exc)

    # ------------------------------------------------------------------ messages

    async def _next(self, wait_s: float | None) -> Any:
        """The next message, None on timeout, or _LOST if the connection dropped.

        The waiting task is never cancelled on timeout, so a message it already took
        from the inbox cannot be lost; it is picked up on the next call.
        """
        if self._next_task is None:
            if not self._inbox.empty():
                return self._inbox.get_nowait()
            assert self._client is not None
            self._next_task = asyncio.ensure_future(self._client.messages.__anext__())
        task = self._next_task
        if not task.done():
            done, _ = await asyncio.wait({task}, timeout=wait_s)
            if not done:
                return None
        self._next_task = None
        exc = task.exception()
        if isinstance(exc, aiomqtt.MqttError):
            log.warning("lost MQTT broker %s: %s", self.broker_url, exc)
            return _LOST
        return task.result()

    def _take(self, message: aiomqtt.Message) -> Decoded:
        payload = message.payload
        if not isinstance(payload, bytes | bytearray):
            payload = b"" if payload is None else str(payload).encode()
        received = self.clock.now()
        decoded = self.decoder.decode(message.topic.value, bytes(payload), received)
        self.counters.record(decoded)
        if decoded.rejections or decoded.noted:
            try:
                self.deadletter.write_all([*decoded.rejections, *decoded.noted], received)
            except OSError:
                self.counters.deadletter_errors += 1
                log.exception("cannot write the dead letter %s", self.deadletter.path)
        return decoded

    def _received(self, message: aiomqtt.Message) -> Any:
        """Note the message for acknowledgement: over the live connection, or over one that
        has dropped since (then it is sent again and never acknowledged)."""
        sender: Any = self.acks.live  # None without manual acks: nothing to acknowledge
        if self._stale:
            self._stale -= 1
            sender = _GONE if self.manual_ack else None
        return self.acks.received(sender, message.mid, message.qos)

    async def stream(
        self, max_rows: int = 10_000, max_wait_s: float = 0.05
    ) -> AsyncIterator[Batch | GatewayStatus | Any]:
        """`receipted()` for a consumer that keeps nothing: each item counts as safe once
        yielded (with `manual_ack`, its messages are acknowledged then)."""
        # Closing this generator closes the inner one at once (stream() can be called again).
        async with contextlib.aclosing(self.receipted(max_rows, max_wait_s)) as items:
            async for item, receipt in items:
                receipt.done()
                yield item

    async def receipted(
        self, max_rows: int = 10_000, max_wait_s: float = 0.05, max_gap_s: float | None = None
    ) -> AsyncIterator[tuple[Batch | GatewayStatus | Any, Receipt]]:
        """Yield batches of good readings, gateway status changes and transfer plans (a
        TransferPlan or PlanClosed), in arrival order, each with the Receipt of the messages
        it came from: call its `done()` once the item is safe (stored, journaled).

        Readings of several messages are merged and flushed when `max_rows` are pending,
        `max_wait_s` has passed since the first pending one (or `max_gap_s` since the last
        one with none waiting in the inbox, when given: a quiet link does not hold a reading
        for the whole wait, a busy one still fills its rounds), `round_messages` messages
        carry them, or `ack_window` messages wait for their acknowledgement; pending
        readings are flushed before a status is yielded and before reconnecting. A message
        that carried nothing to keep (every reading rejected and dead-lettered) is done at
        once.
        """
        if not self._entered:
            raise IngestError("use `async with Ingestor(...)` before stream()")
        if self._streaming:
            raise IngestError("stream() is already being consumed")
        self._streaming = True
        try:
            loop = asyncio.get_running_loop()
            batcher = Batcher()
            carried: list[Any] = []  # the messages of the pending readings

            def flushed() -> tuple[Batch, Receipt]:
                nonlocal carried
                out = batcher.flush(), self.acks.receipt(carried)
                carried = []
                return out

            deadline = gap_deadline = 0.0
            while True:
                timeout: float | None = None
                if batcher.rows:
                    full = (
                        batcher.rows >= max_rows
                        or len(carried) >= self.round_messages
                        or self.acks.outstanding >= self.ack_window
                    )
                    now = loop.time()
                    quiet = now >= gap_deadline and self._inbox.empty()
                    if full or quiet or now >= deadline:
                        yield flushed()
                        continue
                    timeout = min(deadline, gap_deadline) - now
                if self._client is None and self._next_task is None and self._inbox.empty():
                    await self._connect()
                item = await self._next(timeout)
                if item is None:
                    continue
                if item is _LOST:
                    if batcher.rows:
                        yield flushed()
                    await self._drop_client()
                    continue
                message = self._received(item)
                decoded = self._take(item)
                if decoded.replies:
                    await self._reply(decoded.replies)
                if len(decoded.batch):
                    if not batcher.rows:
                        deadline = loop.time() + max_wait_s
                    gap_deadline = float("inf") if max_gap_s is None else loop.time() + max_gap_s
                    batcher.add(decoded.batch)
                    carried.append(message)
                control = decoded.status if decoded.status is not None else decoded.plan
                if control is not None:
                    if batcher.rows:
                        yield flushed()
                    yield control, self.acks.receipt([] if len(decoded.batch) else [message])
                elif not len(decoded.batch):
                    self.acks.done([message])  # dead-lettered (written) or empty: nothing to keep
        finally:
            self._streaming = False

    async def _reply(self, replies: tuple[Reply, ...]) -> None:
        """Publish what an input answers (a ThingsBoard gateway's session limits, a Sparkplug
        rebirth request); a lost connection drops it: the gateway asks again on reconnect."""
        client = self._client
        for reply in replies:
            if client is None:
                self.counters.reply_failures += 1
                continue
            try:
                await client.publish(
                    reply.topic, reply.payload, qos=reply.qos, timeout=self.connect_timeout_s
                )
            except aiomqtt.MqttError as exc:
                self.counters.reply_failures += 1
                log.warning("cannot publish the reply on %s: %s", reply.topic, exc)
            else:
                self.counters.replies_sent += 1


def _read_drop(gone: asyncio.Future[Any]) -> None:
    if not gone.cancelled() and gone.exception() is not None:
        log.info("MQTT connection had dropped: %s", gone.exception())


def _refused(code: object) -> bool:
    """A SUBACK code of 0x80 or more means the broker refused that filter."""
    value = getattr(code, "value", code)
    return isinstance(value, int) and value >= 0x80

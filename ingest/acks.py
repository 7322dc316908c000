"""Acknowledging QoS 1 messages to the broker only once what they carried is safe.

The broker keeps a message of a persistent session until the client acknowledges it
(PUBACK); an unacknowledged one is sent again when the client reconnects. So a message is
acknowledged only after its readings are in the reading store (or its spool) and its alarm
transitions in the journal: a kill -9 in between costs a redelivery, never a reading.

Acknowledgements go out in the order the messages arrived (MQTT 3.1.1, 4.6), so a message
done early waits for the ones before it. A message received over a connection that has
since dropped is never acknowledged: the broker sends it again over the new one (its
readings are then stored twice, and the stores keep one copy per sensor and ts).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol


class AckSender(Protocol):
    """What acknowledges a message: paho's Client.ack(mid, qos)."""

    def ack(self, mid: int, qos: int) -> object: ...


@dataclass(eq=False)
class _Message:
    sender: AckSender | None  # None: nothing to acknowledge (QoS 0, or auto-acknowledged)
    mid: int
    qos: int
    done: bool = False


@dataclass(eq=False)
class Receipt:
    """The messages one yielded item came from; `done()` once that item is safe.

    An item made safe by two hands at once (its readings appended by the store's thread
    while its alarm transitions are journalled) takes one `hold()` per extra hand: the
    messages are acknowledged at the last `done()`.

    >>> r = Receipt(); r.hold(); r.done(); r.pending
    1
    >>> r.done(); r.pending
    0
    """

    acks: Acks | None = None
    messages: list[_Message] = field(default_factory=list)
    pending: int = 1  # calls of done() still to come

    def hold(self) -> None:
        """One more hand must call `done()` before the messages are acknowledged."""
        self.pending += 1

    def done(self) -> None:
        self.pending -= 1
        if self.pending == 0 and self.acks is not None:
            self.acks.done(self.messages)


class Acks:
    """The messages received and not yet acknowledged, oldest first."""

    def __init__(self) -> None:
        self._waiting: deque[_Message] = deque()
        self._live: AckSender | None = None  # the connection acknowledgements go over
        self._outstanding = 0  # waiting messages of the live connection
        self.sent = 0  # acknowledgements sent
        self.dropped = 0  # messages of a lost connection: the broker sends them again

    @property
    def live(self) -> AckSender | None:
        """The connection acknowledgements go over (None: none, or no manual acks)."""
        return self._live

    @property
    def outstanding(self) -> int:
        """Messages of the live connection received and not yet acknowledged."""
        return self._outstanding

    def connected(self, sender: AckSender | None) -> None:
        """Acknowledgements go over `sender` from now on (None: no connection)."""
        self._live = sender
        self._outstanding = 0  # no waiting message came over a new connection

    def received(self, sender: AckSender | None, mid: int, qos: int) -> _Message:
        """Note a message received over `sender` (None or QoS 0: nothing to acknowledge)."""
        message = _Message(sender if qos > 0 else None, mid, qos)
        self._waiting.append(message)
        if message.sender is not None and message.sender is self._live:
            self._outstanding += 1
        return message

    def receipt(self, messages: Iterable[_Message]) -> Receipt:
        return Receipt(self, list(messages))

    def done(self, messages: Iterable[_Message]) -> None:
        """These messages are safe: acknowledge every message up to the first that is not."""
        for message in messages:
            message.done = True
        while self._waiting and self._waiting[0].done:
            message = self._waiting.popleft()
            if message.sender is None:
                continue
            if message.sender is not self._live:
                self.dropped += 1
                continue
            message.sender.ack(message.mid, message.qos)
            self._outstanding -= 1
            self.sent += 1

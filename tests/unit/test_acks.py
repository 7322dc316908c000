"""Acknowledgements go out in arrival order, only over the live connection."""

from __future__ import annotations

from ingest import Acks


class Sender:
    def __init__(self) -> None:
        self.acked: list[int] = []

    def ack(self, mid: int, qos: int) -> None:
        assert qos == 1
        self.acked.append(mid)


def test_a_message_done_early_waits_for_the_ones_before_it() -> None:
    acks, live = Acks(), Sender()
    acks.connected(live)
    m1, m2, m3 = (acks.received(live, mid, 1) for mid in (1, 2, 3))
    acks.receipt([m2, m3]).done()
    assert live.acked == [] and acks.outstanding == 3
    acks.receipt([m1]).done()
    assert live.acked == [1, 2, 3] and acks.outstanding == 0 and acks.sent == 3


def test_qos_0_messages_take_no_ack_but_keep_their_place() -> None:
    acks, live = Acks(), Sender()
    acks.connected(live)
    m1, m2 = acks.received(live, 0, 0), acks.received(live, 7, 1)
    assert acks.outstanding == 1
    acks.done([m2])
    assert live.acked == []  # m1 (QoS 0, not done) still holds the line
    acks.done([m1])
    assert live.acked == [7]


def test_messages_of_a_dropped_connection_are_never_acknowledged() -> None:
    acks, old, new = Acks(), Sender(), Sender()
    acks.connected(old)
    stale = acks.received(old, 5, 1)
    acks.connected(new)
    fresh = acks.received(new, 5, 1)  # the broker sends it again, maybe with the same id
    acks.done([stale, fresh])
    assert old.acked == [] and new.acked == [5]
    assert acks.dropped == 1 and acks.sent == 1 and acks.outstanding == 0

"""A gateway batch's tag order is resolved once and remembered (ingest.tag_orders): what a
decoder with a warm memory accepts and rejects is what a fresh decoder does."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from hazardwatch.vocabulary.model import Limits, SensorTable
from ingest import Decoded, Decoder
from ingest.tag_orders import TagOrders
from tests.factories import enterprise, hazard_source, sensor, site, table, unit

NOW = 1_763_800_000.0
TAGS = [f"LT-{i}" for i in range(6)]
TOPIC = "hw/ent1/_batch/gw1"


def make_table() -> SensorTable:
    """ent1 (gateway gw1): LT-0 .. LT-5; ent2 (gateway gw2): PT-9."""
    tanks = [
        enterprise(
            ent,
            hazard_source(
                f"{ent}-hs",
                unit(
                    f"{ent}-T1",
                    *(sensor(t, hi=20.0, limits=Limits(hh=18.0)) for t in tags),
                    gateway=gw,
                ),
            ),
        )
        for ent, gw, tags in (("ent1", "gw1", TAGS), ("ent2", "gw2", ["PT-9"]))
    ]
    return table(site(*tanks))


TABLE = make_table()


def batch(rows: list[list[Any]]) -> bytes:
    return orjson.dumps({"ts": NOW - 1, "r": rows})


def seen(decoded: Decoded) -> tuple[list[str], list[float], list[tuple[str, int | None]]]:
    b = decoded.batch
    names = [TABLE.tags[i] for i in b.sensor.tolist()]
    return names, b.value.tolist(), [(r.reason.value, r.row) for r in decoded.rejections]


def test_a_repeated_tag_order_is_resolved_from_memory() -> None:
    decoder = Decoder(TABLE)
    first = decoder.decode(TOPIC, batch([["LT-3", 1.0], ["LT-1", 2.0], ["LT-4", 3.0]]), NOW)
    again = decoder.decode(TOPIC, batch([["LT-3", 5.0], ["LT-1", 6.0], ["LT-4", 7.0]]), NOW)
    assert seen(first) == (["LT-3", "LT-1", "LT-4"], [1.0, 2.0, 3.0], [])
    assert seen(again) == (["LT-3", "LT-1", "LT-4"], [5.0, 6.0, 7.0], [])
    assert decoder.orders.reused == 1


def test_an_order_that_changes_after_its_first_tag_is_resolved_afresh() -> None:
    decoder = Decoder(TABLE)
    decoder.decode(TOPIC, batch([["LT-3", 1.0], ["LT-1", 2.0]]), NOW)
    other = decoder.decode(TOPIC, batch([["LT-3", 1.0], ["LT-2", 2.0]]), NOW)
    unknown = decoder.decode(TOPIC, batch([["LT-3", 1.0], ["LT-9", 2.0]]), NOW)
    foreign = decoder.decode(TOPIC, batch([["LT-3", 1.0], ["PT-9", 2.0]]), NOW)
    repeat = decoder.decode(TOPIC, batch([["LT-3", 1.0], ["LT-3", 2.0]]), NOW)
    assert seen(other) == (["LT-3", "LT-2"], [1.0, 2.0], [])
    assert seen(unknown) == (["LT-3"], [1.0], [("unknown_tag", 1)])
    assert seen(foreign) == (["LT-3"], [1.0], [("wrong_enterprise", 1)])
    assert seen(repeat) == (["LT-3"], [1.0], [("duplicate", 1)])
    assert decoder.orders.reused == 0


def test_a_remembered_order_hands_out_a_column_of_its_own() -> None:
    decoder = Decoder(TABLE)
    rows = [["LT-0", 1.0], ["LT-5", 2.0]]
    first = decoder.decode(TOPIC, batch(rows), NOW).batch
    first.sensor[:] = 0
    again = decoder.decode(TOPIC, batch(rows), NOW).batch
    assert [TABLE.tags[i] for i in again.sensor.tolist()] == ["LT-0", "LT-5"]
    assert again.sensor.flags.writeable


def test_the_remembered_orders_are_bounded_by_their_rows() -> None:
    orders = TagOrders(("A", "B", "C", "D"), max_rows=4)
    lookup = {"A": 0, "B": 1, "C": 2, "D": 3}
    orders.resolve(lookup, ("A", "B"))
    orders.resolve(lookup, ("C", "D"))
    assert len(orders) == 2
    orders.resolve(lookup, ("B", "A"))  # a fifth row: the memory starts over
    assert len(orders) == 1
    assert orders.resolve(lookup, ("A", "B")) is not None and orders.reused == 0


def test_a_tag_holding_the_separator_is_never_taken_for_two() -> None:
    tags = ("A", "B\x1fC", "D", "B", "C\x1fD", "C")
    orders = TagOrders(tags)
    lookup = {tag: i for i, tag in enumerate(tags)}

    def names(order: tuple[str, ...]) -> list[str]:
        resolved = orders.resolve(lookup, order)
        assert resolved is not None
        return [tags[i] for i in resolved[0].tolist()]

    # the three join alike: A, B, C and D with the separator between each
    for order in [("A", "B\x1fC", "D"), ("A", "B", "C\x1fD"), ("A", "B", "C", "D")]:
        assert names(order) == list(order)
    assert orders.reused == 0


ROW = st.one_of(
    st.tuples(
        st.sampled_from([*TAGS, "PT-9", "XX"]), st.sampled_from([1.0, 2, float("nan"), "3", True])
    ),
    st.tuples(
        st.sampled_from(TAGS), st.sampled_from([1.0, 4.5]), st.sampled_from([NOW - 2, NOW - 3])
    ),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(ROW.map(list), min_size=1, max_size=5), min_size=1, max_size=6))
def test_a_warm_decoder_decodes_as_a_fresh_one(messages: list[list[list[Any]]]) -> None:
    warm = Decoder(TABLE)
    for rows in messages:
        payload = batch(rows)
        assert seen(warm.decode(TOPIC, payload, NOW)) == seen(
            Decoder(TABLE).decode(TOPIC, payload, NOW)
        )

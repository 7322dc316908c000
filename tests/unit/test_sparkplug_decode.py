"""Sparkplug B -> Batch: births with aliases, seq gaps and rebirth, deaths, quality, bad input."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hazardwatch.vocabulary.inputs import SparkplugInput, SparkplugNode
from hazardwatch.vocabulary.model import FLAG_TS_FROM_RECEIPT, Kind, Quality, SensorTable
from ingest import Reason
from ingest.sparkplug import REBIRTH, SparkplugDecoder
from ingest.sparkplug_b_pb2 import Payload
from tests.factories import enterprise, hazard_source, sensor, site, unit

NOW = 1_795_370_790.0
MS = int(NOW * 1000)
DOUBLE, FLOAT, INT32, INT64, BOOLEAN, STRING = 10, 9, 3, 4, 11, 12

NODE = SparkplugNode(
    group="Plant1",
    node="Edge1",
    metrics={"Tank1/Level": "T1-LT"},
    devices={"PLC1": {"Tank1/Temp": "T1-TT", "Gas/LEL": "GT-1"}},
)


@pytest.fixture(scope="module")
def table() -> SensorTable:
    t1 = unit(
        "T1",
        sensor("T1-LT"),
        sensor("T1-TT", Kind.TEMPERATURE, lo=-50),
        sensor("GT-1", Kind.GAS_COMBUSTIBLE, substance="methane"),
    )
    return SensorTable.from_site(site(enterprise("e1", hazard_source("hs1", t1))))


@pytest.fixture
def decoder(table: SensorTable) -> SparkplugDecoder:
    return SparkplugDecoder(table, SparkplugInput((NODE,)))


def payload(*metrics: dict[str, Any], seq: int | None = None, ts: int | None = MS) -> bytes:
    p = Payload()
    if ts is not None:
        p.timestamp = ts
    if seq is not None:
        p.seq = seq
    for m in metrics:
        metric = p.metrics.add()
        for key, value in m.items():
            if key == "quality":
                metric.properties.keys.append("Quality")
                prop = metric.properties.values.add()
                prop.type, prop.int_value = 3, value
            else:
                setattr(metric, key, value)
    return p.SerializeToString()


def nbirth(decoder: SparkplugDecoder, bd_seq: int = 0, level: float = 5.0) -> Any:
    body = payload(
        {"name": "bdSeq", "datatype": INT64, "long_value": bd_seq},
        {"name": REBIRTH, "datatype": BOOLEAN, "boolean_value": False},
        {"name": "Tank1/Level", "alias": 1, "datatype": DOUBLE, "double_value": level},
        seq=0,
    )
    return decoder.decode("spBv1.0/Plant1/NBIRTH/Edge1", body, NOW)


def dbirth(decoder: SparkplugDecoder, seq: int = 1) -> Any:
    body = payload(
        {"name": "Tank1/Temp", "alias": 2, "datatype": FLOAT, "float_value": 21.5},
        {"name": "Gas/LEL", "alias": 3, "datatype": INT32, "int_value": 4},
        seq=seq,
    )
    return decoder.decode("spBv1.0/Plant1/DBIRTH/Edge1/PLC1", body, NOW)


def readings(table: SensorTable, d: Any) -> list[tuple[str, float, float]]:
    b = d.batch
    return [
        (table.tags[i], t, v)
        for i, t, v in zip(b.sensor.tolist(), b.ts.tolist(), b.value.tolist(), strict=True)
    ]


def is_rebirth(reply: Any) -> bool:
    p = Payload.FromString(reply.payload)
    return reply.topic == "spBv1.0/Plant1/NCMD/Edge1" and [
        (m.name, m.boolean_value) for m in p.metrics
    ] == [(REBIRTH, True)]


def test_birth_values_are_readings_and_housekeeping_metrics_are_not_rejected(
    decoder, table
) -> None:
    d = nbirth(decoder)
    assert readings(table, d) == [("T1-LT", NOW, 5.0)] and d.rejections == [] and d.replies == ()


def test_data_by_alias_after_births_with_metric_timestamps(decoder, table) -> None:
    nbirth(decoder)
    dbirth(decoder)
    body = payload(
        {"alias": 2, "float_value": 22.0, "timestamp": MS - 2000},
        {"alias": 3, "int_value": (1 << 32) - 1},  # Int32 -1, two's complement
        seq=2,
    )
    d = decoder.decode("spBv1.0/Plant1/DDATA/Edge1/PLC1", body, NOW)
    assert readings(table, d) == [("T1-TT", NOW - 2.0, 22.0), ("GT-1", NOW, -1.0)]
    assert d.rejections == [] and d.replies == ()
    node = decoder.decode(
        "spBv1.0/Plant1/NDATA/Edge1", payload({"alias": 1, "double_value": 6.5}, seq=3), NOW
    )
    assert readings(table, node) == [("T1-LT", NOW, 6.5)]


def test_a_seq_gap_asks_for_a_rebirth_and_keeps_the_readings(decoder, table) -> None:
    nbirth(decoder)
    d = decoder.decode(
        "spBv1.0/Plant1/NDATA/Edge1", payload({"alias": 1, "double_value": 7.0}, seq=5), NOW
    )
    assert readings(table, d) == [("T1-LT", NOW, 7.0)]
    (reply,) = d.replies
    assert is_rebirth(reply) and reply.qos == 0
    again = decoder.decode(
        "spBv1.0/Plant1/NDATA/Edge1", payload({"alias": 1, "double_value": 7.5}, seq=9), NOW + 1
    )
    assert again.replies == ()  # asked a second ago: not again yet
    later = decoder.decode(
        "spBv1.0/Plant1/NDATA/Edge1", payload({"alias": 1, "double_value": 8.0}, seq=11), NOW + 20
    )
    assert len(later.replies) == 1


def test_seq_wraps_at_255_without_a_rebirth(decoder) -> None:
    nbirth(decoder)
    d = None
    for k in range(1, 260):
        body = payload(
            {"alias": 1, "double_value": float(k), "timestamp": MS - 300_000 + k}, seq=k % 256
        )
        d = decoder.decode("spBv1.0/Plant1/NDATA/Edge1", body, NOW)
        assert d.replies == (), k


def test_data_before_birth_is_rejected_and_asks_for_a_rebirth(decoder) -> None:
    d = decoder.decode(
        "spBv1.0/Plant1/NDATA/Edge1", payload({"alias": 1, "double_value": 7.0}, seq=4), NOW
    )
    assert len(d.batch) == 0 and [r.reason for r in d.rejections] == [Reason.BEFORE_BIRTH]
    (reply,) = d.replies
    assert is_rebirth(reply)
    nbirth(decoder)
    dd = decoder.decode(
        "spBv1.0/Plant1/DDATA/Edge1/PLC1", payload({"alias": 2, "float_value": 1.0}, seq=1), NOW
    )
    assert [r.reason for r in dd.rejections] == [Reason.BEFORE_BIRTH]


def test_ndeath_is_communication_loss_for_the_node_and_its_devices(decoder, table) -> None:
    nbirth(decoder, bd_seq=3)
    dbirth(decoder)
    stale = decoder.decode(
        "spBv1.0/Plant1/NDEATH/Edge1",
        payload({"name": "bdSeq", "datatype": INT64, "long_value": 2}, ts=None),
        NOW,
    )
    assert stale.status is None and stale.ignored == "sparkplug_stale_death"
    d = decoder.decode(
        "spBv1.0/Plant1/NDEATH/Edge1",
        payload({"name": "bdSeq", "datatype": INT64, "long_value": 3}, ts=None),
        NOW,
    )
    assert d.status is not None and not d.status.online
    assert sorted(table.tags[i] for i in d.status.sensors) == ["GT-1", "T1-LT", "T1-TT"]
    after = decoder.decode(
        "spBv1.0/Plant1/NDATA/Edge1", payload({"alias": 1, "double_value": 1.0}, seq=1), NOW
    )
    assert [r.reason for r in after.rejections] == [Reason.BEFORE_BIRTH]


def test_ddeath_is_communication_loss_for_the_device_only(decoder, table) -> None:
    nbirth(decoder)
    dbirth(decoder)
    d = decoder.decode("spBv1.0/Plant1/DDEATH/Edge1/PLC1", payload(seq=2), NOW)
    assert d.status is not None and not d.status.online
    assert sorted(table.tags[i] for i in d.status.sensors) == ["GT-1", "T1-TT"]


def test_quality_property_and_missing_timestamps(decoder, table) -> None:
    nbirth(decoder)
    body = payload(
        {"alias": 1, "double_value": 1.0, "quality": 0, "timestamp": MS - 3000},
        {"alias": 1, "double_value": 2.0, "quality": 64, "timestamp": MS - 2000},
        {"alias": 1, "double_value": 3.0, "quality": 192},
        seq=1,
        ts=None,
    )
    d = decoder.decode("spBv1.0/Plant1/NDATA/Edge1", body, NOW)
    assert d.batch.quality.tolist() == [Quality.BAD, Quality.UNCERTAIN, Quality.GOOD]
    assert d.batch.flags.tolist() == [0, 0, FLAG_TS_FROM_RECEIPT]


def test_bad_metrics_are_rejected_by_reason_and_good_ones_kept(decoder, table) -> None:
    nbirth(decoder)
    body = payload(
        {"alias": 1, "double_value": float("nan"), "timestamp": MS - 4000},
        {"alias": 1, "double_value": 1.0, "timestamp": MS // 1000},  # seconds, not ms
        {"alias": 1, "double_value": 2.0, "timestamp": MS + 3_600_000},
        {"alias": 9, "double_value": 3.0},
        {"name": "Tank9/Level", "datatype": DOUBLE, "double_value": 3.0},
        {"name": "Tank1/Level", "datatype": STRING, "string_value": "full"},
        {"alias": 1, "double_value": 4.0, "timestamp": MS - 1000},
        {"alias": 1, "double_value": 5.0, "timestamp": MS - 1000},
        seq=1,
    )
    d = decoder.decode("spBv1.0/Plant1/NDATA/Edge1", body, NOW)
    assert readings(table, d) == [("T1-LT", NOW - 1.0, 4.0)]
    assert [r.reason for r in d.rejections] == [
        Reason.NOT_FINITE,
        Reason.TS_TOO_OLD,
        Reason.TS_FUTURE,
        Reason.UNKNOWN_METRIC,
        Reason.UNKNOWN_METRIC,
        Reason.WRONG_TYPE,
        Reason.DUPLICATE,
    ]
    assert "seconds instead of milliseconds" in d.rejections[1].detail
    assert len(d.replies) == 1  # an alias its birth never declared: born again


def test_malformed_protobuf_unknown_nodes_and_topics(decoder) -> None:
    bad = decoder.decode("spBv1.0/Plant1/NDATA/Edge1", b"\xff\xff\xff\xff", NOW)
    assert [r.reason for r in bad.rejections] == [Reason.MALFORMED_PROTOBUF]
    stranger = decoder.decode("spBv1.0/Plant1/NBIRTH/Edge9", payload(seq=0), NOW)
    assert [r.reason for r in stranger.rejections] == [Reason.UNKNOWN_DEVICE]
    nbirth(decoder)
    device = decoder.decode("spBv1.0/Plant1/DBIRTH/Edge1/PLC9", payload(seq=1), NOW)
    assert [r.reason for r in device.rejections] == [Reason.UNKNOWN_DEVICE]
    topic = decoder.decode("spBv1.0/Plant1/NDATA", payload(seq=1), NOW)
    assert [r.reason for r in topic.rejections] == [Reason.BAD_TOPIC]
    command = decoder.decode("spBv1.0/Plant1/NCMD/Edge1", payload(), NOW)
    assert command.ignored == "sparkplug_command" and command.rejections == []


def test_subscribes_to_its_groups(decoder) -> None:
    assert decoder.topics() == ["spBv1.0/Plant1/#"]


@settings(max_examples=300, deadline=None)
@given(
    body=st.binary(max_size=120),
    kind=st.sampled_from(["NBIRTH", "NDATA", "NDEATH", "DBIRTH/x", "DDATA", "DDEATH"]),
)
def test_fuzz_random_bytes_never_raise(table, body, kind) -> None:
    decoder = SparkplugDecoder(table, SparkplugInput((NODE,)))
    nbirth(decoder)
    suffix = "Edge1/PLC1" if kind.startswith("D") else "Edge1"
    d = decoder.decode(f"spBv1.0/Plant1/{kind.split('/')[0]}/{suffix}", body, NOW)
    assert all(r.reason is not Reason.INTERNAL_ERROR for r in d.rejections)
    assert all(v == v for v in d.batch.value.tolist())


def test_an_alias_resolves_to_its_births_name_whatever_the_data_calls_it(table) -> None:
    node = SparkplugNode("Plant1", "Edge1", metrics={"DATA/Tank1/Level": "T1-LT"})
    decoder = SparkplugDecoder(table, SparkplugInput((node,)))
    birth = payload(
        {"name": "DATA/Tank1/Level", "alias": 1, "datatype": DOUBLE, "double_value": 2.0},
        {"name": "CMD/Node Control/Rebirth", "datatype": BOOLEAN, "boolean_value": False},
        seq=0,
    )
    assert decoder.decode("spBv1.0/Plant1/NBIRTH/Edge1", birth, NOW).rejections == []
    data = payload({"name": "Tank1/Level", "alias": 1, "double_value": 3.0}, seq=1)
    d = decoder.decode("spBv1.0/Plant1/NDATA/Edge1", data, NOW)
    assert readings(table, d) == [("T1-LT", NOW, 3.0)] and d.rejections == []


_metric = st.fixed_dictionaries(
    {"alias": st.integers(0, 4), "timestamp": st.integers(MS - 10**9, MS + 20_000)},
    optional={
        "double_value": st.floats(allow_nan=True, allow_infinity=True),
        "is_null": st.booleans(),
        "quality": st.sampled_from([0, 64, 192]),
    },
)


@settings(max_examples=200, deadline=None)
@given(metrics=st.lists(_metric, min_size=1, max_size=12))
def test_the_quick_path_equals_the_careful_one(table, metrics) -> None:
    """A whole DATA message taken in bulk (_all_quick) gives what metric by metric gives."""
    node = SparkplugNode("Plant1", "Edge1", metrics={"a": "T1-LT", "b": "T1-TT", "c": "GT-1"})
    answers = []
    for quick in (True, False):
        decoder = SparkplugDecoder(table, SparkplugInput((node,)))
        birth = payload(
            *(
                {"name": n, "alias": k + 1, "datatype": DOUBLE, "double_value": 0.0}
                for k, n in enumerate("abc")
            ),
            seq=0,
        )
        decoder.decode("spBv1.0/Plant1/NBIRTH/Edge1", birth, NOW)
        if not quick:
            decoder._nodes[("Plant1", "Edge1")].quick_value = None
        d = decoder.decode("spBv1.0/Plant1/NDATA/Edge1", payload(*metrics, seq=1), NOW)
        b = d.batch
        answers.append(
            (
                b.sensor.tolist(),
                b.ts.tolist(),
                b.value.tolist(),
                b.quality.tolist(),
                b.flags.tolist(),
                [r.reason for r in d.rejections],
                [n.reason for n in d.noted],
            )
        )
    assert answers[0] == answers[1]


_any_metric = st.fixed_dictionaries(
    {},
    optional={
        "name": st.sampled_from(["Tank1/Level", "Tank1/Temp", "Gas/LEL", "bdSeq", "x", ""]),
        "alias": st.integers(0, 2**64 - 1),
        "timestamp": st.one_of(st.integers(0, 2**64 - 1), st.integers(MS - 10**6, MS + 10**4)),
        "datatype": st.integers(0, 40),
        "is_null": st.booleans(),
        "double_value": st.floats(),
        "float_value": st.floats(width=32),
        "int_value": st.integers(0, 2**32 - 1),
        "long_value": st.integers(0, 2**64 - 1),
        "boolean_value": st.booleans(),
        "string_value": st.text(max_size=3),
        "quality": st.integers(0, 2**32 - 1),
    },
)
_message = st.tuples(
    st.sampled_from(
        [
            "NBIRTH/Edge1",
            "NDATA/Edge1",
            "NDEATH/Edge1",
            "DBIRTH/Edge1/PLC1",
            "DDATA/Edge1/PLC1",
            "DDEATH/Edge1/PLC1",
            "DDATA/Edge1/PLC9",
            "NCMD/Edge1",
        ]
    ),
    st.one_of(st.none(), st.integers(0, 300)),
    st.lists(_any_metric, max_size=6),
)


@settings(max_examples=300, deadline=None)
@given(messages=st.lists(_message, max_size=8))
def test_fuzz_message_sequences_never_raise(table, messages) -> None:
    """Valid protobuf with anything in it, in any order: every reading kept is finite, in the
    window and not repeated; everything else is a rejection with a reason, never a bug."""
    decoder = SparkplugDecoder(table, SparkplugInput((NODE,)))
    for where, seq, metrics in messages:
        d = decoder.decode(f"spBv1.0/Plant1/{where}", payload(*metrics, seq=seq), NOW)
        assert all(r.reason is not Reason.INTERNAL_ERROR for r in d.rejections), d.rejections
        b = d.batch
        assert all(v - v == 0 for v in b.value.tolist())
        assert ((b.ts >= NOW - 7 * 86400) & (b.ts <= NOW + 5)).all()
        pairs = list(zip(b.sensor.tolist(), b.ts.tolist(), strict=True))
        assert len(pairs) == len(set(pairs))

"""ThingsBoard gateway API -> Batch: readings, presence, session limits, bad parts by reason."""

from __future__ import annotations

import math
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hazardwatch.vocabulary.inputs import ThingsBoardGateway, ThingsBoardInput
from hazardwatch.vocabulary.model import FLAG_TS_AHEAD, FLAG_TS_FROM_RECEIPT, Kind, SensorTable
from ingest import IngestCounters, Reason
from ingest.thingsboard import ThingsBoardDecoder
from tests.factories import enterprise, hazard_source, sensor, site, unit

NOW = 1_795_370_790.0
MS = int(NOW * 1000)

GATEWAY = ThingsBoardGateway(
    token="A1_TOKEN",
    name="tb-gw1",
    devices={
        "T-101": {"level": "T1-LT", "temperature": "T1-TT"},
        "T-102": {"level": "T2-LT"},
        "GD-1": {"gas": "GT-1"},
    },
    own={"cpuTemp": "GW-TT"},
)


@pytest.fixture(scope="module")
def table() -> SensorTable:
    t1 = unit("T1", sensor("T1-LT"), sensor("T1-TT", Kind.TEMPERATURE))
    t2 = unit("T2", sensor("T2-LT"), sensor("GT-1", Kind.GAS_COMBUSTIBLE, substance="methane"))
    gw = unit("GW", sensor("GW-TT", Kind.TEMPERATURE))
    return SensorTable.from_site(site(enterprise("e1", hazard_source("hs1", t1, t2, gw))))


@pytest.fixture
def decoder(table: SensorTable) -> ThingsBoardDecoder:
    return ThingsBoardDecoder(table, ThingsBoardInput((GATEWAY,)))


def _tel(decoder: ThingsBoardDecoder, obj: Any, topic: str = "v1/gateway/telemetry") -> Any:
    return decoder.decode(topic, orjson.dumps(obj), NOW)


def _readings(table: SensorTable, d: Any) -> list[tuple[str, float, float]]:
    b = d.batch
    return [
        (table.tags[i], t, v)
        for i, t, v in zip(b.sensor.tolist(), b.ts.tolist(), b.value.tolist(), strict=True)
    ]


def test_gateway_telemetry_of_several_devices_in_milliseconds(decoder, table) -> None:
    d = _tel(
        decoder,
        {
            "T-101": [{"ts": MS, "values": {"level": 9.5, "temperature": 23.4}}],
            "T-102": [{"ts": MS - 1000, "values": {"level": 3}}],
        },
    )
    assert d.rejections == []
    assert _readings(table, d) == [
        ("T1-LT", NOW, 9.5),
        ("T1-TT", NOW, 23.4),
        ("T2-LT", NOW - 1.0, 3.0),
    ]
    assert d.batch.flags.tolist() == [0, 0, 0]


def test_a_long_resent_array_keeps_every_original_ts(decoder, table) -> None:
    entries = [{"ts": MS - 1000 * k, "values": {"level": float(k)}} for k in range(600)]
    d = _tel(decoder, {"T-102": entries})
    assert d.rejections == [] and len(d.batch) == 600
    assert sorted(d.batch.ts.tolist()) == sorted(NOW - k for k in range(600))


def test_unknown_device_and_key_are_rejected_by_reason_and_the_rest_kept(decoder, table) -> None:
    d = _tel(
        decoder,
        {
            "T-999": [{"ts": MS, "values": {"level": 1.0}}],
            "T-101": [{"ts": MS, "values": {"level": 2.0, "humidity": 50}}],
        },
    )
    assert _readings(table, d) == [("T1-LT", NOW, 2.0)]
    assert [r.reason for r in d.rejections] == [Reason.UNKNOWN_DEVICE, Reason.UNKNOWN_METRIC]
    assert "T-999" in d.rejections[0].detail and "humidity" in d.rejections[1].detail
    counters = IngestCounters()
    counters.record(d)
    snap = counters.snapshot()
    assert snap["rejected"]["unknown_device"] == 1 and snap["rejected"]["unknown_metric"] == 1
    assert snap["readings_accepted"] == 1


def test_seconds_where_milliseconds_are_expected_are_too_old(decoder, table) -> None:
    d = _tel(decoder, {"T-101": [{"ts": NOW, "values": {"level": 1.0}}]})
    assert len(d.batch) == 0
    (r,) = d.rejections
    assert r.reason is Reason.TS_TOO_OLD and "seconds instead of milliseconds" in r.detail


def test_future_nan_strings_and_duplicates_each_by_reason(decoder, table) -> None:
    payload = (
        b'{"T-101": [{"ts": %d, "values": {"level": NaN, "temperature": "hot"}},'
        b' {"ts": %d, "values": {"level": 1.0}},'
        b' {"ts": %d, "values": {"level": 2.0}},'
        b' {"ts": %d, "values": {"level": 3.0}}]}' % (MS, MS + 3_600_000, MS - 5000, MS - 5000)
    )
    d = decoder.decode("v1/gateway/telemetry", payload, NOW)
    assert _readings(table, d) == [("T1-LT", NOW - 5.0, 2.0)]
    assert [r.reason for r in d.rejections] == [
        Reason.NOT_FINITE,
        Reason.WRONG_TYPE,
        Reason.TS_FUTURE,
        Reason.DUPLICATE,
    ]


def test_a_reading_a_little_ahead_is_judged_at_receipt_and_noted(decoder, table) -> None:
    d = _tel(decoder, {"T-101": [{"ts": MS + 60_000, "values": {"level": 1.0}}]})
    assert d.batch.ts.tolist() == [NOW] and d.batch.flags.tolist() == [FLAG_TS_AHEAD]
    (note,) = d.noted
    assert note.reason is Reason.TS_AHEAD and orjson.loads(note.payload)[0] == "T1-LT"


def test_an_oversize_array_is_rejected_and_the_other_devices_kept(table) -> None:
    decoder = ThingsBoardDecoder(table, ThingsBoardInput((GATEWAY,)), max_entries=10)
    d = _tel(
        decoder,
        {
            "T-102": [{"ts": MS - k, "values": {"level": 1.0}} for k in range(11)],
            "T-101": [{"ts": MS, "values": {"level": 5.0}}],
        },
    )
    assert _readings(table, d) == [("T1-LT", NOW, 5.0)]
    assert [r.reason for r in d.rejections] == [Reason.OVERSIZE]


def test_device_telemetry_with_and_without_ts(decoder, table) -> None:
    with_ts = _tel(decoder, {"ts": MS, "values": {"cpuTemp": 41.0}}, "v1/devices/me/telemetry")
    assert _readings(table, with_ts) == [("GW-TT", NOW, 41.0)]
    bare = _tel(decoder, {"cpuTemp": 42.0}, "v1/devices/me/telemetry")
    assert _readings(table, bare) == [("GW-TT", NOW, 42.0)]
    assert bare.batch.flags.tolist() == [FLAG_TS_FROM_RECEIPT]
    array = _tel(decoder, [{"ts": MS - 1000, "values": {"cpuTemp": 40}}], "v1/devices/me/telemetry")
    assert _readings(table, array) == [("GW-TT", NOW - 1.0, 40.0)]


def test_the_gateways_own_counters_are_counted_and_ignored(decoder) -> None:
    d = _tel(
        decoder,
        {"ts": MS, "values": {"eventsProduced": 4, "eventsSent": 4}},
        "v1/devices/me/telemetry",
    )
    assert len(d.batch) == 0 and d.rejections == [] and d.ignored == "thingsboard_own"
    counters = IngestCounters()
    counters.record(d)
    assert counters.snapshot()["ignored"] == {"thingsboard_own": 1}


def test_get_session_limits_is_answered_on_the_response_topic(decoder) -> None:
    request = orjson.dumps({"method": "getSessionLimits", "params": {}})
    d = decoder.decode("v1/devices/me/rpc/request/1", request, NOW)
    (reply,) = d.replies
    assert reply.topic == "v1/devices/me/rpc/response/1" and reply.qos == 1
    limits = orjson.loads(reply.payload)
    assert limits["maxPayloadSize"] > 0 and "rateLimits" in limits
    other = decoder.decode("v1/devices/me/rpc/request/2", b'{"method": "x"}', NOW)
    assert other.replies == () and other.ignored == "thingsboard_rpc"


def test_no_gateway_listed_no_answer(table) -> None:
    decoder = ThingsBoardDecoder(table, ThingsBoardInput(()))
    request = orjson.dumps({"method": "getSessionLimits", "params": {}})
    assert decoder.decode("v1/devices/me/rpc/request/1", request, NOW).replies == ()


def test_mounted_gateways_are_told_apart_by_token(table) -> None:
    decoder = ThingsBoardDecoder(table, ThingsBoardInput((GATEWAY,), mount_root="tb"))
    assert "tb/+/v1/gateway/telemetry" in decoder.topics()
    request = orjson.dumps({"method": "getSessionLimits", "params": {}})
    (reply,) = decoder.decode("tb/A1_TOKEN/v1/devices/me/rpc/request/7", request, NOW).replies
    assert reply.topic == "tb/A1_TOKEN/v1/devices/me/rpc/response/7"
    stranger = decoder.decode("tb/OTHER/v1/devices/me/rpc/request/7", request, NOW)
    assert stranger.replies == ()
    assert [r.reason for r in stranger.rejections] == [Reason.UNKNOWN_GATEWAY]
    body = orjson.dumps({"T-101": [{"ts": MS, "values": {"level": 1.0}}]})
    assert len(decoder.decode("tb/A1_TOKEN/v1/gateway/telemetry", body, NOW).batch) == 1


def test_disconnect_takes_its_devices_tags_offline(decoder, table) -> None:
    d = decoder.decode("v1/gateway/disconnect", b'{"device": "T-101"}', NOW)
    assert d.status is not None and not d.status.online
    assert sorted(table.tags[i] for i in d.status.sensors) == ["T1-LT", "T1-TT"]
    up = decoder.decode("v1/gateway/connect", b'{"device": "T-101", "type": "tank"}', NOW)
    assert up.status is not None and up.status.online
    unknown = decoder.decode("v1/gateway/connect", b'{"device": "X"}', NOW)
    assert [r.reason for r in unknown.rejections] == [Reason.UNKNOWN_DEVICE]


def test_oversize_and_malformed_messages_are_rejected_whole(table) -> None:
    decoder = ThingsBoardDecoder(table, ThingsBoardInput((GATEWAY,)), max_payload_bytes=100)
    big = decoder.decode("v1/gateway/telemetry", b"{" + b" " * 200 + b"}", NOW)
    assert [r.reason for r in big.rejections] == [Reason.OVERSIZE]
    bad = decoder.decode("v1/gateway/telemetry", b'{"T-101": [', NOW)
    assert [r.reason for r in bad.rejections] == [Reason.MALFORMED_JSON]


# ------------------------------------------------------------------ fuzz

_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=5),
)
_keys = st.sampled_from(["level", "temperature", "gas", "humidity", "ts", "values"])
_values = st.dictionaries(_keys, _scalar, max_size=4)
_entry = st.one_of(
    st.fixed_dictionaries(
        {"ts": st.one_of(st.integers(MS - 10**10, MS + 10**9), _scalar), "values": _values}
    ),
    _values,
    _scalar,
)
_device = st.sampled_from(["T-101", "T-102", "GD-1", "T-999", ""])
_message = st.dictionaries(_device, st.one_of(st.lists(_entry, max_size=6), _entry), max_size=4)


@settings(max_examples=300, deadline=None)
@given(message=_message)
def test_fuzz_never_raises_and_every_part_is_kept_or_rejected(table, message) -> None:
    decoder = ThingsBoardDecoder(table, ThingsBoardInput((GATEWAY,)))
    payload = _dumps(message)
    d = decoder.decode("v1/gateway/telemetry", payload, NOW)
    assert all(r.reason is not Reason.INTERNAL_ERROR for r in d.rejections)
    assert all(isinstance(r.reason, Reason) for r in d.rejections)
    assert (d.batch.ts >= NOW - 7 * 86400).all() and (d.batch.ts <= NOW + 5).all()
    assert all(math.isfinite(v) for v in d.batch.value.tolist())
    pairs = list(zip(d.batch.sensor.tolist(), d.batch.ts.tolist(), strict=True))
    assert len(pairs) == len(set(pairs))
    unknown = sum(1 for device in message if device in ("T-999", ""))
    assert sum(r.reason is Reason.UNKNOWN_DEVICE for r in d.rejections) == unknown
    # a mapped key with a finite number at a good ts is kept (or is a duplicate)
    for device, entries in message.items():
        keys = GATEWAY.devices.get(device, {})
        for entry in entries if isinstance(entries, list) else [entries]:
            if not (isinstance(entry, dict) and isinstance(entry.get("values"), dict)):
                continue
            ts = entry.get("ts")
            if type(ts) is not int or not MS - 7 * 86400 * 1000 <= ts <= MS + 5000:
                continue
            for key, value in entry["values"].items():
                if key in keys and type(value) in (int, float) and math.isfinite(value):
                    idx = table.tag_index[keys[key]]
                    assert (idx, ts / 1000) in pairs or any(
                        r.reason is Reason.DUPLICATE for r in d.rejections
                    )


@settings(max_examples=200, deadline=None)
@given(payload=st.binary(max_size=200))
def test_fuzz_bytes_never_raise(table, payload) -> None:
    decoder = ThingsBoardDecoder(table, ThingsBoardInput((GATEWAY,)))
    for topic in ("v1/gateway/telemetry", "v1/devices/me/telemetry", "v1/gateway/connect"):
        d = decoder.decode(topic, payload, NOW)
        assert all(r.reason is not Reason.INTERNAL_ERROR for r in d.rejections)


def _dumps(obj: Any) -> bytes:
    import json

    return json.dumps(obj, allow_nan=True).encode()

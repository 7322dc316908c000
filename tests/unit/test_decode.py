"""Wire format v1 decoding: every rejection reason, partial batches, and a fuzz test.

The dead letter and the counters are tested here too, as what happens to a rejection.
"""

from __future__ import annotations

import base64
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hazardwatch.vocabulary.model import (
    FLAG_TS_FROM_RECEIPT,
    Enterprise,
    Limits,
    Quality,
    Responsible,
    SensorTable,
)
from ingest import NOTED, DeadLetter, Decoded, Decoder, IngestCounters, Reason
from tests.factories import enterprise, hazard_source, sensor, site, table, unit

NOW = 1_763_800_000.0


def _enterprise(ent: str, gateway: str, tags: list[str]) -> Enterprise:
    sensors = (sensor(t, hi=20.0, limits=Limits(hh=18.0, h=16.0), deadband=0.5) for t in tags)
    tank = unit(f"{ent}-T1", *sensors, gateway=gateway)
    people = Responsible(main="A", technical="B", operation="C")
    return enterprise(ent, hazard_source(f"{ent}-hs", tank, name="farm", responsible=people))


def make_table() -> SensorTable:
    """ent1 (gateway gw1): LT-101, TT-101, PT-101; ent2 (gateway gwA): LT-201."""
    return table(
        site(
            _enterprise("ent1", "gw1", ["LT-101", "TT-101", "PT-101"]),
            _enterprise("ent2", "gwA", ["LT-201"]),
            park="test park",
        )
    )


TABLE = make_table()
LT101, TT101, PT101, LT201 = (TABLE.tag_index[t] for t in ("LT-101", "TT-101", "PT-101", "LT-201"))


@pytest.fixture
def decoder() -> Decoder:
    return Decoder(TABLE)


def js(obj: Any) -> bytes:
    return json.dumps(obj).encode()


def one(decoded: Decoded) -> tuple[Reason, str]:
    """The single rejection of a message that accepted nothing."""
    assert len(decoded.batch) == 0
    assert len(decoded.rejections) == 1, decoded.rejections
    return decoded.rejections[0].reason, decoded.rejections[0].detail


# ------------------------------------------------------------------ single readings


def test_single_reading_resolves_tag_value_ts_quality(decoder: Decoder) -> None:
    d = decoder.decode("hw/ent1/TT-101", js({"v": 12.5, "ts": NOW - 1, "q": "uncertain"}), NOW)
    assert d.rejections == [] and d.status is None
    b = d.batch
    assert b.sensor.tolist() == [TT101]
    assert b.ts.tolist() == [NOW - 1]
    assert b.value.tolist() == [12.5]
    assert b.quality.tolist() == [Quality.UNCERTAIN]
    assert b.flags.tolist() == [0]
    assert b.sensor.dtype == np.int64 and b.quality.dtype == np.uint8


def test_integer_value_and_default_quality_good(decoder: Decoder) -> None:
    b = decoder.decode("hw/ent1/LT-101", b'{"v": 7, "ts": 1763799990}', NOW).batch
    assert b.value.tolist() == [7.0] and b.quality.tolist() == [Quality.GOOD]


def test_missing_ts_uses_receipt_time_and_flags_it(decoder: Decoder) -> None:
    b = decoder.decode("hw/ent1/LT-101", b'{"v": 3.0}', NOW).batch
    assert b.ts.tolist() == [NOW]
    assert b.flags.tolist() == [FLAG_TS_FROM_RECEIPT]


@pytest.mark.parametrize(
    ("text", "epoch"),
    [
        ("2025-11-22T16:26:40+08:00", 1763800000.0),
        ("2025-11-22T08:26:40Z", 1763800000.0),
        ("2025-11-22T08:26:39.500+00:00", 1763799999.5),
    ],
)
def test_iso_timestamp_with_offset_is_epoch_seconds(
    decoder: Decoder, text: str, epoch: float
) -> None:
    b = decoder.decode("hw/ent1/LT-101", js({"v": 1.0, "ts": text}), NOW).batch
    assert b.ts.tolist() == [epoch] and b.flags.tolist() == [0]


@pytest.mark.parametrize(
    ("ts", "detail"),
    [
        ("2025-11-22T08:26:40", "has no UTC offset"),
        ("2025-11-22", "has no UTC offset"),
        ("yesterday", "is not ISO 8601"),
        ([1, 2], "must be epoch seconds or an ISO 8601 string, got array"),
        (True, "got bool"),
    ],
)
def test_bad_timestamp_names_the_problem(decoder: Decoder, ts: Any, detail: str) -> None:
    reason, text = one(decoder.decode("hw/ent1/LT-101", js({"v": 1.0, "ts": ts}), NOW))
    assert reason is Reason.BAD_TIMESTAMP
    assert detail in text


def test_ts_too_far_in_future_is_rejected(decoder: Decoder) -> None:
    reason, detail = one(decoder.decode("hw/ent1/LT-101", js({"v": 1.0, "ts": NOW + 301}), NOW))
    assert reason is Reason.TS_FUTURE
    assert "301.0 s after receipt (max 300 s)" in detail


def test_ts_in_milliseconds_gets_a_hint(decoder: Decoder) -> None:
    reason, detail = one(decoder.decode("hw/ent1/LT-101", js({"v": 1, "ts": NOW * 1000}), NOW))
    assert reason is Reason.TS_FUTURE and "milliseconds" in detail


def test_ts_older_than_max_age_is_rejected() -> None:
    decoder = Decoder(TABLE, max_age_s=3600)
    ok = decoder.decode("hw/ent1/LT-101", js({"v": 1.0, "ts": NOW - 3599}), NOW)
    assert len(ok.batch) == 1
    reason, detail = one(decoder.decode("hw/ent1/LT-101", js({"v": 1.0, "ts": NOW - 3601}), NOW))
    assert reason is Reason.TS_TOO_OLD
    assert "3601.0 s before receipt (max 3600 s)" in detail


def test_default_max_age_is_seven_days(decoder: Decoder) -> None:
    week = 7 * 24 * 3600
    assert len(decoder.decode("hw/ent1/LT-101", js({"v": 1, "ts": NOW - week + 1}), NOW).batch)
    reason, _ = one(decoder.decode("hw/ent1/LT-101", js({"v": 1, "ts": NOW - week - 1}), NOW))
    assert reason is Reason.TS_TOO_OLD


@pytest.mark.parametrize(
    ("payload", "reason", "detail"),
    [
        (b'{"v": 1.0', Reason.MALFORMED_JSON, "not JSON"),
        (b"\xff\xfe", Reason.MALFORMED_JSON, "not JSON"),
        (b"", Reason.MALFORMED_JSON, "not JSON"),
        (b"[1.0]", Reason.WRONG_TYPE, "must be an object"),
        (b'{"value": 1.0}', Reason.WRONG_TYPE, "no 'v'"),
        (b'{"v": "12.5"}', Reason.WRONG_TYPE, "v must be a number, got string"),
        (b'{"v": true}', Reason.WRONG_TYPE, "v must be a number, got bool"),
        (b'{"v": null}', Reason.WRONG_TYPE, "got null"),
        (b'{"v": NaN}', Reason.NOT_FINITE, "v is nan"),
        (b'{"v": -Infinity}', Reason.NOT_FINITE, "v is -inf"),
        (b'{"v": 1e400}', Reason.NOT_FINITE, "v is inf"),
        (b'{"v": "NaN"}', Reason.NOT_FINITE, "the string 'NaN'"),
        (b'{"v": "-inf"}', Reason.NOT_FINITE, "the string '-inf'"),
        (b'{"v": 1.0, "q": "excellent"}', Reason.BAD_QUALITY, "got 'excellent'"),
        (b'{"v": 1.0, "q": 0}', Reason.BAD_QUALITY, "good|uncertain|bad"),
    ],
)
def test_single_reading_rejections(
    decoder: Decoder, payload: bytes, reason: Reason, detail: str
) -> None:
    got, text = one(decoder.decode("hw/ent1/LT-101", payload, NOW))
    assert got is reason
    assert detail in text


def test_unknown_tag(decoder: Decoder) -> None:
    reason, detail = one(decoder.decode("hw/ent1/XX-999", b'{"v": 1}', NOW))
    assert reason is Reason.UNKNOWN_TAG and "'XX-999' is not in the site config" in detail


def test_tag_of_another_enterprise(decoder: Decoder) -> None:
    reason, detail = one(decoder.decode("hw/ent1/LT-201", b'{"v": 1}', NOW))
    assert reason is Reason.WRONG_ENTERPRISE
    assert detail == "tag 'LT-201' belongs to enterprise 'ent2', not 'ent1'"


@pytest.mark.parametrize(
    "topic",
    [
        "other/ent1/LT-101",
        "hw/ent1",
        "hw/ent1/LT-101/extra",
        "hw//LT-101",
        "hw/ent1/_batch",
        "hw/ent1/_weird/gw1",
        "hw/ent1/_config",
        "hwx/ent1/LT-101",
    ],
)
def test_bad_topic(decoder: Decoder, topic: str) -> None:
    reason, detail = one(decoder.decode(topic, b'{"v": 1}', NOW))
    assert reason is Reason.BAD_TOPIC and "hw/" in detail


def test_oversize_is_checked_before_parsing() -> None:
    decoder = Decoder(TABLE, max_payload_bytes=100)
    payload = b"not even json " * 10  # 140 bytes
    d = decoder.decode("hw/ent1/LT-101", payload, NOW)
    reason, detail = one(d)
    assert reason is Reason.OVERSIZE
    assert "payload is 140 bytes, limit 100" in detail
    assert d.rejections[0].payload == payload[:100]


def test_root_topic_is_configurable() -> None:
    decoder = Decoder(TABLE, root_topic="park7/hw")
    assert len(decoder.decode("park7/hw/ent1/LT-101", b'{"v": 1}', NOW).batch) == 1
    reason, _ = one(decoder.decode("hw/ent1/LT-101", b'{"v": 1}', NOW))
    assert reason is Reason.BAD_TOPIC


# ------------------------------------------------------------------ gateway batches


def test_batch_rows_in_all_three_shapes(decoder: Decoder) -> None:
    payload = js(
        {
            "ts": NOW - 10,
            "r": [
                ["LT-101", 5.5],
                ["TT-101", 21, NOW - 5],
                ["PT-101", 101.3, "2025-11-22T08:26:35Z", "bad"],
            ],
        }
    )
    d = decoder.decode("hw/ent1/_batch/gw1", payload, NOW)
    assert d.rejections == []
    b = d.batch
    assert b.sensor.tolist() == [LT101, TT101, PT101]
    assert b.ts.tolist() == [NOW - 10, NOW - 5, NOW - 5]
    assert b.value.tolist() == [5.5, 21.0, 101.3]
    assert b.quality.tolist() == [Quality.GOOD, Quality.GOOD, Quality.BAD]
    assert b.flags.tolist() == [0, 0, 0]


def test_batch_without_default_ts_uses_receipt_time_for_rows_without_ts(
    decoder: Decoder,
) -> None:
    d = decoder.decode(
        "hw/ent1/_batch/gw1", js({"r": [["LT-101", 1.0], ["TT-101", 2.0, 5e8]]}), NOW
    )
    # the second row's ts is far too old: only the first is kept, with the receipt flag
    assert d.batch.ts.tolist() == [NOW]
    assert d.batch.flags.tolist() == [FLAG_TS_FROM_RECEIPT]
    assert [(r.reason, r.row) for r in d.rejections] == [(Reason.TS_TOO_OLD, 1)]


def test_bad_rows_never_drop_good_rows(decoder: Decoder) -> None:
    rows = [
        ["LT-101", 1.0],
        ["NOPE", 2.0],
        ["TT-101", "hot"],
        ["LT-201", 3.0],
        ["PT-101", 4.0, NOW + 3600],
        ["PT-101", 4.0, NOW, "great"],
        {"tag": "LT-101"},
        ["LT-101"],
        [7, 1.0],
        ["TT-101", 2.0, NOW - 1],
    ]
    d = decoder.decode("hw/ent1/_batch/gw1", js({"ts": NOW, "r": rows}), NOW)
    assert d.batch.sensor.tolist() == [LT101, TT101]
    assert d.batch.value.tolist() == [1.0, 2.0]
    got = [(r.reason, r.row) for r in d.rejections]
    assert got == [
        (Reason.UNKNOWN_TAG, 1),
        (Reason.WRONG_TYPE, 2),
        (Reason.WRONG_ENTERPRISE, 3),
        (Reason.TS_FUTURE, 4),
        (Reason.BAD_QUALITY, 5),
        (Reason.WRONG_TYPE, 6),
        (Reason.WRONG_TYPE, 7),
        (Reason.WRONG_TYPE, 8),
    ]
    details = {r.row: r.detail for r in d.rejections}
    assert "row must be an array" in details[6]
    assert "row has 1 items, expected 2 to 4" in details[7]
    assert "tag must be a string, got number" in details[8]
    # a row rejection keeps the row itself, so the dead letter stays small
    assert orjson.loads(d.rejections[0].payload) == ["NOPE", 2.0]
    assert all(r.topic == "hw/ent1/_batch/gw1" for r in d.rejections)


def test_non_finite_row_keeps_the_rest_of_the_batch(decoder: Decoder) -> None:
    payload = b'{"ts": %f, "r": [["LT-101", 1e400], ["TT-101", 2.5], ["PT-101", NaN]]}' % NOW
    d = decoder.decode("hw/ent1/_batch/gw1", payload, NOW)
    assert d.batch.sensor.tolist() == [TT101]
    assert [(r.reason, r.row) for r in d.rejections] == [
        (Reason.NOT_FINITE, 0),
        (Reason.NOT_FINITE, 2),
    ]


def test_bad_default_ts_fails_only_rows_that_need_it(decoder: Decoder) -> None:
    payload = js({"ts": "soon", "r": [["LT-101", 1.0], ["TT-101", 2.0, NOW - 1]]})
    d = decoder.decode("hw/ent1/_batch/gw1", payload, NOW)
    assert d.batch.sensor.tolist() == [TT101]
    [rej] = d.rejections
    assert rej.reason is Reason.BAD_TIMESTAMP and rej.row == 0
    assert rej.detail.startswith("batch default ts")


def test_duplicate_sensor_and_ts_in_one_message(decoder: Decoder) -> None:
    rows = [["LT-101", 1.0], ["TT-101", 2.0], ["LT-101", 1.5], ["LT-101", 1.7, NOW - 1]]
    d = decoder.decode("hw/ent1/_batch/gw1", js({"ts": NOW, "r": rows}), NOW)
    assert d.batch.sensor.tolist() == [LT101, TT101, LT101]
    assert d.batch.value.tolist() == [1.0, 2.0, 1.7]
    [rej] = d.rejections
    assert (rej.reason, rej.row) == (Reason.DUPLICATE, 2)
    assert "'LT-101'" in rej.detail and "already appeared" in rej.detail


@pytest.mark.parametrize(
    ("payload", "detail"),
    [
        (b"[]", "must be an object"),
        (b'{"r": {"LT-101": 1}}', "'r' must be an array of rows, got object"),
        (b'{"ts": 1}', "got null"),
    ],
)
def test_batch_shape_errors(decoder: Decoder, payload: bytes, detail: str) -> None:
    reason, text = one(decoder.decode("hw/ent1/_batch/gw1", payload, NOW))
    assert reason is Reason.WRONG_TYPE and detail in text


def test_batch_from_unknown_gateway(decoder: Decoder) -> None:
    reason, detail = one(decoder.decode("hw/ent1/_batch/gw9", js({"r": [["LT-101", 1]]}), NOW))
    assert reason is Reason.UNKNOWN_GATEWAY
    assert detail == "gateway 'gw9' of enterprise 'ent1' is not in the site config"


def test_large_batch_takes_the_fast_path_correctly(decoder: Decoder) -> None:
    tags = ["LT-101", "TT-101", "PT-101"]
    rows = [[tags[i % 3], float(i)] for i in range(300)]
    rows[150] = ["LT-101", "x"]
    d = decoder.decode("hw/ent1/_batch/gw1", js({"ts": NOW, "r": rows}), NOW)
    # same sensor and same default ts repeat: only the first three rows survive dedup
    assert len(d.batch) == 3
    assert len(d.rejections) == 299 - 2
    assert [r.row for r in d.rejections] == list(range(3, 300))  # in row order
    assert {r.reason for r in d.rejections if r.row != 150} == {Reason.DUPLICATE}
    assert d.rejections[150 - 3].reason is Reason.WRONG_TYPE


# ------------------------------------------------------------------ gateway status


@pytest.mark.parametrize(("payload", "online"), [(b"online", True), (b"offline\n", False)])
def test_gateway_status(decoder: Decoder, payload: bytes, online: bool) -> None:
    d = decoder.decode("hw/ent2/_status/gwA", payload, NOW)
    assert d.rejections == [] and len(d.batch) == 0
    assert d.status is not None
    assert (d.status.enterprise, d.status.gateway, d.status.online, d.status.ts) == (
        "ent2",
        "gwA",
        online,
        NOW,
    )
    assert TABLE.gateway_sensors[d.status.key].tolist() == [LT201]


def test_gateway_status_rejections(decoder: Decoder) -> None:
    reason, detail = one(decoder.decode("hw/ent2/_status/gwA", b"ONLINE!", NOW))
    assert reason is Reason.WRONG_TYPE and "'online' or 'offline'" in detail
    reason, _ = one(decoder.decode("hw/ent2/_status/gw1", b"online", NOW))
    assert reason is Reason.UNKNOWN_GATEWAY


# ------------------------------------------------------------------ fuzz: never raises

TAGS = [*TABLE.tags, "NOPE", ""]
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from([NOW, NOW - 1, "2025-11-22T08:26:40Z", "NaN", "good", "bad", *TAGS])
    | st.text(max_size=12)
)
jsonish = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=20,
)
rows_st = st.lists(
    st.one_of(
        st.tuples(st.sampled_from(TAGS), scalars).map(list),
        st.tuples(st.sampled_from(TAGS), scalars, scalars).map(list),
        st.tuples(st.sampled_from(TAGS), scalars, scalars, scalars).map(list),
        jsonish,
    ),
    max_size=12,
)
TOPICS = ["hw/ent1/_batch/gw1", "hw/ent1/LT-101", "hw/ent2/_status/gwA", "hw/ent1/NOPE", "x"]


def dump(obj: Any) -> bytes:
    return json.dumps(obj, allow_nan=True).encode()


def check_accounting(decoded: Decoded, topic: str, payload: bytes) -> None:
    assert all(r.reason is not Reason.INTERNAL_ERROR for r in decoded.rejections)
    b = decoded.batch
    assert np.all(np.isfinite(b.value)) and np.all(np.isfinite(b.ts))
    assert np.all((b.sensor >= 0) & (b.sensor < TABLE.n))
    assert len(b.ts) == len(b.value) == len(b.quality) == len(b.flags) == len(b)
    message_level = [r for r in decoded.rejections if r.row is None]
    if message_level:
        assert len(decoded.rejections) == 1 and len(b) == 0 and decoded.status is None
        return
    if "/_batch/" in topic:  # a batch that parsed: every row once, accepted or rejected
        rows = json.loads(payload)["r"]
        rejected = [r.row for r in decoded.rejections]
        assert len(set(rejected)) == len(rejected)
        assert len(b) + len(rejected) == len(rows)
    else:
        assert len(b) + (decoded.status is not None) == 1


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(topic=st.sampled_from([*TOPICS, "hw/ent1/_status/gw1"]), payload=st.binary(max_size=64))
def test_arbitrary_bytes_never_raise(topic: str, payload: bytes) -> None:
    check_accounting(Decoder(TABLE).decode(topic, payload, NOW), topic, payload)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    topic=st.sampled_from(TOPICS),
    body=st.one_of(
        st.fixed_dictionaries({"v": scalars}, optional={"ts": scalars, "q": scalars}),
        st.fixed_dictionaries({"r": rows_st}, optional={"ts": scalars}),
        jsonish,
    ),
)
def test_arbitrary_json_never_raises_and_counts_every_row_once(topic: str, body: Any) -> None:
    payload = dump(body)
    decoded = Decoder(TABLE).decode(topic, payload, NOW)
    if "/_batch/" in topic and not (isinstance(body, dict) and isinstance(body.get("r"), list)):
        assert decoded.rejections and decoded.rejections[0].row is None
    check_accounting(decoded, topic, payload)


@settings(max_examples=150)
@given(
    rows=st.lists(
        st.tuples(
            st.sampled_from(["LT-101", "TT-101", "PT-101"]),
            st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(2**63), 2**63),
            st.floats(NOW - 1000, NOW + 100),
        ),
        min_size=1,
        max_size=20,
    ),
    with_ts=st.booleans(),
)
def test_whole_batch_fast_path_equals_row_by_row(
    rows: list[tuple[str, float, float]], with_ts: bool
) -> None:
    """One bad row sends a batch row by row; the good rows must come out the same."""
    body = [list(r) if with_ts else list(r[:2]) for r in rows]
    decoder = Decoder(TABLE)
    fast = decoder.decode("hw/ent1/_batch/gw1", js({"ts": NOW, "r": body}), NOW)
    slow = decoder.decode("hw/ent1/_batch/gw1", js({"ts": NOW, "r": [*body, ["NOPE", 1]]}), NOW)
    assert slow.rejections[-1].row == len(body)
    assert fast.rejections == slow.rejections[:-1]
    for column in ("sensor", "ts", "value", "quality", "flags"):
        a, b = getattr(fast.batch, column), getattr(slow.batch, column)
        assert a.dtype == b.dtype and a.tolist() == b.tolist(), column


# ------------------------------------------------------------------ dead letter, counters


def test_dead_letter_lines_hold_reason_detail_row_and_payload(
    decoder: Decoder, tmp_path: Path
) -> None:
    path = tmp_path / "dead" / "letters.jsonl"
    d1 = decoder.decode("hw/ent1/_batch/gw1", js({"ts": NOW, "r": [["LT-101", 1], ["X", 2]]}), NOW)
    d2 = decoder.decode("hw/ent1/LT-101", b"\xff\x00garbage", NOW + 1)
    with DeadLetter(path) as dead:
        dead.write_all(d1.rejections, NOW)
        # write_all flushes: the line is on disk while the file is still open
        assert path.read_bytes().count(b"\n") == 1
        dead.write_all(d2.rejections, NOW + 1)
    lines = [orjson.loads(x) for x in path.read_bytes().splitlines()]
    assert lines[0] == {
        "received": NOW,
        "topic": "hw/ent1/_batch/gw1",
        "reason": "unknown_tag",
        "detail": "tag 'X' is not in the site config",
        "row": 1,
        "payload": '["X",2]',
    }
    assert lines[1]["reason"] == "malformed_json" and lines[1]["row"] is None
    assert lines[1]["payload"] == "base64:" + base64.b64encode(b"\xff\x00garbage").decode()


def test_dead_letter_rotates_past_max_bytes(decoder: Decoder, tmp_path: Path) -> None:
    path = tmp_path / "dl.jsonl"
    rej = decoder.decode("hw/ent1/NOPE", b'{"v": 1}', NOW).rejections
    with DeadLetter(path, max_bytes=1000) as dead:
        for _ in range(12):  # ~150 bytes a line
            dead.write_all(rej, NOW)
    rotated = path.with_name("dl.jsonl.1")
    assert rotated.exists()
    assert path.stat().st_size <= 1000 and rotated.stat().st_size <= 1000
    total = len(path.read_bytes().splitlines()) + len(rotated.read_bytes().splitlines())
    assert total == 12


def test_dead_letter_survives_lone_surrogates(tmp_path: Path) -> None:
    decoder = Decoder(TABLE)
    # only the stdlib fallback parses this row (NaN), and it keeps the lone surrogate
    d1 = decoder.decode("hw/ent1/_batch/gw1", b'{"r": [["\\ud800", NaN]]}', NOW)
    d2 = decoder.decode("hw/ent1/\udcff", b'{"v": 1}', NOW)
    with DeadLetter(tmp_path / "dl.jsonl") as dead:
        dead.write_all(d1.rejections + d2.rejections, NOW)
    lines = [json.loads(x) for x in (tmp_path / "dl.jsonl").read_bytes().splitlines()]
    assert [x["reason"] for x in lines] == ["unknown_tag", "unknown_tag"]
    assert lines[1]["topic"] == "hw/ent1/\udcff"


def test_counters_by_reason_and_status(decoder: Decoder) -> None:
    counters = IngestCounters()
    rows = [["LT-101", 1.0], ["TT-101", math.pi], ["NOPE", 1.0]]
    counters.record(decoder.decode("hw/ent1/_batch/gw1", js({"ts": NOW, "r": rows}), NOW))
    counters.record(decoder.decode("hw/ent1/LT-101", b"{", NOW))
    counters.record(decoder.decode("hw/ent2/_status/gwA", b"offline", NOW))
    snap = counters.snapshot()
    assert snap["messages_received"] == 3
    assert snap["readings_accepted"] == 2
    assert snap["readings_received"] == 4
    assert snap["rejected"]["unknown_tag"] == 1 and snap["rejected"]["malformed_json"] == 1
    assert snap["rejected_total"] == 2
    assert snap["gateway_status"] == {"online": 0, "offline": 1}
    assert set(snap["rejected"]) == {str(r) for r in Reason if r not in NOTED}
    assert snap["noted"] == {"ts_ahead": 0}  # kept readings: never counted as rejections
    json.dumps(snap)  # JSON-ready


# ------------------------------------------------------------------ hostile rows (issue 17)

GOOD_ROWS = [b'["LT-101", 1.5]', b'["TT-101", 21, %d]' % (NOW - 5), b'["PT-101", 101.3]']
DEEP = b"[" * 2000 + b"]" * 2000
HUGE = b"9" * 5000


def batch_of(*rows: bytes) -> bytes:
    return b'{"ts": %d, "r": [' % NOW + b", ".join(rows) + b"]}"


@pytest.mark.parametrize(
    ("bad", "reason", "detail"),
    [
        (b'["PT-101", ' + HUGE + b"]", Reason.NOT_FINITE, "v is inf"),
        (b'["PT-101", -' + HUGE + b"]", Reason.NOT_FINITE, "v is -inf"),
        (b'["PT-101", 1.0, ' + HUGE + b"]", Reason.BAD_TIMESTAMP, "ts is inf"),
        (b'["PT-101", ' + DEEP + b"]", Reason.TOO_DEEP, "nested 2001 levels deep (max 64)"),
        (DEEP, Reason.TOO_DEEP, "nested 2000 levels deep"),
        (b'{"a": ' * 1500 + b"1" + b"}" * 1500, Reason.TOO_DEEP, "nested 1500 levels deep"),
        (b'["LT-\xff\xfe", 1.0]', Reason.MALFORMED_JSON, "not UTF-8 (byte 0xff at char 5)"),
        (b'["LT-101", 1.0,]', Reason.MALFORMED_JSON, "row is not JSON"),
        (b'["LT-101" 1.0]', Reason.MALFORMED_JSON, "row is not JSON"),
        (b"", Reason.MALFORMED_JSON, "row is not JSON"),
    ],
)
def test_one_row_no_parser_takes_costs_only_that_row(
    decoder: Decoder, bad: bytes, reason: Reason, detail: str
) -> None:
    """Five good rows and one bad: the five are kept, the bad one is rejected on its own."""
    good = [b'["LT-101", 1]', b'["TT-101", 2]', b'["PT-101", 3]', b'["LT-101", 4, %d]' % (NOW - 1)]
    rows = [*good[:2], bad, *good[2:], b'["TT-101", 5, %d]' % (NOW - 1)]
    d = decoder.decode("hw/ent1/_batch/gw1", batch_of(*rows), NOW)
    assert d.batch.sensor.tolist() == [LT101, TT101, PT101, LT101, TT101]
    assert d.batch.value.tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]
    [rej] = d.rejections
    assert (rej.reason, rej.row) == (reason, 2)
    assert detail in rej.detail
    # what the dead letter keeps is the bad row itself
    assert rej.payload == bad or bad.startswith(b'["PT-101"')


def test_lone_surrogates_in_a_row_cost_only_that_row(decoder: Decoder) -> None:
    bad_tag = b'["\\ud800", 1.0]'
    bad_quality = b'["PT-101", 1.0, null, "\\udfff"]'
    d = decoder.decode("hw/ent1/_batch/gw1", batch_of(bad_tag, GOOD_ROWS[0], bad_quality), NOW)
    assert d.batch.sensor.tolist() == [LT101]
    assert [(r.reason, r.row) for r in d.rejections] == [
        (Reason.UNKNOWN_TAG, 0),
        (Reason.BAD_QUALITY, 2),
    ]


@pytest.mark.parametrize(
    ("payload", "reason", "detail"),
    [
        (b'{"v": ' + DEEP + b"}", Reason.TOO_DEEP, "nested 2001 levels deep (max 512)"),
        (b'{"v": ' + HUGE + b"}", Reason.NOT_FINITE, "v is inf"),
        (b'{"v": 1.0, "q": "\\ud800"}', Reason.BAD_QUALITY, "got '\\ud800'"),
        (b'{"v": 1.0, "q": "\xff"}', Reason.MALFORMED_JSON, "not JSON"),
    ],
)
def test_hostile_single_reading_gets_its_own_reason(
    decoder: Decoder, payload: bytes, reason: Reason, detail: str
) -> None:
    got, text = one(decoder.decode("hw/ent1/LT-101", payload, NOW))
    assert got is reason
    assert detail in text


@pytest.mark.parametrize(
    ("payload", "reason", "detail"),
    [
        (b'{"ts": %d, "r": [["LT-101", 1.0], ' % NOW + DEEP, Reason.MALFORMED_JSON, "not JSON"),
        (b'{"ts": ' + DEEP + b', "r": [["LT-101", ' + HUGE + b"]]}", Reason.TOO_DEEP, "'ts'"),
        (b'{"ts": "\xff", "r": [["LT-101", ' + HUGE + b"]]}", Reason.MALFORMED_JSON, "UTF-8"),
        (b'{"r": [["LT-101", ' + HUGE + b"]]} trailing", Reason.MALFORMED_JSON, "extra data"),
        (b'{"r": [["LT-101", ' + HUGE + b"]] ", Reason.MALFORMED_JSON, "not JSON"),
        (b'["LT-101", ' + DEEP + b"]", Reason.MALFORMED_JSON, "expected '{'"),
    ],
)
def test_a_broken_frame_still_rejects_the_whole_batch(
    decoder: Decoder, payload: bytes, reason: Reason, detail: str
) -> None:
    """Only rows are salvaged: a frame that does not close, or a broken default, fails it all."""
    got, text = one(decoder.decode("hw/ent1/_batch/gw1", payload, NOW))
    assert got is reason
    assert detail in text


def test_five_megabyte_payload_is_cut_before_parsing(decoder: Decoder) -> None:
    payload = batch_of(*[GOOD_ROWS[0]] * 350_000)
    assert len(payload) > 5_000_000
    d = decoder.decode("hw/ent1/_batch/gw1", payload, NOW)
    reason, _ = one(d)
    assert reason is Reason.OVERSIZE and len(d.rejections[0].payload) == 256 * 1024


def test_five_megabyte_batch_with_hostile_rows_keeps_every_good_row() -> None:
    decoder = Decoder(TABLE, max_payload_bytes=8 * 1024 * 1024)
    tags = ["LT-101", "TT-101", "PT-101"]
    good = [b'["%s", %d.5, %d]' % (tags[i % 3].encode(), i, NOW - i // 3) for i in range(160_000)]
    hostile = {1000: DEEP, 70_000: b'["LT-101", ' + HUGE + b"]", 159_000: b'["\xff", 1]'}
    rows = list(good)
    for pos in sorted(hostile):
        rows.insert(pos, hostile[pos])
    payload = batch_of(*rows)
    assert len(payload) > 5_000_000
    d = decoder.decode("hw/ent1/_batch/gw1", payload, NOW)
    assert len(d.batch) == len(good)
    assert [(r.reason, r.row) for r in d.rejections] == [
        (Reason.TOO_DEEP, 1000),
        (Reason.NOT_FINITE, 70_000),
        (Reason.MALFORMED_JSON, 159_000),
    ]


def hostile_row(kind: str, n: int) -> bytes:
    """One row of a hostile category, `n` sizing it."""
    if kind == "deep":
        return b"[" * (1100 + n) + b"]" * (1100 + n)
    if kind == "deep_object":
        return b'["LT-101", ' + b'{"a": ' * (1100 + n) + b"1" + b"}" * (1100 + n) + b"]"
    if kind == "huge_int":
        return b'["PT-101", ' + b"7" * (401 + n) + b"]"
    if kind == "huge_ts":
        return b'["PT-101", 1.0, -' + b"1" * (401 + n) + b"]"
    if kind == "surrogate":
        return b'["\\udc%02x", 1.0]' % (n % 256)
    if kind == "not_utf8":
        return b'["LT-101", "\xc3\x28%d"]' % n
    return b'["TT-101", 1.0, %d, ]' % n  # a syntax error inside the row


HOSTILE = {
    "deep": Reason.TOO_DEEP,
    "deep_object": Reason.TOO_DEEP,
    "huge_int": Reason.NOT_FINITE,
    "huge_ts": Reason.BAD_TIMESTAMP,
    "surrogate": Reason.UNKNOWN_TAG,
    "not_utf8": Reason.MALFORMED_JSON,
    "syntax": Reason.MALFORMED_JSON,
}


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(
    n_good=st.integers(0, 30),
    bad=st.lists(
        st.tuples(st.sampled_from(sorted(HOSTILE)), st.integers(0, 3000), st.integers(0, 40)),
        min_size=1,
        max_size=4,
    ),
    spaces=st.sampled_from([b", ", b",", b" ,\n\t"]),
)
def test_hostile_rows_cost_only_themselves(
    n_good: int, bad: list[tuple[str, int, int]], spaces: bytes
) -> None:
    """Any mix of hostile rows among good ones: every good row kept, each hostile row
    rejected once with its category's reason, at its own position."""
    tags = ["LT-101", "TT-101", "PT-101"]
    rows = [b'["%s", %d, %d]' % (tags[i % 3].encode(), i, NOW - i) for i in range(n_good)]
    expected: dict[int, Reason] = {}
    for kind, size, where in bad:
        pos = min(where, len(rows))
        rows.insert(pos, hostile_row(kind, size))
        expected = {(i + 1 if i >= pos else i): r for i, r in expected.items()}
        expected[pos] = HOSTILE[kind]
    payload = b'{"ts": %d, "r": [' % NOW + spaces.join(rows) + b"]}"
    decoded = Decoder(TABLE).decode("hw/ent1/_batch/gw1", payload, NOW)
    assert len(decoded.batch) == n_good
    assert decoded.batch.value.tolist() == [float(i) for i in range(n_good)]
    assert {r.row: r.reason for r in decoded.rejections} == expected
    assert len(decoded.rejections) == len(expected)


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(
    topic=st.sampled_from(TOPICS),
    kind=st.sampled_from(sorted(HOSTILE)),
    size=st.integers(0, 3000),
    cut=st.integers(0, 200),
)
def test_hostile_bytes_never_raise(topic: str, kind: str, size: int, cut: int) -> None:
    """A hostile row as a whole payload, in a frame, or cut short anywhere."""
    row = hostile_row(kind, size)
    for payload in (row, batch_of(row), batch_of(GOOD_ROWS[0], row)[: -cut or None]):
        d = Decoder(TABLE).decode(topic, payload, NOW)
        assert all(r.reason is not Reason.INTERNAL_ERROR for r in d.rejections)
        assert np.all(np.isfinite(d.batch.value))


def test_dead_letter_keeps_a_salvaged_row_as_it_came(decoder: Decoder, tmp_path: Path) -> None:
    bad = b'["LT-\xff", 1.0]'
    d = decoder.decode("hw/ent1/_batch/gw1", batch_of(GOOD_ROWS[0], bad), NOW)
    with DeadLetter(tmp_path / "dl.jsonl") as dead:
        dead.write_all(d.rejections, NOW)
    [line] = [orjson.loads(x) for x in (tmp_path / "dl.jsonl").read_bytes().splitlines()]
    assert (line["reason"], line["row"]) == ("malformed_json", 1)
    assert line["payload"] == "base64:" + base64.b64encode(bad).decode()
    counters = IngestCounters()
    counters.record(d)
    deep = decoder.decode("hw/ent1/_batch/gw1", batch_of(DEEP, GOOD_ROWS[1]), NOW)
    counters.record(deep)
    snap = counters.snapshot()
    assert snap["rejected"]["too_deep"] == 1 and snap["rejected"]["malformed_json"] == 1
    assert snap["readings_accepted"] == 2


# ------------------------------------------------------------------ batch sequence numbers


@pytest.mark.parametrize(
    ("rows", "seq", "expected"),
    [
        ([["LT-101", 1.0]], 7, ("ent1/gw1", 7)),  # the fast path
        ([["LT-101", 1.0], ["NOPE", 2.0]], 8, ("ent1/gw1", 8)),  # row by row
        ([["LT-101", 1.0]], -3, ("ent1/gw1", -1)),
        ([["LT-101", 1.0]], 2.5, ("ent1/gw1", -1)),
        ([["LT-101", 1.0]], "9", ("ent1/gw1", -1)),
        ([["LT-101", 1.0]], True, ("ent1/gw1", -1)),
        ([["LT-101", 1.0]], 2**70, ("ent1/gw1", -1)),
    ],
)
def test_a_batch_carries_its_gateway_and_sequence_number(
    decoder: Decoder, rows: list[Any], seq: Any, expected: tuple[str, int]
) -> None:
    d = decoder.decode("hw/ent1/_batch/gw1", js({"ts": NOW, "seq": seq, "r": rows}), NOW)
    assert d.seq == expected
    assert len(d.batch) == 1  # a bad seq costs no reading


def test_a_batch_without_seq_and_a_single_reading_carry_none(decoder: Decoder) -> None:
    assert decoder.decode("hw/ent1/_batch/gw1", js({"r": [["LT-101", 1]]}), NOW).seq is None
    assert decoder.decode("hw/ent1/LT-101", js({"v": 1, "seq": 3}), NOW).seq is None


def test_batches_missing_are_counted_per_gateway(decoder: Decoder) -> None:
    counters = IngestCounters()

    def send(gateway: str, seq: Any) -> None:
        topic = f"hw/{'ent1' if gateway == 'gw1' else 'ent2'}/_batch/{gateway}"
        tag = "LT-101" if gateway == "gw1" else "LT-201"
        counters.record(decoder.decode(topic, js({"seq": seq, "r": [[tag, 1.0]]}), NOW))

    for seq in (0, 1, 2, 6, 7, 7, 9):  # 3, 4, 5 and 8 never came; 7 came twice
        send("gw1", seq)
    for seq in (41, 42, 0, 1, 3, "x"):  # restarted at 0; 2 never came; one bad seq
        send("gwA", seq)
    snap = counters.snapshot()
    assert snap["batches_missing"] == 5
    assert snap["gateway_seq"] == {
        "ent1/gw1": {"last": 9, "missing": 4, "repeated": 1, "restarts": 0, "bad": 0},
        "ent2/gwA": {"last": 3, "missing": 1, "repeated": 0, "restarts": 1, "bad": 1},
    }
    json.dumps(snap)

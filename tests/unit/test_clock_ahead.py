"""A reading stamped ahead of the service's clock must not blind its sensor (issue 17, item 1)."""

from __future__ import annotations

import orjson
import pytest

from detectors import Detector
from hazardwatch.vocabulary.model import FLAG_TS_AHEAD, Condition, Kind, SensorTable
from ingest import AHEAD_TOLERANCE_S, Decoded, Decoder, IngestCounters, Reason
from tests.factories import enterprise, hazard_source, sensor, site, unit

NOW = 1_763_800_000.0


@pytest.fixture
def table() -> SensorTable:
    gas = [sensor(f"GT-{k}", Kind.GAS_COMBUSTIBLE, substance="methane") for k in (1, 2)]
    return SensorTable.from_site(site(enterprise("e1", hazard_source("hs1", unit("T1", *gas)))))


def _single(decoder: Decoder, tag: str, v: float, ts: float, received: float) -> Decoded:
    return decoder.decode(f"hw/e1/{tag}", orjson.dumps({"v": v, "ts": ts}), received)


def test_a_reading_far_ahead_is_judged_at_receipt_and_noted(table: SensorTable) -> None:
    decoder = Decoder(table)
    d = _single(decoder, "GT-1", 1.0, NOW + 290.0, NOW)
    assert d.rejections == []
    assert d.batch.ts.tolist() == [NOW] and d.batch.flags.tolist() == [FLAG_TS_AHEAD]
    (note,) = d.noted
    assert note.reason is Reason.TS_AHEAD and "290.0 s after receipt" in note.detail
    assert orjson.loads(note.payload) == ["GT-1", 1.0, NOW + 290.0]
    counters = IngestCounters()
    counters.record(d)
    snap = counters.snapshot()
    assert snap["readings_accepted"] == 1 and snap["rejected_total"] == 0
    assert snap["noted"] == {"ts_ahead": 1}


def test_within_the_tolerance_a_reading_keeps_its_own_time(table: SensorTable) -> None:
    d = _single(Decoder(table), "GT-1", 1.0, NOW + AHEAD_TOLERANCE_S - 0.5, NOW)
    assert d.batch.ts.tolist() == [NOW + AHEAD_TOLERANCE_S - 0.5]
    assert d.batch.flags.tolist() == [0] and d.noted == ()


def test_only_the_rows_ahead_of_a_batch_move(table: SensorTable) -> None:
    payload = orjson.dumps({"r": [["GT-1", 3.0, NOW - 1.0], ["GT-2", 4.0, NOW + 60.0]]})
    d = Decoder(table).decode("hw/e1/_batch/gw1", payload, NOW)
    assert d.batch.ts.tolist() == [NOW - 1.0, NOW]
    assert d.batch.flags.tolist() == [0, FLAG_TS_AHEAD]
    assert [orjson.loads(n.payload)[0] for n in d.noted] == ["GT-2"]


def test_a_forward_dated_reading_does_not_silence_a_gas_alarm(table: SensorTable) -> None:
    """The tester's case: one reading 290 s ahead, then 12 s of real readings at 55 %LEL.
    Both detectors raise gas level 1 and 2; the one whose clock ran ahead says so."""
    decoder, det = Decoder(table), Detector(table, NOW - 10.0)
    changes = det.step(_single(decoder, "GT-1", 1.0, NOW + 290.0, NOW).batch)
    assert [(c.sensor, c.condition, c.active) for c in changes] == [
        (0, Condition.CLOCK_AHEAD, True)
    ]
    for k in range(1, 13):
        for tag in ("GT-1", "GT-2"):
            changes += det.step(_single(decoder, tag, 55.0, NOW + k, NOW + k).batch)
    raised = {(c.sensor, c.condition) for c in changes if c.active}
    for s in (0, 1):
        assert {(s, Condition.GAS1), (s, Condition.GAS2)} <= raised, s
    assert (0, Condition.CLOCK_AHEAD, False) in {(c.sensor, c.condition, c.active) for c in changes}
    assert det.state.last_value[0] == 55.0
    assert det.stats["out_of_order"] == 0

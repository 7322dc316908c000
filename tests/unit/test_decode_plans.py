"""Transfer plans over MQTT (`<root>/<enterprise>/_plan`, ingest.plans): good and bad."""

from __future__ import annotations

import json

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hazardwatch.vocabulary.model import Kind, Limits, TransferPlan
from ingest import Decoder, PlanClosed, Reason
from tests.factories import enterprise, hazard_source, sensor, site, table, unit

NOW = 1_763_800_000.0
LEVEL = Limits(hh=16.4, h=15.8, l=2.4, ll=2.0)
TABLE = table(
    site(
        enterprise(
            "e1",
            hazard_source(
                "hs1",
                unit(
                    "T1", sensor("T1-LT", hi=18.0, limits=LEVEL), sensor("T1-TT", Kind.TEMPERATURE)
                ),
            ),
        ),
        enterprise("e2", hazard_source("hs2", unit("T9", sensor("T9-LT", hi=18.0, limits=LEVEL)))),
    )
)


def decode(body: object, topic: str = "hw/e1/_plan") -> tuple[object, list]:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    out = Decoder(TABLE).decode(topic, raw, NOW)
    assert len(out.batch) == 0
    return out.plan, [(r.reason, r.detail) for r in out.rejections]


def test_a_plan_by_tag_or_unit_becomes_a_transfer_plan() -> None:
    plan, bad = decode({"tag": "T1-LT", "target": 13.5, "direction": "fill", "ts": NOW - 5})
    assert bad == [] and plan == TransferPlan(
        "T1-LT", 13.5, 1, NOW - 5, None, NOW - 5 + 86400.0, "DCS", ""
    )
    plan, _ = decode({"unit": "T1", "target": 4, "direction": "empty", "by": "Li", "note": "x"})
    assert isinstance(plan, TransferPlan)
    assert (plan.tag, plan.direction, plan.ts, plan.by, plan.note) == ("T1-LT", -1, NOW, "Li", "x")


def test_the_end_of_a_transfer_closes_its_plan() -> None:
    plan, bad = decode({"unit": "T1", "close": True, "by": "DCS"})
    assert bad == [] and plan == PlanClosed("T1-LT", NOW, "DCS")


@pytest.mark.parametrize(
    "body, reason, words",
    [
        (b"{not json", Reason.MALFORMED_JSON, ""),
        ([1, 2], Reason.WRONG_TYPE, "plan must be an object"),
        ({"tag": "T1-LT", "target": 13}, Reason.BAD_PLAN, "direction must be fill or empty"),
        ({"tag": "T1-LT", "direction": "fill"}, Reason.BAD_PLAN, "no 'target'"),
        ({"tag": "T1-LT", "target": "NaN", "direction": "fill"}, Reason.NOT_FINITE, ""),
        ({"tag": "T1-LT", "target": "13", "direction": "fill"}, Reason.WRONG_TYPE, "number"),
        ({"tag": "T1-LT", "target": 17, "direction": "fill"}, Reason.BAD_PLAN, "past HH 16.4"),
        ({"tag": "T1-TT", "target": 17, "direction": "fill"}, Reason.BAD_PLAN, "level sensor"),
        ({"tag": "nope", "target": 5, "direction": "fill"}, Reason.BAD_PLAN, "unknown tag"),
        ({"tag": "T9-LT", "target": 5, "direction": "fill"}, Reason.WRONG_ENTERPRISE, "'e2'"),
        (
            {"tag": "T1-LT", "target": 5, "direction": "fill", "ts": NOW + 3600},
            Reason.TS_FUTURE,
            "",
        ),
        ({"tag": "T1-LT", "target": 5, "direction": "fill", "pump": 2}, Reason.BAD_PLAN, "pump"),
        ({"tag": 7, "target": 5, "direction": "fill"}, Reason.WRONG_TYPE, "strings"),
    ],
)
def test_a_bad_plan_is_one_rejection_with_its_reason(
    body: object, reason: Reason, words: str
) -> None:
    plan, bad = decode(body)
    assert plan is None and len(bad) == 1
    assert bad[0][0] is reason and words in bad[0][1], bad


def test_a_plan_topic_of_an_unknown_enterprise_is_refused() -> None:
    plan, bad = decode({"tag": "T1-LT", "target": 5, "direction": "fill"}, "hw/e7/_plan")
    assert plan is None and bad[0][0] is Reason.UNKNOWN_GATEWAY


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
_FIELD = st.sampled_from(["tag", "unit", "target", "direction", "ts", "tolerance", "close", "by"])


@given(body=st.dictionaries(_FIELD, _JSON | st.sampled_from(["T1-LT", "T1", "fill", 5.0])))
@settings(max_examples=300, deadline=None)
def test_any_json_plan_is_a_plan_or_one_rejection_never_a_crash(body: dict) -> None:
    out = Decoder(TABLE).decode("hw/e1/_plan", json.dumps(body).encode(), NOW)
    assert (out.plan is None) == (len(out.rejections) == 1)
    assert all(r.reason is not Reason.INTERNAL_ERROR for r in out.rejections), out.rejections

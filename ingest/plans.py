"""Transfer plans over MQTT: ``<root>/<enterprise>/_plan`` from the DCS (or a gateway).

Payload: ``{"tag": "e02-T201-LT", "target": 13.5, "direction": "fill", "ts": ...,
"tolerance": 0.1, "expires_in_s": 86400, "by": "DCS", "note": "..."}`` (``unit`` instead of
``tag`` names the tank; ``direction`` is required on the wire: the sender knows it), or
``{"tag": ..., "close": true, "by": "DCS"}`` when the transfer ends. Checked as the API
checks a plan (hazardwatch.vocabulary.transfers.plan_for); a bad one is a rejection, never a crash.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hazardwatch.vocabulary.model import SensorTable, TransferPlan
from hazardwatch.vocabulary.transfers import (
    DEFAULT_EXPIRY_S,
    TransferError,
    level_sensor_of,
    plan_for,
)
from ingest.decoded import Reason
from ingest.fields import BadField, TsWindow, kind_of, reading_value, short

_DIRECTION = {"fill": 1, "empty": -1}
_FIELDS = frozenset(
    {"tag", "unit", "target", "direction", "ts", "tolerance", "expires_in_s", "by", "note", "close"}
)


@dataclass(frozen=True, slots=True)
class PlanClosed:
    """The sender says the transfer of the level sensor `tag` ended at `ts`."""

    tag: str
    ts: float
    by: str


def decode_plan(
    obj: Any, enterprise: str | None, table: SensorTable, window: TsWindow
) -> TransferPlan | PlanClosed:
    """A plan (or its end) from one decoded JSON payload of `enterprise` (None: of any, as
    in a recorded plans file), or BadField."""
    if type(obj) is not dict:
        raise BadField(Reason.WRONG_TYPE, f"plan must be an object, got {kind_of(obj)}")
    unknown = sorted(set(obj) - _FIELDS)
    if unknown:
        raise BadField(Reason.BAD_PLAN, f"unknown plan fields {unknown}; known: {sorted(_FIELDS)}")
    ts = window.received if obj.get("ts") is None else window.ts(obj["ts"])
    by = _text(obj, "by", "") or "DCS"
    tag, unit = obj.get("tag"), obj.get("unit")
    if (tag is not None and type(tag) is not str) or (unit is not None and type(unit) is not str):
        raise BadField(Reason.WRONG_TYPE, "tag and unit must be strings")
    try:
        where = level_sensor_of(table, unit, tag)  # one lookup: the tank, then its owner
        if enterprise is not None and table.enterprise[where] != enterprise:
            raise BadField(
                Reason.WRONG_ENTERPRISE,
                f"{short(tag or unit)} belongs to enterprise {table.enterprise[where]!r}, "
                f"not {enterprise!r}",
            )
        if obj.get("close") is True:
            return PlanClosed(table.tags[where], ts, by)
        if "target" not in obj:
            raise BadField(Reason.BAD_PLAN, "plan has no 'target'")
        raw_direction = obj.get("direction")
        direction = _DIRECTION.get(raw_direction) if type(raw_direction) is str else None
        if direction is None:
            got = short(obj.get("direction"))
            raise BadField(Reason.BAD_PLAN, f"direction must be fill or empty, got {got}")
        return plan_for(
            table,
            tag=table.tags[where],
            target=reading_value(obj["target"]),
            ts=ts,
            direction=direction,
            tolerance=None if obj.get("tolerance") is None else reading_value(obj["tolerance"]),
            expires_in_s=reading_value(obj.get("expires_in_s", DEFAULT_EXPIRY_S)),
            by=by,
            note=_text(obj, "note", ""),
        )
    except TransferError as err:
        raise BadField(Reason.BAD_PLAN, str(err)) from None


def _text(obj: dict[str, Any], key: str, default: str) -> str:
    value = obj.get(key, default)
    if type(value) is not str or len(value) > 500:
        raise BadField(Reason.WRONG_TYPE, f"{key} must be a string of at most 500 characters")
    return value.strip()

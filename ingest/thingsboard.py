"""ThingsBoard's gateway MQTT API -> the same Batch as wire format v1.

What a ThingsBoard IoT Gateway publishes (``<mount_root>/<token>/`` before each topic when
the broker mounts gateways under their user name, hazardwatch.vocabulary.inputs.ThingsBoardInput):

- ``v1/gateway/telemetry``: ``{"T-102": [{"ts": <epoch ms>, "values": {"level": 9.8}}]}``,
  several devices per message; after an outage one long array per device of what it kept
- ``v1/devices/me/telemetry``: the gateway's own keys (``{"values": ...}``, with or without
  ``ts``, or an array of those); its counters unless the config maps them to tags
- ``v1/gateway/connect`` / ``disconnect``: ``{"device": "T-101"}`` (a clean stop says
  disconnect; a dead gateway says nothing: its tags go stale)
- ``v1/devices/me/rpc/request/<id>``: ``{"method": "getSessionLimits"}``, which it waits
  for before publishing anything: answered on ``v1/devices/me/rpc/response/<id>``

Readings go through the checks of wire format v1 (finite values, the ts window, duplicates);
an unmapped device or key is rejected by reason (``unknown_device``, ``unknown_metric``), the
message's good readings kept. The decoder never raises on outside input.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import orjson

from hazardwatch.vocabulary.inputs import ThingsBoardInput
from hazardwatch.vocabulary.model import FLAG_TS_FROM_RECEIPT, Batch, SensorTable
from ingest.decoded import Decoded, GatewayStatus, Reason, Rejection, Reply
from ingest.fields import BadField, kind_of, loads, short
from ingest.rows import Rows

log = logging.getLogger(__name__)

MAX_PAYLOAD_BYTES = 256 * 1024
MAX_ENTRIES = 10_000  # per device per message: more is no gateway's resend, but a runaway
MAX_FUTURE_S = 300.0
MAX_AGE_S = 7 * 24 * 3600.0
AHEAD_TOLERANCE_S = 5.0

_TELEMETRY = "v1/gateway/telemetry"
_OWN = "v1/devices/me/telemetry"
_CONNECT = "v1/gateway/connect"
_DISCONNECT = "v1/gateway/disconnect"
_RPC = "v1/devices/me/rpc/request/"
_SUFFIXES = (_TELEMETRY, _OWN, _CONNECT, _DISCONNECT, _RPC + "+")

KeyMap = dict[str, int]  # telemetry key -> sensor index


class ThingsBoardDecoder:
    """Turns one message of ThingsBoard's gateway API into readings, presence and replies."""

    def __init__(
        self,
        table: SensorTable,
        config: ThingsBoardInput,
        max_payload_bytes: int = MAX_PAYLOAD_BYTES,
        max_entries: int = MAX_ENTRIES,
        max_future_s: float = MAX_FUTURE_S,
        max_age_s: float = MAX_AGE_S,
        ahead_tolerance_s: float = AHEAD_TOLERANCE_S,
    ) -> None:
        self.table = table
        self.config = config
        self.max_payload_bytes = max_payload_bytes
        self.max_entries = max_entries
        self.max_future_s = max_future_s
        self.max_age_s = max_age_s
        self.ahead_tolerance_s = ahead_tolerance_s
        self.mount_root = config.mount_root.strip("/") if config.mount_root else None
        self.limits = orjson.dumps(config.session_limits)
        # scope (a token; None for the shared v1/ of unmounted gateways) -> device -> key map
        self._devices: dict[str | None, dict[str, KeyMap]] = {None: {}}
        self._own: dict[str | None, KeyMap] = {None: {}}
        for gw in config.gateways:
            devices = {d: self._resolve(keys, gw.name, d) for d, keys in gw.devices.items()}
            own = self._resolve(gw.own, gw.name, "(own)")
            self._devices[gw.token] = devices
            self._own[gw.token] = own
            self._devices[None].update(devices)
            self._own[None].update(own)

    def _resolve(self, keys: dict[str, str], gateway: str, device: str) -> KeyMap:
        out = {}
        for key, tag in keys.items():
            idx = self.table.tag_index.get(tag)
            if idx is None:  # the config layer refuses it; a bare Inputs is a bug
                raise ValueError(f"ThingsBoard gateway {gateway!r} {device}/{key}: no tag {tag!r}")
            out[key] = idx
        return out

    def topics(self) -> list[str]:
        """The topic filters to subscribe to."""
        if self.mount_root is None:
            return list(_SUFFIXES)
        return [f"{self.mount_root}/+/{s}" for s in _SUFFIXES]

    def owns(self, topic: str) -> bool:
        """Whether a topic belongs to this input."""
        if self.mount_root is None:
            return topic.startswith("v1/")
        return topic.startswith(self.mount_root + "/")

    def decode(self, topic: str, payload: bytes, received: float) -> Decoded:
        """Decode one message; never raises."""
        try:
            return self._decode(topic, payload, received)
        except BadField as bad:
            return _rejected(bad.reason, topic, bad.detail, payload)
        except Exception as exc:
            log.exception("ThingsBoard decoder bug on topic %r", topic)
            detail = f"decoder error {type(exc).__name__}: {exc}"
            return _rejected(Reason.INTERNAL_ERROR, topic, detail, payload[:4096])

    # ------------------------------------------------------------------ dispatch

    def _decode(self, topic: str, payload: bytes, received: float) -> Decoded:
        if len(payload) > self.max_payload_bytes:
            detail = f"payload is {len(payload)} bytes, limit {self.max_payload_bytes}"
            return _rejected(Reason.OVERSIZE, topic, detail, payload[: self.max_payload_bytes])
        scope, prefix, rel = self._scope(topic)
        if rel == _TELEMETRY:
            return self._gateway_telemetry(topic, scope, payload, received)
        if rel == _OWN:
            return self._own_telemetry(topic, scope, payload, received)
        if rel in (_CONNECT, _DISCONNECT):
            return self._presence(topic, scope, payload, received, rel == _CONNECT)
        if rel.startswith(_RPC):
            return self._rpc(prefix, rel[len(_RPC) :], payload)
        return Decoded(_EMPTY, [], ignored="thingsboard_other")

    def _scope(self, topic: str) -> tuple[str | None, str, str]:
        """(token or None, topic prefix, topic under it); BadField for another gateway's."""
        if self.mount_root is None:
            return None, "", topic
        parts = topic.split("/", 2)
        if len(parts) < 3 or parts[0] != self.mount_root or not parts[2].startswith("v1/"):
            raise BadField(Reason.BAD_TOPIC, f"expected {self.mount_root}/<token>/v1/...")
        token = parts[1]
        if token not in self._devices:
            raise BadField(
                Reason.UNKNOWN_GATEWAY,
                f"no ThingsBoard gateway with token {short(token)} in the site config",
            )
        return token, f"{parts[0]}/{token}/", parts[2]

    # ------------------------------------------------------------------ messages

    def _rpc(self, prefix: str, request_id: str, payload: bytes) -> Decoded:
        try:
            obj = loads(payload)
        except BadField:
            return Decoded(_EMPTY, [], ignored="thingsboard_rpc")
        if type(obj) is not dict or obj.get("method") != "getSessionLimits" or not request_id:
            return Decoded(_EMPTY, [], ignored="thingsboard_rpc")
        if not self.config.gateways:
            return Decoded(_EMPTY, [], ignored="thingsboard_rpc")
        reply = Reply(f"{prefix}v1/devices/me/rpc/response/{request_id}", self.limits, 1)
        return Decoded(_EMPTY, [], replies=(reply,), ignored="thingsboard_session_limits")

    def _presence(
        self, topic: str, scope: str | None, payload: bytes, received: float, online: bool
    ) -> Decoded:
        obj = loads(payload)
        device = obj.get("device") if type(obj) is dict else None
        if type(device) is not str:
            raise BadField(
                Reason.WRONG_TYPE, f'payload must be {{"device": <name>}}, got {kind_of(obj)}'
            )
        keys = self._devices[scope].get(device)
        if keys is None:
            raise BadField(Reason.UNKNOWN_DEVICE, _unknown_device(device))
        sensors = np.array(sorted(set(keys.values())), np.int64)
        status = GatewayStatus("thingsboard", device, online, received, sensors)
        return Decoded(_EMPTY, [], status)

    def _rows(self, topic: str, received: float) -> Rows:
        return Rows(topic, received, received + self.ahead_tolerance_s, self.table.tags)

    def _gateway_telemetry(
        self, topic: str, scope: str | None, payload: bytes, received: float
    ) -> Decoded:
        obj = loads(payload)
        if type(obj) is not dict:
            raise BadField(
                Reason.WRONG_TYPE,
                f'payload must be an object like {{"<device>": [...]}}, got {kind_of(obj)}',
            )
        devices = self._devices[scope]
        rows = self._rows(topic, received)
        lo, hi = received - self.max_age_s, received + self.max_future_s
        for device, entries in obj.items():
            keys = devices.get(device)
            if keys is None:
                rows.reject(Reason.UNKNOWN_DEVICE, _unknown_device(device), _dump({device: 0}))
                continue
            if type(entries) is dict:
                entries = [entries]
            elif type(entries) is not list:
                detail = f"device {short(device)}: expected an array of entries, got "
                rows.reject(Reason.WRONG_TYPE, detail + kind_of(entries), _dump(entries))
                continue
            if len(entries) > self.max_entries:
                detail = f"device {short(device)}: {len(entries)} entries, max {self.max_entries}"
                rows.reject(Reason.OVERSIZE, detail, _dump({device: len(entries)}))
                continue
            for entry in entries:
                self._entry(rows, device, keys, entry, received, lo, hi)
        return _decoded(rows)

    def _own_telemetry(
        self, topic: str, scope: str | None, payload: bytes, received: float
    ) -> Decoded:
        obj = loads(payload)
        entries = obj if type(obj) is list else [obj]
        if len(entries) > self.max_entries:
            raise BadField(Reason.OVERSIZE, f"{len(entries)} entries, max {self.max_entries}")
        own = self._own[scope]
        rows = self._rows(topic, received)
        lo, hi = received - self.max_age_s, received + self.max_future_s
        for entry in entries:
            self._entry(rows, "", own, entry, received, lo, hi)
        if not len(rows) and not rows.rejections:
            return Decoded(_EMPTY, [], ignored="thingsboard_own")
        return _decoded(rows)

    def _entry(
        self,
        rows: Rows,
        device: str,
        keys: KeyMap,
        entry: Any,
        received: float,
        lo: float,
        hi: float,
    ) -> None:
        """One ``{"ts": ms, "values": {...}}`` (or a bare ``{key: value}``) of a device;
        `device` "" for the gateway's own, whose unmapped keys are its counters: skipped."""
        if type(entry) is not dict:
            detail = f"entry must be an object, got {kind_of(entry)}"
            rows.reject(Reason.WRONG_TYPE, detail, _dump(entry))
            return
        values = entry.get("values")
        if type(values) is dict and ("ts" in entry or len(entry) == 1):
            raw_ts = entry.get("ts")
        else:
            values, raw_ts = entry, None
        if raw_ts is None:
            ts, flags = received, FLAG_TS_FROM_RECEIPT
        else:
            t = type(raw_ts)
            if (t is not int and t is not float) or raw_ts != raw_ts:
                detail = f"ts must be epoch milliseconds, got {kind_of(raw_ts)} {short(raw_ts)}"
                rows.reject(Reason.BAD_TIMESTAMP, detail, _dump(entry))
                return
            ts, flags = raw_ts / 1000.0, 0
            if not lo <= ts <= hi:
                rows.reject(*_out_of_window(ts, received, lo, hi), _dump(entry))
                return
        for key, value in values.items():
            idx = keys.get(key)
            if idx is None:
                if device:
                    detail = f"device {short(device)} has no key {short(key)} in the site config"
                    rows.reject(Reason.UNKNOWN_METRIC, detail, _dump({device: {key: value}}))
                continue
            t = type(value)
            if t is float:
                if value - value != 0.0:
                    rows.reject(Reason.NOT_FINITE, f"{key} is {value!r}", _dump({key: None}))
                    continue
            elif t is int or t is bool:
                try:
                    value = float(value)
                except OverflowError:
                    rows.reject(Reason.NOT_FINITE, f"{key} overflows a double", _dump(key))
                    continue
            else:
                detail = f"{key} must be a number, got {kind_of(value)} {short(value)}"
                rows.reject(Reason.WRONG_TYPE, detail, _dump({key: value}))
                continue
            rows.add(idx, ts, value, 0, flags)


_EMPTY = Batch.empty()


def _unknown_device(device: Any) -> str:
    return f"device {short(device)} is not under inputs.thingsboard in the site config"


def _out_of_window(ts: float, received: float, lo: float, hi: float) -> tuple[Reason, str]:
    if ts > hi:
        return Reason.TS_FUTURE, f"ts {ts:.3f} s is {ts - received:.1f} s after receipt"
    hint = " (seconds instead of milliseconds?)" if 0 < ts < 1e8 else ""
    return Reason.TS_TOO_OLD, f"ts {ts:.3f} s is {received - ts:.1f} s before receipt{hint}"


def _decoded(rows: Rows) -> Decoded:
    batch = rows.batch() if len(rows) else _EMPTY
    return Decoded(batch, rows.rejections, noted=tuple(rows.noted))


def _rejected(reason: Reason, topic: str, detail: str, payload: bytes) -> Decoded:
    return Decoded(_EMPTY, [Rejection(reason, topic, detail, bytes(payload), None)])


def _dump(obj: Any) -> bytes:
    try:
        return orjson.dumps(obj)[:4096]
    except (TypeError, orjson.JSONEncodeError):
        return repr(obj).encode("utf-8", "backslashreplace")[:4096]

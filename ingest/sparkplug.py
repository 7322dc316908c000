"""Sparkplug B -> the same Batch as wire format v1, with births, deaths and rebirth requests.

Topics ``spBv1.0/<group>/<NBIRTH|NDATA|NDEATH|DBIRTH|DDATA|DDEATH|NCMD|DCMD>/<node>[/<device>]``,
payloads in the Eclipse Tahu protobuf. ingest/sparkplug_b_pb2.py(i) is generated, not written:
``python -m grpc_tools.protoc -I. --python_out=. --pyi_out=. sparkplug_b.proto`` (grpcio-tools
1.85.4, libprotoc 35.1; runtime protobuf >= 7.35) on ``sparkplug_b/sparkplug_b.proto`` of
github.com/eclipse/tahu at 5736e404 (EPL-2.0; the .proto itself is not kept here); generate it
again the same way for a new Tahu. What the host side of the specification asks, and what
this does:

- a birth (NBIRTH, DBIRTH) declares the metrics with their names, datatypes and aliases; the
  data after it may name a metric by alias only. Its values are readings too.
- ``seq`` counts every message of a node but its death, 0-255 and round again; a gap, data
  before its birth, or an alias its birth did not declare, asks the node for a rebirth: an
  NCMD ``Node Control/Rebirth`` (at most once per `rebirth_every_s` until it is born again).
- NDEATH (the node's MQTT last will) carries the ``bdSeq`` of the session it ends: a death
  whose bdSeq is not the birth's is an old session's, and is ignored. A death is
  communication loss for all the sensors of the node (NDEATH) or device (DDEATH) at once.
- a metric's timestamp (epoch ms) is the reading's, else the payload's, else receipt time;
  its ``Quality`` property (OPC: 192 good, 64-191 uncertain, below bad) is the quality.

The decoder keeps each node's birth state; it never raises on outside input.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from operator import attrgetter, methodcaller
from typing import Any

import numpy as np
from google.protobuf.message import DecodeError

from hazardwatch.vocabulary.inputs import SparkplugInput, SparkplugNode
from hazardwatch.vocabulary.model import FLAG_TS_FROM_RECEIPT, Batch, Quality, SensorTable
from ingest.decoded import Decoded, GatewayStatus, Reason, Rejection, Reply
from ingest.fields import short
from ingest.rows import Rows
from ingest.sparkplug_b_pb2 import Payload

log = logging.getLogger(__name__)

NAMESPACE = "spBv1.0"
MAX_PAYLOAD_BYTES = 256 * 1024
MAX_FUTURE_S = 300.0
MAX_AGE_S = 7 * 24 * 3600.0
AHEAD_TOLERANCE_S = 5.0
REBIRTH = "Node Control/Rebirth"

# Tahu DataType codes
_SIGNED32 = frozenset({1, 2, 3})  # Int8, Int16, Int32: two's complement in int_value
_UNSIGNED32 = frozenset({5, 6, 7})  # UInt8, UInt16, UInt32
_INT64, _UINT64, _FLOAT, _DOUBLE, _BOOLEAN, _DATETIME = 4, 8, 9, 10, 11, 13
# the value field of the types whose value needs no conversion beyond float()
_FIELD = {
    _DOUBLE: "double_value",
    _FLOAT: "float_value",
    _UINT64: "long_value",
    _BOOLEAN: "boolean_value",
    **dict.fromkeys(_UNSIGNED32, "int_value"),
}
# Metrics every node declares in its birth that are no readings (under a prefix of its own
# in some libraries: "CMD/Node Control/Rebirth"): not dead-lettered.
_HOUSEKEEPING = ("bdSeq", "Node Control/", "Device Control/", "Properties/", "Node Info/")


@dataclass(eq=False)
class _Entity:
    """A node or a device: its mapped metrics and, once born, its aliases."""

    where: str  # "group/node[/device]", for messages
    names: dict[str, int]  # metric name -> sensor index (from the site config)
    born: bool = False
    aliases: dict[int, tuple[str, int]] = field(default_factory=dict)  # alias -> name, datatype
    types: dict[str, int] = field(default_factory=dict)  # name -> datatype, from the birth
    # alias (not 0) -> (sensor index, value field) of the mapped metrics of an unsigned type
    fast: dict[int, tuple[int, str]] = field(default_factory=dict)
    # the quick path of a whole message (_all_quick): alias -> sensor index, and the reader of
    # alias, timestamp, is_null and the one value field they share (None: several fields)
    quick_idx: dict[int, int] = field(default_factory=dict)
    quick_value: Any = None


@dataclass(eq=False)
class _Node(_Entity):
    group: str = ""
    node: str = ""
    devices: dict[str, _Entity] = field(default_factory=dict)
    bd_seq: int | None = None
    seq: int | None = None  # last sequence number seen
    asked_at: float = -math.inf  # receipt time of the last rebirth request


class SparkplugDecoder:
    """Turns one Sparkplug B message into readings, deaths and rebirth requests."""

    def __init__(
        self,
        table: SensorTable,
        config: SparkplugInput,
        max_payload_bytes: int = MAX_PAYLOAD_BYTES,
        max_future_s: float = MAX_FUTURE_S,
        max_age_s: float = MAX_AGE_S,
        ahead_tolerance_s: float = AHEAD_TOLERANCE_S,
    ) -> None:
        self.table = table
        self.config = config
        self.max_payload_bytes = max_payload_bytes
        self.max_future_s = max_future_s
        self.max_age_s = max_age_s
        self.ahead_tolerance_s = ahead_tolerance_s
        self.rebirths_requested = 0
        self._nodes = {(n.group, n.node): self._node(n) for n in config.nodes}

    def _node(self, cfg: SparkplugNode) -> _Node:
        where = f"{cfg.group}/{cfg.node}"
        node = _Node(where, self._resolve(cfg.metrics, where), group=cfg.group, node=cfg.node)
        for device, metrics in cfg.devices.items():
            node.devices[device] = _Entity(
                f"{where}/{device}", self._resolve(metrics, f"{where}/{device}")
            )
        return node

    def _resolve(self, metrics: dict[str, str], where: str) -> dict[str, int]:
        out = {}
        for metric, tag in metrics.items():
            idx = self.table.tag_index.get(tag)
            if idx is None:  # the config layer refuses it; a bare Inputs is a bug
                raise ValueError(f"Sparkplug {where} metric {metric!r}: no tag {tag!r}")
            out[metric] = idx
        return out

    def topics(self) -> list[str]:
        """The topic filters to subscribe to: the configured groups."""
        groups = sorted({group for group, _ in self._nodes})
        return [f"{NAMESPACE}/{g}/#" for g in groups]

    def owns(self, topic: str) -> bool:
        return topic.startswith(NAMESPACE + "/")

    def decode(self, topic: str, payload: bytes, received: float) -> Decoded:
        """Decode one message; never raises."""
        try:
            return self._decode(topic, payload, received)
        except Exception as exc:
            log.exception("Sparkplug decoder bug on topic %r", topic)
            detail = f"decoder error {type(exc).__name__}: {exc}"
            return _rejected(Reason.INTERNAL_ERROR, topic, detail, payload[:4096])

    # ------------------------------------------------------------------ dispatch

    def _decode(self, topic: str, payload: bytes, received: float) -> Decoded:
        parts = topic.split("/")
        if len(parts) >= 2 and parts[1] == "STATE":  # host applications' own state
            return Decoded(_EMPTY, [], ignored="sparkplug_state")
        if len(parts) not in (4, 5) or parts[0] != NAMESPACE or not all(parts):
            detail = f"expected {NAMESPACE}/<group>/<message type>/<edge node>[/<device>]"
            return _rejected(Reason.BAD_TOPIC, topic, detail, payload)
        group, kind, name = parts[1], parts[2], parts[3]
        device = parts[4] if len(parts) == 5 else None
        if kind in ("NCMD", "DCMD"):  # our own rebirth requests come back, and other hosts'
            return Decoded(_EMPTY, [], ignored="sparkplug_command")
        if kind not in _KINDS or (device is None) != (kind[0] == "N"):
            return _rejected(
                Reason.BAD_TOPIC, topic, f"unknown message type {short(kind)}", payload
            )
        node = self._nodes.get((group, name))
        if node is None:
            detail = f"edge node {group}/{name} is not under inputs.sparkplug in the site config"
            return _rejected(Reason.UNKNOWN_DEVICE, topic, detail, payload[:4096])
        if len(payload) > self.max_payload_bytes:
            detail = f"payload is {len(payload)} bytes, limit {self.max_payload_bytes}"
            return _rejected(Reason.OVERSIZE, topic, detail, payload[: self.max_payload_bytes])
        try:
            message = Payload.FromString(payload)
        except (DecodeError, ValueError, RuntimeError) as exc:  # upb raises DecodeError
            return _rejected(
                Reason.MALFORMED_PROTOBUF, topic, f"not a Sparkplug B payload: {exc}", payload
            )
        if kind == "NDEATH":
            return self._node_death(topic, node, message, received)
        entity: _Entity = node
        if device is not None:
            found = node.devices.get(device)
            if found is None:
                detail = f"device {node.where}/{device} is not under inputs.sparkplug"
                return _rejected(Reason.UNKNOWN_DEVICE, topic, detail, payload[:4096])
            entity = found
        replies: list[Reply] = []
        if kind != "NBIRTH" and not self._in_sequence(node, message):
            self._rebirth(node, received, replies)
        if kind == "NBIRTH":
            self._birth(node, message)
            node.bd_seq = _bd_seq(message)
            node.seq = message.seq if message.HasField("seq") else None
            node.asked_at = -math.inf
            for d in node.devices.values():  # a new session: devices are born again
                d.born, d.aliases = False, {}
        elif kind == "DBIRTH":
            if not node.born:
                return self._before_birth(topic, node, node, message, received, replies)
            self._birth(entity, message)
        elif kind == "DDEATH":
            entity.born = False
            sensors = np.array(sorted(set(entity.names.values())), np.int64)
            status = GatewayStatus("sparkplug", entity.where, False, received, sensors)
            return Decoded(_EMPTY, [], status, replies=tuple(replies))
        elif not (node.born and entity.born):
            return self._before_birth(topic, node, entity, message, received, replies)
        if entity.quick_value is not None and kind.endswith("DATA"):
            lo_ms = (received - self.max_age_s) * 1000.0
            hi_ms = (received + min(self.max_future_s, self.ahead_tolerance_s)) * 1000.0
            batch = _all_quick(message.metrics, entity, lo_ms, hi_ms)
            if batch is not None:
                return Decoded(batch, [], replies=tuple(replies))
        rows = Rows(topic, received, received + self.ahead_tolerance_s, self.table.tags)
        if self._readings(rows, entity, message, received):
            self._rebirth(node, received, replies)
        batch = rows.batch() if len(rows) else _EMPTY
        return Decoded(batch, rows.rejections, noted=tuple(rows.noted), replies=tuple(replies))

    # ------------------------------------------------------------------ state

    def _in_sequence(self, node: _Node, message: Any) -> bool:
        """Note the message's seq; False on a gap (or a node that never said one)."""
        if not message.HasField("seq"):
            return node.seq is None
        seq = message.seq
        expected = None if node.seq is None else (node.seq + 1) % 256
        node.seq = seq % 256
        return expected is None or seq == expected

    def _birth(self, entity: _Entity, message: Any) -> None:
        entity.born = True
        entity.aliases, entity.types, entity.fast = {}, {}, {}
        for metric in message.metrics:
            if not metric.HasField("name"):
                continue
            datatype = metric.datatype
            entity.types[metric.name] = datatype
            if metric.HasField("alias"):
                entity.aliases[metric.alias] = (metric.name, datatype)
                idx = entity.names.get(metric.name)
                if metric.alias and idx is not None and datatype in _FIELD:
                    entity.fast[metric.alias] = (idx, _FIELD[datatype])
        entity.quick_idx = {alias: idx for alias, (idx, _) in entity.fast.items()}
        fields = {f for _, f in entity.fast.values()}
        entity.quick_value = (
            attrgetter("alias", "timestamp", "is_null", fields.pop()) if len(fields) == 1 else None
        )

    def _rebirth(self, node: _Node, received: float, replies: list[Reply]) -> None:
        if received - node.asked_at < self.config.rebirth_every_s:
            return
        node.asked_at = received
        self.rebirths_requested += 1
        request = Payload(timestamp=int(received * 1000))
        metric = request.metrics.add()
        metric.name, metric.datatype, metric.boolean_value = REBIRTH, _BOOLEAN, True
        topic = f"{NAMESPACE}/{node.group}/NCMD/{node.node}"
        replies.append(Reply(topic, request.SerializeToString(), 0))

    def _before_birth(
        self,
        topic: str,
        node: _Node,
        entity: _Entity,
        message: Any,
        received: float,
        replies: list[Reply],
    ) -> Decoded:
        """Data of a node or device not born (since its death, or since we started): none
        of it can be trusted to its aliases, so it is rejected and the node asked again."""
        self._rebirth(node, received, replies)
        rejections = [
            Rejection(
                Reason.BEFORE_BIRTH,
                topic,
                f"{entity.where} sent data before its birth certificate: rebirth requested",
                bytes(metric.SerializeToString()),
                i,
            )
            for i, metric in enumerate(message.metrics)
        ]
        return Decoded(_EMPTY, rejections, replies=tuple(replies))

    def _node_death(self, topic: str, node: _Node, message: Any, received: float) -> Decoded:
        bd_seq = _bd_seq(message)
        if node.bd_seq is not None and bd_seq is not None and bd_seq != node.bd_seq:
            return Decoded(_EMPTY, [], ignored="sparkplug_stale_death")
        node.born = False
        node.seq = None
        node.bd_seq = None
        sensors = set(node.names.values())
        for d in node.devices.values():
            d.born, d.aliases = False, {}
            sensors.update(d.names.values())
        status = GatewayStatus(
            "sparkplug", node.where, False, received, np.array(sorted(sensors), np.int64)
        )
        return Decoded(_EMPTY, [], status)

    # ------------------------------------------------------------------ readings

    def _readings(self, rows: Rows, entity: _Entity, message: Any, received: float) -> bool:
        """The message's metrics into `rows`; True if an alias was not declared."""
        lo, hi = received - self.max_age_s, received + self.max_future_s
        default_ms = message.timestamp if message.HasField("timestamp") else None
        names, aliases, types, fast = entity.names, entity.aliases, entity.types, entity.fast
        unknown_alias = False
        # the common case in few attribute reads: a mapped numeric alias with its own
        # timestamp, in the window and not ahead, no properties; taken in bulk at the end.
        # Anything else takes the careful path below.
        quick_hi = min(hi, rows.ahead_after) * 1000.0
        quick_lo = lo * 1000.0
        q_sensor: list[int] = []
        q_ms: list[int] = []
        q_value: list[float] = []
        metrics = list(message.metrics)
        quick = fast.get
        add_sensor, add_ms, add_value = q_sensor.append, q_ms.append, q_value.append
        for metric in metrics:
            hit = quick(metric.alias)
            if hit is not None:
                ms = metric.timestamp
                if quick_lo <= ms <= quick_hi and not metric.is_null:
                    idx, value_field = hit
                    value = getattr(metric, value_field)
                    if value - value == 0 and not metric.HasField("properties"):
                        add_sensor(idx)
                        add_ms(ms)
                        add_value(value)
                        continue
            if q_sensor:  # the careful path: what came before it goes first, in order
                _take_quick(rows, q_sensor, q_ms, q_value)
            # the alias first: it is what the birth bound (mqtt-spb-wrapper's data names its
            # metrics without the DATA/ its birth gave them)
            if metric.HasField("alias") and metric.alias in aliases:
                name, datatype = aliases[metric.alias]
                datatype = metric.datatype or datatype
            elif metric.HasField("name"):
                name = metric.name
                datatype = metric.datatype or types.get(name, 0)
            else:
                unknown_alias = True
                detail = f"{entity.where}: alias {metric.alias} was not declared in its birth"
                rows.reject(Reason.UNKNOWN_METRIC, detail, metric.SerializeToString())
                continue
            idx = names.get(name)
            if idx is None:
                if not any(word in name for word in _HOUSEKEEPING):
                    detail = f"{entity.where} has no metric {short(name)} in the site config"
                    rows.reject(Reason.UNKNOWN_METRIC, detail, metric.SerializeToString())
                continue
            if metric.is_null:
                detail = f"{name} is null"
                rows.reject(Reason.WRONG_TYPE, detail, metric.SerializeToString())
                continue
            value = _value(metric, datatype)
            if value is None or value - value != 0.0:
                reason = Reason.WRONG_TYPE if value is None else Reason.NOT_FINITE
                detail = f"{name}: datatype {datatype} value {metric.WhichOneof('value')} "
                rows.reject(reason, detail + "is not a finite number", metric.SerializeToString())
                continue
            ms = metric.timestamp if metric.HasField("timestamp") else default_ms
            if ms is None:
                ts, flags = received, FLAG_TS_FROM_RECEIPT
            else:
                ts, flags = ms / 1000.0, 0
                if not lo <= ts <= hi:
                    reason, detail = _out_of_window(ts, received, hi)
                    rows.reject(reason, f"{name}: {detail}", metric.SerializeToString())
                    continue
            quality = _quality(metric) if metric.HasField("properties") else Quality.GOOD
            rows.add(idx, ts, value, quality, flags)
        if q_sensor:
            _take_quick(rows, q_sensor, q_ms, q_value)
        return unknown_alias


def _all_quick(metrics: Any, entity: _Entity, lo_ms: float, hi_ms: float) -> Batch | None:
    """A whole DATA message in a few C-level passes, when every metric is a mapped alias of
    the entity's one value field with its own timestamp in the window (and not ahead), no
    null, no properties and no repeat (the usual NDATA/DDATA); None when any is not: then
    the careful path judges each metric."""
    if not metrics:
        return None
    aliases, stamps, nulls, values = zip(*map(entity.quick_value, metrics), strict=True)
    sensors = list(map(entity.quick_idx.get, aliases))
    if None in sensors or any(nulls) or any(map(_HAS_PROPERTIES, metrics)):
        return None
    ts = np.array(stamps, np.float64)
    if not ((ts >= lo_ms) & (ts <= hi_ms)).all():
        return None
    value = np.array(values, np.float64)
    if not np.isfinite(value).all():
        return None
    sensor = np.array(sensors, np.int64)
    if len(set(zip(sensors, stamps, strict=True))) != len(sensors):
        return None
    n = len(sensors)
    return Batch(
        sensor=sensor,
        ts=ts / 1000.0,
        value=value,
        quality=np.zeros(n, np.uint8),
        flags=np.zeros(n, np.uint8),
    )


def _take_quick(rows: Rows, sensors: list[int], stamps_ms: list[int], values: list[Any]) -> None:
    """Hand the quick path's readings to `rows` and empty the lists."""
    stamps = (np.array(stamps_ms, np.float64) / 1000.0).tolist()
    rows.extend(sensors[:], stamps, np.array(values, np.float64).tolist())
    sensors.clear()
    stamps_ms.clear()
    values.clear()


_HAS_PROPERTIES = methodcaller("HasField", "properties")
_KINDS = frozenset({"NBIRTH", "NDATA", "NDEATH", "DBIRTH", "DDATA", "DDEATH"})
_EMPTY = Batch.empty()


def _value(metric: Any, datatype: int) -> float | None:
    """A metric's value as a float by its datatype; None for a non-numeric one."""
    if datatype == _DOUBLE:
        return metric.double_value
    if datatype == _FLOAT:
        return metric.float_value
    if datatype in _UNSIGNED32:
        return float(metric.int_value)
    if datatype in _SIGNED32:
        v = metric.int_value
        return float(v - (1 << 32) if v >= 1 << 31 else v)
    if datatype == _INT64:
        v = metric.long_value
        return float(v - (1 << 64) if v >= 1 << 63 else v)
    if datatype == _UINT64:
        return float(metric.long_value)
    if datatype == _BOOLEAN:
        return 1.0 if metric.boolean_value else 0.0
    which = metric.WhichOneof("value") if datatype == 0 else None
    if which in ("double_value", "float_value", "int_value", "long_value"):
        return float(getattr(metric, which))
    if which == "boolean_value":
        return 1.0 if metric.boolean_value else 0.0
    return None


def _quality(metric: Any) -> int:
    """The OPC quality code of a metric's ``Quality`` property (192 good)."""
    props = metric.properties
    for key, prop in zip(props.keys, props.values, strict=False):
        if key == "Quality":
            which = prop.WhichOneof("value")
            code = getattr(prop, which) if which in ("int_value", "long_value") else 192
            if 192 <= code < 256:
                return Quality.GOOD
            return Quality.UNCERTAIN if 64 <= code < 192 else Quality.BAD
    return Quality.GOOD


def _bd_seq(message: Any) -> int | None:
    for metric in message.metrics:
        if metric.name == "bdSeq":
            value = _value(metric, metric.datatype)
            return None if value is None else int(value)
    return None


def _out_of_window(ts: float, received: float, hi: float) -> tuple[Reason, str]:
    if ts > hi:
        return Reason.TS_FUTURE, f"ts {ts:.3f} s is {ts - received:.1f} s after receipt"
    hint = " (seconds instead of milliseconds?)" if 0 < ts < 1e8 else ""
    return Reason.TS_TOO_OLD, f"ts {ts:.3f} s is {received - ts:.1f} s before receipt{hint}"


def _rejected(reason: Reason, topic: str, detail: str, payload: bytes) -> Decoded:
    return Decoded(_EMPTY, [Rejection(reason, topic, detail, bytes(payload), None)])

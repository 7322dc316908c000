"""Inputs: which MQTT dialects the service takes, and how their names map to tags.

Wire format v1 names tags itself; a ThingsBoard IoT Gateway names devices and telemetry
keys, a Sparkplug B edge node names groups, nodes, devices and metrics. The site config's
`inputs:` section (hazardwatch.vocabulary.config) maps those names to the site's tags; ingest
resolves
them (ingest.thingsboard, ingest.sparkplug).
"""

from __future__ import annotations

from dataclasses import dataclass, field

# What HazardWatch answers a ThingsBoard gateway's getSessionLimits with: no rate limits,
# and a payload and in-flight ceiling a plain mosquitto takes.
SESSION_LIMITS: dict[str, object] = {
    "rateLimits": {},
    "gatewayRateLimits": {},
    "maxPayloadSize": 65536,
    "maxInflightMessages": 100,
}


@dataclass(frozen=True)
class ThingsBoardGateway:
    """One ThingsBoard IoT Gateway, known by its access token (its MQTT user name)."""

    token: str
    name: str
    devices: dict[str, dict[str, str]]  # device name -> telemetry key -> tag
    own: dict[str, str] = field(default_factory=dict)  # its own telemetry key -> tag


@dataclass(frozen=True)
class ThingsBoardInput:
    """ThingsBoard's gateway MQTT API (`v1/gateway/...`, `v1/devices/me/...`).

    `mount_root`: a broker that mounts each client under its user name (EMQX's
    ``mountpoint = "tb/${username}/"``) shows a gateway's ``v1/...`` as
    ``<mount_root>/<token>/v1/...``; without it, every listed gateway shares one ``v1/``.
    """

    gateways: tuple[ThingsBoardGateway, ...]
    mount_root: str | None = None
    session_limits: dict[str, object] = field(default_factory=lambda: dict(SESSION_LIMITS))


@dataclass(frozen=True)
class SparkplugNode:
    """One Sparkplug B edge node and the devices behind it."""

    group: str
    node: str
    metrics: dict[str, str] = field(default_factory=dict)  # the node's own metric -> tag
    devices: dict[str, dict[str, str]] = field(default_factory=dict)  # device -> metric -> tag


@dataclass(frozen=True)
class SparkplugInput:
    """Sparkplug B (``spBv1.0/<group>/<message type>/<node>[/<device>]``)."""

    nodes: tuple[SparkplugNode, ...]
    rebirth_every_s: float = 10.0  # a node that does not answer is asked again this often


@dataclass(frozen=True)
class Inputs:
    """Which inputs are on; wire format v1 unless the config says otherwise."""

    wire_v1: bool = True
    thingsboard: ThingsBoardInput | None = None
    sparkplug: SparkplugInput | None = None

"""Simulators: tank-farm physics, scripted incidents with ground truth, the fleet publisher.

Imports only the model (`hazardwatch.model`), never ingest, detectors, alerting or dashboards.
"""

from simulators.fleet import FleetPublisher, PublisherError, parse_broker_url, simulate
from simulators.physics import Climate, Operations, TankFarm, operating_band
from simulators.scenario import GatewayOutage, Overfill, Scenario, ScenarioError, Script

__all__ = [
    "Climate",
    "FleetPublisher",
    "GatewayOutage",
    "Operations",
    "Overfill",
    "PublisherError",
    "Scenario",
    "ScenarioError",
    "Script",
    "TankFarm",
    "operating_band",
    "parse_broker_url",
    "simulate",
]

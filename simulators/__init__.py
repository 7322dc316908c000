"""Simulators: tank-farm physics, scripted incidents with ground truth, the fleet publisher.

Imports only the model (`hazardwatch.vocabulary.model`), never ingest, detectors, alerting or
dashboards.
"""

from simulators.fleet import FleetPublisher, PublisherError, parse_broker_url
from simulators.generate import GenerateError, generate_site, parse_generate_spec
from simulators.incidents import (
    CoolingFailure,
    FireExposure,
    HeatingFailure,
    HeatingRunaway,
    Leak,
    MaintenanceDrain,
    PaddingGas,
    SensorFault,
    Transfer,
)
from simulators.instruments import FaultKind
from simulators.library import ScenarioSpec, library, load_scenario, parse_scenario
from simulators.live import check_live_clock, simulate
from simulators.physics import Climate, Operations, TankFarm, operating_band
from simulators.realism import Realism, configured
from simulators.record import (
    CSV_START_TS,
    CsvRecorder,
    RecordError,
    record_run,
    site_to_yaml,
    truth_path,
    write_truth,
)
from simulators.scenario import (
    GatewayOutage,
    Incident,
    Overfill,
    Scenario,
    ScenarioError,
    Script,
)

__all__ = [
    "CSV_START_TS",
    "Climate",
    "CoolingFailure",
    "CsvRecorder",
    "FaultKind",
    "FireExposure",
    "FleetPublisher",
    "GatewayOutage",
    "GenerateError",
    "HeatingFailure",
    "HeatingRunaway",
    "Incident",
    "Leak",
    "MaintenanceDrain",
    "Operations",
    "Overfill",
    "PaddingGas",
    "PublisherError",
    "Realism",
    "RecordError",
    "Scenario",
    "ScenarioError",
    "ScenarioSpec",
    "Script",
    "SensorFault",
    "TankFarm",
    "Transfer",
    "check_live_clock",
    "configured",
    "generate_site",
    "library",
    "load_scenario",
    "operating_band",
    "parse_broker_url",
    "parse_generate_spec",
    "parse_scenario",
    "record_run",
    "simulate",
    "site_to_yaml",
    "truth_path",
    "write_truth",
]

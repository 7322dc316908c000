"""Running a simulated park live against a broker: the clock check and the CLI's entry point."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from typing import Any

from hazardwatch.vocabulary.model import Site
from simulators.fleet import FleetPublisher, Mode, PublisherError
from simulators.physics import Climate
from simulators.scenario import Overfill, Scenario

log = logging.getLogger(__name__)

# The live ingest refuses a reading whose ts is more than 300 s after its own clock or more
# than 7 days before it (ingest.MAX_FUTURE_S / MAX_AGE_S); stay inside with a margin.
MAX_LEAD_S = 240.0
MAX_LAG_S = 7 * 86400.0 - 3600.0


def check_live_clock(start_ts: float, now: float, duration_s: float | None, speed: float) -> None:
    """Refuse a run whose readings' `ts` the live service would reject as future or too old.

    Simulated time runs `speed` times faster than the wall clock, so the gap between a
    reading's ts and the wall clock changes linearly and is largest at one end of the run;
    `duration_s` is simulated seconds (None: unbounded).

    >>> check_live_clock(1000.0, 1000.0, 600.0, 1.5)  # 200 s ahead at the end: fine
    >>> check_live_clock(1000.0, 1000.0, 3600.0, 10.0)
    Traceback (most recent call last):
    ...
    simulators.fleet.PublisherError: readings would run up to 3240 s ahead of the wall clock ...
    """
    if speed > 1.0 and duration_s is None:
        raise PublisherError(
            f"with speed {speed:g} simulated time runs ahead of the wall clock without bound; "
            "give a duration, or record to CSV and replay it"
        )
    end_gap = 0.0 if duration_s is None else duration_s - duration_s / speed
    lead = max(start_ts - now, start_ts - now + end_gap)
    lag = -min(start_ts - now, start_ts - now + end_gap)
    if lead > MAX_LEAD_S:
        longest = MAX_LEAD_S / (1.0 - 1.0 / speed) if speed > 1.0 else 0.0
        raise PublisherError(
            f"readings would run up to {lead:.0f} s ahead of the wall clock ... the live "
            f"service refuses ts more than 300 s ahead, so keep the simulated duration under "
            f"{longest:.0f} s at speed {speed:g}, or record to CSV and replay it"
        )
    if lag > MAX_LAG_S:
        raise PublisherError(
            f"readings would be up to {lag:.0f} s older than the wall clock; the live service "
            "refuses ts more than 7 days old: start later"
        )


def simulate(
    site: Site,
    broker_url: str,
    *,
    rate_hz: float = 1.0,
    mode: Mode = "batch",
    duration_s: float | None = None,
    speed: float = 1.0,
    seed: int = 0,
    overfill: str | None = None,
    overfill_at_s: float = 30.0,
    scenarios: Iterable[Scenario] = (),
    qos: int = 1,
    start_ts: float | None = None,
    climate: Climate | None = None,
    stop: threading.Event | None = None,
) -> dict[str, Any]:
    """Run a simulated park against a broker (for the CLI); return the publisher's stats.

    `duration_s` is wall-clock seconds (None: until `stop` or Ctrl-C); `scenarios` run on the
    farm, and `overfill` names a unit whose inflow opens `overfill_at_s` simulated seconds
    after the start. `start_ts` is the
    simulated start (default now); with `speed` > 1 simulated time runs ahead of the wall
    clock, so a consumer that refuses future timestamps wants a start in the past.
    """
    scenarios = [*scenarios, *([] if overfill is None else [Overfill(overfill, overfill_at_s)])]
    fleet = FleetPublisher(
        site,
        broker_url,
        rate_hz=rate_hz,
        mode=mode,
        speed=speed,
        seed=seed,
        scenarios=scenarios,
        qos=qos,
        start_ts=start_ts,
        climate=climate,
    )
    with fleet:
        try:
            fleet.run(duration_s, stop)
        except KeyboardInterrupt:
            log.info("simulation interrupted; closing the gateways")
    return fleet.stats()

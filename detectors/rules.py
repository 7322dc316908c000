"""The detector's round rules, in the order they run after each round (detectors.rule).

The per-reading stages come first, inside the detector's step, in a fixed order each
later one depends on: instrument (quality, range), signal faults (detectors.signal), the
limits (detectors.limit_rules) and the trends (detectors.trends). The rules below then
judge the round as a whole: groups of sensors and the plant's context.
"""

from __future__ import annotations

from detectors.clock import ClockAheadRule
from detectors.cooling import CoolingRule
from detectors.mass_balance import MassBalance
from detectors.multivariate import RelationRule
from detectors.plans import Plans
from detectors.rule import Rule
from detectors.state import Params
from detectors.vapour_pressure import VapourPressure
from detectors.vote import AreaVote, CoRise
from hazardwatch.vocabulary.model import SensorTable


def build(params: Params, table: SensorTable) -> tuple[Rule, ...]:
    """Every round rule of a park, in running order: one line per rule."""
    return (
        AreaVote(params),  # AREA_GAS: k of n gas detectors of an area
        CoRise(params),  # CO_RISE: a tank's temperature and pressure rising together
        Plans(params),  # OVERRUN: the level past its transfer plan's target
        CoolingRule(table),  # COOLING_LOST: a cooled tank past its on-point, cooling off
        RelationRule(table),  # RELATION: a group of sensors left its usual relation (T²)
        ClockAheadRule(),  # CLOCK_AHEAD: readings stamped ahead of the service's clock
        MassBalance(table),  # MASS_BALANCE: a tank's level against its flow meters
        VapourPressure(table),  # VAPOUR_PRESSURE: a liquefied gas's pressure against its curve
    )

"""The numpy detector core: state as arrays, one pure function per check.

`Detector(table, start_ts).step(batch)` returns the condition changes a batch causes.
"""

from detectors.checks import CHECKS
from detectors.decide import DECISIONS
from detectors.state import SLOTS, Params, Slot, State
from detectors.step import Detector

__all__ = ["CHECKS", "DECISIONS", "SLOTS", "Detector", "Params", "Slot", "State"]

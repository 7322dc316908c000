"""The numpy detector core: state as arrays, one pure function per check.

`Detector(table, start_ts).step(batch)` returns the condition changes a batch causes:
limits, instrument faults, early warnings (RATE, PREDICT_HH/LL with eta, DRIFT), signal
faults (SPIKE, STUCK, NOISY) and cross-sensor rules (AREA_GAS, CO_RISE).
`Detector.learn(batch)` teaches the baselines only.
"""

from detectors.allocator import keep_large_blocks
from detectors.checks import CHECKS
from detectors.decide import DECISIONS
from detectors.state import RING_SIZE, SLOTS, Params, Slot, State
from detectors.step import Detector

__all__ = [
    "CHECKS",
    "DECISIONS",
    "RING_SIZE",
    "SLOTS",
    "Detector",
    "Params",
    "Slot",
    "State",
    "keep_large_blocks",
]

"""The detector core: state as numpy arrays, one pure function per check; the two stages
that are sequential per sensor (signal faults; a window's sample, fit, CUSUM and baseline:
detectors.sampling) run as compiled loops over the sensors (detectors.compiled).

`Detector(table, start_ts).step(batch)` (detectors.step) returns the condition changes a
batch causes: limits (detectors.limit_rules), instrument faults, signal faults (SPIKE,
STUCK, NOISY, STEP: detectors.signal), early warnings (RATE, PREDICT_HH/LL with eta, DRIFT:
detectors.trends over the windows of detectors.window) and cross-sensor rules (AREA_GAS,
CO_RISE: detectors.vote). The rules that turn measurements into states are in
detectors.decide; the measurements themselves in detectors.checks.
`Detector.learn(batch)` teaches the baselines only. `checkpoint.save/load` keep the
detector's memory across a restart (detectors.checkpoint).
"""

from detectors import checkpoint
from detectors.allocator import keep_large_blocks
from detectors.checkpoint import CheckpointError, CheckpointInfo
from detectors.checks import CHECKS
from detectors.decide import DECISIONS
from detectors.state import RING_SIZE, SLOTS, Params, Slot, State
from detectors.step import Detector

__all__ = [
    "CHECKS",
    "DECISIONS",
    "RING_SIZE",
    "SLOTS",
    "CheckpointError",
    "CheckpointInfo",
    "Detector",
    "Params",
    "Slot",
    "State",
    "checkpoint",
    "keep_large_blocks",
]

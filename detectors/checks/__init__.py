"""The checks: pure vectorised functions, arrays in, boolean or float arrays out.

Adding a check is one function in its own module, one line in `CHECKS`, and its test;
the conformance test in tests/unit/test_detectors.py runs on everything listed here.
The checks of a window's sample (the slope, the baseline, the CUSUM) and the signal faults
take one sensor's numbers instead: the compiled loops (detectors.sampling,
detectors.signal) call them per sensor.
They are listed in `SENSOR_CHECKS` and have their own conformance test.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from detectors.checks.baseline import baseline_sigma, baseline_step, cusum_step, drift_threshold
from detectors.checks.faults import (
    held_gap,
    is_spike,
    is_step,
    is_stuck,
    is_switch,
    learn_level,
    noise_scale,
    noise_update,
    second_difference,
    seen_gap,
    seen_step,
    smooth_update,
    spike_allowance,
    spike_rate,
    step_memory,
    still_ended,
    still_since,
    still_update,
    zero_lifted,
)
from detectors.checks.groups import area_count, co_rising, cooling_missing
from detectors.checks.instrument import RANGE_TOLERANCE, bad_quality, out_of_range
from detectors.checks.limits import at_or_above, at_or_below
from detectors.checks.plans import past_target
from detectors.checks.stale import is_stale
from detectors.checks.trend import least_squares, time_to_high, time_to_low

CHECKS: tuple[Callable[..., np.ndarray | tuple[np.ndarray, ...]], ...] = (
    at_or_above,
    at_or_below,
    out_of_range,
    bad_quality,
    is_stale,
    time_to_high,
    time_to_low,
    area_count,
    co_rising,
    cooling_missing,
    past_target,
)
SENSOR_CHECKS = (
    least_squares,
    baseline_sigma,
    baseline_step,
    cusum_step,
    drift_threshold,
    is_spike,
    is_step,
    held_gap,
    seen_gap,
    spike_allowance,
    spike_rate,
    second_difference,
    noise_update,
    noise_scale,
    learn_level,
    seen_step,
    smooth_update,
    still_since,
    still_update,
    still_ended,
    is_stuck,
    step_memory,
    is_switch,
    zero_lifted,
)

__all__ = [
    "CHECKS",
    "RANGE_TOLERANCE",
    "SENSOR_CHECKS",
    "area_count",
    "at_or_above",
    "at_or_below",
    "bad_quality",
    "baseline_sigma",
    "baseline_step",
    "co_rising",
    "cooling_missing",
    "cusum_step",
    "drift_threshold",
    "held_gap",
    "is_spike",
    "is_stale",
    "is_step",
    "is_stuck",
    "is_switch",
    "learn_level",
    "least_squares",
    "noise_scale",
    "noise_update",
    "out_of_range",
    "past_target",
    "second_difference",
    "seen_gap",
    "seen_step",
    "smooth_update",
    "spike_allowance",
    "spike_rate",
    "step_memory",
    "still_ended",
    "still_since",
    "still_update",
    "time_to_high",
    "time_to_low",
    "zero_lifted",
]

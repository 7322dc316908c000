"""The checks: pure vectorised functions, arrays in, boolean arrays out.

Adding a check is one function in its own module, one line in `CHECKS`, and its test;
the conformance test in tests/unit/test_detectors.py runs on everything listed here.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from detectors.checks.instrument import RANGE_TOLERANCE, bad_quality, out_of_range
from detectors.checks.limits import at_or_above, at_or_below
from detectors.checks.stale import is_stale

CHECKS: tuple[Callable[..., np.ndarray], ...] = (
    at_or_above,
    at_or_below,
    out_of_range,
    bad_quality,
    is_stale,
)

__all__ = [
    "CHECKS",
    "RANGE_TOLERANCE",
    "at_or_above",
    "at_or_below",
    "bad_quality",
    "is_stale",
    "out_of_range",
]

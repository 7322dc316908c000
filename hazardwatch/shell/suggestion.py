"""Limits suggested from a sensor's history: percentiles of normal operation plus margins,
never beyond the standards' ceilings. Only a suggestion: an engineer back-tests it
(POST /api/backtests) and applies it (POST /api/limits/{tag}); nothing is changed here.

Normal operation is the sensor's good, in-range readings over the period. A high limit
is the `HIGH_PCT` percentile plus a margin of `MARGIN_OF_SPAN` of the instrument span, its
HH one margin further; the low limits mirror them below the `LOW_PCT` percentile. Each is
kept inside the range with room for the deadband, as the loader demands. A gas detector's
levels are the ceilings of GB/T 50493-2019 (what the loader gives when none is written):
history never raises them, and a background reaching half the first level is reported as
a detector to check, not as a reason to move the alarm.

>>> suggest_process(np.array([5.0, 5.5, 6.0, 6.5]), 0.0, 10.0, 0.1, {"hh", "h"})
{'hh': 7.4925, 'h': 6.9925}
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from hazardwatch.storage import ReadingStore
from hazardwatch.storage.limits import LimitBook, LimitError, sensor_settings
from hazardwatch.vocabulary.model import Quality, SensorTable

HIGH_PCT = 99.5
LOW_PCT = 0.5
MARGIN_OF_SPAN = 0.05
MIN_READINGS = 100  # fewer: no suggestion, too little history
MAX_READINGS = 5_000_000
DEFAULT_DAYS = 30.0
NOTE = (
    "a suggestion from history, not applied: back-test it (POST /api/backtests) and have "
    "an engineer apply it (POST /api/limits/{tag})"
)


def suggest_process(
    values: np.ndarray, lo: float, hi: float, deadband: float, slots: set[str]
) -> dict[str, float]:
    """Limits for the `slots` (hh, h, l, ll) of a process sensor from its normal values."""
    span = hi - lo
    margin = MARGIN_OF_SPAN * span
    room = max(deadband, 0.0) + 1e-3 * span  # a limit the reading can leave inside the range
    top, bottom = np.percentile(values, [HIGH_PCT, LOW_PCT])
    out: dict[str, float] = {}
    h = min(top + margin, hi - margin)
    hh = min(h + margin, hi)
    h = min(h, hh - 1e-3 * span)
    lo_l = max(bottom - margin, lo + margin)
    ll = max(lo_l - margin, lo)
    lo_l = max(lo_l, ll + 1e-3 * span)
    found = {"hh": hh, "h": max(h, lo + room), "l": min(lo_l, hi - room), "ll": ll}
    for name in ("hh", "h", "l", "ll"):
        if name in slots:
            out[name] = float(round(found[name], 6))
    return out


def suggest(
    book: LimitBook,
    store: ReadingStore,
    tag: str,
    since: float | None = None,
    until: float | None = None,
) -> dict[str, Any]:
    """A suggested change of `tag`'s limits from its stored history in [since, until]
    (default: the last DEFAULT_DAYS days), with what it was made from."""
    site = book.site()
    table = SensorTable.from_site(site)
    book.settings(tag)  # LimitNotFound for an unknown tag
    sensor = next(s for _, _, _, s in site.iter_sensors() if s.tag == tag)
    until = time.time() if until is None else until
    since = until - DEFAULT_DAYS * 86400 if since is None else since
    rows = store.readings(table.tag_index[tag], since, until, MAX_READINGS)
    a = np.array(rows, np.float64).reshape(-1, 3)
    good = (a[:, 2] == Quality.GOOD) & (a[:, 1] >= sensor.range_lo) & (a[:, 1] <= sensor.range_hi)
    values = a[good, 1]
    out: dict[str, Any] = {
        "tag": tag,
        "kind": "suggestion",
        "note": NOTE,
        "since": since,
        "until": until,
        "readings": int(a.shape[0]),
        "normal_readings": int(values.size),
        "current": sensor_settings(sensor)["limits"],
        "change": None,
        "warnings": [],
    }
    if values.size < MIN_READINGS:
        out["warnings"].append(
            f"only {values.size} good readings in the period; at least {MIN_READINGS} needed"
        )
        return out
    out["percentiles"] = {
        str(p): float(np.percentile(values, p)) for p in (LOW_PCT, 50.0, HIGH_PCT, 99.9)
    }
    if sensor.kind.is_gas:
        # the ceilings: what the loader gives a gas detector whose levels are not written
        ceiling = book.candidate({tag: {"limits": {"level1": None, "level2": None}}})
        top = next(s for _, _, _, s in ceiling.iter_sensors() if s.tag == tag).limits
        change = {"limits": {"level1": top.h, "level2": top.hh}}
        background = float(np.percentile(values, 99.9))
        if top.h is not None and background >= 0.5 * top.h:
            out["warnings"].append(
                f"normal readings reach {background:.4g} {sensor.unit}, half the first level "
                "or more: check the detector's zero and its siting; the levels stay at "
                "the standard's ceilings"
            )
    else:
        lim = sensor.limits
        slots = {n for n in ("hh", "h", "l", "ll") if getattr(lim, n) is not None} or {"hh", "h"}
        change = {
            "limits": suggest_process(
                values, sensor.range_lo, sensor.range_hi, sensor.deadband, slots
            )
        }
    try:
        book.candidate({tag: change})
    except LimitError as exc:  # the loader's word: shown, the suggestion is not offered
        out["warnings"].append(f"the config loader refuses it: {exc}")
        return out
    out["change"] = change
    return out

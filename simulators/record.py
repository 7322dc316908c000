"""What a simulation run leaves on disk: readings as long CSV, ground truth, the site config.

The CSV is the long form `hazardwatch replay` reads, `ts,tag,value,quality`, one reading per
row. Rows are formatted a whole tick at a time: orjson prints the values (shortest repr, so
the instrument's resolution shows), and the row pieces are interleaved by list slicing, so
no Python code runs per reading; output is buffered and written in large blocks.

>>> import io
>>> out = io.BytesIO()
>>> rec = CsvRecorder(out, ["LT1", "TT1"])
>>> rec.write(1763800000.0, np.array([1, 0]), np.array([21.5, 3.25]))
2
>>> rec.close()
>>> print(out.getvalue().decode(), end="")
ts,tag,value,quality
1763800000.000,TT1,21.5,good
1763800000.000,LT1,3.25,good
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import fields
from pathlib import Path
from typing import IO, Any

import numpy as np
import orjson

from hazardwatch.vocabulary.defaults import BUILTIN
from hazardwatch.vocabulary.model import (
    HazardWatchError,
    Kind,
    Quality,
    Sensor,
    Site,
    Trend,
    VapourCheck,
)
from hazardwatch.vocabulary.substances import substance
from simulators.gateway import plan_payload
from simulators.physics import Climate, TankFarm
from simulators.scenario import Scenario, Script

__all__ = [
    "CSV_HEADER",
    "CSV_START_TS",
    "CsvRecorder",
    "RecordError",
    "plans_path",
    "record_run",
    "site_to_yaml",
    "truth_path",
    "write_truth",
]

CSV_HEADER = b"ts,tag,value,quality\n"
CSV_START_TS = 1_767_196_800.0  # 2026-01-01 00:00 at UTC+8: a fixed start keeps runs identical
BUFFER_BYTES = 8 << 20  # flush the formatted rows to the file in blocks of about this size
_QUALITY_TAIL = {q: f",{q.name.lower()}\n".encode() for q in Quality}


class RecordError(HazardWatchError):
    """A recording cannot be written (bad path, full disk, closed recorder)."""


class CsvRecorder:
    """Writes readings as long CSV; `tags[i]` is the tag of sensor index i.

    Give a path (the file is created or truncated) or an open binary stream (left open).
    Readings with a non-finite value are not written: a silent instrument has no row.
    """

    def __init__(self, target: str | Path | IO[bytes], tags: Sequence[str]) -> None:
        for t in tags:
            if any(c in t for c in ',"\n\r'):
                raise RecordError(f"tag {t!r} cannot be written unquoted in a CSV row")
        self._tags = np.array([f",{t},".encode() for t in tags], dtype=object)
        self._tail = np.array([_QUALITY_TAIL[q] for q in Quality], dtype=object)
        self._own = not hasattr(target, "write")
        try:
            self._file: IO[bytes] = open(target, "wb") if self._own else target  # type: ignore[arg-type]
        except OSError as err:
            raise RecordError(f"cannot write {target}: {err.strerror}") from None
        self._chunks: list[bytes] = [CSV_HEADER]
        self._size = len(CSV_HEADER)
        self.rows = 0
        self.path = None if not self._own else Path(target)  # type: ignore[arg-type]

    def write(
        self,
        ts: float,
        sensors: np.ndarray,
        values: np.ndarray,
        quality: np.ndarray | None = None,
    ) -> int:
        """Append one tick's readings, all stamped `ts` (epoch s); return the rows written."""
        if self._chunks is None:
            raise RecordError("the recorder is closed")
        values = np.asarray(values, dtype=np.float64)
        ok = np.isfinite(values)
        if not ok.all():
            sensors, values = sensors[ok], values[ok]
            quality = None if quality is None else quality[ok]
        m = int(values.size)
        if m == 0:
            return 0
        if not math.isfinite(ts):
            raise RecordError(f"tick timestamp must be finite, got {ts}")
        parts: list[bytes] = [b""] * (4 * m)
        parts[0::4] = [b"%.3f" % ts] * m
        parts[1::4] = self._tags[sensors].tolist()
        parts[2::4] = orjson.dumps(values.tolist())[1:-1].split(b",")
        if quality is None:
            parts[3::4] = [_QUALITY_TAIL[Quality.GOOD]] * m
        else:
            parts[3::4] = self._tail[np.asarray(quality, dtype=np.intp)].tolist()
        block = b"".join(parts)
        self._chunks.append(block)
        self._size += len(block)
        self.rows += m
        if self._size >= BUFFER_BYTES:
            self.flush()
        return m

    def flush(self) -> None:
        if not self._chunks:
            return
        try:
            self._file.write(b"".join(self._chunks))
        except OSError as err:
            raise RecordError(f"cannot write {self.path or 'the CSV'}: {err.strerror}") from None
        self._chunks.clear()
        self._size = 0

    def close(self) -> None:
        """Flush and close (a stream given by the caller is flushed, not closed)."""
        if self._chunks is None:
            return
        try:
            self.flush()
        finally:
            self._chunks = None  # type: ignore[assignment]
            if self._own:
                self._file.close()

    def __enter__(self) -> CsvRecorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _beside(csv_path: str | Path, suffix: str) -> Path:
    p = Path(csv_path)
    stem = p.name[: -len(p.suffix)] if p.suffix else p.name
    return p.with_name(f"{stem}{suffix}")


def truth_path(csv_path: str | Path) -> Path:
    """Where a recording's ground truth goes: `OUT.csv` -> `OUT.truth.json`.

    >>> truth_path("runs/day1.csv").as_posix()
    'runs/day1.truth.json'
    """
    return _beside(csv_path, ".truth.json")


def plans_path(csv_path: str | Path) -> Path:
    """Where a recording's transfer plans go: `OUT.csv` -> `OUT.plans.jsonl`.

    >>> plans_path("runs/day1.csv").as_posix()
    'runs/day1.plans.jsonl'
    """
    return _beside(csv_path, ".plans.jsonl")


def write_truth(path: str | Path, truth: dict[str, Any]) -> Path:
    """Write the ground truth as indented JSON (numpy numbers allowed); return the path."""
    p = Path(path)
    try:
        data = orjson.dumps(
            truth, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
        )
    except TypeError as err:
        raise RecordError(f"the ground truth is not JSON-serialisable: {err}") from None
    try:
        p.write_bytes(data + b"\n")
    except OSError as err:
        raise RecordError(f"cannot write {p}: {err.strerror}") from None
    return p


def record_run(
    site: Site,
    csv_path: str | Path,
    *,
    duration_s: float,
    start_ts: float,
    scenarios: Iterable[Scenario] = (),
    rate_hz: float = 1.0,
    speed: float = 1.0,
    seed: int = 0,
    climate: Climate | None = None,
    meta: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Simulate `duration_s` simulated seconds as fast as possible into a CSV and its truth.

    Ticks are `speed / rate_hz` simulated seconds apart, as the publisher's would be, so a
    recording holds what the broker would have carried (a gateway that is down has no rows).
    Returns the run's summary, which is also the truth file's header.
    """
    if not rate_hz > 0 or not speed > 0 or not duration_s >= 0:
        raise RecordError(
            f"rate_hz and speed must be > 0 and duration_s >= 0, got {rate_hz}, {speed}, "
            f"{duration_s}"
        )
    dt = speed / rate_hz
    n_ticks = round(duration_s / dt)
    farm = TankFarm(site, np.random.default_rng(seed), start_ts, climate=climate)
    script = Script(farm, scenarios)
    rows = site.iter_sensors()
    keys = [f"{e.id}/{u.gateway}" for e, _, u, _ in rows]
    gateways, gateway_of = np.unique(np.array(keys, dtype=object), return_inverse=True)
    position = {str(g): i for i, g in enumerate(gateways)}
    down = np.zeros(len(gateways), dtype=bool)
    plans = 0
    try:
        plan_file = open(plans_path(csv_path), "wb")
    except OSError as err:
        raise RecordError(f"cannot write {plans_path(csv_path)}: {err.strerror}") from None
    with plan_file, CsvRecorder(csv_path, [s.tag for _, _, _, s in rows]) as rec:
        for _ in range(n_ticks):
            sensors, values = script.tick(dt)
            for plan in farm.take_plans():  # as the DCS would send them on the _plan topic
                plan_file.write(orjson.dumps(plan_payload(plan)) + b"\n")
                plans += 1
            down[:] = False
            down[[position[k] for k in script.gateways_down()]] = True
            if down.any():
                up = ~down[gateway_of[sensors]]
                sensors, values = sensors[up], values[up]
            rec.write(round(farm.ts, 3), sensors, values)
    summary = {
        **(meta or {}),
        "site": site.source,
        "sensors": len(rows),
        "seed": seed,
        "rate_hz": rate_hz,
        "speed": speed,
        "tick_s": dt,
        "ticks": n_ticks,
        "rows": rec.rows,
        "csv": str(csv_path),
        "plans": plans,
        "plans_file": str(plans_path(csv_path)),
    }
    write_truth(truth_path(csv_path), script.ground_truth(**summary))
    return summary


# ------------------------------------------------------------------ the site, as a config file


def site_to_yaml(site: Site) -> str:
    """The site as a config file that `hazardwatch.vocabulary.config.parse_site` loads to an equal
    tree.

    A sensor setting is written where it differs from the built-in default of its kind, so
    the file stays short and reads like a hand-written one; trend settings that differ are
    written in absolute units (`null`: switched off). Strings are JSON-quoted (valid YAML),
    so a tag like `on` or `1e3` stays text; one sensor per line, as in the examples.
    """
    out = [
        f"# {len(site.iter_sensors())} sensors, written from {site.source}",
        "park:",
        f"  name: {_q(site.park)}",
        f"  root_topic: {_q(site.root_topic)}",
    ]
    if site.areas:
        out.append("areas:")
        out += [f"  {_q(a)}: {{k: {k}}}" for a, k in site.areas.items()]
    out.append("enterprises:")
    for e in site.enterprises:
        out += [f"  - id: {_q(e.id)}", f"    name: {_q(e.name)}", "    hazard_sources:"]
        for h in e.hazard_sources:
            r = h.responsible
            out += [
                f"      - id: {_q(h.id)}",
                f"        name: {_q(h.name)}",
                f"        grade: {h.grade}",
                f"        responsible: {{main: {_q(r.main)}, technical: {_q(r.technical)}, "
                f"operation: {_q(r.operation)}}}",
                "        units:",
            ]
            for u in h.units:
                out += [
                    f"          - id: {_q(u.id)}",
                    f"            type: {_q(u.type)}",
                    f"            substance: {_q(u.substance)}",
                    f"            capacity_m3: {_num(u.capacity_m3)}",
                    f"            pressurised: {_bool(u.pressurised)}",
                    f"            gateway: {_q(u.gateway)}",
                ]
                if u.camera_url is not None:
                    out.append(f"            camera_url: {_q(u.camera_url)}")
                if u.cooling is not None:
                    c = u.cooling
                    out.append(
                        f"            cooling: {{status: {_q(c.status)}, start_above: "
                        f"{_num(c.start_above)}, running_above: {_num(c.running_above)}, "
                        f"delay_s: {_num(c.delay_s)}}}"
                    )
                if u.balance is not None:
                    b = u.balance
                    meters = ", ".join(
                        f"{role}: [{', '.join(_q(t) for t in getattr(b, role))}]"
                        for role in ("inflow", "outflow", "transfer")
                    )
                    out.append(
                        f"            balance: {{{meters}, window_s: {_num(b.window_s)}, "
                        f"flow_error_pct: {_num(b.flow_error_pct)}, "
                        f"level_error_m: {_num(b.level_error_m)}, delay_s: {_num(b.delay_s)}}}"
                    )
                if u.vapour != VapourCheck():
                    v = u.vapour
                    out.append(
                        f"            vapour_check: {{enabled: {_bool(v.enabled)}, "
                        f"tolerance_kpa: {_num(v.tolerance_kpa)}, "
                        f"tolerance_pct: {_num(v.tolerance_pct)}, delay_s: {_num(v.delay_s)}}}"
                    )
                out.append("            sensors:" if u.sensors else "            sensors: []")
                out += [f"              - {_sensor_yaml(s)}" for s in u.sensors]
    return "\n".join(out) + "\n"


def _sensor_yaml(s: Sensor) -> str:
    lim = s.limits
    if s.kind.is_gas:
        pairs = [("level1", lim.h), ("level2", lim.hh)]
    else:
        pairs = [("hh", lim.hh), ("h", lim.h), ("l", lim.l), ("ll", lim.ll)]
    limits = ", ".join(f"{k}: {_num(v)}" for k, v in pairs if v is not None)
    items = [
        f"tag: {_q(s.tag)}",
        f"kind: {s.kind.label}",
        f"unit: {_q(s.unit)}",
        f"range: [{_num(s.range_lo)}, {_num(s.range_hi)}]",
        f"limits: {{{limits}}}",
    ]
    d = BUILTIN[s.kind]
    if s.deadband != d.deadband_pct * (s.range_hi - s.range_lo) / 100.0:
        items.append(f"deadband: {_num(s.deadband)}")
    for name in ("on_delay_s", "off_delay_s", "period_s", "stale_periods"):
        if getattr(s, name) != getattr(d, name):
            items.append(f"{name}: {_num(getattr(s, name))}")
    if s.latch != d.latch:
        items.append(f"latch: {_bool(s.latch)}")
    if s.kind.is_gas and s.substance is not None:
        items.append(f"substance: {_q(s.substance)}")
    if s.kind is Kind.GAS_TOXIC and _above_oel(s):
        items.append("range_cannot_reach_oel: true")
    if s.area is not None:
        items.append(f"area: {_q(s.area)}")
    default = d.trend.resolve(s.range_hi - s.range_lo)
    changed = [
        f"{f.name}: {_setting(getattr(s.trend, f.name))}"
        for f in fields(Trend)
        if getattr(s.trend, f.name) != getattr(default, f.name)
    ]
    if changed:
        items.append(f"trend: {{{', '.join(changed)}}}")
    return "{" + ", ".join(items) + "}"


def _setting(value: float | None) -> str:
    if value is None:
        return "null"
    return str(value) if isinstance(value, int) else _num(value)


def _above_oel(s: Sensor) -> bool:
    """Whether a toxic sensor's first level is above its OEL (allowed only under the IDLH rule)."""
    try:
        gas = substance(s.substance or "")
    except LookupError:
        return False
    if gas.oel_mg_m3 is None or s.limits.h is None or s.unit not in ("ppm", "mg/m3"):
        return False
    return s.limits.h > gas.to_unit(gas.oel_mg_m3, s.unit) * (1 + 1e-9)


def _q(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _bool(flag: bool) -> str:
    return "true" if flag else "false"


def _num(x: float) -> str:
    """A float YAML reads back as the same float (PyYAML wants a dot before an exponent).

    >>> _num(1e-05), _num(12.0), _num(0.1)
    ('1.0e-05', '12.0', '0.1')
    """
    text = repr(float(x))
    if "e" in text and "." not in text:
        mantissa, exponent = text.split("e")
        text = f"{mantissa}.0e{exponent}"
    return text

"""Limits as audited data: per-sensor settings changed, versioned, journalled, rolled back.

The site's YAML file stays the seed. Every change of a sensor's limits, deadband, delays or
trend settings is one version: a row in the alarm journal's file (`limit_version`) naming
who, when, from where and why, with the sensor's settings before and after, written in one
transaction. The effective config is the YAML with each sensor's settings taken from its
latest version; it is validated by the config loader itself (`parse_site`), so a change is
refused with the loader's own messages (`<file>: <path>: <what and the fix>`).

A change is a partial mapping over the sensor's settings as the YAML writes them:
`{"limits": {"hh": 9.5}, "on_delay_s": 30}`. `limits:` and `trend:` merge key by key; a
limit set to null is removed, a trend setting set to null (or off) switches its check off.
Giving `deadband` drops `deadband_pct` (and the reverse), and the same for a trend
setting's absolute and per-cent-of-span forms.

>>> was = {"limits": {"hh": 9, "h": 8}, "deadband_pct": 2}
>>> merged(was, {"limits": {"h": None}, "deadband": 0.1})
{'limits': {'hh': 9}, 'deadband': 0.1}
"""

from __future__ import annotations

import copy
import json
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from hazardwatch.vocabulary.clock import Clock, SystemClock
from hazardwatch.vocabulary.config import ConfigError, parse_site
from hazardwatch.vocabulary.defaults import SPAN_PAIRS
from hazardwatch.vocabulary.model import HazardWatchError, Sensor, Site

__all__ = [
    "SETTABLE",
    "LimitBook",
    "LimitError",
    "LimitNotFound",
    "LimitVersion",
    "changed",
    "merged",
    "parse_assignments",
    "sensor_settings",
]

# The settings a change may touch: those the detector reads from its Params.
SETTABLE = ("limits", "deadband", "deadband_pct", "on_delay_s", "off_delay_s", "trend")
_MAPPINGS = ("limits", "trend")
_PAIRS = {"deadband": "deadband_pct", "deadband_pct": "deadband"}
_TREND_PAIRS = {**SPAN_PAIRS, **{pct: ab for ab, pct in SPAN_PAIRS.items()}}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS limit_version (
    version INTEGER PRIMARY KEY AUTOINCREMENT,
    tag TEXT NOT NULL, ts REAL NOT NULL, who TEXT NOT NULL, origin TEXT, reason TEXT NOT NULL,
    old TEXT NOT NULL, new TEXT NOT NULL, change TEXT NOT NULL, rollback_of INTEGER
);
CREATE INDEX IF NOT EXISTS limit_version_by_tag ON limit_version (tag, version);
"""


class LimitError(HazardWatchError):
    """A change the config loader refuses; `problems` are its messages."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class LimitNotFound(LimitError):
    """No sensor with that tag, or no such version of it."""


@dataclass(frozen=True)
class LimitVersion:
    """One change of one sensor's settings: `old` and `new` as the YAML writes them."""

    version: int
    tag: str
    ts: float
    who: str
    origin: str | None
    reason: str
    old: dict[str, Any]
    new: dict[str, Any]
    change: dict[str, Any]
    rollback_of: int | None = None  # the version gone back to (0: the config file's)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def audit_row(self) -> dict[str, Any]:
        """The version as a row of the audit (`GET /api/audit`): who, from where, what."""
        action = "limit_set" if self.rollback_of is None else "limit_rollback"
        what = changed(self.old, self.new) or "no setting changed"
        if self.rollback_of is not None:
            what = f"back to version {self.rollback_of}: {what}"
        return {
            "source": "limits",
            "seq": self.version,
            "ts": self.ts,
            "action": action,
            "who": self.who,
            "where": self.origin,
            "subject": self.tag,
            "detail": f"{what}; why: {self.reason}",
            "old": self.old,
            "new": self.new,
        }


def _flat(settings: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in settings.items():
        if isinstance(value, Mapping):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def changed(old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    """What differs between two settings, one `name old -> new` each, by name.

    >>> changed({"limits": {"hh": 9, "h": 8}, "deadband": 0.1}, {"limits": {"hh": 9.5}})
    'deadband 0.1 -> none, limits.h 8 -> none, limits.hh 9 -> 9.5'
    """
    a, b = _flat(old), _flat(new)
    parts = []
    for name in sorted(a.keys() | b.keys()):
        was, now = a.get(name), b.get(name)
        if was != now:
            parts.append(f"{name} {_word(was)} -> {_word(now)}")
    return ", ".join(parts)


def _word(x: Any) -> str:
    return "none" if x is None else str(x)


def merged(current: Mapping[str, Any], change: Mapping[str, Any]) -> dict[str, Any]:
    """`current` settings with `change` applied (see the module doc); raises LimitError
    for a setting that cannot be changed here."""
    if not isinstance(change, Mapping) or not change:
        raise LimitError(["the change must be a mapping of settings, e.g. {limits: {hh: 9}}"])
    unknown = [k for k in change if k not in SETTABLE]
    if unknown:
        raise LimitError(
            [f"{k!r} cannot be changed here; settable: {', '.join(SETTABLE)}" for k in unknown]
        )
    out = copy.deepcopy(dict(current))
    for key, value in change.items():
        if key in _MAPPINGS and isinstance(value, Mapping):
            inner = dict(out.get(key) or {})
            for name, v in value.items():
                if key == "trend" and name in _TREND_PAIRS and v is not None:
                    inner.pop(_TREND_PAIRS[name], None)
                if key == "limits" and v is None:
                    inner.pop(name, None)
                else:
                    inner[name] = v
            out[key] = inner
            if not inner:
                out.pop(key)
            continue
        if value is None:
            out.pop(key, None)
            continue
        if key in _PAIRS:
            out.pop(_PAIRS[key], None)
        out[key] = value  # a wrong type is the loader's to report, with its message
    return out


def parse_assignments(items: list[str]) -> dict[str, Any]:
    """`key=value` words (dotted keys into limits: and trend:) as a change; values are YAML.

    >>> parse_assignments(["limits.hh=9.5", "on_delay_s=30", "trend.horizon_s=off"])
    {'limits': {'hh': 9.5}, 'on_delay_s': 30, 'trend': {'horizon_s': False}}
    """
    change: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise LimitError([f"{item!r}: write KEY=VALUE, e.g. limits.hh=9.5"])
        value = yaml.safe_load(text) if text.strip() else None
        head, _, name = key.strip().partition(".")
        if name:
            change.setdefault(head, {})[name] = value
        else:
            change[head] = value
    return change


def sensor_settings(s: Sensor) -> dict[str, Any]:
    """The settings a sensor runs with, every default applied (for display)."""
    lim = s.limits
    limits = (
        {"level1": lim.h, "level2": lim.hh}
        if s.kind.is_gas
        else {"hh": lim.hh, "h": lim.h, "l": lim.l, "ll": lim.ll}
    )
    return {
        "limits": limits,
        "deadband": s.deadband,
        "on_delay_s": s.on_delay_s,
        "off_delay_s": s.off_delay_s,
        "trend": asdict(s.trend),
        "unit": s.unit,
        "range": [s.range_lo, s.range_hi],
    }


class LimitBook:
    """The versions of every sensor's settings over the site's YAML file.

    `config`: the site config (the seed); `path`: the SQLite file the versions live in (the
    alarm journal's, `alarms.db`). Safe to share between threads; `close()` when done.
    """

    def __init__(self, config: Path, path: Path, clock: Clock | None = None) -> None:
        self.config = Path(config)
        self.source = str(config)
        self.clock = clock or SystemClock()
        try:
            text = self.config.read_text(encoding="utf-8")
        except OSError as exc:
            raise LimitError([f"{self.source}: (file): cannot read it: {exc.strerror}"]) from None
        self._data = yaml.safe_load(text)
        self._seed = parse_site(text, self.source)  # the loader's own refusal, unchanged
        self._sensors = _sensor_maps(self._data)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA busy_timeout = 5000")
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.executescript(f"BEGIN IMMEDIATE; {_SCHEMA} COMMIT;")
        self._cached: tuple[int, Site] | None = None

    # ------------------------------------------------------------------ reading

    def latest_version(self) -> int:
        """The newest version of any sensor (0: none yet); cheap, for polling."""
        with self._guard() as db:
            row = db.execute("SELECT MAX(version) FROM limit_version").fetchone()
        return int(row[0] or 0)

    def overrides(self) -> dict[str, dict[str, Any]]:
        """Each changed sensor's settings of its latest version."""
        with self._guard() as db:
            rows = db.execute(
                "SELECT tag, new FROM limit_version WHERE version IN "
                "(SELECT MAX(version) FROM limit_version GROUP BY tag)"
            ).fetchall()
        return {tag: json.loads(new) for tag, new in rows if tag in self._sensors}

    def site(self) -> Site:
        """The effective site: the YAML with the journalled settings."""
        version = self.latest_version()
        cached = self._cached
        if cached is not None and cached[0] == version:
            return cached[1]
        site = self._build(self.overrides()) if version else self._seed
        self._cached = (version, site)
        return site

    def settings(self, tag: str) -> dict[str, Any]:
        """A sensor's settings as the YAML writes them, its latest version applied."""
        self._path(tag)
        found = self.overrides().get(tag)
        return found if found is not None else _settable(self._sensors[tag][1])

    def show(self, tag: str) -> dict[str, Any]:
        """A sensor's settings: as written, as run (defaults applied), and its version."""
        written = self.settings(tag)
        sensor = next(s for _, _, _, s in self.site().iter_sensors() if s.tag == tag)
        versions = self.history(tag, limit=1)
        return {
            "tag": tag,
            "version": versions[0].version if versions else 0,
            "settings": written,
            "effective": sensor_settings(sensor),
        }

    def history(self, tag: str | None = None, limit: int = 1000) -> list[LimitVersion]:
        """Versions, newest first; of one sensor, or of all."""
        if tag is not None:
            self._path(tag)
        sql = "SELECT * FROM limit_version"
        args: tuple[Any, ...] = ()
        if tag is not None:
            sql, args = sql + " WHERE tag = ?", (tag,)
        with self._guard() as db:
            rows = db.execute(sql + " ORDER BY version DESC LIMIT ?", (*args, limit)).fetchall()
        return [_version(r) for r in rows]

    def audit(self, limit: int = 100, before_ts: float | None = None) -> list[dict[str, Any]]:
        """Versions as audit rows (`LimitVersion.audit_row`), newest first, at most `limit`,
        those at or before `before_ts` when given: the audit reads the versions themselves,
        so a change is written once."""
        sql, args = "SELECT * FROM limit_version", [max(0, limit)]
        if before_ts is not None:
            sql, args = sql + " WHERE ts <= ?", [before_ts, *args]
        with self._guard() as db:
            rows = db.execute(sql + " ORDER BY ts DESC, version DESC LIMIT ?", args).fetchall()
        return [_version(r).audit_row() for r in rows]

    def export(self) -> str:
        """The effective config as YAML: the seed with every sensor's latest settings."""
        return _dump(self._with(self.overrides()))

    # ------------------------------------------------------------------ changing

    def candidate(self, changes: Mapping[str, Mapping[str, Any]]) -> Site:
        """The effective site with `changes` (tag -> change) on top, validated, not kept."""
        if not isinstance(changes, Mapping):
            raise LimitError(["the changes must map tags to changes, e.g. T1-LT: {limits: ...}"])
        over = self.overrides()
        problems = []
        for tag, change in changes.items():
            try:
                self._path(tag)
                over[tag] = merged(over.get(tag, _settable(self._sensors[tag][1])), change)
            except LimitError as exc:
                problems += [f"{tag}: {p}" for p in exc.problems]
        if problems:
            raise LimitError(problems)
        return self._build(over)

    def set(
        self,
        tag: str,
        change: Mapping[str, Any],
        *,
        who: str,
        reason: str,
        origin: str | None = None,
    ) -> LimitVersion:
        """Validate and journal a change of one sensor; returns its version."""
        if not reason.strip():
            raise LimitError(["a reason is required: say why the setting changes"])
        old = self.settings(tag)
        new = merged(old, change)
        return self._commit(tag, old, new, dict(change), who, reason, origin, None)

    def rollback(
        self, tag: str, version: int, *, who: str, reason: str, origin: str | None = None
    ) -> LimitVersion:
        """Give a sensor the settings it had at `version` (0: the config file's) again, as a
        new version."""
        if version == 0:
            target = _settable(self._sensors[self._path(tag)[0]][1])
        else:
            with self._guard() as db:
                row = db.execute(
                    "SELECT new FROM limit_version WHERE version = ? AND tag = ?", (version, tag)
                ).fetchone()
            if row is None:
                self._path(tag)
                raise LimitNotFound([f"{tag}: no version {version} of this sensor"])
            target = json.loads(row[0])
        old = self.settings(tag)
        why = reason.strip() or f"rollback to version {version}"
        return self._commit(tag, old, target, {"rollback_to": version}, who, why, origin, version)

    def _commit(
        self,
        tag: str,
        old: dict[str, Any],
        new: dict[str, Any],
        change: dict[str, Any],
        who: str,
        reason: str,
        origin: str | None,
        rollback_of: int | None,
    ) -> LimitVersion:
        over = self.overrides()
        over[tag] = new
        self._build(over)  # raises LimitError with the loader's messages
        ts = self.clock.now()
        row = (tag, ts, who, origin, reason, _json(old), _json(new), _json(change), rollback_of)
        with self._guard() as db:
            cur = db.execute(
                "INSERT INTO limit_version (tag, ts, who, origin, reason, old, new, change, "
                "rollback_of) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                row,
            )
            version = int(cur.lastrowid or 0)
        return LimitVersion(version, tag, ts, who, origin, reason, old, new, change, rollback_of)

    # ------------------------------------------------------------------ helpers

    def _path(self, tag: str) -> tuple[str, str]:
        if tag not in self._sensors:
            raise LimitNotFound([f"{self.source}: no sensor with tag {tag!r}"])
        return tag, self._sensors[tag][0]

    def _with(self, over: Mapping[str, Mapping[str, Any]]) -> Any:
        data = copy.deepcopy(self._data)
        sensors = _sensor_maps(data)
        for tag, settings in over.items():
            raw = sensors[tag][1]
            for key in SETTABLE:
                raw.pop(key, None)
            raw.update(copy.deepcopy(dict(settings)))
        return data

    def _build(self, over: Mapping[str, Mapping[str, Any]]) -> Site:
        try:
            return parse_site(_dump(self._with(over)), self.source)
        except ConfigError as exc:
            raise LimitError(exc.problems) from None

    @contextmanager
    def _guard(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                yield self._db
            except sqlite3.Error as exc:
                raise HazardWatchError(f"limit versions in {self.source}: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> LimitBook:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _sensor_maps(data: Any) -> dict[str, tuple[str, dict[str, Any]]]:
    """tag -> (config path, its mapping in `data`)."""
    out: dict[str, tuple[str, dict[str, Any]]] = {}
    for ie, e in enumerate(data.get("enterprises") or []):
        for ih, h in enumerate(e.get("hazard_sources") or []):
            for iu, u in enumerate(h.get("units") or []):
                for i, s in enumerate(u.get("sensors") or []):
                    path = f"enterprises[{ie}].hazard_sources[{ih}].units[{iu}].sensors[{i}]"
                    out[str(s.get("tag"))] = (path, s)
    return out


def _settable(raw: Mapping[str, Any]) -> dict[str, Any]:
    return {k: copy.deepcopy(raw[k]) for k in SETTABLE if k in raw}


def _json(x: Any) -> str:
    return json.dumps(x, sort_keys=True, allow_nan=False)


_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def _dump(data: Any) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True)


def _version(row: tuple[Any, ...]) -> LimitVersion:
    version, tag, ts, who, origin, reason, old, new, change, rollback_of = row
    return LimitVersion(
        version, tag, ts, who, origin, reason,
        json.loads(old), json.loads(new), json.loads(change), rollback_of,
    )  # fmt: skip

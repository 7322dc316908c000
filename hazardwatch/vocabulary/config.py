"""Site config: load a park's YAML, validate it, and build the frozen Site tree.

Validation runs in two passes: pydantic checks the structure (every field known, every type
right), then the semantic checks (limit order, ranges, uniqueness, GB/T 50493 ceilings) run
over the whole tree. Each pass reports every problem it finds, as `<file>: <path>: <message>`.

Early-warning settings come from a `trend:` mapping per sensor over `defaults.<kind>.trend`
(and `defaults.all.trend`) over the built-in product defaults of `hazardwatch.vocabulary.defaults`;
`null` or `off` switches a check off. Gas detectors name a voting `area:`, defined with its
k under the top-level `areas:`. A unit's `max_fill_rate_m_per_h` sets its level's rate limit.

>>> site = parse_site('''
... park: {name: Demo}
... enterprises:
...   - id: e1
...     name: Demo Co
...     hazard_sources:
...       - id: hs1
...         name: Tank farm
...         grade: 3
...         responsible: {main: A, technical: B, operation: C}
...         units:
...           - id: T1
...             substance: methanol
...             capacity_m3: 100
...             sensors:
...               - {tag: T1-LT, kind: level, unit: m, range: [0, 10], limits: {hh: 9, h: 8}}
... ''')
>>> s = site.enterprises[0].hazard_sources[0].units[0].sensors[0]
>>> s.limits.hh, s.deadband, s.on_delay_s
(9.0, 0.5, 60.0)
>>> try:
...     parse_site("park: {name: Demo}\\nenterprises: []", source="x.yaml")
... except ConfigError as err:
...     print(err)
x.yaml: enterprises: the list is empty; add at least one item
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from hazardwatch.vocabulary.config_errors import describe_error, error_path, show_value
from hazardwatch.vocabulary.config_repair import repair
from hazardwatch.vocabulary.config_schema import (
    KINDS,
    RawArea,
    RawDefaults,
    RawEnterprise,
    RawHazardSource,
    RawInputs,
    RawKindDefaults,
    RawSite,
    RawUnit,
    RawVapourCheck,
)
from hazardwatch.vocabulary.defaults import BUILTIN, KindDefaults
from hazardwatch.vocabulary.inputs import (
    Inputs,
    SparkplugInput,
    SparkplugNode,
    ThingsBoardGateway,
    ThingsBoardInput,
)
from hazardwatch.vocabulary.model import (
    FLOW_M3_S_PER,
    AlarmRules,
    Balance,
    Cooling,
    Enterprise,
    HazardSource,
    HazardWatchError,
    Kind,
    Responsible,
    Sensor,
    Site,
    Unit,
    VapourCheck,
)
from hazardwatch.vocabulary.notify_rules import compile_rules
from hazardwatch.vocabulary.notify_rules import problems as notify_problems
from hazardwatch.vocabulary.sensor_rules import SensorBuilder, trend_problems

__all__ = ["KINDS", "ConfigError", "load_site", "parse_site"]


class ConfigError(HazardWatchError):
    """The site config is unusable; `problems` lists every problem, `<file>: <path>: <what>`."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


# ------------------------------------------------------------------ loading


def load_site(path: str | Path) -> Site:
    """Load and validate a site config file; raise ConfigError listing every problem."""
    source = str(path)
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        what = f"file not found (looked for {p.absolute()}); check the path"
        raise ConfigError([f"{source}: (file): {what}"]) from None
    except IsADirectoryError:
        raise ConfigError([f"{source}: (file): is a directory; give the YAML file"]) from None
    except UnicodeDecodeError as exc:
        what = f"not UTF-8 text (bad byte at offset {exc.start}); save the file as UTF-8"
        raise ConfigError([f"{source}: (file): {what}"]) from None
    except OSError as exc:
        raise ConfigError([f"{source}: (file): cannot read it: {exc.strerror}"]) from None
    return parse_site(text, source)


def parse_site(text: str, source: str = "<string>") -> Site:
    """Validate a site config given as YAML text; `source` names it in messages."""
    data, problems = _read_yaml(text, source)
    if data is None and not problems:
        problems.append(
            f"{source}: (top level): the file is empty; it needs park: and enterprises:"
        )
    elif data is not None and not isinstance(data, dict):
        problems.append(
            f"{source}: (top level): expected a mapping with keys park, defaults, areas, "
            f"enterprises; got {show_value(data)}"
        )
    if not isinstance(data, dict):
        raise ConfigError(problems)
    try:
        raw = RawSite.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        problems += [f"{source}: {error_path(e['loc'])}: {describe_error(e)}" for e in errors]
        _check_the_rest(data, errors, source, problems)
        raise ConfigError(problems) from None
    site = _SiteBuilder(source, problems).site(raw)
    if problems:
        raise ConfigError(problems)
    return site


def _check_the_rest(data: dict[str, Any], errors: Any, source: str, problems: list[str]) -> None:
    """After schema errors, the site checks on what the schema took (config_repair), so a
    misspelt kind does not hide the file's other problems until it is fixed."""
    fixed = repair(data, errors)
    if fixed is None:
        return
    try:
        raw = RawSite.model_validate(fixed.data)
    except ValidationError:  # setting aside broke something else (no enterprise left)
        return
    found: list[str] = []
    _SiteBuilder(source, found).site(raw)
    for problem in found:
        if not fixed.concerns_set_aside(problem):
            problems.append(fixed.path_text(problem))


# libyaml's parser where it is built in: a generated 100,000-sensor park parses in seconds,
# not minutes. The constructor (and so the duplicate-key check below) stays Python.
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_SafeLoader):  # type: ignore[valid-type,misc]
    """A safe loader that records duplicate mapping keys, which PyYAML silently overwrites."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.duplicates: list[tuple[str, int]] = []

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[str] = set()
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                if key_node.value in seen:
                    self.duplicates.append((key_node.value, key_node.start_mark.line + 1))
                seen.add(key_node.value)
        return super().construct_mapping(node, deep)


def _read_yaml(text: str, source: str) -> tuple[Any, list[str]]:
    loader = _Loader(text)
    try:
        data = loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(file)"
        what = exc.problem or exc.context or "malformed"
        return None, [f"{source}: {where}: YAML syntax error: {what}"]
    except yaml.YAMLError as exc:
        return None, [f"{source}: (file): YAML syntax error: {exc}"]
    finally:
        loader.dispose()
    problems = [
        f"{source}: line {line}: duplicate key {key!r} in one mapping; "
        f"only the last would count, so remove or rename one"
        for key, line in loader.duplicates
    ]
    return data, problems


# ------------------------------------------------------------ semantic checks, building

_ID_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


class _SiteBuilder:
    """Walks the validated raw tree, checks what pydantic cannot, builds the model tree."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        self.first_seen: dict[str, dict[str, str]] = {}

    def problem(self, path: str, what: str) -> None:
        self.problems.append(f"{self.source}: {path}: {what}")

    def ident(self, what: str, value: str, path: str) -> None:
        if not value or not set(value) <= _ID_CHARS:
            self.problem(path, f"{what} {value!r} may only contain letters, digits, '_' and '-'")

    def unique(self, what: str, value: str, path: str) -> None:
        seen = self.first_seen.setdefault(what, {})
        if value in seen:
            self.problem(
                path,
                f"duplicate {what} {value!r}, already used at {seen[value]}; "
                f"every {what} must be unique across the site",
            )
        else:
            seen[value] = path

    def site(self, raw: RawSite) -> Site:
        root = raw.park.root_topic
        if not root or any(not part or not set(part) <= _ID_CHARS for part in root.split("/")):
            self.problem(
                "park.root_topic",
                f"{root!r} is not a usable MQTT topic root; use words "
                "of letters, digits, '_' and '-' joined by '/'",
            )
        defaults = _kind_defaults(raw.defaults)
        for where, kind in _trend_owners(raw.defaults):
            for field, what in trend_problems(defaults[kind].trend):
                self.problem(f"defaults.{where}.trend.{field}", f"{kind.label}: {what}")
        sensors = SensorBuilder(self.problem, self.unique, defaults)
        enterprises = tuple(
            self.enterprise(e, f"enterprises[{i}]", sensors) for i, e in enumerate(raw.enterprises)
        )
        site = Site(
            park=raw.park.name,
            root_topic=root,
            enterprises=enterprises,
            source=self.source,
            areas={a: area.k for a, area in raw.areas.items()},
            inputs=self.inputs(raw.inputs, _tags(enterprises), root),
            alarms=AlarmRules(raw.alarms.shelve_max_h, raw.alarms.disposal_deadline_h.model_dump()),
            notifications=compile_rules(raw.notifications),
        )
        sources = {h.id for e in enterprises for h in e.hazard_sources}
        for path, what in notify_problems(raw.notifications, {e.id for e in enterprises}, sources):
            self.problem(f"notifications.{path}", what)
        self.areas(raw.areas, site)
        return site

    def inputs(self, raw: RawInputs, tags: set[str], root: str) -> Inputs:
        """The inputs' name maps, each tag checked against the site's sensors."""
        if not (raw.wire_v1 or raw.thingsboard or raw.sparkplug):
            self.problem("inputs", "every input is off; turn on wire_v1, thingsboard or sparkplug")
        # each input owns its topics (ingest.router): wire format v1's root must not be theirs
        first = root.split("/")[0]
        taken = [("spBv1.0", raw.sparkplug is not None, "sparkplug")]
        if raw.thingsboard is not None:
            tb_root = raw.thingsboard.mount_root or "v1"
            taken.append((tb_root.strip("/").split("/")[0], True, "thingsboard"))
        for word, on, what in taken:
            if raw.wire_v1 and on and first == word:
                self.problem(
                    "park.root_topic",
                    f"{root!r} is where the {what} input's topics are; give wire format v1 "
                    "another root",
                )
        thingsboard = sparkplug = None
        if raw.thingsboard is not None:
            gateways = []
            device_at: dict[str, str] = {}
            for i, g in enumerate(raw.thingsboard.gateways):
                path = f"inputs.thingsboard.gateways[{i}]"
                self.unique("ThingsBoard gateway token", g.token, f"{path}.token")
                for device, keys in g.devices.items():
                    where = f"{path}.devices.{device}"
                    if raw.thingsboard.mount_root is None and device in device_at:
                        self.problem(
                            where,
                            f"device {device!r} is also under {device_at[device]}; gateways "
                            "sharing one v1/ (no mount_root) need distinct device names",
                        )
                    device_at.setdefault(device, where)
                    self.tags_known(keys, where, tags)
                self.tags_known(g.own, f"{path}.own", tags)
                gateways.append(
                    ThingsBoardGateway(g.token, g.name or g.token, dict(g.devices), dict(g.own))
                )
            thingsboard = ThingsBoardInput(tuple(gateways), raw.thingsboard.mount_root)
        if raw.sparkplug is not None:
            nodes = []
            for i, n in enumerate(raw.sparkplug.nodes):
                path = f"inputs.sparkplug.nodes[{i}]"
                self.unique("Sparkplug edge node", f"{n.group}/{n.node}", f"{path}.node")
                for part, what in ((n.group, "group"), (n.node, "node")):
                    if not set(part).isdisjoint("/+#"):
                        self.problem(f"{path}.{what}", f"{part!r}: no '/', '+' or '#' in a name")
                self.tags_known(n.metrics, f"{path}.metrics", tags)
                for device, metrics in n.devices.items():
                    self.tags_known(metrics, f"{path}.devices.{device}", tags)
                nodes.append(SparkplugNode(n.group, n.node, dict(n.metrics), dict(n.devices)))
            sparkplug = SparkplugInput(tuple(nodes), raw.sparkplug.rebirth_every_s)
        return Inputs(raw.wire_v1, thingsboard, sparkplug)

    def tags_known(self, names: dict[str, str], path: str, tags: set[str]) -> None:
        for name, tag in names.items():
            if tag not in tags:
                close = difflib.get_close_matches(tag, list(tags), n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
                self.problem(
                    f"{path}.{name}", f"tag {tag!r} is no sensor of the site; {hint}map it to one"
                )

    def areas(self, areas: dict[str, RawArea], site: Site) -> None:
        """Every area a detector names is defined, and has at least k detectors to vote."""
        members: dict[str, list[str]] = {a: [] for a in areas}
        for path, s in _sensors_with_paths(site):
            if s.area is None:
                continue
            if s.area in members:
                members[s.area].append(s.tag)
                continue
            close = difflib.get_close_matches(s.area, list(areas), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            known = ", ".join(areas) or "none"
            self.problem(
                f"{path}.area",
                f"unknown area {s.area!r}; {hint}define it under areas: (defined: {known})",
            )
        for a, area in areas.items():
            self.ident("area id", a, f"areas.{a}")
            tags = members[a]
            if len(tags) < area.k:
                listed = ", ".join(tags) if tags else "none"
                self.problem(
                    f"areas.{a}.k",
                    f"area {a!r} needs at least k = {area.k} gas detectors to vote, but only "
                    f"{len(tags)} name it ({listed}); lower k or add area: {a} to more detectors",
                )

    def enterprise(self, raw: RawEnterprise, path: str, sensors: SensorBuilder) -> Enterprise:
        self.ident("enterprise id", raw.id, f"{path}.id")
        self.unique("enterprise id", raw.id, f"{path}.id")
        self.ident("gateway id", raw.gateway, f"{path}.gateway")
        sources = tuple(
            self.hazard_source(h, f"{path}.hazard_sources[{i}]", raw.gateway, sensors)
            for i, h in enumerate(raw.hazard_sources)
        )
        return Enterprise(id=raw.id, name=raw.name, hazard_sources=sources)

    def hazard_source(
        self, raw: RawHazardSource, path: str, gateway: str, sensors: SensorBuilder
    ) -> HazardSource:
        self.ident("hazard source id", raw.id, f"{path}.id")
        self.unique("hazard source id", raw.id, f"{path}.id")
        if not 1 <= raw.grade <= 4:
            self.problem(
                f"{path}.grade",
                f"GB 18218 grade must be 1, 2, 3 or 4 (1 is the most hazardous), got {raw.grade}",
            )
        r = raw.responsible
        units = tuple(
            self.unit(u, f"{path}.units[{i}]", gateway, sensors) for i, u in enumerate(raw.units)
        )
        return HazardSource(
            id=raw.id,
            name=raw.name,
            grade=raw.grade,
            responsible=Responsible(main=r.main, technical=r.technical, operation=r.operation),
            units=units,
        )

    def unit(self, raw: RawUnit, path: str, gateway: str, sensors: SensorBuilder) -> Unit:
        self.ident("unit id", raw.id, f"{path}.id")
        self.unique("unit id", raw.id, f"{path}.id")
        if raw.gateway is not None:
            self.ident("gateway id", raw.gateway, f"{path}.gateway")
        if raw.camera_url is not None and "://" not in raw.camera_url:
            self.problem(
                f"{path}.camera_url",
                f"{raw.camera_url!r} is not a URL; write it like rtsp://host/stream",
            )
        built = tuple(
            sensors.sensor(r, f"{path}.sensors[{i}]", raw.substance, raw.max_fill_rate_m_per_h)
            for i, r in enumerate(raw.sensors)
        )
        return Unit(
            id=raw.id,
            type=raw.type,
            substance=raw.substance,
            capacity_m3=raw.capacity_m3,
            pressurised=raw.pressurised,
            gateway=raw.gateway or gateway,
            sensors=built,
            camera_url=raw.camera_url,
            cooling=self.cooling(raw, f"{path}.cooling"),
            balance=self.balance(raw, f"{path}.balance"),
            vapour=VapourCheck(**_given(raw.vapour_check)),
        )

    def balance(self, raw: RawUnit, path: str) -> Balance | None:
        b = raw.balance
        if b is None:
            return None
        tags = {s.tag: s for s in raw.sensors}
        if not any(s.kind == Kind.LEVEL.label for s in raw.sensors):
            self.problem(path, f"unit {raw.id!r} has no level sensor to balance its meters against")
        if not (b.inflow or b.outflow or b.transfer):
            self.problem(path, "name at least one flow meter under inflow, outflow or transfer")
        seen: set[str] = set()
        for role in ("inflow", "outflow", "transfer"):
            for k, tag in enumerate(getattr(b, role)):
                where = f"{path}.{role}[{k}]"
                s = tags.get(tag)
                if s is None:
                    listed = ", ".join(tags) or "none"
                    self.problem(
                        where, f"{tag!r} is not a sensor of unit {raw.id!r} (its sensors: {listed})"
                    )
                elif s.kind != Kind.FLOW.label:
                    self.problem(where, f"{tag!r} is a {s.kind} sensor; a flow meter is needed")
                elif s.unit.strip().lower() not in FLOW_M3_S_PER:
                    self.problem(
                        where,
                        f"{tag!r} reports in {s.unit!r}; a balance needs a volume flow, "
                        f"in one of {', '.join(FLOW_M3_S_PER)}",
                    )
                if tag in seen:
                    self.problem(where, f"{tag!r} is listed twice; a meter has one role")
                seen.add(tag)
        given = b.model_dump(exclude_none=True, exclude={"inflow", "outflow", "transfer"})
        return Balance(tuple(b.inflow), tuple(b.outflow), tuple(b.transfer), **given)

    def cooling(self, raw: RawUnit, path: str) -> Cooling | None:
        c = raw.cooling
        if c is None:
            return None
        tags = {s.tag: s for s in raw.sensors}
        if c.status not in tags:
            listed = ", ".join(tags) or "none"
            self.problem(
                f"{path}.status",
                f"{c.status!r} is not a sensor of unit {raw.id!r} (its sensors: {listed})",
            )
        if not any(s.kind == Kind.TEMPERATURE.label for s in raw.sensors):
            self.problem(path, f"unit {raw.id!r} has no temperature sensor for its cooling")
        return Cooling(c.status, c.start_above, c.running_above, c.delay_s)


def _given(raw: RawVapourCheck | None) -> dict[str, Any]:
    """The settings a block gives (the model's defaults fill the rest)."""
    return {} if raw is None else raw.model_dump(exclude_none=True)


def _overrides(raw: RawKindDefaults | None) -> dict[str, Any]:
    if raw is None:
        return {}
    return {**raw.model_dump(exclude={"trend"}), "trend": raw.trend.given() if raw.trend else {}}


def _kind_defaults(raw: RawDefaults) -> dict[Kind, KindDefaults]:
    """Built-in defaults, then `defaults.all`, then `defaults.<kind>` (most specific wins)."""
    common = _overrides(raw.all)
    out = {}
    for kind, builtin in BUILTIN.items():
        out[kind] = builtin.merged(common).merged(_overrides(getattr(raw, kind.label)))
    return out


def _trend_owners(raw: RawDefaults) -> list[tuple[str, Kind]]:
    """(section, kind) for each kind whose trend defaults a `defaults:` section changed."""
    owners = []
    for kind in Kind:
        specific: RawKindDefaults | None = getattr(raw, kind.label)
        if specific is not None and specific.trend is not None:
            owners.append((kind.label, kind))
        elif raw.all is not None and raw.all.trend is not None:
            owners.append(("all", kind))
    return owners


def _tags(enterprises: tuple[Enterprise, ...]) -> set[str]:
    return {
        s.tag for e in enterprises for h in e.hazard_sources for u in h.units for s in u.sensors
    }


def _sensors_with_paths(site: Site) -> list[tuple[str, Sensor]]:
    """Every sensor with its config path, for checks made once the tree is built."""
    return [
        (f"enterprises[{ie}].hazard_sources[{ih}].units[{iu}].sensors[{i}]", s)
        for ie, e in enumerate(site.enterprises)
        for ih, h in enumerate(e.hazard_sources)
        for iu, u in enumerate(h.units)
        for i, s in enumerate(u.sensors)
    ]

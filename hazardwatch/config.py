"""Site config: load a park's YAML, validate it, and build the frozen Site tree.

Validation runs in two passes: pydantic checks the structure (every field known, every type
right), then the semantic checks (limit order, ranges, uniqueness, GB/T 50493 ceilings) run
over the whole tree. Each pass reports every problem it finds, as `<file>: <path>: <message>`.

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
import types
import typing
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hazardwatch.defaults import BUILTIN, KindDefaults, SensorBuilder
from hazardwatch.model import (
    Enterprise,
    HazardSource,
    HazardWatchError,
    Kind,
    Responsible,
    Site,
    Unit,
)

__all__ = ["KINDS", "ConfigError", "load_site", "parse_site"]

KINDS: tuple[str, ...] = tuple(k.label for k in Kind)


class ConfigError(HazardWatchError):
    """The site config is unusable; `problems` lists every problem, `<file>: <path>: <what>`."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


# ------------------------------------------------------------------ raw YAML schema


class _Strict(BaseModel):
    # strict: YAML already gives typed scalars, so "yes" for a number is a mistake to report.
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


_Text = Annotated[str, Field(min_length=1)]
_NonNeg = Annotated[float, Field(ge=0)]
_Pos = Annotated[float, Field(gt=0)]
_KindName = Literal[
    "temperature", "level", "pressure", "flow", "gas_combustible", "gas_toxic", "generic"
]


class RawPark(_Strict):
    name: _Text
    root_topic: str = "hw"


class RawKindDefaults(_Strict):
    deadband_pct: _NonNeg | None = None
    on_delay_s: _NonNeg | None = None
    off_delay_s: _NonNeg | None = None
    period_s: _Pos | None = None
    stale_periods: _Pos | None = None
    latch: bool | None = None


class RawDefaults(_Strict):
    all: RawKindDefaults | None = None
    temperature: RawKindDefaults | None = None
    level: RawKindDefaults | None = None
    pressure: RawKindDefaults | None = None
    flow: RawKindDefaults | None = None
    gas_combustible: RawKindDefaults | None = None
    gas_toxic: RawKindDefaults | None = None
    generic: RawKindDefaults | None = None


class RawLimits(_Strict):
    hh: float | None = None
    h: float | None = None
    l: float | None = None  # noqa: E741 - the plant's name for the low limit
    ll: float | None = None
    level1: float | None = None
    level2: float | None = None


class RawSensor(_Strict):
    tag: _Text
    kind: _KindName
    unit: _Text
    range: list[float] = Field(min_length=2, max_length=2)
    limits: RawLimits = RawLimits()
    deadband: _NonNeg | None = None
    deadband_pct: _NonNeg | None = None
    on_delay_s: _NonNeg | None = None
    off_delay_s: _NonNeg | None = None
    period_s: _Pos | None = None
    stale_periods: _Pos | None = None
    latch: bool | None = None
    substance: _Text | None = None
    range_cannot_reach_oel: bool = False


class RawUnit(_Strict):
    id: _Text
    type: _Text = "tank"
    substance: _Text
    capacity_m3: _Pos
    pressurised: bool = False
    gateway: str | None = None
    camera_url: str | None = None
    sensors: list[RawSensor] = []


class RawResponsible(_Strict):
    main: _Text
    technical: _Text
    operation: _Text


class RawHazardSource(_Strict):
    id: _Text
    name: _Text
    grade: int
    responsible: RawResponsible
    units: list[RawUnit] = []


class RawEnterprise(_Strict):
    id: _Text
    name: _Text
    gateway: str = "gw1"
    hazard_sources: list[RawHazardSource] = []


class RawSite(_Strict):
    park: RawPark
    defaults: RawDefaults = RawDefaults()
    enterprises: list[RawEnterprise] = Field(min_length=1)


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
            f"{source}: (top level): expected a mapping with keys park, defaults, enterprises; "
            f"got {_show(data)}"
        )
    if not isinstance(data, dict):
        raise ConfigError(problems)
    try:
        raw = RawSite.model_validate(data)
    except ValidationError as exc:
        problems += [f"{source}: {_path(e['loc'])}: {_describe(e)}" for e in exc.errors()]
        raise ConfigError(problems) from None
    site = _SiteBuilder(source, problems).site(raw)
    if problems:
        raise ConfigError(problems)
    return site


class _Loader(yaml.SafeLoader):
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


# ------------------------------------------------------------ pydantic errors, translated


def _path(loc: tuple[int | str, ...]) -> str:
    """Render a pydantic location as `a[2].b.c`.

    >>> _path(("enterprises", 2, "hazard_sources", 0, "grade"))
    'enterprises[2].hazard_sources[0].grade'
    """
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _show(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the text {value[:40]!r}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"a {type(value).__name__}"


_EXPECTED = {
    "string_type": "text",
    "float_type": "a number",
    "int_type": "a whole number",
    "int_from_float": "a whole number",
    "bool_type": "true or false",
    "list_type": "a list",
    "model_type": "a mapping (key: value)",
    "model_attributes_type": "a mapping (key: value)",
    "dict_type": "a mapping (key: value)",
}


def _describe(err: Any) -> str:
    kind, loc, value = err["type"], err["loc"], err.get("input")
    ctx = err.get("ctx") or {}
    if kind == "missing":
        return "required field is missing; add it"
    if kind == "extra_forbidden":
        name = str(loc[-1])
        allowed = _fields_at(RawSite, loc[:-1])
        close = difflib.get_close_matches(name, allowed, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return f"unknown field {name!r}{hint} (allowed: {', '.join(allowed)})"
    if kind == "literal_error":
        if loc and loc[-1] == "kind":
            return f"unknown kind {value!r}; valid kinds: {', '.join(KINDS)}"
        return f"{value!r} is not allowed; expected {ctx.get('expected')}"
    if kind in _EXPECTED:
        hint = ""
        if kind == "string_type" and isinstance(value, int | float):
            hint = "; put it in quotes"
        elif kind in ("float_type", "int_type") and isinstance(value, str) and _numeric(value):
            hint = "; write the number without quotes"
        return f"expected {_EXPECTED[kind]}, got {_show(value)}{hint}"
    if kind == "greater_than_equal":
        if ctx.get("ge") == 0:
            return f"must not be negative (got {value!r}); use 0 or more"
        return f"must be at least {ctx.get('ge')} (got {value!r})"
    if kind == "greater_than":
        return f"must be greater than {ctx.get('gt')} (got {value!r})"
    if kind == "string_too_short":
        return "must not be empty"
    if kind in ("too_short", "too_long"):
        if loc and loc[-1] == "range":
            return f"expected [lo, hi], two numbers; got {len(value)} item(s)"
        if not value:
            return "the list is empty; add at least one item"
        return err["msg"]
    if kind == "finite_number":
        return "must be a finite number, not NaN or infinity"
    return str(err["msg"])


def _numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _fields_at(model: type[BaseModel], loc: tuple[int | str, ...]) -> list[str]:
    """The field names of the schema model found at `loc` (for 'did you mean')."""
    tp: Any = model
    for part in loc:
        tp = _strip_optional(tp)
        if isinstance(part, int):
            tp = typing.get_args(tp)[0]  # list[X] -> X
        elif isinstance(tp, type) and issubclass(tp, BaseModel) and part in tp.model_fields:
            tp = tp.model_fields[part].annotation
        else:
            return []
    tp = _strip_optional(tp)
    return list(tp.model_fields) if isinstance(tp, type) and issubclass(tp, BaseModel) else []


def _strip_optional(tp: Any) -> Any:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        rest = [a for a in typing.get_args(tp) if a is not type(None)]
        return rest[0] if len(rest) == 1 else tp
    return tp


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
        sensors = SensorBuilder(self.problem, self.unique, _kind_defaults(raw.defaults))
        enterprises = tuple(
            self.enterprise(e, f"enterprises[{i}]", sensors) for i, e in enumerate(raw.enterprises)
        )
        return Site(
            park=raw.park.name, root_topic=root, enterprises=enterprises, source=self.source
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
            sensors.sensor(r, f"{path}.sensors[{i}]", raw.substance)
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
        )


def _kind_defaults(raw: RawDefaults) -> dict[Kind, KindDefaults]:
    """Built-in defaults, then `defaults.all`, then `defaults.<kind>` (most specific wins)."""
    common = raw.all.model_dump() if raw.all else {}
    out = {}
    for kind, builtin in BUILTIN.items():
        specific: RawKindDefaults | None = getattr(raw, kind.label)
        out[kind] = builtin.merged(common).merged(specific.model_dump() if specific else {})
    return out

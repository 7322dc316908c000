"""Generated parks of any size: enterprises, tank farms, tanks and instruments, from a seed.

Names are built from seeded word lists (a Chinese name with its English gloss, as the
example park writes them); every tank gets level and temperature, pressure if it is
pressurised, and gas detectors for what it stores. Defaults come from the same tables
the config applies (`hazardwatch.vocabulary.defaults`, `hazardwatch.vocabulary.substances`), each
sensor built by
the config's own SensorBuilder, so a generated park equals the one its saved config file
(`simulators.record.site_to_yaml`) loads back to.

>>> site = generate_site(2, 3, seed=1)
>>> [sum(len(h.units) for h in e.hazard_sources) for e in site.enterprises]
[3, 3]
>>> site == generate_site(2, 3, seed=1)
True
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import asdict, dataclass, replace
from typing import Any

from hazardwatch.vocabulary.config_schema import RawSensor
from hazardwatch.vocabulary.defaults import (
    BUILTIN,
    COMBUSTIBLE_LEVEL1_MAX_LEL_PCT,
    COMBUSTIBLE_LEVEL2_MAX_LEL_PCT,
    TOXIC_LEVEL1_MAX_OEL_FRACTION,
    TOXIC_LEVEL2_MAX_OEL_FRACTION,
)
from hazardwatch.vocabulary.model import (
    Enterprise,
    HazardSource,
    HazardWatchError,
    Limits,
    Responsible,
    Sensor,
    Site,
    Unit,
)
from hazardwatch.vocabulary.sensor_rules import SensorBuilder
from hazardwatch.vocabulary.substances import substance

__all__ = ["GEOMETRIES", "GenerateError", "generate_site", "parse_generate_spec"]

# Unit.type of each tank geometry: the physics relates level and volume by it.
GEOMETRIES = {"vertical": "vertical_tank", "horizontal": "horizontal_tank", "sphere": "sphere"}
MAX_TANKS_PER_SOURCE = 12  # a tank farm (one hazard source) rarely holds more
MAX_SPHERES_PER_SOURCE = 6
TANKS_PER_GATEWAY = 20  # one gateway serves a block of about this many tanks...
MAX_GATEWAYS = 4  # ...and an enterprise has at most this many


class GenerateError(HazardWatchError):
    """The generator was asked for a site it cannot build."""


@dataclass(frozen=True, slots=True)
class _Product:
    """A stored product and the tank design that goes with it (believable, not design data).

    `threshold_t` and `beta` are GB 18218 Q and β [mem: from memory of the standard's tables,
    used only to give generated hazard sources a plausible grade].
    """

    substance: str
    zh: str
    en: str
    shape: str  # key of GEOMETRIES
    capacities_m3: tuple[float, ...]
    density_t_m3: float
    threshold_t: float
    beta: float
    temperature: Limits
    pressure: tuple[float, Limits] | None  # (range_hi MPa, limits) for pressurised vessels
    combustible: bool
    toxic: bool

    @property
    def pressurised(self) -> bool:
        return self.pressure is not None


_AMBIENT = Limits(hh=45.0, h=40.0)
_COLD = Limits(hh=45.0, h=40.0, l=-30.0, ll=-35.0)
_PRODUCTS = (
    _Product("methanol", "甲醇", "Methanol", "vertical", (1000, 2000, 3000, 5000), 0.79, 500, 1,
             _AMBIENT, None, True, False),
    _Product("gasoline", "汽油", "Gasoline", "vertical", (2000, 3000, 5000, 10000), 0.74, 200, 1,
             Limits(hh=40.0, h=35.0), None, True, False),
    _Product("benzene", "苯", "Benzene", "vertical", (500, 1000, 2000, 3000), 0.88, 50, 1,
             Limits(hh=45.0, h=40.0, l=8.0, ll=6.0), None, True, True),  # heated: freezes at 5.5
    _Product("toluene", "甲苯", "Toluene", "vertical", (500, 1000, 2000, 3000), 0.87, 500, 1,
             _AMBIENT, None, True, True),
    _Product("xylene", "二甲苯", "Xylene", "vertical", (1000, 2000, 3000), 0.86, 5000, 1,
             _AMBIENT, None, True, False),
    _Product("ethanol", "乙醇", "Ethanol", "vertical", (500, 1000, 2000), 0.79, 500, 1,
             _AMBIENT, None, True, False),
    _Product("liquefied petroleum gas", "液化石油气", "LPG", "sphere", (400, 1000, 2000), 0.55,
             50, 1.5, _COLD, (2.5, Limits(hh=1.7, h=1.5)), True, False),
    _Product("propylene", "丙烯", "Propylene", "sphere", (1000, 2000), 0.51, 20, 1.5,
             _COLD, (4.0, Limits(hh=2.3, h=2.1)), True, False),
    _Product("ammonia", "液氨", "Liquid ammonia", "sphere", (400, 1000), 0.61, 10, 2,
             _COLD, (2.5, Limits(hh=2.0, h=1.8)), False, True),
    _Product("chlorine", "液氯", "Liquid chlorine", "horizontal", (30, 50), 1.47, 5, 4,
             Limits(hh=40.0, h=35.0, l=-30.0, ll=-35.0), (2.5, Limits(hh=1.4, h=1.2)),
             False, True),
)  # fmt: skip
_WEIGHTS = (14, 10, 6, 8, 5, 5, 6, 3, 3, 2)  # how often a park stores each product

_PLACES = (
    ("滨海", "Binhai"), ("临港", "Lingang"), ("江北", "Jiangbei"), ("东营", "Dongying"),
    ("宁东", "Ningdong"), ("泰兴", "Taixing"), ("惠州", "Huizhou"), ("连云", "Lianyun"),
    ("沧州", "Cangzhou"), ("南港", "Nangang"), ("舟山", "Zhoushan"), ("钦州", "Qinzhou"),
    ("古雷", "Gulei"), ("如东", "Rudong"), ("上虞", "Shangyu"), ("大亚湾", "Daya Bay"),
)  # fmt: skip
_CORES = (
    ("恒力", "Hengli"), ("华泰", "Huatai"), ("鑫达", "Xinda"), ("海华", "Haihua"),
    ("宏远", "Hongyuan"), ("新和", "Xinhe"), ("金泰", "Jintai"), ("东方", "Dongfang"),
    ("盛隆", "Shenglong"), ("永信", "Yongxin"), ("瑞丰", "Ruifeng"), ("博润", "Borun"),
    ("汇通", "Huitong"), ("天成", "Tiancheng"), ("利华", "Lihua"), ("长兴", "Changxing"),
    ("富海", "Fuhai"), ("中盛", "Zhongsheng"), ("德源", "Deyuan"), ("嘉化", "Jiahua"),
)  # fmt: skip
_TRADES = (
    ("石化", "Petrochemical"), ("化工", "Chemical"), ("能源", "Energy"), ("仓储", "Storage"),
    ("新材料", "New Materials"), ("精细化工", "Fine Chemicals"), ("石油化工", "Petrochemical"),
    ("港务", "Port"), ("化学工业", "Chemical Industry"),
)  # fmt: skip
_FORMS = (("有限公司", "Co., Ltd."), ("股份有限公司", "Corp."), ("有限责任公司", "LLC"))
_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
_GIVEN = (
    "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "涛",
    "明", "超", "秀英", "霞", "平", "刚", "建华", "志强", "海燕", "晓东", "国庆", "立新",
)  # fmt: skip
_ALPHA = ((2.0, 2), (1.5, 3), (1.2, 4), (1.0, 6), (0.5, 1))  # GB 18218 α, weight


def generate_site(
    enterprises: int,
    tanks: int,
    seed: int = 0,
    *,
    park: str = "生成化工园区 Generated Chemical Park",
    root_topic: str = "hw",
    period_s: float | None = None,
) -> Site:
    """A park of `enterprises` enterprises with `tanks` tanks each, the same for the same seed.

    `period_s` is every sensor's reporting period (default: the built-in per kind).
    """
    if not 1 <= enterprises <= 99_999 or not 1 <= tanks <= 9_999:
        raise GenerateError(
            f"need 1-99999 enterprises and 1-9999 tanks each, got {enterprises} and {tanks}"
        )
    if period_s is not None and not period_s > 0:
        raise GenerateError(f"period_s must be > 0, got {period_s}")
    rng = random.Random(seed)
    width = max(3, len(str(enterprises)))
    names = _enterprise_names(rng, enterprises)
    sensors = _SensorMaker(period_s)
    areas: dict[str, int] = {}
    built = tuple(
        _enterprise(rng, f"e{i + 1:0{width}d}", names[i], tanks, sensors, areas)
        for i in range(enterprises)
    )
    source = f"<generated enterprises={enterprises} tanks={tanks} seed={seed}>"
    return Site(park, root_topic, built, source=source, areas=areas)


_SPEC_KEYS = ("enterprises", "tanks", "seed")


def parse_generate_spec(text: str) -> dict[str, int]:
    """`enterprises=N,tanks=M[,seed=S]` as keyword arguments of `generate_site`.

    >>> parse_generate_spec("enterprises=100, tanks=50")
    {'enterprises': 100, 'tanks': 50}
    >>> try:
    ...     parse_generate_spec("enterprises=2,tanks=x")
    ... except GenerateError as err:
    ...     print(str(err).split(";")[0])
    --generate 'enterprises=2,tanks=x': tanks must be a whole number, got 'x'
    """
    usage = "expected enterprises=N,tanks=M[,seed=S], e.g. enterprises=100,tanks=50"
    out: dict[str, int] = {}

    def bad(what: str) -> GenerateError:
        return GenerateError(f"--generate {text!r}: {what}; {usage}")

    for item in text.split(","):
        key, sep, value = (part.strip() for part in item.partition("="))
        if not sep or not key:
            raise bad(f"{item.strip()!r} is not key=value")
        if key not in _SPEC_KEYS:
            raise bad(f"unknown key {key!r} (known: {', '.join(_SPEC_KEYS)})")
        if key in out:
            raise bad(f"{key} is given twice")
        try:
            out[key] = int(value)
        except ValueError:
            raise bad(f"{key} must be a whole number, got {value!r}") from None
    missing = [k for k in ("enterprises", "tanks") if k not in out]
    if missing:
        raise bad(f"{' and '.join(missing)} missing")
    if out["enterprises"] < 1 or out["tanks"] < 1:
        raise bad("enterprises and tanks must be at least 1")
    return out


def _enterprise_names(rng: random.Random, n: int) -> list[str]:
    combos = [(p, c, t, f) for p in _PLACES for c in _CORES for t in _TRADES for f in _FORMS]
    rng.shuffle(combos)
    out = []
    for i in range(n):
        (pz, pe), (cz, ce), (tz, te), (fz, fe) = combos[i % len(combos)]
        phase = i // len(combos)  # a second plant of the same name is a new phase
        zh_phase, en_phase = (f"{phase + 1}期", f" (Phase {phase + 1})") if phase else ("", "")
        out.append(f"{pz}{cz}{tz}{fz}{zh_phase} {pe} {ce} {te} {fe}{en_phase}")
    return out


def _person(rng: random.Random, taken: set[str]) -> str:
    while True:
        name = rng.choice(_SURNAMES) + rng.choice(_GIVEN)
        if name not in taken:
            taken.add(name)
            return name


def _split(total: int, cap: int) -> list[int]:
    """`total` tanks as evenly as possible into groups of at most `cap`."""
    groups = -(-total // cap)
    base, extra = divmod(total, groups)
    return [base + (1 if g < extra else 0) for g in range(groups)]


def _enterprise(
    rng: random.Random,
    eid: str,
    name: str,
    tanks: int,
    sensors: _SensorMaker,
    areas: dict[str, int],
) -> Enterprise:
    n_products = min(tanks, rng.choice((1, 2, 2, 3, 3, 4)))
    products = _pick_products(rng, n_products)
    # Each product gets at least one tank; the rest fall where the weights say.
    counts = dict.fromkeys(products, 1)
    weights = [_WEIGHTS[_PRODUCTS.index(p)] for p in products]
    for p in rng.choices(products, weights, k=tanks - n_products):
        counts[p] += 1
    n_gateways = min(MAX_GATEWAYS, max(1, round(tanks / TANKS_PER_GATEWAY)))
    alpha = rng.choices([a for a, _ in _ALPHA], [w for _, w in _ALPHA])[0]
    # A plant may choose set points stricter than the 25 / 50 %LEL ceilings.
    lel = (
        {"level1": 20.0, "level2": 40.0}
        if rng.random() < 0.5
        else {"level1": COMBUSTIBLE_LEVEL1_MAX_LEL_PCT, "level2": COMBUSTIBLE_LEVEL2_MAX_LEL_PCT}
    )
    sources: list[HazardSource] = []
    tank_no = 0
    for product, count in counts.items():
        cap = MAX_SPHERES_PER_SOURCE if product.pressurised else MAX_TANKS_PER_SOURCE
        groups = _split(count, cap)
        for g, size in enumerate(groups):
            k = len(sources) + 1
            hid = f"{eid}-hs{k:02d}"
            # The detectors of one farm vote together (k = 2 of n) where there are two or more.
            voting = {
                kind: f"{hid}-{tag}"
                for kind, tag, has in (
                    ("gas_combustible", "GT", product.combustible),
                    ("gas_toxic", "AT", product.toxic),
                )
                if has and size >= 2
            }
            areas.update(dict.fromkeys(voting.values(), 2))
            capacity = rng.choice(product.capacities_m3)
            tank = _Tank(eid, lel, voting, _rated_fill_m_per_h(product.shape, capacity))
            units = []
            for j in range(size):
                gateway = f"gw{tank_no * n_gateways // tanks + 1}"
                uid = f"{eid}-{product.shape[0].upper()}{k}{j + 1:02d}"
                units.append(sensors.unit(uid, product, capacity, gateway, tank))
                tank_no += 1
            no = f"{g + 1}号" if len(groups) > 1 else ""
            en_no = f" No. {g + 1}" if len(groups) > 1 else ""
            kind = "球罐区" if product.shape == "sphere" else "罐区"
            en_kind = "sphere farm" if product.shape == "sphere" else "tank farm"
            taken: set[str] = set()
            people = Responsible(_person(rng, taken), _person(rng, taken), _person(rng, taken))
            r = alpha * product.beta * size * capacity * 0.85 * product.density_t_m3
            sources.append(
                HazardSource(
                    id=hid,
                    name=f"{product.zh}{no}{kind} {product.en} {en_kind}{en_no}",
                    grade=_grade(r / product.threshold_t),
                    responsible=people,
                    units=tuple(units),
                )
            )
    return Enterprise(id=eid, name=name, hazard_sources=tuple(sources))


def _pick_products(rng: random.Random, n: int) -> list[_Product]:
    chosen: list[_Product] = []
    while len(chosen) < n:
        p = rng.choices(_PRODUCTS, _WEIGHTS)[0]
        if p not in chosen:
            chosen.append(p)
    return chosen


def _grade(r: float) -> int:
    """GB 18218-2018 grade from R: >= 100 is 1, >= 50 is 2, >= 10 is 3, else 4."""
    return 1 if r >= 100 else 2 if r >= 50 else 3 if r >= 10 else 4


def _nice_ceiling(x: float) -> float:
    """The smallest of 1, 2, 5 x 10^k at or above x.

    >>> _nice_ceiling(11.3), _nice_ceiling(0.3), _nice_ceiling(200.0)
    (20.0, 0.5, 200.0)
    """
    k = math.floor(math.log10(x))
    for m in (1.0, 2.0, 5.0, 10.0):
        if m * 10.0**k >= x * (1 - 1e-12):
            return float(f"{m * 10.0**k:.6g}")
    raise AssertionError("unreachable")


def _floor3(x: float) -> float:
    """x rounded down to 3 significant digits, so a limit never exceeds its ceiling.

    >>> _floor3(1.8779), _floor3(28.71)
    (1.87, 28.7)
    """
    k = math.floor(math.log10(x)) - 2
    return float(f"{math.floor(x / 10.0**k) * 10.0**k:.6g}")


def _rated_fill_m_per_h(shape: str, capacity_m3: float) -> float:
    """The tank's rated fill rate, which the config turns into its level's rate limit.

    Operators pump up to 10 % of a tank's volume an hour (simulators.operations); in a
    vertical tank that is 0.1 of its height an hour, but a sphere or a horizontal vessel
    near its bottom rises up to about 2.8 times faster than on average. Rated with room
    above both, so a normal day raises no rate-of-change warning.
    """
    factor = 0.12 if shape == "vertical" else 0.25
    return round(factor * _diameter_m(shape, capacity_m3), 2)


def _diameter_m(shape: str, capacity_m3: float) -> float:
    """The level range of a tank: its height (vertical) or diameter (horizontal, sphere)."""
    if shape == "sphere":
        return round((6 * capacity_m3 / math.pi) ** (1 / 3), 1)
    if shape == "horizontal":
        return round((capacity_m3 / (math.pi / 4 * 5.0)) ** (1 / 3), 1)  # length ~ 5 diameters
    return round(9.0 + 2.86 * math.log2(capacity_m3 / 500 + 1), 1)


class _SensorMaker:
    """Builds the instruments of one tank through the config's own sensor rules.

    Each sensor is written as the config would hold it and then built by
    `hazardwatch.vocabulary.sensor_rules.SensorBuilder`, so defaults, trend settings and the gas
    ceilings
    are exactly those a loaded file gets; a problem there is a bug of the generator.
    """

    def __init__(self, period_s: float | None) -> None:
        kinds = {k: d.merged({"period_s": period_s}) for k, d in BUILTIN.items()}
        self._problems: list[str] = []
        self._tags: set[str] = set()
        self._builder = SensorBuilder(self._report, self._unique, kinds)
        self._toxic: dict[str, tuple[float, dict[str, float]]] = {}
        self._designs: dict[tuple[str, str, float], Sensor] = {}

    def _report(self, path: str, what: str) -> None:
        self._problems.append(f"{path}: {what}")

    def _unique(self, what: str, value: str, path: str) -> None:
        """Tags are checked in `_build`, where designs are shared."""

    def _build(self, raw: dict[str, Any], unit_substance: str, fill_m_per_h: float) -> Sensor:
        # Tanks of one farm share their design: build it once, then only the tag differs.
        tag = raw.pop("tag")
        key = (json.dumps(raw, sort_keys=True), unit_substance, fill_m_per_h)
        design = self._designs.get(key)
        if design is None:
            checked = RawSensor.model_validate({"tag": tag, **raw})
            design = self._builder.sensor(checked, tag, unit_substance, fill_m_per_h)
            if self._problems:
                raise GenerateError("generated an invalid sensor: " + "; ".join(self._problems))
            self._designs[key] = design
        if tag in self._tags:
            raise GenerateError(f"generated the tag {tag!r} twice")
        self._tags.add(tag)
        return replace(design, tag=tag)

    def toxic(self, name: str) -> tuple[float, dict[str, float]]:
        """Range top and limits (100 % / 200 % OEL, in ppm) of a toxic detector for `name`."""
        if name not in self._toxic:
            s = substance(name)
            oel = s.to_unit(s.oel_mg_m3 or 0.0, "ppm")
            l1 = _floor3(TOXIC_LEVEL1_MAX_OEL_FRACTION * oel)
            l2 = _floor3(TOXIC_LEVEL2_MAX_OEL_FRACTION * oel)
            self._toxic[name] = (_nice_ceiling(3 * l2), {"level1": l1, "level2": l2})
        return self._toxic[name]

    def unit(self, uid: str, p: _Product, capacity: float, gateway: str, tank: _Tank) -> Unit:
        top = _diameter_m(p.shape, capacity)
        level = {"hh": round(0.9 * top, 2), "h": round(0.85 * top, 2),
                 "l": round(0.1 * top, 2), "ll": round(0.05 * top, 2)}  # fmt: skip
        temp = {k: v for k, v in asdict(p.temperature).items() if v is not None}
        t_range = [-40.0, 60.0] if p.pressurised else [-20.0, 80.0]
        raws: list[dict[str, Any]] = [
            {"tag": f"{uid}-LT", "kind": "level", "unit": "m", "range": [0.0, top],
             "limits": level},
            {"tag": f"{uid}-TT", "kind": "temperature", "unit": "degC", "range": t_range,
             "limits": temp},
        ]  # fmt: skip
        if p.pressure is not None:
            p_hi, pl = p.pressure
            raws.append({"tag": f"{uid}-PT", "kind": "pressure", "unit": "MPa",
                         "range": [0.0, p_hi], "limits": {"hh": pl.hh, "h": pl.h}})  # fmt: skip
        name = substance(p.substance).name
        if p.combustible:
            raws.append({"tag": f"{uid}-GT", "kind": "gas_combustible", "unit": "%LEL",
                         "range": [0.0, 100.0], "limits": tank.lel_limits, "substance": name,
                         "area": tank.areas.get("gas_combustible")})  # fmt: skip
        if p.toxic:
            hi, limits = self.toxic(p.substance)
            raws.append({"tag": f"{uid}-AT", "kind": "gas_toxic", "unit": "ppm",
                         "range": [0.0, hi], "limits": limits, "substance": name,
                         "area": tank.areas.get("gas_toxic")})  # fmt: skip
        sensors = tuple(self._build(r, name, tank.fill_m_per_h) for r in raws)
        return Unit(
            id=uid,
            type=GEOMETRIES[p.shape],
            substance=name,
            capacity_m3=float(capacity),
            pressurised=p.pressurised,
            gateway=gateway,
            sensors=sensors,
            camera_url=f"rtsp://nvr-{tank.enterprise}.park.local/stream/{uid}",
        )


@dataclass(frozen=True, slots=True)
class _Tank:
    """What the tanks of one hazard source share besides their product."""

    enterprise: str
    lel_limits: dict[str, float]
    areas: dict[str, str]  # gas kind -> voting area of the farm's detectors of that kind
    fill_m_per_h: float  # rated fill rate

"""The set-point rules for one sensor: defaults applied, limits checked against the standards."""

from __future__ import annotations

import contextlib
import itertools
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from hazardwatch.vocabulary.model import Kind, Limits, Sensor, Trend
from hazardwatch.vocabulary.substances import (
    Substance,
    UnknownSubstanceError,
    substance,
    substances,
)

if TYPE_CHECKING:
    from hazardwatch.vocabulary.config_schema import RawSensor


from hazardwatch.vocabulary.defaults import (
    COMBUSTIBLE_LEVEL1_MAX_LEL_PCT,
    COMBUSTIBLE_LEVEL2_MAX_LEL_PCT,
    FILL_RATE_MARGIN,
    GAS_STANDARD,
    TOXIC_LEVEL1_MAX_IDLH_FRACTION,
    TOXIC_LEVEL1_MAX_OEL_FRACTION,
    TOXIC_LEVEL2_MAX_IDLH_FRACTION,
    TOXIC_LEVEL2_MAX_OEL_FRACTION,
    KindDefaults,
    TrendDefaults,
)

# ------------------------------------------------------- one sensor, defaults applied

Report = Callable[[str, str], None]  # (path, what is wrong and the fix)


def _n(x: float) -> str:
    """A number for messages: at most 4 significant digits, float style (12.0, 7.174)."""
    return repr(float(f"{x:.4g}"))


_TOXIC_UNITS = {"ppm": "ppm", "mg/m3": "mg/m3", "mg/m³": "mg/m3"}


class SensorBuilder:
    """Applies defaults and the set-point rules to each raw sensor, reporting problems.

    `report(path, what)` collects a problem; `unique(what, value, path)` checks a
    site-wide unique name. A sensor is built even when it has problems, so every problem
    of the file is found in one pass; the caller refuses the site if any was reported.
    """

    def __init__(
        self,
        report: Report,
        unique: Callable[[str, str, str], None],
        defaults: dict[Kind, KindDefaults],
    ) -> None:
        self.report = report
        self.unique = unique
        self.defaults = defaults

    def sensor(
        self,
        raw: RawSensor,
        path: str,
        unit_substance: str,
        max_fill_rate_m_per_h: float | None = None,
    ) -> Sensor:
        if not _TAG.fullmatch(raw.tag):
            self.report(
                f"{path}.tag",
                f"tag {raw.tag!r} must be 1-64 characters of letters, "
                "digits, '_', '.', ':' and '-' (it is part of MQTT topics)",
            )
        self.unique("tag", raw.tag, f"{path}.tag")
        kind = Kind.parse(raw.kind)
        d = self.defaults[kind].merged(raw.model_dump(include=set(_OVERRIDABLE)))
        lo, hi = raw.range
        if not lo < hi:
            self.report(
                f"{path}.range",
                f"low end ({_n(lo)}) must be below high end ({_n(hi)}); write [lo, hi]",
            )
        span = hi - lo
        if raw.deadband is not None and raw.deadband_pct is not None:
            self.report(path, "give deadband (absolute) or deadband_pct (of span), not both")
        deadband = raw.deadband if raw.deadband is not None else d.deadband_pct * span / 100.0
        if span > 0 and deadband >= span:
            self.report(
                f"{path}.deadband",
                f"deadband {_n(deadband)} must be smaller than the instrument span {_n(span)}",
            )
        unit, limits, substance_name, defaulted = self._limits(raw, path, kind, unit_substance)
        self._check_limits(raw, path, kind, limits, defaulted, unit, deadband)
        if raw.area is not None and not kind.is_gas:
            self.report(
                f"{path}.area",
                f"only gas detectors vote in an area (k of n); a {kind.label} sensor "
                "cannot have one, so remove area:",
            )
        return Sensor(
            tag=raw.tag,
            kind=kind,
            unit=unit,
            range_lo=lo,
            range_hi=hi,
            limits=limits,
            deadband=deadband,
            on_delay_s=d.on_delay_s,
            off_delay_s=d.off_delay_s,
            period_s=d.period_s,
            stale_periods=d.stale_periods,
            latch=d.latch,
            substance=substance_name,
            trend=self._trend(raw, path, kind, d.trend, max_fill_rate_m_per_h),
            area=raw.area,
        )

    def _trend(
        self,
        raw: RawSensor,
        path: str,
        kind: Kind,
        defaults: TrendDefaults,
        fill_rate_m_per_h: float | None,
    ) -> Trend:
        """Kind defaults, then the tank's rated fill rate (level), then the sensor's `trend:`."""
        own = raw.trend.given() if raw.trend is not None else {}
        if fill_rate_m_per_h is not None and kind is Kind.LEVEL:
            per_m = _LEVEL_UNITS_PER_M.get(raw.unit.strip().lower())
            if per_m is not None:
                rate = fill_rate_m_per_h * FILL_RATE_MARGIN / 60.0 * per_m
                defaults = defaults.merged({"rate_limit_per_min": rate})
            elif not own.keys() & {"rate_limit_per_min", "rate_limit_pct_per_min"}:
                self.report(
                    f"{path}.unit",
                    f"the tank's max_fill_rate_m_per_h cannot become a rate limit for a level "
                    f"in {raw.unit!r} (only m, cm, mm); set trend.rate_limit_per_min here",
                )
        merged = defaults.merged(own)
        if own.keys() & {"drift_h_sigma", "drift_k_sigma"}:
            for field, what in trend_problems(merged):
                self.report(f"{path}.trend.{field}", what)
        return merged.resolve(raw.range[1] - raw.range[0])

    def _limits(
        self, raw: RawSensor, path: str, kind: Kind, unit_substance: str
    ) -> tuple[str, Limits, str | None, dict[str, str]]:
        lim = raw.limits
        if kind is not Kind.GAS_TOXIC and raw.range_cannot_reach_oel:
            self.report(
                f"{path}.range_cannot_reach_oel", "applies only to gas_toxic sensors; remove it"
            )
        if not kind.is_gas:
            if lim.level1 is not None or lim.level2 is not None:
                self.report(
                    f"{path}.limits",
                    f"level1/level2 are for gas detectors; a {kind.label} sensor uses hh, h, l, ll",
                )
            if raw.substance is not None:
                self.report(f"{path}.substance", "only gas detectors name a substance; remove it")
            return raw.unit, Limits(hh=lim.hh, h=lim.h, l=lim.l, ll=lim.ll), None, {}
        if any(v is not None for v in (lim.hh, lim.h, lim.l, lim.ll)):
            self.report(
                f"{path}.limits",
                "a gas detector's limits are level1 (first level) and "
                "level2 (second level); replace hh/h/l/ll",
            )
        if kind is Kind.GAS_COMBUSTIBLE:
            return self._combustible(raw, path, unit_substance)
        return self._toxic(raw, path, unit_substance)

    def _combustible(
        self, raw: RawSensor, path: str, unit_substance: str
    ) -> tuple[str, Limits, str | None, dict[str, str]]:
        if raw.unit.replace(" ", "").upper() != "%LEL":
            self.report(
                f"{path}.unit",
                f'a gas_combustible sensor reads in %LEL, not {raw.unit!r}; set unit: "%LEL"',
            )
        lo, hi = raw.range
        if lo < 0 or hi > 100:
            self.report(f"{path}.range", "a %LEL range must lie within [0, 100]")
        name: str | None = unit_substance
        if raw.substance is not None:
            s = self._lookup(raw.substance, f"{path}.substance", want_toxic=False)
            name = s.name if s else raw.substance
        else:
            with contextlib.suppress(UnknownSubstanceError):
                name = substance(unit_substance).name
        l1, l2 = raw.limits.level1, raw.limits.level2
        defaulted = {}
        if l1 is None:
            l1, defaulted["level1"] = COMBUSTIBLE_LEVEL1_MAX_LEL_PCT, "the default"
        if l2 is None:
            l2, defaulted["level2"] = COMBUSTIBLE_LEVEL2_MAX_LEL_PCT, "the default"
        for field, value, ceiling, which in (
            ("level1", l1, COMBUSTIBLE_LEVEL1_MAX_LEL_PCT, "first"),
            ("level2", l2, COMBUSTIBLE_LEVEL2_MAX_LEL_PCT, "second"),
        ):
            if value > ceiling:
                self.report(
                    f"{path}.limits.{field}",
                    f"{which}-level alarm {_n(value)} %LEL is "
                    f"above the {_n(ceiling)} %LEL ceiling of {GAS_STANDARD} for a "
                    f"combustible gas; set {field} to {_n(ceiling)} or less",
                )
        return "%LEL", Limits(hh=l2, h=l1), name, defaulted

    def _toxic(
        self, raw: RawSensor, path: str, unit_substance: str
    ) -> tuple[str, Limits, str | None, dict[str, str]]:
        unit = _TOXIC_UNITS.get(raw.unit.strip().lower())
        if unit is None:
            self.report(
                f"{path}.unit", f"a gas_toxic sensor reads in ppm or mg/m3, not {raw.unit!r}"
            )
            unit = "ppm"
        given = Limits(hh=raw.limits.level2, h=raw.limits.level1)
        if raw.substance is not None:
            s = self._lookup(raw.substance, f"{path}.substance", want_toxic=True)
        else:
            s = self._lookup(unit_substance, f"{path}.substance", want_toxic=True, implied=True)
        if s is None or not s.toxic:
            return unit, given, raw.substance or unit_substance, {}
        oel = s.to_unit(s.oel_mg_m3 or 0.0, unit)
        idlh = None if s.idlh_mg_m3 is None else s.to_unit(s.idlh_mg_m3, unit)
        if raw.range_cannot_reach_oel:
            if idlh is None:
                self.report(
                    f"{path}.range_cannot_reach_oel",
                    f"no IDLH is known for {s.name}, "
                    "so the 5 %/10 % IDLH rule cannot apply; give limits within the OEL",
                )
                return unit, given, s.name, {}
            rule = [
                (TOXIC_LEVEL1_MAX_IDLH_FRACTION, "5 % of the IDLH"),
                (TOXIC_LEVEL2_MAX_IDLH_FRACTION, "10 % of the IDLH"),
            ]
            basis, base = f"IDLH {_n(idlh)} {unit}", idlh
        else:
            rule = [
                (TOXIC_LEVEL1_MAX_OEL_FRACTION, "100 % of the OEL"),
                (TOXIC_LEVEL2_MAX_OEL_FRACTION, "200 % of the OEL"),
            ]
            basis = f"{s.oel_basis} {_n(s.oel_mg_m3 or 0.0)} mg/m3 = {_n(oel)} {unit}"
            base = oel
        values, defaulted = [], {}
        for field, value, (fraction, label) in zip(
            ("level1", "level2"), (given.h, given.hh), rule, strict=True
        ):
            ceiling = fraction * base
            if value is None:
                value, defaulted[field] = ceiling, f"default: {label}"
            elif value > ceiling * (1 + 1e-9):
                fix = f"set {field} to {_n(ceiling)} {unit} or less"
                if not raw.range_cannot_reach_oel and idlh is not None:
                    fix += (
                        " (or, if the detector's range cannot reach that, set "
                        "range_cannot_reach_oel: true and keep level1 <= 5 % IDLH = "
                        f"{_n(TOXIC_LEVEL1_MAX_IDLH_FRACTION * idlh)} {unit}, level2 <= "
                        f"10 % IDLH = {_n(TOXIC_LEVEL2_MAX_IDLH_FRACTION * idlh)} {unit})"
                    )
                self.report(
                    f"{path}.limits.{field}",
                    f"{field} {_n(value)} {unit} is above "
                    f"{label} of {s.name} ({basis}; ceiling {_n(ceiling)} {unit}), the "
                    f"limit of {GAS_STANDARD}; {fix}",
                )
            values.append(value)
        return unit, Limits(hh=values[1], h=values[0]), s.name, defaulted

    def _lookup(
        self, name: str, path: str, *, want_toxic: bool, implied: bool = False
    ) -> Substance | None:
        group = "toxic" if want_toxic else "combustible"
        known = ", ".join(
            s.name for s in substances() if (s.toxic if want_toxic else s.combustible)
        )
        try:
            s = substance(name)
        except UnknownSubstanceError:
            s = None
        if s is not None and (s.toxic if want_toxic else s.combustible):
            return s
        if implied:
            what = (
                f"a gas_toxic sensor needs substance: (its unit's substance {name!r} is not "
                f"a known toxic gas); known toxic substances: {known}"
            )
        elif s is None:
            what = (
                f"unknown substance {name!r}; known {group} substances: {known} (add it to "
                "hazardwatch/vocabulary/data/substances.yaml if it is missing)"
            )
        else:
            what = f"{s.name} is not {group} in the substances table; known {group}: {known}"
        self.report(path, what)
        return None

    def _check_limits(
        self,
        raw: RawSensor,
        path: str,
        kind: Kind,
        limits: Limits,
        defaulted: dict[str, str],
        unit: str,
        deadband: float,
    ) -> None:
        if kind.is_gas:
            named = [("level2", "level2", limits.hh), ("level1", "level1", limits.h)]
        else:
            named = [
                ("HH", "hh", limits.hh),
                ("H", "h", limits.h),
                ("L", "l", limits.l),
                ("LL", "ll", limits.ll),
            ]
        present = [(label, field, v) for label, field, v in named if v is not None]

        def show(field: str, v: float) -> str:
            return f"{_n(v)}, {defaulted[field]}" if field in defaulted else _n(v)

        def with_unit(field: str, v: float) -> str:
            note = f" ({defaulted[field]})" if field in defaulted else ""
            return f"{_n(v)} {unit}{note}"

        for (la, fa, va), (lb, fb, vb) in itertools.pairwise(present):
            if not va > vb:
                self.report(
                    f"{path}.limits", f"{la} ({show(fa, va)}) must be above {lb} ({show(fb, vb)})"
                )
        lo, hi = raw.range
        if not lo < hi:
            return
        for label, field, v in present:
            if not lo <= v <= hi:
                fix = (
                    "widen the range or set the limit explicitly"
                    if field in defaulted
                    else "move the limit inside the range or fix the range"
                )
                self.report(
                    f"{path}.limits.{field}",
                    f"{with_unit(field, v)} lies outside "
                    f"the instrument range [{_n(lo)}, {_n(hi)}]; {fix}",
                )
            elif deadband < hi - lo and (
                v - deadband <= lo if field not in ("l", "ll") else v + deadband >= hi
            ):
                # the reading would have to leave the range to clear the alarm
                self.report(
                    f"{path}.deadband",
                    f"deadband {_n(deadband)} {unit} would keep the {label} alarm at "
                    f"{with_unit(field, v)} from ever clearing inside the range "
                    f"[{_n(lo)}, {_n(hi)}]; set a smaller deadband",
                )


def trend_problems(t: TrendDefaults) -> list[tuple[str, str]]:
    """What is wrong with a merged set of trend settings, as (field, message) pairs."""
    if t.drift_h_sigma is not None and t.drift_k_sigma >= t.drift_h_sigma:
        return [
            (
                "drift_k_sigma",
                f"drift_k_sigma ({_n(t.drift_k_sigma)}) must be smaller than drift_h_sigma "
                f"({_n(t.drift_h_sigma)}): the CUSUM slack is a small part of its decision "
                "threshold; lower drift_k_sigma or raise drift_h_sigma",
            )
        ]
    return []


_LEVEL_UNITS_PER_M = {"m": 1.0, "cm": 100.0, "mm": 1000.0}
_TAG = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
_OVERRIDABLE = ("deadband_pct", "on_delay_s", "off_delay_s", "period_s", "stale_periods", "latch")

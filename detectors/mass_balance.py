"""MASS_BALANCE: a tank's level change no longer matches what its flow meters moved.

Per tank with a `balance:` (SensorTable.units, hazardwatch.vocabulary.model.Balance): the flow
meters' readings are integrated into volumes, each reading held until the next and credited
up to each level reading, so the level and the meters are compared at the same time. A
report-by-exception gateway sends a steady flow only at its heartbeat: a meter's silence
within its stale limit is a flow that held; a longer one is a gap (COMM_LOSS reports it)
and credits nothing past that limit. The level readings are turned into volume through the tank's
geometry (hazardwatch.vocabulary.geometry, its height from the level sensor's range as the
simulators take it). Both are averaged over slots of window_s / SLOTS, which beats the
gauge's noise down. Each slot's level change leaves some volume unexplained:

    ΔV_level − ΔV_in/out ∓ ΔV_transfer   (m³, `unexplained`)

(a transfer meter reads the size of a flow, not its way: it is taken the way the level
clearly moves, so a fill and an emptying within one window balance). The imbalance
is the sum of it over the slots of the last `window_s`, judged against a tolerance made
of the meters' error (`flow_error_pct` of the metered volume), the gauge's
(`level_error_m` through the tank's cross-section) and the scatter of the first and last
slot means (SIGMAS standard errors); beyond it for `delay_s` raises
MASS_BALANCE on the level sensor, with the imbalance as value; it clears below
HOLD_RATIO of the tolerance. A leak from an idle tank shows as a growing imbalance. A
gauge stuck during a fill (Buncefield, 2005) shows as one too, but with the gauge still:
the meters moved, since its last change of a count, more than the tolerance by
themselves (and PACE_COUNTS of its resolution). That imbalance is the instrument's, so it
is reported as STUCK on the level sensor (`State.balance_still`, judged by
detectors.signal on the gauge's next reading: a report-by-exception gateway's heartbeat
re-sends the frozen value), never as MASS_BALANCE; but a gauge still at the top of the
tank (TOP) while the meters pump in shows an overflow. A gauge frozen with its tank at rest
says nothing on its readings alone; once a transfer starts, its meters say it.

The windows are the rule's own memory, saved with the detector's (detectors.checkpoint,
`memory`/`remember`): a tank whose gauge, meters, balance settings and geometry are
unchanged takes its windows back after a restart and is judged as if never stopped; any
other fills them again, and a restored MASS_BALANCE there holds until they have.
"""

from __future__ import annotations

import numpy as np

from detectors.changes import Changes
from detectors.checks.faults import PACE_COUNTS
from detectors.rule import Orphans, Round
from detectors.state import State
from hazardwatch.vocabulary.geometry import Geometry, height_from_capacity, shape_of
from hazardwatch.vocabulary.model import FLOW_M3_S_PER, Condition, Kind, SensorTable

BIT = np.uint32(Condition.MASS_BALANCE.bit)
SLOTS = 8  # slots per window: the oldest kept slot is at most one window back
SIGMAS = 4.0  # standard errors of the slot means the imbalance may be by chance
HOLD_RATIO = 0.8  # an active imbalance holds down to this share of its tolerance
TOP = 0.98  # a gauge still at this share of the tank's height or above shows an overflow
_LENGTH_M = {"m": 1.0, "cm": 0.01, "mm": 0.001}


def unexplained(
    level_m3: np.ndarray, signed_m3: np.ndarray, size_m3: np.ndarray, way: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The volume (m³, signed) of one slot's level change `level_m3` that the metered
    in-minus-out volume `signed_m3` and the size-only (transfer) volume `size_m3` >= 0 do
    not explain, and the way the transfer runs (+1 in, -1 out). The way holds (`way`: the
    last slot's) until the level clearly moves the other way, by more than half the
    transfer: so a noisy slot during a fill, or a gauge that stands still, stays a fill.

    >>> unexplained(np.array([0.0, -5.0, 48.0, -50.0, -2.0]), np.zeros(5),
    ...             np.array([50.0, 0, 50, 50, 50]), np.array([1.0, 1, -1, 1, 1]))
    (array([-50.,  -5.,  -2.,   0., -52.]), array([ 1., -1.,  1., -1.,  1.]))
    """
    x = level_m3 - signed_m3
    turn = (np.sign(x) == -way) & (np.abs(x) > 0.5 * size_m3)
    way = np.where(turn, -way, way)
    return x - way * size_m3, way


class MassBalance:
    """MASS_BALANCE as a rule (detectors.rule), vectorised over the balanced tanks."""

    conditions = frozenset({Condition.MASS_BALANCE})

    def __init__(self, table: SensorTable) -> None:
        level, meter, meter_of, sign, per = [], [], [], [], []
        shapes, heights, caps, zero, m_per, settings, keys = [], [], [], [], [], [], []
        for unit in table.units:
            b = unit.balance
            levels = [table.tag_index[s.tag] for s in unit.sensors if s.kind is Kind.LEVEL]
            meters = [(t, table.tag_index.get(t)) for t in b.meters] if b is not None else []
            if b is None or not levels or not meters or any(i is None for _, i in meters):
                continue  # nothing to balance (the config layer names what is missing)
            factors = [FLOW_M3_S_PER.get(table.eng_unit[i].strip().lower()) for _, i in meters]
            if any(f is None for f in factors):
                continue  # a meter in mass units: no density here (the config refuses it)
            k, li = len(level), levels[0]
            shape = shape_of(unit.type, unit.pressurised)
            lo, hi = float(table.range_lo[li]), float(table.range_hi[li])
            to_m = _LENGTH_M.get(table.eng_unit[li].strip().lower())
            height = hi * to_m if to_m is not None and hi > 0 else None
            if height is None:
                height = height_from_capacity(shape, unit.capacity_m3)
            level.append(li)
            shapes.append(shape)
            heights.append(height)
            caps.append(unit.capacity_m3)
            zero.append(0.0 if to_m is not None else lo)
            m_per.append(to_m if to_m is not None else height / max(hi - lo, 1e-9))
            settings.append((b.window_s, b.flow_error_pct / 100.0, b.level_error_m, b.delay_s))
            for (tag, i), f in zip(meters, factors, strict=True):
                meter.append(i)
                meter_of.append(k)
                per.append(f)
                sign.append(1 if tag in b.inflow else -1 if tag in b.outflow else 0)
            # What the memory of this balance means: its gauge, meters, settings, geometry.
            ways = [f"{sign[-len(meters) + j]:+d}{t}" for j, (t, _) in enumerate(meters)]
            sizes = (height, unit.capacity_m3, zero[-1], m_per[-1], *settings[-1])
            keys.append("|".join([table.tags[li], *ways, str(shape), *map(repr, sizes)]))
        self.level = np.asarray(level, np.int64)
        self.keys = np.asarray(keys, dtype=str)
        self.geometry = Geometry.build(shapes, heights, caps)
        self.zero, self.m_per = np.asarray(zero), np.asarray(m_per)
        window, self.flow_error, self.level_error_m, self.delay_s = (
            np.asarray(settings, np.float64).reshape(-1, 4).T
        )
        self.slot_s = window / SLOTS
        self.meter = np.asarray(meter, np.int64)
        self.meter_of = np.asarray(meter_of, np.int64)
        self.sign = np.asarray(sign, np.float64)
        self.m3_s_per = np.asarray(per, np.float64)
        # A meter's reading is held until its next one, for as long as the meter is not
        # stale (at least a slot): a longer silence is a gap (COMM_LOSS reports it).
        stale = np.asarray(table.stale_after_s, np.float64)[self.meter]
        self.meter_hold_s = np.fmax(self.slot_s[self.meter_of], stale)
        # Which balance each sensor belongs to, as level (>= 0) or meter (-2 - meter).
        self.member = np.full(table.n, -1, np.int64)
        self.member[self.meter] = -2 - np.arange(self.meter.size)
        self.member[self.level] = np.arange(self.level.size)
        b = self.level.size
        # The meters' last reading (its ts, m³/s), the time their flow is credited up to, and
        # each tank's cumulative metered volumes (m³): in minus out, transfer (size only) and
        # gross (every meter, for the tolerance).
        self.meter_read_ts = np.full(self.meter.size, np.nan)
        self.meter_ts, self.meter_q = np.full(self.meter.size, np.nan), np.zeros(self.meter.size)
        # Which tank's meters: the slice of `meter` (grouped by tank, in order) per tank.
        self.meters_from = np.searchsorted(self.meter_of, np.arange(self.level.size))
        self.meters_to = np.searchsorted(self.meter_of, np.arange(self.level.size), "right")
        self.cum = np.zeros((3, b))
        # The slot filling now: since when, and sums of (volume, volume², the three cums).
        self.slot_start = np.full(b, np.nan)
        self.sums = np.zeros((5, b))
        self.count = np.zeros(b)
        # Closed slots, newest last (NaN: none yet): their end ts, mean volume, the three
        # cums, the standard error of the mean volume and the running sum of each slot's
        # unexplained volume.
        self.ring = np.full((7, b, SLOTS + 1), np.nan)
        self.since = np.full(b, np.nan)  # imbalance beyond tolerance since (data time)
        self.way = np.ones(b)  # the way the transfer meters' flow runs (+1 in): `unexplained`
        # The volume (m³, signed) the meters moved since the gauge last moved, and the
        # anchor ts of that stillness (detectors.signal): `_still_against_meters`.
        self.still_m3 = np.zeros(b)
        self.still_anchor = np.full(b, np.nan)
        self.orphans = Orphans(Condition.MASS_BALANCE)

    # ------------------------------------------------------------------ memory

    memory_name = "mass_balance"
    _TANK_MEMORY = ("cum", "slot_start", "sums", "count", "ring", "since", "way", "still_m3",
                    "still_anchor")  # fmt: skip
    _METER_MEMORY = ("meter_read_ts", "meter_ts", "meter_q")

    def memory(self) -> dict[str, np.ndarray]:
        """The windows as arrays for the checkpoint (detectors.rule.Remembers): per tank
        (last axis) its key and window state, per meter its held reading and its tank."""
        out = {name: np.array(getattr(self, name)) for name in self._TANK_MEMORY}
        out["ring"] = np.moveaxis(out["ring"], 1, -1)  # tanks last, as every other
        out |= {name: np.array(getattr(self, name)) for name in self._METER_MEMORY}
        return out | {"tanks": self.keys.copy(), "meter_of": self.meter_of.copy()}

    def remember(self, arrays: dict[str, np.ndarray]) -> int:
        """Restore the windows of the tanks whose key (gauge, meters, settings, geometry)
        is unchanged; the others start fresh. A file of another layout restores nothing."""
        try:
            keys, meter_of = arrays["tanks"], arrays["meter_of"]
            tank = {name: arrays[name] for name in self._TANK_MEMORY}
            meter = {name: arrays[name] for name in self._METER_MEMORY}
        except KeyError:
            return 0
        own = self.memory()
        if not (
            all(a.shape == (*own[n].shape[:-1], keys.size) for n, a in tank.items())
            and all(a.shape == meter_of.shape for a in meter.values())
        ):
            return 0
        tank["ring"] = np.moveaxis(tank["ring"], -1, 1)
        at = {k: j for j, k in enumerate(keys.tolist())}
        restored = 0
        for k, key in enumerate(self.keys.tolist()):
            j = at.get(key)
            if j is None:
                continue
            for name, a in tank.items():
                if name == "ring":  # (7, tanks, slots)
                    self.ring[:, k] = a[:, j]
                else:
                    getattr(self, name)[..., k] = a[..., j]
            mine, theirs = np.flatnonzero(self.meter_of == k), np.flatnonzero(meter_of == j)
            if mine.size == theirs.size:  # the key names the meters: always so
                for name, a in meter.items():
                    getattr(self, name)[mine] = a[theirs]
            restored += 1
        return restored

    @property
    def empty(self) -> bool:
        return self.level.size == 0 and self.orphans.size == 0

    def judge(self, st: State, rnd: Round, out: Changes) -> None:
        if self.empty:
            return
        self.orphans.release(st, rnd, out)
        if self.level.size == 0:
            return
        member = self.member[rnd.sensors]
        ok = rnd.measured & ~np.isnan(rnd.ts)
        meters = np.flatnonzero(ok & (member <= -2))
        if meters.size:
            self._integrate(-2 - member[meters], rnd.ts[meters], rnd.values[meters])
        levels = np.flatnonzero(ok & (member >= 0))
        if levels.size:
            self._add_levels(
                st, member[levels], rnd.ts[levels], rnd.values[levels], out, rnd.number
            )

    def restore(self, st: State, sensor: int, condition: Condition) -> None:
        """MASS_BALANCE restored on a sensor that is no balanced tank's level (the site
        changed): its next reading clears it. On one that is, it holds until judged."""
        if condition is Condition.MASS_BALANCE and self.member[sensor] < 0:
            self.orphans.add(sensor)

    def _integrate(self, m: np.ndarray, ts: np.ndarray, value: np.ndarray) -> None:
        """Meter readings (meter rows `m`, each once): the held flow credited up to `ts`,
        then the new one held from there."""
        self._credit(m, ts)
        self.meter_read_ts[m] = np.fmax(self.meter_read_ts[m], ts)
        self.meter_ts[m] = np.fmax(self.meter_ts[m], ts)
        self.meter_q[m] = value * self.m3_s_per[m]

    def _credit(self, m: np.ndarray, until: np.ndarray) -> None:
        """The held flow of meters `m` times the time from where it was credited up to
        `until`, but not past the meter's last reading + its hold (a gap credits nothing)."""
        end = np.fmin(until, self.meter_read_ts[m] + self.meter_hold_s[m])
        dt = np.clip(end - self.meter_ts[m], 0.0, None)
        vol = np.nan_to_num(self.meter_q[m] * dt)  # before its first reading: nothing held
        b = self.meter_of[m]
        np.add.at(self.cum[0], b, self.sign[m] * vol)
        np.add.at(self.cum[1], b, (self.sign[m] == 0) * np.abs(vol))
        np.add.at(self.cum[2], b, np.abs(vol))
        self.meter_ts[m] = np.fmax(self.meter_ts[m], end)

    def _credit_tanks(self, b: np.ndarray, ts: np.ndarray) -> None:
        """Bring the meters of tanks `b` up to their level readings' `ts`."""
        counts = self.meters_to[b] - self.meters_from[b]
        if not counts.any():
            return
        first = np.repeat(self.meters_from[b], counts)
        offset = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        self._credit(first + offset, np.repeat(ts, counts))

    def _add_levels(
        self,
        st: State,
        b: np.ndarray,
        ts: np.ndarray,
        value: np.ndarray,
        out: Changes,
        round_no: int,
    ) -> None:
        """Level readings of tanks `b` (each once): into their slots; judge closed slots."""
        self._credit_tanks(b, ts)
        volume = self._volume(b, value)
        start = self.slot_start[b]
        fresh = np.isnan(start)
        self.slot_start[b[fresh]] = ts[fresh]
        cum = self.cum[:, b]
        self.sums[:, b] += np.vstack([volume, volume * volume, cum])
        self.count[b] += 1.0
        closed = np.flatnonzero(~fresh & (ts - start >= self.slot_s[b]))
        if closed.size:
            self._close(st, b[closed], ts[closed], out, round_no)

    def _volume(self, b: np.ndarray, reading: np.ndarray) -> np.ndarray:
        """Liquid volume (m³) of tanks `b` at level readings `reading` (sensor units)."""
        return self.geometry.take(b).volume((reading - self.zero[b]) * self.m_per[b])

    def _close(self, st: State, b: np.ndarray, ts: np.ndarray, out: Changes, round_no: int) -> None:
        """Close the slots of tanks `b` at `ts`: push their means, judge against the oldest."""
        n = self.count[b]
        s = self.level[b]
        mean_v = self.sums[0, b] / n
        var = np.maximum(self.sums[1, b] / n - mean_v * mean_v, 0.0)
        # A slot of few readings (a report-by-exception gauge sends one per heartbeat) says
        # little of its own scatter (one reading: none): the gauge's noise as seen (m³
        # through the surface) is the least its mean can be off by.
        noise_m = np.nan_to_num(np.fmax(st.noise_level[s], st.noise[s])) * self.m_per[b]
        seen = noise_m * self._area(b, self._level_m(b, mean_v)) / np.sqrt(n)
        se = np.fmax(np.sqrt(var / np.maximum(n - 1.0, 1.0)), seen)
        row = np.vstack([ts, mean_v, self.sums[2:, b] / n, se, np.zeros(b.size)])  # (7, len(b))
        ring = self.ring[:, b]
        last = ring[:, :, -1]  # the slot before (NaN: none)
        d = row - last
        left, self.way[b] = unexplained(d[1], d[2], d[3], self.way[b])
        metered = np.nan_to_num(d[2] + self.way[b] * d[3])  # m³ the meters moved this slot
        row[6] = np.nan_to_num(last[6]) + np.nan_to_num(left)
        ring[:, :, :-1] = ring[:, :, 1:]
        ring[:, :, -1] = row
        # Slots more than one window back are forgotten: the oldest kept is the reference.
        ring[:, ring[0] < (ts - self.slot_s[b] * SLOTS - 0.5 * self.slot_s[b])[:, None]] = np.nan
        # A gauge found frozen (STUCK) that moved again: the imbalance its window holds was
        # the instrument's, and its catching up is no flow. The window starts again here.
        condemned = st.balance_still[s]
        moved = ~np.isnan(condemned) & (condemned != st.anchor_ts[s])
        if moved.any():
            ring[:, moved, :-1] = np.nan
            self.since[b[moved]] = np.nan
            st.balance_still[s[moved]] = np.nan
        self.ring[:, b] = ring
        self.slot_start[b] = ts
        self.sums[:, b] = 0.0
        self.count[b] = 0.0
        first = np.argmax(~np.isnan(ring[0]), axis=1)  # the oldest kept slot
        ref = ring[:, np.arange(b.size), first]
        judged = first < SLOTS  # another slot than the one just closed
        d = row - ref
        gap = np.abs(d[6])
        mean_level = self._level_m(b, mean_v)
        area = self._area(b, mean_level)
        tolerance = (
            self.flow_error[b] * np.abs(d[4])
            + self.level_error_m[b] * area
            + SIGMAS * np.hypot(row[5], ref[5])
        )
        was = (st.active[s] & BIT) != 0
        beyond = gap > np.where(was, HOLD_RATIO, 1.0) * tolerance
        since = np.where(beyond, np.fmin(self.since[b], ts), np.nan)
        self.since[b] = np.where(judged, since, self.since[b])
        due = beyond & (ts - since >= self.delay_s[b])
        # A gauge still while the meters moved it many counts is frozen: the imbalance is
        # the instrument's (`_still_against_meters`).
        # Its stillness is handed to STUCK (detectors.signal), raised on its next reading
        # (a report-by-exception gateway's heartbeat re-sends the frozen value) and held
        # until it moves; MASS_BALANCE is not raised for it (a held one clears).
        still = self._still_against_meters(st, s, b, metered, area, tolerance)
        # Still at the top while the meters pump in is an overflow, not a frozen gauge.
        top = (st.anchor_value[s] - self.zero[b]) * self.m_per[b] >= TOP * self.geometry.height_m[b]
        frozen = judged & beyond & still & ~top
        condemn = frozen & (was | due)
        st.balance_still[s] = np.where(condemn, st.anchor_ts[s], st.balance_still[s])
        now = np.where(judged, beyond & (was | due) & ~frozen, was)
        flip = np.flatnonzero(now != was)
        if flip.size:
            f = s[flip]
            st.active[f] ^= BIT
            out.add(f, Condition.MASS_BALANCE, now[flip], gap[flip], ts[flip], round_no=round_no)

    def _still_against_meters(
        self,
        st: State,
        s: np.ndarray,
        b: np.ndarray,
        metered: np.ndarray,
        area: np.ndarray,
        tolerance: np.ndarray,
    ) -> np.ndarray:
        """Per tank `b` (level sensors `s`; `metered` m³ this slot), whether its gauge stood
        still while its meters moved it: the volume metered since the gauge last moved
        (STUCK's anchor) is beyond the balance's `tolerance` (m³) by itself, and as level
        at least PACE_COUNTS of the resolution the gauge has shown (a gauge that never
        moved has shown none: its stillness says nothing)."""
        anchor = st.anchor_ts[s]
        same = anchor == self.still_anchor[b]
        self.still_m3[b] = np.where(same, self.still_m3[b], 0.0) + metered
        self.still_anchor[b] = anchor
        moved = np.abs(self.still_m3[b])
        counts = moved / area / self.m_per[b] / st.seen_res[s]
        return (moved > tolerance) & (counts >= PACE_COUNTS)

    def _level_m(self, b: np.ndarray, volume: np.ndarray) -> np.ndarray:
        return self.geometry.take(b).level(volume)

    def _area(self, b: np.ndarray, level_m: np.ndarray) -> np.ndarray:
        """The liquid surface (m², dV/dh) of tanks `b` at `level_m`, at least a 50th of
        the tank's mean cross-section (a sphere's pole has none)."""
        g = self.geometry
        step = 1e-3 * g.height_m[b]
        up = self._volume_m(b, level_m + step)
        down = self._volume_m(b, level_m - step)
        mean = g.capacity_m3[b] / g.height_m[b]
        return np.maximum((up - down) / (2.0 * step), mean / 50.0)

    def _volume_m(self, b: np.ndarray, level_m: np.ndarray) -> np.ndarray:
        return self._volume(b, level_m / self.m_per[b] + self.zero[b])

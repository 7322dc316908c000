"""RELATION: a group of sensors left the relation it showed in normal operation (Hotelling T²).

Each sensor alone may stay in its usual range while the group does something it never did:
a pump's current and its flow parting ways, two temperatures of one rig no longer moving
together. Per group, the mean and covariance of the members' values are learned on normal
operation (every sample Detector.learn gives, for example replay's `--learn-rows`; live,
the first samples until a group has its warm-up); from then on every sample x (the
members' latest measurements after a round that measured one of them) is scored

    T² = (x - mean)ᵀ S⁻¹ (x - mean),   S = covariance shrunk towards its diagonal,

and judged against a control limit from the learned distribution itself: the larger of the
chi-square quantile of the group's dimension and a multiple of the T² the learning samples
reached (real process data is neither Gaussian nor independent). RELATION is raised after
ON_SAMPLES samples in a row above the limit, on the member contributing most to T² (term
j of the sum: (x - mean)_j · (S⁻¹(x - mean))_j), which keeps it until a smoothed T² is
below HOLD_RATIO × limit; its value is the T² that moved it.

Groups [product default]: the `generic` sensors of a unit, two or more (a wide CSV replayed
without a config is one unit of generic sensors: all its columns form one group), in chunks
of at most MAX_GROUP. Level, temperature, pressure and flow of a tank are left out: they
move by operation (fills, drains, pumps), and a covariance learned on one operating state
would alarm on the next. Groups of one size are scored together, vectorised.

The learned sums are the rule's own and are not in the detector checkpoint yet: after a
restart a group learns again (a restored RELATION stays until its group judges it clear).
"""

from __future__ import annotations

import numpy as np
from scipy.stats import chi2

from detectors.changes import Changes
from detectors.rule import Orphans, Round
from detectors.state import State
from hazardwatch.vocabulary.model import Condition, Kind, SensorTable

RELATION = np.uint32(Condition.RELATION.bit)
MAX_GROUP = 64  # members per group; a larger unit is split into chunks
MIN_WARMUP = 200  # samples learned before a group is judged ...
WARMUP_PER_MEMBER = 5  # ... and at least this many per member
RESERVOIR = 512  # learning samples kept per group to set its control limit
# Weight of the diagonal in the shrunk covariance: d / n (dimension over samples learned),
# at most SHRINK_MAX: a covariance from few samples is shrunk more; one from many barely,
# so a tight relation (two members moving as one) keeps its power.
SHRINK_MAX = 0.1
CHI2_ALPHA = 1e-4  # the chi-square floor of the limit: its 1 - alpha quantile
LEARNED_QUANTILE = 0.99  # ... and the limit is at least LIMIT_OVER_LEARNED x this quantile
LIMIT_OVER_LEARNED = 2.0  # of the learning samples' T²
ON_SAMPLES = 2  # samples in a row above the limit to raise
# Cleared when an EWMA of T² (each sample capped at CAP_OVER_LIMIT x the limit, so a wild
# excursion does not hold it for long) falls below HOLD_RATIO x the limit: a broken relation
# has samples that happen to fit (both members near their means), which must not clear it.
SMOOTH_ALPHA = 0.1
CAP_OVER_LIMIT = 10.0
HOLD_RATIO = 0.8


def hotelling_t2(x: np.ndarray, mean: np.ndarray, inv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """T² of samples `x` (groups, d) and each member's term of it (groups, d).

    >>> t2, terms = hotelling_t2(np.array([[2.0, 0.0]]), np.zeros((1, 2)), np.eye(2)[None])
    >>> float(t2[0]), terms[0].tolist()
    (4.0, [4.0, 0.0])
    """
    dev = x - mean
    terms = dev * np.einsum("gij,gj->gi", inv, dev)
    return terms.sum(axis=1), terms


def shrunk_inverse(cov: np.ndarray, scale: np.ndarray, shrink: np.ndarray) -> np.ndarray:
    """Inverse of covariances (groups, d, d) shrunk towards their diagonals by `shrink`
    (groups,), each variance floored at 1e-12 of `scale`² (groups, d: the members' typical
    magnitude), so a member that never moved while learning still gives an invertible matrix.

    >>> one = np.full(1, 0.1)
    >>> inv = shrunk_inverse(np.array([[[4.0, 0.0], [0.0, 0.0]]]), np.ones((1, 2)), one)
    >>> round(float(inv[0, 0, 0]), 9), bool(inv[0, 1, 1] > 1e11)
    (0.25, True)
    """
    d = cov.shape[-1]
    diag = np.einsum("gii->gi", cov)
    floor = 1e-12 * np.maximum(scale, 1.0) ** 2
    eye = np.eye(d)[None]
    w = shrink[:, None, None]
    shrunk = (1.0 - w) * cov + eye * (shrink[:, None] * diag + floor)[:, None, :]
    return np.linalg.inv(shrunk)


class _Bucket:
    """Every group of one size: members, learned sums, model and decision counters."""

    def __init__(self, members: np.ndarray) -> None:
        g, d = members.shape
        self.members = members
        self.warmup = max(MIN_WARMUP, WARMUP_PER_MEMBER * d)
        self.n = np.zeros(g, np.int64)
        self.origin = np.full((g, d), np.nan)  # first sample: the sums stay exact
        self.sum = np.zeros((g, d))
        self.sumsq = np.zeros((g, d, d))
        self.reservoir = np.full((g, RESERVOIR, d), np.nan)
        self.ready = np.zeros(g, bool)  # fitted at least once
        self.unfitted = np.zeros(g, bool)  # warmed up, and learned more since the last fit
        self.mean = np.zeros((g, d))
        self.inv = np.zeros((g, d, d))
        self.limit = np.full(g, np.inf)
        self.above = np.zeros(g, np.int64)  # samples in a row above the limit
        self.smooth = np.full(g, np.nan)  # EWMA of the capped T²
        self.holder = np.full(g, -1, np.int64)  # sensor carrying RELATION; -1: none

    def learn(self, groups: np.ndarray, x: np.ndarray, rng: np.random.Generator) -> None:
        """Add samples `x` (one per group of `groups`, all finite) to the learning sums; a
        group with `warmup` samples or more is fitted again before it is next judged."""
        fresh = np.isnan(self.origin[groups, 0])
        self.origin[groups[fresh]] = x[fresh]
        y = x - self.origin[groups]
        self.sum[groups] += y
        self.sumsq[groups] += y[:, :, None] * y[:, None, :]
        k = self.n[groups]
        # Reservoir sampling: every learning sample has the same chance to be kept.
        slot = np.where(k < RESERVOIR, k, rng.integers(0, k + 1))
        keep = slot < RESERVOIR
        self.reservoir[groups[keep], slot[keep]] = x[keep]
        self.n[groups] = k + 1
        self.unfitted[groups[k + 1 >= self.warmup]] = True

    def fit(self, groups: np.ndarray) -> None:
        """Fit the `groups` whose learning moved since their last fit."""
        if not self.unfitted.any():
            return
        due = groups[self.unfitted[groups]]
        if due.size:
            self._fit(due)
            self.unfitted[due] = False

    def _fit(self, groups: np.ndarray) -> None:
        n = self.n[groups][:, None].astype(np.float64)
        mean_y = self.sum[groups] / n
        cov = self.sumsq[groups] / n[:, :, None] - mean_y[:, :, None] * mean_y[:, None, :]
        cov *= (n / np.maximum(n - 1.0, 1.0))[:, :, None]
        mean = mean_y + self.origin[groups]
        d = self.members.shape[1]
        inv = shrunk_inverse(cov, np.abs(mean), np.minimum(SHRINK_MAX, d / n[:, 0]))
        self.mean[groups], self.inv[groups] = mean, inv
        floor = float(chi2.ppf(1.0 - CHI2_ALPHA, d))
        kept = np.minimum(self.n[groups], RESERVOIR)
        for j, g in enumerate(groups.tolist()):
            sample = self.reservoir[g, : kept[j]]
            t2, _ = hotelling_t2(sample, mean[j][None], inv[j][None])
            learned = float(np.quantile(t2, LEARNED_QUANTILE)) if t2.size else 0.0
            self.limit[g] = max(floor, LIMIT_OVER_LEARNED * learned)
        self.ready[groups] = True


class RelationRule:
    """RELATION as a rule (detectors.rule): learns and judges the groups a round touched."""

    conditions = frozenset({Condition.RELATION})

    def __init__(self, table: SensorTable, seed: int = 0) -> None:
        n = table.n
        self.buckets: list[_Bucket] = []
        by_size: dict[int, list[np.ndarray]] = {}
        generic = np.flatnonzero(table.kind == Kind.GENERIC)
        for unit in np.unique(table.unit_index[generic]):
            own = generic[table.unit_index[generic] == unit]
            for chunk in np.array_split(own, -(-own.size // MAX_GROUP)):
                if chunk.size >= 2:
                    by_size.setdefault(int(chunk.size), []).append(chunk)
        # Groups are numbered bucket after bucket: a bucket is one range of group ids.
        self.group_id = np.full(n, -1, np.int64)  # per sensor: its group; -1: none
        self.bucket_start = [0]
        for size in sorted(by_size):
            members = np.stack(by_size[size])
            start = self.bucket_start[-1]
            self.buckets.append(_Bucket(members))
            self.group_id[members] = start + np.arange(members.shape[0])[:, None]
            self.bucket_start.append(start + members.shape[0])
        # Each group member's latest measurement (learned or judged), signal faults or not.
        self._value = np.full(n if self.buckets else 0, np.nan)
        self._rng = np.random.default_rng(seed)
        self.orphans = Orphans(Condition.RELATION)  # restored where no group is now

    @property
    def empty(self) -> bool:
        return not self.buckets and self.orphans.size == 0

    def learn(self, sensors: np.ndarray, values: np.ndarray) -> None:
        """Learn from measurements that teach only (Detector.learn): one per sensor."""
        if not self.buckets:
            return
        self._value[sensors] = values
        for b, groups in self._touched(sensors):
            bucket = self.buckets[b]
            groups = _indices(groups, bucket.n.size)
            x = self._value[bucket.members[groups]]
            ok = np.isfinite(x).all(axis=1)
            if ok.any():
                bucket.learn(groups[ok], x[ok], self._rng)

    def judge(self, st: State, rnd: Round, out: Changes) -> None:
        if self.empty:
            return
        self.orphans.release(st, rnd, out)
        if not self.buckets:
            return
        # A group judges its members' measurements, a signal fault or not: a member turned
        # noisy or spiking may be exactly how the relation shows that it broke.
        at = np.flatnonzero(rnd.measured)
        sensors = rnd.sensors[at]
        self._value[sensors] = rnd.values[at]
        when = np.full(self.group_id.size, -np.inf)
        when[sensors] = rnd.ts[at]
        for b, groups in self._touched(sensors):
            self._judge(st, b, groups, when, out, rnd.number)

    def restore(self, st: State, sensor: int, condition: Condition) -> None:
        if condition is not Condition.RELATION:
            return
        gid = int(self.group_id[sensor])
        if gid < 0:
            self.orphans.add(sensor)
            return
        b = int(np.searchsorted(self.bucket_start, gid, side="right")) - 1
        bucket, g = self.buckets[b], gid - self.bucket_start[b]
        bucket.holder[g] = sensor  # its group clears it by the ordinary rule ...
        bucket.smooth[g] = np.nan  # ... from its next samples

    # ------------------------------------------------------------------ internals

    def _touched(self, sensors: np.ndarray) -> list[tuple[int, np.ndarray | slice]]:
        """(bucket, its groups) for the groups with a member among `sensors`; a slice
        where every group of the bucket is touched (a round of the whole park)."""
        if not self.buckets or sensors.size == 0:
            return []
        gid = self.group_id[sensors]
        hit = np.zeros(self.bucket_start[-1], bool)
        hit[gid[gid >= 0]] = True  # a scatter, not a sort: rounds are park-sized
        out: list[tuple[int, np.ndarray | slice]] = []
        for b in range(len(self.buckets)):
            lo, hi = self.bucket_start[b], self.bucket_start[b + 1]
            groups = np.flatnonzero(hit[lo:hi])
            if groups.size:
                out.append((b, slice(None) if groups.size == hi - lo else groups))
        return out

    def _judge(
        self,
        st: State,
        b: int,
        groups: np.ndarray | slice,
        when: np.ndarray,
        out: Changes,
        rnd_no: int,
    ) -> None:
        bucket = self.buckets[b]
        members = bucket.members[groups]  # a view for a slice: the common park-wide round
        x = self._value[members]
        keep = np.isfinite(x).all(axis=1)
        keep &= bucket.ready[groups] | bucket.unfitted[groups]
        if not keep.all():
            warming = ~keep & np.isfinite(x).all(axis=1)
            idx = _indices(groups, bucket.n.size)
            if warming.any():  # live warm-up: a group's first samples are learned, not judged
                bucket.learn(idx[warming], x[warming], self._rng)
            groups, members, x = idx[keep], members[keep], x[keep]
            if groups.size == 0:
                return
        bucket.fit(_indices(groups, bucket.n.size))
        t2, terms = hotelling_t2(x, bucket.mean[groups], bucket.inv[groups])
        limit = bucket.limit[groups]
        bucket.above[groups] = np.where(t2 > limit, bucket.above[groups] + 1, 0)
        capped = np.minimum(t2, CAP_OVER_LIMIT * limit)
        smooth = bucket.smooth[groups]
        smooth = np.where(np.isnan(smooth), capped, smooth + SMOOTH_ALPHA * (capped - smooth))
        bucket.smooth[groups] = smooth
        holder = bucket.holder[groups]
        was = holder >= 0
        raise_ = np.flatnonzero(~was & (bucket.above[groups] >= ON_SAMPLES))
        clear = np.flatnonzero(was & (smooth < HOLD_RATIO * limit))
        if raise_.size == 0 and clear.size == 0:
            return
        idx = _indices(groups, bucket.n.size)
        if raise_.size:
            k = raise_
            lead = members[k, np.argmax(terms[k], axis=1)]
            bucket.holder[idx[k]] = lead
            st.active[lead] |= RELATION
            ts = when[members[k]].max(axis=1)
            out.add(lead, Condition.RELATION, True, t2[k], ts, round_no=rnd_no)
        if clear.size:
            k = clear
            s = holder[k]
            bucket.holder[idx[k]] = -1
            st.active[s] &= ~RELATION
            ts = when[members[k]].max(axis=1)
            out.add(s, Condition.RELATION, False, t2[k], ts, round_no=rnd_no)


def _indices(groups: np.ndarray | slice, size: int) -> np.ndarray:
    """Group numbers of a bucket of `size` groups: `groups` itself, or every one for a slice."""
    return np.arange(size) if isinstance(groups, slice) else groups

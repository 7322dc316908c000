"""The detector's memory on disk: one `.npz` file, restored row by row by tag after a restart.

Memory is what the readings taught each sensor and what no other source can give back:
the slope window (ring, running sums, slope), the learned baseline and CUSUM, the signal
history (previous readings, noise, smoothing, STUCK anchor) and the last applied reading
(`last_value`, `last_ts`, `last_quality`). Every `State` field is memory unless listed in
`NOT_MEMORY`, so a field added to State is saved and restored without a change here (and
starts fresh when loading an older checkpoint that lacks it).

Not memory, so every sensor starts them fresh:
- the conditions and their decision timers (`active`, `pending_since`, `quiet_lo/hi`,
  `eta`, `drift_off_since`, `cooling_since`, `trend_wake`, `co_dirty/co_waiting`): the
  alarm journal is the authority on which conditions are active (Detector.restore() marks
  them after `load`), and a timer of a condition the journal no longer agrees with would
  be wrong. Fresh timers only delay: a restored DRIFT with restored CUSUM sums clears by
  the ordinary rules (its off-delay counts again from the first reading that wants it
  cleared);
- `last_seen`: staleness is judged from the restart for a fresh detector. A restored
  last_seen, older than the start by at least the downtime, would raise COMM_LOSS for the
  whole park on the first stale check.
`last_ts` is restored: a redelivered reading the checkpoint already holds is then ignored
(out of order) instead of entering the window and the baseline twice, while redelivered
readings newer than the checkpoint still apply. Readings stored and acknowledged between
the last checkpoint and a crash are not redelivered: the memory misses them (a gap in the
window, up to one checkpoint interval).

The rules that keep their own memory (detectors.rule.Remembers: the mass balance's windows)
are saved beside it, each under its name, and handed back after `load`; each restores only
what is still its own (a tank whose gauge, meters and settings are unchanged). A file
without them (an older one) leaves them fresh.

A row is restored only where its tag is still configured and its fingerprint (the settings
that give the memory its meaning, `FINGERPRINT`) is unchanged; a different format version
or ring size restores nothing. No pickles: tags are a unicode array.
"""

from __future__ import annotations

import math
import os
import time
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace
from functools import cache
from pathlib import Path

import numpy as np

from detectors.rule import Remembers
from detectors.state import Params, State
from detectors.step import Detector
from hazardwatch.storage.durable import fsync_dir
from hazardwatch.vocabulary.model import HazardWatchError

FORMAT = "hazardwatch-detector-checkpoint"
VERSION = 1

# Conditions and their timers (the journal's), and the staleness clock (the restart's).
NOT_MEMORY = frozenset(
    {
        "sample_from",  # derived from pushed_ts: reset below
        "active",
        "pending_since",
        "quiet_lo",
        "quiet_hi",
        "eta",
        "drift_off_since",
        "cooling_since",
        "trend_wake",  # RATE/PREDICT's skip-until timer, where State has it
        "co_dirty",
        "co_waiting",
        "last_seen",
    }
)
# The Params columns the memory depends on: the window's time span and spacing, the
# baseline's warm-up, learning rate and sigma floor, the CUSUM's k and cap (2h), the
# signal history's resolution, spike rate and noise ratio, and the instrument's range and
# kind (another range or kind is another instrument). Limits, delays, rate limits and
# horizons judge the memory but do not shape it: changing them keeps it.
FINGERPRINT = (
    "is_gas",
    "range_lo",
    "range_hi",
    "rate_window_s",
    "sample_every_s",
    "warmup_n",
    "alpha",
    "drift_h_sigma",
    "drift_k_sigma",
    "sigma_floor",
    "resolution",
    "spike_rate_per_s",
    "noise_ratio",
)
_PREFIX = "state."
_RULE = "rule."  # then the rule's memory_name, a dot, the array's name
_RING = ("ring_ts", "ring_value")  # (ring_size, n): the ring size is checked on them


class CheckpointError(HazardWatchError):
    """A checkpoint file that cannot be read: truncated, corrupt or not a checkpoint."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(f"detector checkpoint {path}: {problem}")
        self.path = path
        self.problem = problem


@dataclass(frozen=True)
class CheckpointInfo:
    """What a save wrote or a load restored. `saved_at` is NaN when no file was read;
    `note` says why nothing was restored (missing, other version, other ring size)."""

    path: Path
    saved_at: float
    rows: int  # rows in the file
    nbytes: int = 0  # file size
    seconds: float = 0.0  # time the save (the write) or the load took
    restored: int = 0
    fresh: int = 0  # sensors starting fresh (new tag, changed fingerprint, or nothing loaded)
    changed: int = 0  # of those, tags whose fingerprint changed
    dropped: int = 0  # rows of the file whose tag is no longer configured
    note: str = ""


@dataclass(frozen=True, eq=False)
class Snapshot:
    """A copy of the memory, taken between steps; written by `write` (in any thread).
    `rules`: the memory of the rules that keep their own (detectors.rule.Remembers), by
    rule name, then array name."""

    tags: np.ndarray
    ring_size: int
    saved_at: float
    arrays: dict[str, np.ndarray]
    rules: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)


def memory_fields() -> tuple[str, ...]:
    """The State fields that are memory, per sensor, in declaration order."""
    return tuple(name for name in _per_sensor() if name not in NOT_MEMORY)


def fingerprint(params: Params) -> np.ndarray:
    """A 64-bit hash per sensor of its `FINGERPRINT` settings (NaN and -0.0 normalised)."""
    h = np.full(params.n, 0xCBF29CE484222325, np.uint64)
    for name in FINGERPRINT:
        column = np.asarray(getattr(params, name), np.float64)
        column = np.where(np.isnan(column), np.nan, column) + 0.0  # one NaN, no -0.0
        h ^= np.ascontiguousarray(column).view(np.uint64)
        h *= np.uint64(0x100000001B3)
        h ^= h >> np.uint64(29)
    return h


def snapshot(detector: Detector, tags: Sequence[str], now: float | None = None) -> Snapshot:
    """Copy the memory of `detector` (whose SensorTable has `tags`, in row order)."""
    st = detector.state
    if len(tags) != detector.params.n:
        raise HazardWatchError(f"{len(tags)} tags for a detector of {detector.params.n} sensors")
    arrays = {name: np.array(getattr(st, name)) for name in memory_fields()}
    rules = {r.memory_name: r.memory() for r in detector.rules if isinstance(r, Remembers)}
    return Snapshot(
        tags=np.asarray(tags, dtype=str),
        ring_size=int(st.ring_ts.shape[0]),
        saved_at=time.time() if now is None else float(now),
        arrays={**arrays, "fingerprint": fingerprint(detector.params)},
        rules=rules,
    )


def write(snap: Snapshot, path: Path) -> CheckpointInfo:
    """Write a snapshot atomically: `path.tmp`, fsync, rename over `path`, fsync the folder.

    A crash at any point leaves either the old file or the new one, never a mix.
    """
    path = Path(path)
    started = time.perf_counter()
    tmp = path.with_name(path.name + ".tmp")
    meta = {
        "format": np.array(FORMAT),
        "version": np.array(VERSION, np.int64),
        "ring_size": np.array(snap.ring_size, np.int64),
        "saved_at": np.array(snap.saved_at, np.float64),
        "tags": snap.tags,
        "fingerprint": snap.arrays["fingerprint"],
    }
    state = {_PREFIX + k: v for k, v in snap.arrays.items() if k != "fingerprint"}
    rules = {f"{_RULE}{r}.{k}": v for r, arrays in snap.rules.items() for k, v in arrays.items()}
    try:
        with open(tmp, "wb") as f:
            np.savez(f, **meta, **state, **rules)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a full disk gets its space back; the old file stays
        raise
    fsync_dir(path.parent)
    return CheckpointInfo(
        path=path,
        saved_at=snap.saved_at,
        rows=int(snap.tags.size),
        nbytes=path.stat().st_size,
        seconds=time.perf_counter() - started,
    )


def save(
    detector: Detector, path: Path, tags: Sequence[str], *, now: float | None = None
) -> CheckpointInfo:
    """Write the memory of `detector` to `path` atomically (snapshot, then write)."""
    started = time.perf_counter()
    info = write(snapshot(detector, tags, now), path)
    return replace(info, seconds=time.perf_counter() - started)


def load(detector: Detector, path: Path, tags: Sequence[str]) -> CheckpointInfo:
    """Restore the memory of `detector` (fresh, before Detector.restore) from `path`, by tag.

    A missing file, another version or another ring size restores nothing (see `note`);
    a file that cannot be read raises CheckpointError naming it and the problem.
    """
    path = Path(path)
    started = time.perf_counter()
    n = detector.params.n
    if not path.exists():
        return CheckpointInfo(path, math.nan, 0, fresh=n, note="no checkpoint")
    try:
        with open(path, "rb") as f:  # ours to close: np.load leaks it on a bad zip
            npz = np.load(f, allow_pickle=False)
            if not isinstance(npz, np.lib.npyio.NpzFile):
                raise CheckpointError(path, "not a detector checkpoint (a bare array)")
            with npz:
                meta, arrays = _read(npz, path)
                rules = _read_rules(npz) if meta[3] == VERSION else {}
    except CheckpointError:
        raise
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as exc:
        raise CheckpointError(path, f"unreadable ({type(exc).__name__}: {exc})") from None
    saved_at, file_tags, ring_size, version = meta
    info = CheckpointInfo(path, saved_at, file_tags.size, path.stat().st_size, fresh=n)
    if version != VERSION:
        return replace(info, note=f"format version {version}, this build reads {VERSION}")
    own_ring = int(detector.state.ring_ts.shape[0])
    if ring_size != own_ring:
        return replace(info, note=f"ring size {ring_size}, this detector has {own_ring}")
    src, dst, changed, dropped = _match(file_tags, arrays.pop("fingerprint"), detector, tags)
    # Fields this build no longer has, or no longer counts as memory, are ignored.
    arrays = {k: a for k, a in arrays.items() if k in memory_fields()}
    _check_shapes(arrays, detector.state, file_tags.size, path)
    st = detector.state
    every = dst.size == n == src.size and bool((dst == src).all())  # row for row: plain copies
    for name, a in arrays.items():
        if every:
            np.copyto(getattr(st, name), a)
        else:
            getattr(st, name)[..., dst] = a[..., src]
    st.sample_from[0] = -np.inf  # the windows moved: no bound known
    for rule in detector.rules:
        if isinstance(rule, Remembers) and rule.memory_name in rules:
            rule.remember(rules[rule.memory_name])
    return replace(
        info,
        seconds=time.perf_counter() - started,
        restored=int(dst.size),
        fresh=n - int(dst.size),
        changed=changed,
        dropped=dropped,
    )


# ---------------------------------------------------------------------------- helpers


def _read(
    npz: np.lib.npyio.NpzFile, path: Path
) -> tuple[tuple[float, np.ndarray, int, int], dict[str, np.ndarray]]:
    """The metadata and arrays of an open file; CheckpointError if it is not a checkpoint."""
    keys = set(npz.files)
    needed = {"format", "version", "ring_size", "saved_at", "tags", "fingerprint"}
    if "format" not in keys or str(npz["format"]) != FORMAT:
        raise CheckpointError(path, "not a detector checkpoint (no format marker)")
    if not needed <= keys:
        raise CheckpointError(path, f"missing {sorted(needed - keys)}")
    tags = npz["tags"]
    fp = npz["fingerprint"]
    if tags.ndim != 1 or tags.dtype.kind != "U":
        raise CheckpointError(path, f"tags: expected a 1-D unicode array, got {tags.dtype}")
    if fp.shape != tags.shape or fp.dtype != np.uint64:
        raise CheckpointError(path, f"fingerprint: {fp.dtype}{fp.shape} for {tags.size} tags")
    version, ring_size = int(npz["version"]), int(npz["ring_size"])
    arrays = {"fingerprint": fp}
    if version == VERSION:
        arrays |= {k[len(_PREFIX) :]: npz[k] for k in npz.files if k.startswith(_PREFIX)}
    return (float(npz["saved_at"]), tags, ring_size, version), arrays


def _read_rules(npz: np.lib.npyio.NpzFile) -> dict[str, dict[str, np.ndarray]]:
    """The rules' own memory in an open file: rule name -> array name -> array."""
    out: dict[str, dict[str, np.ndarray]] = {}
    for key in npz.files:
        if key.startswith(_RULE) and "." in key[len(_RULE) :]:
            rule, name = key[len(_RULE) :].split(".", 1)
            out.setdefault(rule, {})[name] = npz[key]
    return out


def _match(
    file_tags: np.ndarray, file_fp: np.ndarray, detector: Detector, tags: Sequence[str]
) -> tuple[np.ndarray, np.ndarray, int, int]:
    """(rows of the file, rows of the detector) to restore, fingerprints changed, dropped."""
    own = np.asarray(tags, dtype=str)
    if own.shape == file_tags.shape and np.array_equal(own, file_tags):
        dst = np.arange(own.size)  # the same park in the same order: no lookup by tag
    else:
        index = {t: i for i, t in enumerate(tags)}
        dst = np.fromiter((index.get(t, -1) for t in file_tags.tolist()), np.int64, own.size)
    known = dst >= 0
    same = known.copy()
    same[known] = file_fp[known] == fingerprint(detector.params)[dst[known]]
    src = np.flatnonzero(same)
    return src, dst[src], int(np.count_nonzero(known & ~same)), int(np.count_nonzero(~known))


def _check_shapes(arrays: dict[str, np.ndarray], st: State, rows: int, path: Path) -> None:
    """Every array to restore must fit its State field: same dtype, same leading shape (a
    layout changed without a version bump is refused, not half restored)."""
    for name, a in arrays.items():
        own = getattr(st, name)
        if a.dtype != own.dtype or a.shape != (*own.shape[:-1], rows):
            raise CheckpointError(
                path, f"{name}: {a.dtype}{a.shape}, expected {own.dtype}{(*own.shape[:-1], rows)}"
            )


@cache
def _per_sensor() -> tuple[str, ...]:
    """State fields with one row (column) per sensor: their last axis grows with n."""
    small, large = State.new(2, 0.0, 4), State.new(3, 0.0, 4)
    return tuple(
        f.name
        for f in fields(State)
        if getattr(small, f.name).shape[-1:] == (2,) and getattr(large, f.name).shape[-1:] == (3,)
    )

"""Back-test: the stored history replayed twice, current and candidate settings, compared.

The readings of the chosen sensors over [since, until] come out of the reading store (its
`readings` call, one window of `window_s` at a time, in time order) and go through the
replay loop (`hazardwatch.shell.replay.drive`: a Service on a FakeClock, slices, one `tick`
per slice end), once with the site's effective settings and once with the candidate
changes on top. Each run's alarm transitions become per-sensor figures:

- `alarms`: activations per condition;
- `time_in_alarm_s`: time from activation to clear, summed (one still active at the end
  counts to `until`);
- `chattering`: activations that were the third or more of their alarm within
  `CHATTER_WINDOW_S` (EEMUA 191 / ISA-18.2: three in a minute);
- `standing`: activations that stayed active longer than `STANDING_S`.

`diff` gives, per sensor whose figures differ, candidate minus current; `reports` the
alarm performance report (alerting.report) of each run's transitions over the chosen
sensors, so a limit change shows what it does to the console's EEMUA 191 figures;
`incidents` how early each run warned of the incidents the journal records
(hazardwatch.shell.backtest_incidents).

On a machine with a second core a long back-test runs its candidate run in a second
process beside the current one (hazardwatch.shell.backtest_worker): each run gives what it
gives alone, in about half the time.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from alerting import AlarmEvent, AlarmPolicy, SensorPlace, report
from alerting.lifecycle import Event
from hazardwatch.shell.backtest_incidents import Incident, IncidentLeads, lead_times
from hazardwatch.shell.backtest_worker import Worker
from hazardwatch.shell.replay import ReplaySummary, drive
from hazardwatch.shell.replay_csv import Chunk
from hazardwatch.storage import BlockStore, Columns, ReadingStore, read_columns
from hazardwatch.storage.columns import by_sensor
from hazardwatch.vocabulary.model import HazardWatchError, SensorTable, Site

CHATTER_WINDOW_S = 60.0
CHATTER_COUNT = 3
STANDING_S = 24 * 3600.0
WINDOW_S = 3600.0  # data time read from the store at a time, at most
# ... and about this many readings at 1 Hz (15 MB of columns): a run of 1,000 sensors took
# 15-20 % less CPU with windows of 600,000 readings than of 4 M (likeliest: the
# columns of a big window are fresh pages, touched once by the read, again by the slices)
WINDOW_READINGS = 600_000
# The history (sensors x seconds) from which the candidate run gets a process of its own:
# about 10 s of a run, beside the worker's start (a few seconds).
WORKER_FROM_SENSOR_S = 20_000_000

Progress = Callable[[float], None]  # the share done, 0..1
Read = Callable[[ReadingStore, np.ndarray, float, float], Columns]  # storage.read_columns


class BacktestError(HazardWatchError):
    """A back-test that cannot run as asked (no such tag, an empty range)."""


@dataclass
class SensorFigures:
    """What one sensor's alarms did in one run."""

    alarms: dict[str, int] = field(default_factory=dict)
    time_in_alarm_s: float = 0.0
    chattering: int = 0
    standing: int = 0

    @property
    def total(self) -> int:
        return sum(self.alarms.values())


class Figures:
    """Per-sensor figures built from a run's alarm transitions (an EventSink)."""

    def __init__(self) -> None:
        self.sensors: dict[str, SensorFigures] = {}
        self._since: dict[tuple[str, str], float] = {}  # active: its activation ts
        self._recent: dict[tuple[str, str], deque[float]] = {}
        self.events: list[AlarmEvent] = []  # the run's transitions, for its report

    def __call__(self, events: list[AlarmEvent]) -> None:
        self.events += events
        for e in events:
            key = (e.alarm.tag, e.alarm.condition.label)
            if e.event is Event.ACTIVATE:
                f = self.sensors.setdefault(key[0], SensorFigures())
                f.alarms[key[1]] = f.alarms.get(key[1], 0) + 1
                recent = self._recent.setdefault(key, deque(maxlen=CHATTER_COUNT))
                recent.append(e.ts)
                if len(recent) == CHATTER_COUNT and e.ts - recent[0] <= CHATTER_WINDOW_S:
                    f.chattering += 1
                self._since.setdefault(key, e.ts)
            elif e.event is Event.CLEAR and key in self._since:
                self._ended(key, e.ts)

    def _ended(self, key: tuple[str, str], ts: float) -> None:
        began = self._since.pop(key)
        f = self.sensors[key[0]]
        f.time_in_alarm_s += ts - began
        f.standing += ts - began > STANDING_S

    def finish(self, until: float) -> dict[str, SensorFigures]:
        """Alarms still active count to `until`; the figures by tag."""
        for key in list(self._since):
            self._ended(key, max(until, self._since[key]))
        return self.sensors


@dataclass
class BacktestReport:
    since: float
    until: float
    tags: list[str]
    readings: int
    seconds: float  # wall time of both runs
    current: dict[str, SensorFigures]
    candidate: dict[str, SensorFigures]
    changes: dict[str, Any]
    reports: dict[str, dict[str, Any]] = field(default_factory=dict)  # "current", "candidate"
    incidents: IncidentLeads = field(default_factory=IncidentLeads)

    def diff(self) -> dict[str, dict[str, Any]]:
        """Per sensor whose figures differ: candidate minus current, per figure."""
        out: dict[str, dict[str, Any]] = {}
        for tag in self.tags:
            a = self.current.get(tag, SensorFigures())
            b = self.candidate.get(tag, SensorFigures())
            if a == b:
                continue
            conds = sorted(a.alarms.keys() | b.alarms.keys())
            out[tag] = {
                "alarms": {c: b.alarms.get(c, 0) - a.alarms.get(c, 0) for c in conds},
                "time_in_alarm_s": b.time_in_alarm_s - a.time_in_alarm_s,
                "chattering": b.chattering - a.chattering,
                "standing": b.standing - a.standing,
            }
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "since": self.since,
            "until": self.until,
            "tags": self.tags,
            "readings": self.readings,
            "seconds": self.seconds,
            "changes": self.changes,
            "current": {t: asdict(f) for t, f in self.current.items()},
            "candidate": {t: asdict(f) for t, f in self.candidate.items()},
            "diff": self.diff(),
            "reports": self.reports,
            "incidents": self.incidents.to_dict(),
        }

    def lines(self) -> list[str]:
        """The table the CLI prints: one row per sensor with alarms in either run."""
        out = [
            f"back-test of {len(self.tags)} sensors, {self.readings} stored readings, "
            f"both runs in {self.seconds:.1f} s",
            f"{'tag':<24} {'alarms now -> cand':>20} {'in alarm h':>16} "
            f"{'chatter':>10} {'standing':>10}",
        ]
        for tag in self.tags:
            a = self.current.get(tag, SensorFigures())
            b = self.candidate.get(tag, SensorFigures())
            if not (a.total or b.total):
                continue
            out.append(
                f"{tag:<24} {a.total:>9} -> {b.total:<8} "
                f"{a.time_in_alarm_s / 3600:>7.2f} -> {b.time_in_alarm_s / 3600:<6.2f} "
                f"{a.chattering:>4} -> {b.chattering:<3} {a.standing:>4} -> {b.standing:<3}"
            )
            for c in sorted(a.alarms.keys() | b.alarms.keys()):
                out.append(f"    {c:<20} {a.alarms.get(c, 0):>5} -> {b.alarms.get(c, 0)}")
        if len(out) == 2:
            out.append("  no alarms in either run")
        return out + self.incidents.lines()


def select(
    table: SensorTable,
    tags: Sequence[str] | None = None,
    unit: str | None = None,
    hazard_source: str | None = None,
) -> np.ndarray:
    """The sensor indices a back-test covers: the tags, a unit's or a hazard source's
    sensors (all of them when none is given)."""
    if tags:
        unknown = [t for t in tags if t not in table.tag_index]
        if unknown:
            raise BacktestError(f"no sensor with tag {', '.join(map(repr, unknown))}")
        return np.array(sorted(table.tag_index[t] for t in tags), np.int64)
    if unit is not None:
        found = [i for i, u in enumerate(table.unit) if u == unit]
        if not found:
            raise BacktestError(f"no unit {unit!r}")
        return np.array(found, np.int64)
    if hazard_source is not None:
        found = [i for i, h in enumerate(table.hazard_source) if h == hazard_source]
        if not found:
            raise BacktestError(f"no hazard source {hazard_source!r}")
        return np.array(found, np.int64)
    return np.arange(table.n, dtype=np.int64)


def window_for(sensors: int) -> float:
    """The data time a back-test reads from the store at a time: an hour, shorter for many
    sensors, so that a window of 1 Hz readings stays near `WINDOW_READINGS`.

    >>> window_for(100), window_for(1_000), window_for(20_000)
    (3600.0, 600.0, 60.0)
    """
    return max(60.0, min(WINDOW_S, WINDOW_READINGS / max(sensors, 1)))


def stored_chunks(
    store: ReadingStore,
    sensors: np.ndarray,
    since: float,
    until: float,
    window_s: float = WINDOW_S,
    progress: Progress | None = None,
    read: Read = read_columns,
) -> Iterator[Chunk]:
    """The stored readings of `sensors` in [since, until], window by window, each window
    sorted by ts (ties by sensor), each (sensor, ts) once. `read`: the store's columnar
    read (`by_sensor`: its `readings`, sensor by sensor, as the back-test read before)."""
    row = 0
    lo = since
    while lo <= until:
        hi = min(lo + window_s, until)
        last = hi >= until
        top = hi if last else float(np.nextafter(hi, -np.inf))  # windows meet, never overlap
        c = read(store, sensors, lo, top)
        n = len(c)
        if n:
            yield Chunk(
                rows=n,
                row=np.arange(row + 1, row + n + 1, dtype=np.int64),
                sensor=c.sensor,
                ts=c.ts,
                value=c.value,
                quality=c.quality,
                rejections=[],
            )
            row += n
        if progress is not None:
            progress((hi - since) / max(until - since, 1e-9))
        if last:
            return
        lo = hi


def run_once(
    site: Site,
    store: ReadingStore,
    sensors: np.ndarray,
    since: float,
    until: float,
    *,
    slice_s: float = 1.0,
    progress: Progress | None = None,
    events: list[AlarmEvent] | None = None,
    fast: bool = True,
) -> tuple[dict[str, SensorFigures], int]:
    """One replay of the stored history under `site`'s settings: (figures, readings);
    its transitions appended to `events` when given.

    `fast` (the same transitions, `tests/integration/test_backtest_fast.py`): the store
    read in columns, slices cut from the sorted read, the tick only where a timer falls
    due (`replay.drive`'s `presorted` and `lazy_tick`); without it, the CSV replay's
    path: the store's `readings` sensor by sensor, the Slicer, a tick at every slice end.
    """
    figures = Figures()
    summary = ReplaySummary(input="store", output="", deadletter="")
    readings = 0
    read = read_columns if fast else by_sensor

    def counted() -> Iterator[Chunk]:
        nonlocal readings
        window = window_for(sensors.size)
        for chunk in stored_chunks(store, sensors, since, until, window, progress, read):
            readings += chunk.rows
            yield chunk

    with tempfile.TemporaryDirectory(prefix="hw-backtest-") as data_dir:
        drive(
            site, counted(), figures, summary, data_dir=Path(data_dir), slice_s=slice_s,
            presorted=fast, lazy_tick=fast,
        )  # fmt: skip
    if events is not None:
        events += figures.events
    return figures.finish(until), readings


def worth_a_worker(store: ReadingStore, sensors: np.ndarray, since: float, until: float) -> bool:
    """Whether the candidate run should go to a second process: a store another process
    can open (a BlockStore), a history long enough to repay the worker's start, and a core
    this process may use that is free (the last minute's load average at least one under
    the cores: on a machine busy with other work a second process only adds its start)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cores = cores or 1
    return (
        isinstance(store, BlockStore)
        and sensors.size * (until - since) >= WORKER_FROM_SENSOR_S
        and cores > 1
        and hasattr(os, "getloadavg")  # and a pipe to pass: POSIX
        and os.getloadavg()[0] <= cores - 1
    )


def run_report(
    site: Site, events: list[AlarmEvent], sensors: np.ndarray, since: float, until: float
) -> dict[str, Any]:
    """The alarm performance report of one run's transitions over the chosen sensors,
    under the site's flood and chatter rules and disposal deadlines."""
    table = SensorTable.from_site(site)
    places = [
        SensorPlace(table.tags[i], table.enterprise[i], table.hazard_source[i])
        for i in sensors.tolist()
    ]
    rules = site.notifications
    return report(
        events, since, until, sensors=places, flood=rules.flood, chatter=rules.chatter,
        policy=AlarmPolicy.from_rules(site.alarms),
    ).to_dict()  # fmt: skip


def backtest(
    current: Site,
    candidate: Site,
    store: ReadingStore,
    since: float,
    until: float,
    *,
    tags: Sequence[str] | None = None,
    unit: str | None = None,
    hazard_source: str | None = None,
    changes: Mapping[str, Any] | None = None,
    progress: Progress | None = None,
    incidents: Sequence[Incident] = (),
    workers: int | None = None,
) -> BacktestReport:
    """Replay the stored history of the chosen sensors under both sites; compare, and
    measure each run's first warning of the recorded `incidents`.

    `workers`: 1 runs both here, one after the other; 2 the candidate run in a second
    process at the same time (a BlockStore only); None: 2 where `worth_a_worker`."""
    if not until > since:
        raise BacktestError(f"--to ({until}) must be after --from ({since})")
    table = SensorTable.from_site(current)
    if SensorTable.from_site(candidate).tags != table.tags:
        raise BacktestError("the candidate must have the same sensors as the current site")
    sensors = select(table, tags, unit, hazard_source)
    started = time.perf_counter()

    def half(offset: float) -> Progress | None:
        return None if progress is None else (lambda done: progress(offset + done / 2))

    if workers is None:
        workers = 2 if worth_a_worker(store, sensors, since, until) else 1
    now_events: list[AlarmEvent] = []
    cand_events: list[AlarmEvent] = []
    if workers > 1:
        if not isinstance(store, BlockStore):
            raise BacktestError("a back-test's second process reads a BlockStore only")
        worker = Worker(candidate, store, sensors, since, until)
        try:

            def both(done: float) -> None:
                theirs = worker.progress()  # drained at every window, so it never waits
                if progress is not None:
                    progress((done + theirs) / 2)

            now, readings = run_once(
                current, store, sensors, since, until, progress=both, events=now_events
            )
            cand, _, cand_events = worker.result(
                None if progress is None else (lambda theirs: progress((1 + theirs) / 2))
            )
        finally:
            worker.close()
    else:
        now, readings = run_once(
            current, store, sensors, since, until, progress=half(0.0), events=now_events
        )
        cand, _ = run_once(
            candidate, store, sensors, since, until, progress=half(0.5), events=cand_events
        )
    return BacktestReport(
        since=since,
        until=until,
        tags=[table.tags[i] for i in sensors.tolist()],
        readings=readings,
        seconds=time.perf_counter() - started,
        current=now,
        candidate=cand,
        changes=dict(changes or {}),
        reports={
            "current": run_report(current, now_events, sensors, since, until),
            "candidate": run_report(candidate, cand_events, sensors, since, until),
        },
        incidents=lead_times(incidents, {"current": now_events, "candidate": cand_events}),
    )


@dataclass
class BacktestJob:
    id: str
    status: str = "running"  # running | done | failed
    progress: float = 0.0
    error: str | None = None
    report: BacktestReport | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "status": self.status, "progress": self.progress}
        if self.error is not None:
            out["error"] = self.error
        if self.report is not None:
            out["result"] = self.report.to_dict()
        return out


class Backtests:
    """Back-tests run in the background, one thread each, kept in memory (the newest
    `keep`). `sites(changes)` gives (current, candidate) and raises on a bad change;
    `incidents(since, until)` the journal's incidents in a range."""

    def __init__(
        self,
        sites: Callable[[Mapping[str, Any]], tuple[Site, Site]],
        store: ReadingStore,
        keep: int = 20,
        incidents: Callable[[float, float], Sequence[Incident]] | None = None,
    ) -> None:
        self._sites = sites
        self._incidents = incidents
        self._store = store
        self._keep = keep
        self._jobs: dict[str, BacktestJob] = {}
        self._lock = threading.Lock()

    def start(
        self,
        since: float,
        until: float,
        changes: Mapping[str, Any],
        *,
        tags: Sequence[str] | None = None,
        unit: str | None = None,
        hazard_source: str | None = None,
    ) -> BacktestJob:
        """Validate, then run in a thread; the job's progress moves as it goes."""
        current, candidate = self._sites(changes)
        select(SensorTable.from_site(current), tags, unit, hazard_source)  # raises early
        if not until > since:
            raise BacktestError(f"until ({until}) must be after since ({since})")
        job = BacktestJob(uuid.uuid4().hex[:12])
        with self._lock:
            self._jobs[job.id] = job
            while len(self._jobs) > self._keep:
                self._jobs.pop(next(iter(self._jobs)))

        def moved(done: float) -> None:
            job.progress = round(done, 4)

        def run() -> None:
            try:
                found = () if self._incidents is None else self._incidents(since, until)
                job.report = backtest(
                    current, candidate, self._store, since, until, tags=tags, unit=unit,
                    hazard_source=hazard_source, changes=changes, progress=moved,
                    incidents=found,
                )  # fmt: skip
                job.progress, job.status = 1.0, "done"
            except Exception as exc:  # the job says why; the service goes on
                job.status, job.error = "failed", f"{type(exc).__name__}: {exc}"

        threading.Thread(target=run, name=f"backtest-{job.id}", daemon=True).start()
        return job

    def get(self, job_id: str) -> BacktestJob | None:
        with self._lock:
            return self._jobs.get(job_id)

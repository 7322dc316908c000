"""The wiring: builds every stage from the site and connects them. Stages never build each other.

MQTT -> Ingestor -> Detector.step -> alarm Pipeline: lifecycle -> mute -> journal -> notify
                 \\-> reading writer -> SpooledStore -> ReadingStore (a spool while it is down)

Acknowledgements and the other alarm actions from the API, transfer plans and the tick's
timers (stale check, plan expiry, mute expiry) enter the same alarm pipeline; `tick` is the
one call for everything time-driven.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import uvicorn
from fastapi import APIRouter

from alerting import (
    AlarmEvent,
    AlarmManager,
    AlarmPolicy,
    Chattering,
    ColourChange,
    Escalation,
    FloodWatch,
    Journal,
    Notifications,
    Routes,
    Sender,
    Tick,
    Timer,
    build_channels,
    build_pipeline,
)
from dashboards import Hub, HubNotifier, Server, ServiceAdapter, create_app
from dashboards.accounts_api import AUDIT_SOURCES
from dashboards.backtest_api import backtests_router
from dashboards.limits_api import limits_router
from dashboards.notifications_api import notifications_router
from detectors import CheckpointInfo
from hazardwatch.shell.health import HealthLimits, judge
from hazardwatch.shell.memory import DetectorMemory
from hazardwatch.shell.metrics import Metrics, Sources
from hazardwatch.shell.timers import MuteExpiry, PlanExpiry, StaleCheck
from hazardwatch.storage import (
    BlockStore,
    InfluxSettings,
    InfluxStore,
    ReadingStore,
    Spool,
    SpooledStore,
    SqliteStore,
)
from hazardwatch.storage.accounts import Accounts
from hazardwatch.storage.limits import LimitBook
from hazardwatch.storage.nflog import NotificationLog
from hazardwatch.vocabulary.clock import Clock, SystemClock
from hazardwatch.vocabulary.model import (
    Batch,
    ConditionChange,
    HazardWatchError,
    SensorTable,
    Site,
    TransferPlan,
)
from hazardwatch.vocabulary.transfers import TransferBook, TransferDesk
from ingest import (
    DeadLetter,
    GatewayStatus,
    IngestCounters,
    Ingestor,
    PlanClosed,
    Receipt,
    Router,
)

log = logging.getLogger("hazardwatch.shell.service")

EventSink = Callable[[list[AlarmEvent]], None]


# Readings on their way to the store, with the messages to acknowledge once written.
Stored = tuple[Batch, Receipt]


LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")
WILDCARD_HOSTS = ("0.0.0.0", "::", "")


@dataclass
class Settings:
    """How one service process runs; the CLI fills it from its flags."""

    broker_url: str = "mqtt://127.0.0.1:1883"
    data_dir: Path = Path("data")
    listen_host: str = "127.0.0.1"
    listen_port: int = 8000
    client_id: str = "hazardwatch"
    topics: list[str] | None = None  # a shard: the topic filters this worker owns
    stale_check_interval_s: float = 1.0  # how often the tick runs (wall time)
    judge_silence: bool = True  # the tick's stale check raises COMM_LOSS (a replay may not)
    retention_days: float = 90.0  # raw readings (standards.md: at least 30 days)
    max_batch_rows: int = 10_000
    max_batch_wait_s: float = 0.02
    # No message for this long and none waiting: flush now (a quiet link's alarm is not held
    # for the whole wait; a busy one still fills its rounds while the last one is judged).
    max_batch_gap_s: float = 0.002
    # QoS 1 messages held unacknowledged until stored: the broker's in-flight limit
    # (mosquitto's max_inflight_messages: 20 by default; the brokers we start take 1000).
    ack_window: int = 20
    store_queue_batches: int = 200  # batches waiting for the reading store (backpressure)
    store_write_rows: int = 50_000  # rows per store transaction
    stale_idle_s: float = 2.0  # no batch for this long: judge silence on the wall clock
    stale_grace_s: float = 1.0  # while readings flow: silence is judged at newest ts + this
    # "blocks": embedded (storage.block_store, the fastest measured: README, "Where readings
    # are stored"); "sqlite": one SQLite file; "influx": an InfluxDB v2 write API
    store: str = "blocks"
    aggregate_days: float = 3 * 365.0  # minute aggregates of the embedded store (blocks)
    influx: InfluxSettings = field(default_factory=InfluxSettings)
    spool_max_bytes: int = 1 << 30  # readings kept on disk while the store is down
    store_backoff_s: float = 0.5  # first wait after a failed write, doubling per failure
    store_backoff_max_s: float = 30.0
    store_retry_poll_s: float = 0.5  # with readings spooled, try to drain this often when idle
    # The detector's memory (detectors.checkpoint) is saved this often and at a graceful
    # shutdown, and loaded at start; 0: never saved nor loaded (every start is fresh).
    checkpoint_interval_s: float = 60.0
    # Host header names the HTTP server answers (dashboards.create_app); None: loopback
    # names and the listen address (http_hosts)
    allowed_hosts: list[str] | None = None

    def http_hosts(self) -> list[str]:
        """The Host names the HTTP server answers: the loopback names, the listen address
        (unless it is a wildcard) and any `allowed_hosts`.

        >>> Settings(listen_host="10.8.0.5", allowed_hosts=["hw.park"]).http_hosts()
        ['127.0.0.1', 'localhost', '[::1]', '10.8.0.5', 'hw.park']
        """
        hosts = list(LOOPBACK_HOSTS)
        listen = self.listen_host.strip("[]")
        if listen not in WILDCARD_HOSTS:
            hosts.append(f"[{listen}]" if ":" in listen else listen)
        for host in self.allowed_hosts or ():
            if host.lower() not in hosts:
                hosts.append(host.lower())
        return hosts


@dataclass
class StoreStats:
    queued_batches: int = 0
    purged: int = 0
    purge_errors: int = 0


@dataclass(eq=False)
class Service:
    """One HazardWatch worker: ingest, detect, alarm, store and serve, on one event loop."""

    site: Site
    settings: Settings
    clock: Clock = field(default_factory=SystemClock)
    sinks: list[EventSink] = field(default_factory=list)
    # The versions of the sensors' settings over the YAML (hazardwatch.storage.limits); given, the
    # site runs with its journalled limits, and takes a new change without a restart.
    limits: LimitBook | None = None

    def __post_init__(self) -> None:
        s = self.settings
        s.data_dir.mkdir(parents=True, exist_ok=True)
        self._limits_version = 0
        if self.limits is not None:
            self._limits_version = self.limits.latest_version()
            self.site = self.limits.site()
        self.table = SensorTable.from_site(self.site)
        self.started_at = self.clock.now()
        self.counters = IngestCounters()
        # wire format v1 and the inputs the site config turns on (ThingsBoard, Sparkplug B)
        self.decoder = Router(self.table, self.site.inputs, root_topic=self.site.root_topic)
        # The store first: it refuses a second writer (a service already running on this
        # data dir), and nothing opened before it would then be left open.
        self.store = self._open_store()
        self.deadletter = DeadLetter(s.data_dir / "deadletter.jsonl")
        self.writer = SpooledStore(
            self.store,
            Spool(s.data_dir / "spool", max_bytes=s.spool_max_bytes),
            chunk_rows=s.store_write_rows,
            drain_rows=4 * s.store_write_rows,
            backoff_s=s.store_backoff_s,
            backoff_max_s=s.store_backoff_max_s,
        )
        self.journal = Journal(s.data_dir / "alarms.db")
        cameras = {u.id: u.camera_url for _, _, u, _ in self.site.iter_sensors() if u.camera_url}
        policy = AlarmPolicy.from_rules(self.site.alarms)  # shelve maximum, disposal deadlines
        self.alarms = AlarmManager(
            self.table, self.journal, self.clock, policy=policy, cameras=cameras
        )
        self.memory = DetectorMemory(
            self.table, s.data_dir / "detector.npz", s.checkpoint_interval_s
        )
        # Memory first, then the journal's conditions on top (detectors.checkpoint).
        self.detector = self.memory.detector(self.started_at)
        # Alarms that were active before a restart must be able to clear.
        self.detector.restore(self.alarms.active_conditions())
        self.hub = Hub()
        self._notifications()
        # The one door for alarm actions; its stage order is written in build_pipeline.
        self.pipeline = build_pipeline(
            self.alarms,
            [
                HubNotifier(self.hub),
                SinkNotifier(self.sinks),
                self.flood,  # before the notifier: it decides which events it holds
                self.chatter,
                self.notifier,
                self.escalation,
            ],
            self.clock,
        )
        # Open transfer plans come back with their tanks' OVERRUN rule (detectors.plans).
        self.transfers = TransferDesk(
            TransferBook(s.data_dir / "transfers.db", self.table),
            self._judge_plan,
            self.handle_changes,
            self.clock,
            lambda sensor: float(self.detector.state.last_value[sensor]),
        )
        mute_expiry = MuteExpiry(self.alarms.mutes)
        timers: list[Timer] = [
            PlanExpiry(self.transfers),
            mute_expiry,
            self.escalation,
            self.flood,
            self.chatter,  # its auto-shelves, through the pipeline
        ]
        if s.judge_silence:
            timers.insert(0, StaleCheck(self.detector, self.stale_now))
        self.ticker = Tick(self.pipeline, timers)
        # A shelve (or out-of-service) that ended while the service was down ends now.
        self.pipeline.run(mute_expiry.due(self.started_at), self.started_at)
        self.store_stats = StoreStats()
        self.health_limits = HealthLimits()
        self._newest_ts: float | None = None  # newest reading time processed
        self._last_batch_at = float("-inf")  # wall time the last batch was processed
        self._ingestor: Ingestor | None = None
        self.view = ServiceAdapter(
            site=self.site,
            table=self.table,
            alarms=self.alarms,
            hub=self.hub,
            latest_fn=self._latest,
            readings_fn=self._readings,
            history_fn=self.store.history,
            health_fn=self._health,
            transfers=self.transfers,
            pipeline=self.pipeline,
        )
        # users, tokens, sessions and their audit (`hazardwatch user add` writes it too)
        self.accounts = Accounts(s.data_dir / "accounts.db")
        self.app = create_app(
            self.view,
            accounts=self.accounts,
            allowed_hosts=s.http_hosts(),
            routers=self._routers(),
        )
        if self.limits is not None:  # its versions are the audit of limit changes
            setattr(self.app.state, AUDIT_SOURCES, [self.limits.audit])
        if s.listen_host.strip("[]") in WILDCARD_HOSTS and not s.allowed_hosts:
            log.warning(
                "listening on all interfaces (%s) but answering only requests for %s: pass "
                "--allowed-host NAME for each name or address the command room uses",
                s.listen_host,
                ", ".join(s.http_hosts()),
            )

    def _routers(self) -> list[APIRouter]:
        routers = [notifications_router(self.nflog, self.flood.state), self.metrics.router()]
        if self.limits is not None:
            # imported here: a back-test replays through a Service (hazardwatch.shell.replay)
            from hazardwatch.shell.backtest import Backtests
            from hazardwatch.shell.backtest_incidents import recorded_incidents
            from hazardwatch.shell.suggestion import suggest

            book, store = self.limits, self.store
            incidents = partial(recorded_incidents, self.journal)
            self.backtests = Backtests(self._backtest_sites, store, incidents=incidents)
            routers.append(limits_router(book, self.reload_limits, partial(suggest, book, store)))
            routers.append(backtests_router(self.backtests))
        return routers

    def _backtest_sites(self, changes: Mapping[str, Any]) -> tuple[Site, Site]:
        """(current, candidate) sites of a back-test; LimitError for a refused change."""
        assert self.limits is not None
        return self.limits.site(), self.limits.candidate(changes)

    def _notifications(self) -> None:
        """The notification log, its sender thread (started by `run`), the notifier that
        routes journalled events into it and the escalation timers (alerting.notifier,
        alerting.escalation). Events journalled but not routed before a kill are routed
        now; a log new beside an old journal starts at its end."""
        rules = self.site.notifications
        self.nflog = NotificationLog(self.settings.data_dir / "notifications.db")
        if self.nflog.fresh:
            self.nflog.enqueue([], cursor=self.journal.last_seq())
        people = {h.id: h.responsible for e in self.site.enterprises for h in e.hazard_sources}
        routes = Routes(rules, people)
        self.sender = Sender(self.nflog, build_channels(rules.channels), rules.retry, self.clock)
        self.flood = FloodWatch(rules.flood, routes, self.nflog, self.sender.poke)
        self.chatter = Chattering(
            rules.chatter, self.nflog, self.alarms.get, self.alarms.policy.shelve_max_s
        )
        self.notifier = Notifications(routes, self.nflog, self.sender.poke, self.flood.holds)
        self.notifier.catch_up(self.journal.events_after)
        self.escalation = Escalation(routes, self.nflog, self.sender.poke)
        self.escalation.reconcile(self.alarms.alarms(limit=1_000_000), self.started_at)
        # GET /metrics (hazardwatch.shell.metrics): read from these parts at each scrape
        self.metrics = Metrics(
            Sources(
                ingest=lambda: self.counters,
                store=lambda: {
                    "queued_batches": self.store_stats.queued_batches,
                    "written": self.writer.stats.written,
                    "errors": self.writer.stats.errors,
                    "spool": self.writer.health(),
                },
                alarms=lambda: list(self.alarms.open_by_id().values()),
                notifications=self.nflog.counts,
                floods=self.flood.state,
                chattering=self.nflog.chattering,
            )
        )

    def reload_limits(self) -> int:
        """Take the journalled limit changes made since the last look (the API, the CLI of
        another process) into the running detector, keeping every sensor's memory; returns
        how many sensors' settings changed."""
        if self.limits is None:
            return 0
        version = self.limits.latest_version()
        if version == self._limits_version:
            return 0
        site = self.limits.site()
        table = SensorTable.from_site(site)
        rows = self.detector.retune(table)
        self._limits_version = version
        self.site = self.view.site = site
        self.table = self.view.table = table
        log.warning("limits version %d: settings of %d sensors changed", version, rows.size)
        return int(rows.size)

    async def save_checkpoint(self) -> CheckpointInfo | None:
        """Save the detector's memory now (see DetectorMemory.save)."""
        return await self.memory.save(self.detector, self.clock.now())

    def _open_store(self) -> ReadingStore:
        s = self.settings
        if s.store == "blocks":
            return BlockStore(s.data_dir / "readings", aggregate_days=s.aggregate_days)
        if s.store == "sqlite":
            return SqliteStore(s.data_dir / "readings.db")
        if s.store == "influx":
            return InfluxStore(s.influx, self.table.tags, chunk_rows=s.store_write_rows)
        raise HazardWatchError(f"store {s.store!r}: expected blocks, sqlite or influx")

    # ------------------------------------------------------------- view helpers

    def _latest(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        st = self.detector.state
        return st.last_value, st.last_ts, st.active

    def _readings(
        self, sensor: int, since: float | None, until: float | None, limit: int
    ) -> list[tuple[float, float, int]]:
        return [tuple(r) for r in self.store.readings(sensor, since, until, limit)]

    def _health(self) -> dict[str, Any]:
        """GET /api/health: "ok", or "degraded" with the reasons (hazardwatch.shell.health)."""
        ingestor = self._ingestor
        report: dict[str, Any] = {
            "uptime_s": round(self.clock.now() - self.started_at, 3),
            "broker": {
                "url": self.settings.broker_url,
                "connected": bool(ingestor is not None and ingestor.connected),
                "reconnects_last_min": 0 if ingestor is None else ingestor.reconnects_within(60),
                "inbox_backlog": 0 if ingestor is None else ingestor.backlog,
                "session_taken_over": (
                    None if ingestor is None else ingestor.takeovers.taken_over(self.clock.now())
                ),
            },
            "ingest": self.counters.snapshot(),
            "detector": dict(self.detector.stats),
            "stale_judged_at_lag_s": round(self.clock.now() - self.stale_now(), 3),
            "store": {
                "backend": self.settings.store,
                "written": self.writer.stats.written,
                "queued_batches": self.store_stats.queued_batches,
                "errors": self.writer.stats.errors,
                "purged": self.store_stats.purged,
                "last_error": self.writer.stats.last_error,
                "spool": self.writer.health(),
            },
            "checkpoint": self.memory.health(),
            "sensors": self.table.n,
        }
        reasons = judge(report, self.health_limits, self.settings.store_queue_batches)
        return {"status": "degraded" if reasons else "ok", "reasons": reasons, **report}

    def _judge_plan(self, sensor: int, plan: TransferPlan | None, ts: float) -> list[Any]:
        if plan is None:
            return self.detector.unplan(sensor, ts)
        return self.detector.plan(sensor, plan.target, plan.direction, plan.tolerance, ts)

    # ---------------------------------------------------------------- the flow

    def handle_changes(self, changes: list[ConditionChange]) -> list[AlarmEvent]:
        """Detector changes through the alarm pipeline: journalled, then everyone who
        listens is told."""
        return self.pipeline.run(changes)

    def tick(self, now: float | None = None) -> list[AlarmEvent]:
        """Everything time-driven at `now` (default: the clock's time): the stale check,
        transfer plan expiry. The live loop calls it every `stale_check_interval_s`, a
        replay at every slice end; returns the journalled events."""
        return self.ticker(self.clock.now() if now is None else now)

    def handle_batch(self, batch: Batch) -> list[AlarmEvent]:
        """Detect and alarm on one batch (the store is fed by the ingest loop)."""
        return self.handle_changes(self.detect(batch))

    def detect(self, batch: Batch) -> list[ConditionChange]:
        """The detector's step on one batch; its changes are not alarmed yet (a back-test
        hands several batches' changes to the pipeline in one pass: hazardwatch.shell.replay)."""
        if len(batch):
            newest = float(batch.ts.max())
            self._newest_ts = newest if self._newest_ts is None else max(self._newest_ts, newest)
            self._last_batch_at = self.clock.now()
        started = time.perf_counter()
        changes = self.detector.step(batch)
        self.metrics.step_seconds.observe(time.perf_counter() - started)
        return changes

    def handle_status(self, status: GatewayStatus) -> list[AlarmEvent]:
        sensors = status.sensors
        if sensors is None:
            sensors = self.table.gateway_sensors.get(status.key)
        if status.online or sensors is None:
            # Back online: each sensor's next reading clears its communication loss.
            return []
        return self.handle_changes(self.detector.gateway_offline(sensors, status.ts))

    def handle_plan(self, item: TransferPlan | PlanClosed) -> list[AlarmEvent]:
        """A checked plan (MQTT, a replay): opened, replacing the tank's open plan, or its
        transfer ended; returns the alarm events it caused."""
        if isinstance(item, TransferPlan):
            return self.transfers.take(item)[1]
        open_plan = self.transfers.book.open_for(item.tag)
        if open_plan is None:
            return []
        return self.transfers.finish(open_plan.id, item.by)[1]

    async def _ingest_loop(self, ingestor: Ingestor, queue: asyncio.Queue[Stored | None]) -> None:
        """Detect and alarm on each item; its messages are acknowledged to the broker once
        it is safe: a status or a plan when handled (journaled), readings when stored and
        their alarm transitions journalled."""
        s = self.settings
        items = ingestor.receipted(
            max_rows=s.max_batch_rows, max_wait_s=s.max_batch_wait_s, max_gap_s=s.max_batch_gap_s
        )
        async for item, receipt in items:
            if isinstance(item, GatewayStatus):
                self.handle_status(item)
            elif not isinstance(item, Batch):
                self.handle_plan(item)
            else:
                # Two hands make a round safe at once: the store loop's thread appends it
                # (one fsynced append for every round waiting: a group commit) while this
                # loop judges it and journals its alarms; the messages are acknowledged when
                # both are done. Bounded: a slow disk slows ingest (the broker holds the
                # rest) instead of growing memory without limit.
                receipt.hold()
                await queue.put((item, receipt))
                self.store_stats.queued_batches = queue.qsize()
                await asyncio.sleep(0)  # the store loop hands the append to its thread now
                self.handle_batch(item)
            receipt.done()

    def stale_now(self, now: float | None = None) -> float:
        """The time silence is judged at: the wall clock, or the data's time while we lag.

        While readings flow and we are behind (a burst, a backlog after a restart), a
        sensor is silent only if it lags the stream itself; judging against the wall clock
        would raise comm-loss for sensors whose readings are merely still queued (in our
        inbox or at the broker), and clearing those alarms would slow the catch-up further.
        When nothing arrives, the wall clock rules, so a dead park still raises comm-loss.
        `now` is the clock's time unless given.
        """
        now = self.clock.now() if now is None else now
        s = self.settings
        if self._newest_ts is not None and now - self._last_batch_at < s.stale_idle_s:
            return min(now, self._newest_ts + s.stale_grace_s)
        return now

    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.stale_check_interval_s)
            self.reload_limits()  # a change made by `hazardwatch limits set` meanwhile
            self.tick()

    async def _store_loop(self, queue: asyncio.Queue[Stored | None]) -> None:
        """Write readings off the hot path, in order, then acknowledge their messages; drain
        the spool; purge hourly."""
        next_purge = time.monotonic()
        while True:
            # Idle with readings spooled: wake up now and then to drain them.
            wait = self.settings.store_retry_poll_s if self.writer.pending_rows else None
            try:
                batch = await asyncio.wait_for(queue.get(), wait)
            except TimeoutError:
                await asyncio.to_thread(self.writer.drain)
                continue
            if batch is None:
                return
            pending, rows = [batch], len(batch[0])
            while not queue.empty() and rows < self.settings.store_write_rows:
                more = queue.get_nowait()
                if more is None:
                    await self._write(pending)
                    return
                pending.append(more)
                rows += len(more[0])
            await self._write(pending)
            self.store_stats.queued_batches = queue.qsize()
            if time.monotonic() >= next_purge:
                next_purge = time.monotonic() + 3600
                cutoff = self.clock.now() - self.settings.retention_days * 86400
                try:
                    self.store_stats.purged += await asyncio.to_thread(self.writer.purge, cutoff)
                except Exception as exc:  # a store that is down purges next hour
                    self.store_stats.purge_errors += 1
                    log.error("reading store purge failed: %s", exc)

    async def _write(self, stored: list[Stored]) -> None:
        # Never raises for a store failure: what the store cannot take waits in the spool
        # (fsynced), so the messages are safe once it returns. Rows a full spool refuses are
        # counted (writer.stats.refused) and acknowledged too: the broker could not keep
        # them for longer than its own queue allows either.
        await asyncio.to_thread(self.writer.write, Batch.concat([b for b, _ in stored]))
        for _, receipt in stored:
            receipt.done()

    async def run(self, stop: asyncio.Event | None = None, *, serve_http: bool = True) -> None:
        """Run until `stop` is set (or a stage fails); shuts down in order, flushing the store."""
        stop = stop or asyncio.Event()
        s = self.settings
        # What is built by now (the site, its tables, the modules) lives as long as the
        # process: out of the cyclic collector's sight, whose full passes over it (316,000
        # objects at 20,000 sensors: ~0.3 s with the loop held, measured) would stall the
        # alarms in flight. Refcounting still frees what is dropped later.
        gc.collect()
        gc.freeze()
        queue: asyncio.Queue[Stored | None] = asyncio.Queue(maxsize=s.store_queue_batches)
        ingestor = Ingestor(
            s.broker_url,
            self.decoder,
            self.deadletter,
            self.counters,
            client_id=s.client_id,
            topics=s.topics,
            clock=self.clock,
            manual_ack=True,
            ack_window=s.ack_window,
            # Half the window a round: the broker sends the other half meanwhile.
            round_messages=max(1, s.ack_window // 2),
        )
        server: Server | None = None
        if serve_http:
            config = uvicorn.Config(
                self.app,
                host=s.listen_host,
                port=s.listen_port,
                log_level="warning",
                lifespan="off",
            )
            server = QuietServer(config, self.hub)
        store_task = asyncio.create_task(self._store_loop(queue), name="store")
        self.sender.start()  # its own thread: sending never holds up this loop
        try:
            async with ingestor:
                self._ingestor = ingestor
                stages = [
                    asyncio.create_task(self._ingest_loop(ingestor, queue), name="ingest"),
                    asyncio.create_task(self._tick_loop(), name="tick"),
                ]
                if s.checkpoint_interval_s > 0:
                    keep = self.memory.keep(self.detector, self.clock)
                    stages.append(asyncio.create_task(keep, name="checkpoint"))
                http_task = asyncio.create_task(server.serve(), name="http") if server else None
                waiter = asyncio.create_task(stop.wait(), name="stop")
                watched = [waiter, *stages, *([http_task] if http_task else [])]
                try:
                    done, _ = await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
                    for task in done:
                        if task is not waiter and not task.cancelled() and task.exception():
                            raise task.exception()  # type: ignore[misc]
                finally:
                    waiter.cancel()
                    if server is not None and http_task is not None:
                        server.should_exit = True
                        with contextlib.suppress(Exception):
                            await asyncio.wait_for(http_task, 10)
                    for task in stages:
                        task.cancel()
                    await asyncio.gather(*stages, return_exceptions=True)
                    # Still connected: what is stored now is acknowledged now, instead of
                    # coming again after the restart.
                    await self._finish_store(queue, store_task)
        finally:
            self._ingestor = None
            await self._finish_store(queue, store_task)
            if s.checkpoint_interval_s > 0:
                # The detector is still now: its memory as of the last reading applied.
                await self.save_checkpoint()
            self.close()

    async def _finish_store(
        self, queue: asyncio.Queue[Stored | None], task: asyncio.Task[None]
    ) -> None:
        """Everything accepted so far reaches the store (and its messages their
        acknowledgement) before the store loop ends; a second call does nothing."""
        if task.done():
            return
        with contextlib.suppress(Exception):
            await asyncio.wait_for(queue.put(None), 60)
            await asyncio.wait_for(task, 60)

    def close(self) -> None:
        self.sender.stop()
        self.nflog.close()
        self.deadletter.close()
        self.writer.close()
        self.transfers.book.close()
        self.journal.close()
        self.accounts.close()
        if self.limits is not None:
            self.limits.close()


class SinkNotifier:
    """The service's event sinks (callables taking the journalled events) as one notifier
    of the alarm pipeline; the list is read at each pass, so a sink appended later hears."""

    def __init__(self, sinks: list[EventSink]) -> None:
        self.sinks = sinks

    def notify(self, events: list[AlarmEvent], colours: list[ColourChange]) -> None:
        if events:
            for sink in self.sinks:
                sink(events)


class QuietServer(Server):
    """uvicorn without its own signal handlers: the CLI owns Ctrl-C and SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self):  # type: ignore[no-untyped-def]
        yield

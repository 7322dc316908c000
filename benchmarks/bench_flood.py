"""Does an alarm flood slow the reading path? (issue 14: 10,000 transitions in a minute)

One run, one service, the end-to-end harness of benchmarks/bench_end_to_end.py (embedded
mosquitto on loopback, the paced publisher process: every sensor once a second, one HH
crossing a second, latency = HH ACTIVATE emitted - the reading's publish time), twice:
  1. baseline  the park at load for S seconds;
  2. flood     the same S seconds while a thread on the service's loop pushes alarm
               transitions through the alarm pipeline (OVERRUN on and off, across the
               park's sensors) at 10,000 a minute: each is journalled, the flood watch groups
               them and holds their notifications, a webhook on loopback hears the rest.
Prints readings/s processed, publish-to-alarm p50/p99 and whether the reading path kept
up, for both phases, with the flood's transitions journalled, the flood state and the
webhook deliveries. Asserts nothing.

    python benchmarks/bench_flood.py [--sensors N] [--seconds S] [--per-minute T]
"""

from __future__ import annotations

import argparse
import dataclasses
import secrets
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for benchmarks.*, tests.*

from alerting import AlarmEvent, Event
from benchmarks.bench_end_to_end import CpuMeter, ServiceThread
from benchmarks.fleet_site import PublisherProcess, build_site
from hazardwatch.shell.broker import EmbeddedBroker
from hazardwatch.vocabulary.model import Condition, ConditionChange, Site
from hazardwatch.vocabulary.notify_rules import RawNotifications, compile_rules
from tests.receivers import http_receiver

# A condition the detector never raises on this park (no transfer plans): the flood's
# transitions and the detector's own never meet on one alarm (an ACTIVATE of an alarm the
# other side raised would be refused, and its whole pass with it).
FLOOD_CONDITION = Condition.OVERRUN


def without_noise_check(site: Site) -> Site:
    """The site with the NOISY check off: once its baseline has warmed up (~35 s here) the
    publisher's one-second jump to HH on a signal wandering by 0.1 counts as noise, an
    instrument fault, and the HH crossing is no longer a process alarm to time."""

    def quiet(sensor: Any) -> Any:
        trend = dataclasses.replace(sensor.trend, noise_ratio=None)
        return dataclasses.replace(sensor, trend=trend)

    return dataclasses.replace(
        site,
        enterprises=tuple(
            dataclasses.replace(e, hazard_sources=tuple(
                dataclasses.replace(h, units=tuple(
                    dataclasses.replace(u, sensors=tuple(quiet(x) for x in u.sensors))
                    for u in h.units))
                for h in e.hazard_sources))
            for e in site.enterprises
        ),
    )  # fmt: skip


def with_webhook(site: Site, url: str) -> Site:
    """The site with every activation routed to one webhook (the flood holds them)."""
    raw = RawNotifications.model_validate(
        {
            "channels": {"room": {"webhook": url, "secret": "bench"}},
            "routes": [{"channels": ["room"]}],
        }
    )
    return dataclasses.replace(site, notifications=compile_rules(raw))


class Flooder:
    """Pushes `per_minute` transitions a minute through the service's pipeline, on its
    loop (where the detector's own changes go), in 20 rounds a second."""

    def __init__(self, svc: ServiceThread, n_sensors: int, per_minute: int) -> None:
        self.svc, self.n, self.per_minute = svc, n_sensors, per_minute
        self.sent = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="flooder")
        self._on = np.zeros(n_sensors, bool)
        self._next = 0

    def _round(self, k: int) -> list[ConditionChange]:
        now, out = time.time(), []
        for _ in range(k):
            i = self._next % self.n
            self._next += 1
            self._on[i] = not self._on[i]
            out.append(ConditionChange(i, FLOOD_CONDITION, bool(self._on[i]), 85.0, now,
                                       FLOOD_CONDITION.severity))  # fmt: skip
        return out

    def _run(self) -> None:
        loop = self.svc._loop
        assert loop is not None
        tick, t0, done = 0.05, time.monotonic(), 0
        while not self.stop.is_set():
            due = int((time.monotonic() - t0) * self.per_minute / 60)
            if due > done:
                changes = self._round(due - done)
                loop.call_soon_threadsafe(self.svc.service.handle_changes, changes)
                done = due
                self.sent = done
            self.stop.wait(tick)


def phase(
    svc: ServiceThread, pub: PublisherProcess, seconds: int, flooder: Flooder | None
) -> dict[str, Any]:
    """The park at load for `seconds` (with the flooder running, if given)."""
    hits: list[tuple[float, str, float]] = []
    svc.service.sinks.append(
        lambda events: hits.extend(
            (time.time(), e.alarm.tag, e.alarm.changed_ts)
            for e in events
            if e.event is Event.ACTIVATE and e.alarm.condition is Condition.HH
        )
    )
    start_readings, meter, t0 = svc.readings, CpuMeter(), time.time()
    if flooder is not None:
        flooder.thread.start()
    pub.ask("paced", seconds)
    p = pub.reply(seconds + 60)
    if flooder is not None:
        flooder.stop.set()
        flooder.thread.join(10)
    backlog = start_readings + p["readings"] - svc.readings
    done = svc.wait_readings(start_readings + p["readings"], 30)
    cpu_frac, threads = meter.read()
    svc.service.sinks.pop()
    emitted = {(tag, round(ts, 6)): at - ts for at, tag, ts in hits}
    lat = [emitted[k] for t, ts in p["crossings"] if (k := (t, round(ts, 6))) in emitted]
    ms = np.array(lat) * 1000
    end = done or time.time()
    return {
        "rate": (svc.readings - start_readings) / (end - t0),
        "pct": [*np.percentile(ms, [50, 99]), ms.max()] if ms.size else [float("nan")] * 3,
        "alarmed": ms.size,
        "hh": len(hits),
        "injected": len(p["crossings"]),
        "backlog": backlog,
        "kept": done is not None,
        "catch_up_s": None if done is None else done - (p["t_acked"] or p["t_queued"]),
        "cpu": cpu_frac,
        "threads": threads,
        "flood_sent": 0 if flooder is None else flooder.sent,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sensors", type=int, default=2000)
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--per-minute", type=int, default=10_000)
    args = ap.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="hw-bench-flood-") as tmp_name,
        http_receiver() as hook,
    ):
        tmp = Path(tmp_name)
        site = with_webhook(without_noise_check(build_site(args.sensors)), hook.url + "/hook")
        with EmbeddedBroker(tmp / "broker", kind="mosquitto") as broker:
            pub = PublisherProcess(broker.host, broker.port, site, None)
            cid = f"bench-flood-{secrets.token_hex(3)}"
            svc = ServiceThread(site, tmp / cid, f"mqtt://{broker.host}:{broker.port}", cid)
            try:
                journalled: list[int] = [0]

                def count(events: list[AlarmEvent]) -> None:
                    journalled[0] += sum(e.alarm.condition is FLOOD_CONDITION for e in events)

                svc.service.sinks.append(count)
                base = phase(svc, pub, args.seconds, None)
                flood = phase(svc, pub, args.seconds, Flooder(svc, site_n(site), args.per_minute))
                time.sleep(1.0)  # the notifier's last sends
                consoles = svc.service.flood.state()
                nflog = svc.service.nflog.counts()
            finally:
                svc.stop()
                pub.close()
    print(
        f"Park: {args.sensors:,} sensors at 1 reading/s, {args.seconds} s a phase, one HH a second"
    )
    floods = [(c["console"], c["floods"]) for c in consoles]
    print(
        f"Flood: {flood['flood_sent']:,} transitions pushed ({args.per_minute:,}/min);"
        f" {journalled[0]:,} journalled;"
        f" consoles (name, floods begun) {floods}; notification log {nflog};"
        f" webhook received {len(hook.ok)}"
    )
    print("\n| Phase | readings/s | p50 / p99 / max ms | HH alarmed | kept up | CPU |")
    print("|---|---|---|---|---|---|")
    for name, r in (("baseline", base), ("flood", flood)):
        catch = "" if r["catch_up_s"] is None else f", done {r['catch_up_s'] * 1000:.0f} ms after"
        print(
            f"| {name} | {r['rate']:,.0f} | {' / '.join(f'{x:.1f}' for x in r['pct'])} | "
            f"{r['alarmed']} of {r['injected']} | {'yes' if r['kept'] else 'NO'} "
            f"({r['backlog']:,} behind at the last PUBACK{catch}) | {r['cpu']:.0%} |"
        )
    print(f"HH activations seen: {base['hh']}, {flood['hh']}; service error {svc.error!r}")
    print(f"activations by condition (whole run): {dict(svc.activations.most_common())}")
    ratio = flood["pct"][1] / base["pct"][1]
    print(f"\nflood / baseline: readings/s {flood['rate'] / base['rate']:.2f}, p99 {ratio:.2f}")


def site_n(site: Site) -> int:
    return len(site.iter_sensors())


if __name__ == "__main__":
    main()

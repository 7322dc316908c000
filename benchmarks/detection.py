"""How well does HazardWatch detect the simulated incidents, and how often does it cry wolf?

Runs every scenario of the simulator library on examples/park.yaml through the live service
in simulated time (benchmarks.detection_run), compares the alarms with the ground truth and
prints one row per scenario, then a summary against the targets of issue 3:
- every hazardous scenario detected (an alarm or early warning on its unit after onset);
- ramps (overfills, pressure build-up, heating): the first warning at most half-way from
  onset to the HH (or peak) crossing: lead fraction <= 0.5;
- at most 1 false process alarm per 1,000 sensor-hours on the normal days;
- sensor faults shown as instrument conditions, not process alarms;
and issue 12's: at most 1 instrument alarm per 100 sensor-days on healthy sensors on the
normal days. Then the same table as markdown, for the README. No asserts: it reports.

    python benchmarks/detection.py [--quick] [--only NAME ...] [--false] [--without-context]
        [--seeds N | --seed-list S,S,...]

`--seeds N` runs the library on N realism draws (simulators.realism) whose seeds are drawn
now from the operating system (printed, so `--seed-list` repeats the run), and prints per
scenario and per target the mean and the worst draw: fewest detected, latest lead fraction
(not warned counts as worst), most false process alarms per 1,000 sensor-hours, most
instrument alarms per 100 sensor-days on healthy sensors, fewest faults caught and most
faults shown as process alarms. Without them: the fixed-seed table of the library itself.

`--quick` cuts every run to QUICK_S of simulated time, or QUICK_AFTER_S after its last
event starts if that is later (slow ramps whose HH crossing comes later show no lead time).
"""

from __future__ import annotations

import argparse
import math
import secrets
import statistics
import sys
import time
from pathlib import Path

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.detection_run import Score, run_scenario, score
from benchmarks.tables import render
from hazardwatch.vocabulary.config import load_site
from simulators.library import ScenarioSpec, library, load_scenario
from simulators.realism import Realism

SITE = Path(__file__).resolve().parent.parent / "examples" / "park.yaml"
QUICK_S = 5400.0
QUICK_AFTER_S = 3600.0  # quick runs go on at least this long after the last event starts
RAMP_FRACTION = 0.5
FALSE_PER_1000H = 1.0
INSTRUMENT_PER_100D = 1.0
# Ramps: incidents whose value climbs steadily towards a limit (the lead-fraction target).
RAMP_EVENTS = frozenset({"overfill", "padding_gas", "heating_runaway", "cooling_failure"})


def _f(x: float | None, fmt: str = "{:.0f}") -> str:
    return "-" if x is None else fmt.format(x)


def _yn(x: bool | None) -> str:
    return "-" if x is None else ("yes" if x else "NO")


COLUMNS = (
    "scenario", "hazard", "detected", "first warning (s)", "by", "peak", "peak at (s)",
    "lead (s)", "lead frac", "false proc", "false/1000 h", "faults as instr",
)  # fmt: skip


def row(s: Score) -> list[str]:
    faults = "-" if not s.faults else f"{s.faults_caught}/{s.faults}"
    if s.faults_as_process:
        faults += f" ({s.faults_as_process} as process)"
    return [
        s.name,
        "yes" if s.hazardous else "no",
        _yn(s.detected),
        _f(s.first_after_s),
        s.first_condition or "-",
        s.peak_condition or "-",
        _f(s.peak_after_s),
        _f(s.lead_s),
        _f(s.lead_fraction, "{:.2f}"),
        str(s.false_process),
        f"{s.false_per_1000h:.2f}",
        faults,
    ]


def summary(scores: list[Score], ramps: set[str]) -> list[str]:
    """One line per target: the figure, the target, met or not."""
    hazardous = [s for s in scores if s.hazardous]
    missed = [s.name for s in hazardous if not s.detected]
    late = [
        f"{s.name} ({_f(s.lead_fraction, '{:.2f}')})"
        for s in hazardous
        if s.name in ramps and (s.lead_fraction is None or s.lead_fraction > RAMP_FRACTION)
    ]
    normal = [s for s in scores if s.name.startswith("normal-day")]
    false = sum(s.false_process for s in normal)
    hours = sum(s.sensor_hours for s in normal)
    rate = 1000.0 * false / hours if hours else float("nan")
    faults = sum(s.faults for s in scores)
    caught = sum(s.faults_caught for s in scores)
    as_process = sum(s.faults_as_process for s in scores)
    sick = sum(s.instrument_healthy for s in normal)
    days = sum(s.healthy_sensor_days for s in normal)
    per_100d = 100.0 * sick / days if days else float("nan")

    def ok(met: bool) -> str:
        return "MET " if met else "MISS"

    return [
        f"{ok(not missed)} hazardous scenarios detected: {len(hazardous) - len(missed)}"
        f"/{len(hazardous)}" + (f" (missed: {', '.join(missed)})" if missed else ""),
        f"{ok(not late)} ramps warned by half-way (lead fraction <= {RAMP_FRACTION}): "
        + (f"late or unmeasured: {', '.join(late)}" if late else "all"),
        f"{ok(rate <= FALSE_PER_1000H)} normal days: {false} false process alarms in "
        f"{hours:,.0f} sensor-hours = {rate:.2f} per 1,000 (target <= {FALSE_PER_1000H})",
        f"{ok(caught == faults and as_process == 0)} sensor faults as instrument alarms: "
        f"{caught}/{faults}, {as_process} also raised a process alarm",
        f"{ok(per_100d <= INSTRUMENT_PER_100D)} normal days: {sick} instrument alarms on healthy "
        f"sensors in {days:,.1f} sensor-days = {per_100d:.2f} per 100 "
        f"(target <= {INSTRUMENT_PER_100D})",
    ]


# ---------------------------------------------------------------------- realism draws


def _mean(xs: list[float]) -> float | None:
    xs = [x for x in xs if not math.isnan(x)]
    return statistics.fmean(xs) if xs else None


def _worst_lead(fractions: list[float | None]) -> float | None:
    """The latest lead fraction; a ramp not warned at all (None) is the worst."""
    return None if any(f is None for f in fractions) else max(fractions)  # type: ignore[type-var]


DRAW_COLUMNS = (
    "scenario", "hazard", "detected", "lead frac mean", "lead frac worst", "first by (worst)",
    "false/1000 h mean", "false/1000 h worst", "instr/100 d mean", "instr/100 d worst",
    "faults as instr worst", "faults as proc worst",
)  # fmt: skip


def draw_row(name: str, draws: list[Score]) -> list[str]:
    """One scenario over the draws: mean and worst of each column."""
    s0 = draws[0]
    detected = "-" if not s0.hazardous else f"{sum(bool(s.detected) for s in draws)}/{len(draws)}"
    peaked = [s for s in draws if s.peak_after_s is not None]  # where the run saw the peak
    leads = [s.lead_fraction for s in peaked]
    timed = [x for x in leads if x is not None]
    worst = _worst_lead(leads) if s0.hazardous and leads else None
    late = max(draws, key=lambda s: math.inf if s.lead_fraction is None else s.lead_fraction)
    faults = "-"
    if s0.faults:
        faults = f"{min(s.faults_caught for s in draws)}/{s0.faults}"
    false = [s.false_per_1000h for s in draws]
    instr = [s.instrument_per_100d for s in draws]
    return [
        name,
        "yes" if s0.hazardous else "no",
        detected,
        _f(_mean(timed), "{:.2f}") if s0.hazardous else "-",
        ("not warned" if worst is None else _f(worst, "{:.2f}")) if peaked else "-",
        (late.first_condition or "-") if s0.hazardous else "-",
        _f(_mean(false), "{:.2f}"),
        _f(max(false), "{:.2f}"),
        _f(_mean(instr), "{:.2f}"),
        _f(max((x for x in instr if not math.isnan(x)), default=None), "{:.2f}"),
        faults,
        "-" if not s0.faults else str(max(s.faults_as_process for s in draws)),
    ]


def draw_summary(per_draw: list[list[Score]], ramps: set[str]) -> list[str]:
    """Each target over the draws: the mean, the worst draw, met or not by the worst."""
    rows = []
    unmeasured: set[str] = set()
    for scores in per_draw:
        hazardous = [s for s in scores if s.hazardous]
        normal = [s for s in scores if s.name.startswith("normal-day")]
        hours = sum(s.sensor_hours for s in normal)
        days = sum(s.healthy_sensor_days for s in normal)
        # A ramp whose run ended before its peak (a quick run) has no lead fraction to judge.
        ramp = [s for s in hazardous if s.name in ramps]
        lead = [s.lead_fraction for s in ramp if s.peak_after_s is not None]
        unmeasured.update(s.name for s in ramp if s.peak_after_s is None)
        rows.append(
            {
                "detected": sum(bool(s.detected) for s in hazardous),
                "hazardous": len(hazardous),
                "lead": lead,
                "false": 1000.0 * sum(s.false_process for s in normal) / hours if hours else 0.0,
                "instr": 100.0 * sum(s.instrument_healthy for s in normal) / days if days else 0.0,
                "caught": sum(s.faults_caught for s in scores),
                "faults": sum(s.faults for s in scores),
                "as_process": sum(s.faults_as_process for s in scores),
            }
        )

    def ok(met: bool) -> str:
        return "MET " if met else "MISS"

    n = len(rows)
    det = [r["detected"] for r in rows]
    # Per draw its latest ramp (None: one not warned); draws that measured no ramp left out.
    leads = [_worst_lead(r["lead"]) for r in rows if r["lead"]]
    lead_worst = _worst_lead(leads) if leads else math.nan
    lead_mean = _mean([x for x in leads if x is not None])
    false = [r["false"] for r in rows]
    instr = [r["instr"] for r in rows]
    caught = [r["caught"] for r in rows]
    as_proc = [r["as_process"] for r in rows]
    total = rows[0]["hazardous"]
    faults = rows[0]["faults"]
    lead_text = "not warned in some draw" if lead_worst is None else _f(lead_worst, "{:.2f}")
    if unmeasured:
        lead_text += f"; peak not reached in some draw, unmeasured: {', '.join(sorted(unmeasured))}"
    return [
        f"{ok(min(det) == total)} hazardous scenarios detected: mean {statistics.fmean(det):.1f}"
        f"/{total}, worst draw {min(det)}/{total}",
        f"{ok(lead_worst is not None and lead_worst <= RAMP_FRACTION and not unmeasured)} "
        "ramps warned by half-way"
        f" on their own signals: latest lead fraction mean {_f(lead_mean, '{:.2f}')}, "
        f"worst draw {lead_text} (target <= {RAMP_FRACTION})",
        f"{ok(max(false) <= FALSE_PER_1000H)} normal days, false process alarms per 1,000 "
        f"sensor-hours: mean {statistics.fmean(false):.2f}, worst draw {max(false):.2f} "
        f"(target <= {FALSE_PER_1000H})",
        f"{ok(max(instr) <= INSTRUMENT_PER_100D)} normal days, instrument alarms per 100 "
        f"sensor-days on healthy sensors: mean {statistics.fmean(instr):.2f}, worst draw "
        f"{max(instr):.2f} (target <= {INSTRUMENT_PER_100D})",
        f"{ok(min(caught) == faults and max(as_proc) == 0)} sensor faults as instrument alarms: "
        f"worst draw {min(caught)}/{faults} caught, {max(as_proc)} shown as process alarms "
        f"(mean {statistics.fmean(caught):.1f} caught, {statistics.fmean(as_proc):.1f} as process)",
        f"({n} draws)",
    ]


def draw_table(names: list[str], per_draw: list[list[Score]], markdown: bool) -> str:
    rows = [draw_row(name, [d[k] for d in per_draw]) for k, name in enumerate(names)]
    return render(DRAW_COLUMNS, rows, markdown)


def _seed_list(text: str) -> list[int]:
    try:
        seeds = [int(x) for x in text.replace(" ", "").split(",") if x]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected whole numbers separated by commas: {text!r}"
        ) from None
    if not seeds or any(x < 0 for x in seeds):
        raise argparse.ArgumentTypeError(f"expected seeds >= 0: {text!r}")
    return seeds


def _run_one(
    spec: ScenarioSpec, args: argparse.Namespace, realism: Realism | None, label: str
) -> Score:
    began = time.perf_counter()
    last = max((float(e["at_s"]) for e in spec.events), default=0.0)
    cut = max(QUICK_S, last + QUICK_AFTER_S) if args.quick else None
    run = run_scenario(spec, cut, context=not args.without_context, realism=realism)
    s = score(run)
    took = time.perf_counter() - began
    print(
        f"  {label}{spec.name}: {run.duration_s:.0f} s simulated in {took:.1f} s", file=sys.stderr
    )
    if args.false and s.false_detail:
        print(f"    false: {', '.join(s.false_detail[:40])}", file=sys.stderr)
    if args.false and s.instrument_detail:
        print(f"    instrument: {', '.join(s.instrument_detail[:40])}", file=sys.stderr)
    return s


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="cut runs short (see above)")
    ap.add_argument("--only", nargs="*", default=None, help="scenario names to run")
    ap.add_argument("--false", action="store_true", help="list each false process alarm")
    ap.add_argument(
        "--without-context",
        action="store_true",
        help="no transfer plans, no cooling watched: what the readings alone can tell",
    )
    draws = ap.add_mutually_exclusive_group()
    draws.add_argument("--seeds", type=int, default=None, help="realism draws, seeds drawn now")
    draws.add_argument("--seed-list", type=_seed_list, default=None, help="realism seeds S,S,...")
    args = ap.parse_args(argv)
    site = load_site(SITE)
    names = args.only or library()
    specs = [load_scenario(name, site) for name in names]
    ramps = {s.name for s in specs if any(e["kind"] in RAMP_EVENTS for e in s.events)}
    if args.seeds is not None or args.seed_list is not None:
        seeds = args.seed_list or [secrets.randbits(32) for _ in range(max(args.seeds, 1))]
        return _run_draws(specs, names, ramps, seeds, args)
    scores = [_run_one(spec, args, None, "") for spec in specs]
    rows = [row(s) for s in scores]
    _report(render(COLUMNS, rows), summary(scores, ramps), render(COLUMNS, rows, True), args)
    return 0


def _run_draws(
    specs: list[ScenarioSpec],
    names: list[str],
    ramps: set[str],
    seeds: list[int],
    args: argparse.Namespace,
) -> int:
    listed = ",".join(str(x) for x in seeds)
    print(f"realism seeds: {listed}  (repeat with --seed-list {listed})")
    per_draw: list[list[Score]] = []
    for n, seed in enumerate(seeds):
        realism = Realism.draw(np.random.default_rng(seed))
        print(f"draw {n + 1} (seed {seed}): {realism}", file=sys.stderr)
        per_draw.append([_run_one(spec, args, realism, f"[{seed}] ") for spec in specs])
    text, markdown = (draw_table(names, per_draw, markdown=m) for m in (False, True))
    _report(text, draw_summary(per_draw, ramps), markdown, args)
    return 0


def _report(table: str, verdicts: list[str], markdown: str, args: argparse.Namespace) -> None:
    """The table, the verdicts against the targets, then the table again for the README."""
    print(table)
    print()
    if args.quick:
        print("quick run: incidents cut short, so the verdicts below are not the targets' own")
    print("\n".join(verdicts))
    print()
    print(markdown)


if __name__ == "__main__":
    raise SystemExit(main())

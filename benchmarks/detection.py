"""How well does HazardWatch detect the simulated incidents, and how often does it cry wolf?

Runs every scenario of the simulator library on examples/park.yaml through the live service
in simulated time (benchmarks.detection_run), compares the alarms with the ground truth and
prints one row per scenario, then a summary against the targets of issue 3:
- every hazardous scenario detected (an alarm or early warning on its unit after onset);
- ramps (overfills, pressure build-up, heating): the first warning at most half-way from
  onset to the HH (or peak) crossing: lead fraction <= 0.5;
- at most 1 false process alarm per 1,000 sensor-hours on the normal days;
- sensor faults shown as instrument conditions, not process alarms.
Then the same table as markdown, for the README. No asserts: it reports.

    python benchmarks/detection.py [--quick] [--only NAME ...] [--false] [--without-context]

`--quick` cuts every run to QUICK_S of simulated time, or QUICK_AFTER_S after its last
event starts if that is later (slow ramps whose HH crossing comes later show no lead time).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.detection_run import Score, run_scenario, score
from hazardwatch.config import load_site
from simulators.library import library, load_scenario

SITE = Path(__file__).resolve().parent.parent / "examples" / "park.yaml"
QUICK_S = 5400.0
QUICK_AFTER_S = 3600.0  # quick runs go on at least this long after the last event starts
RAMP_FRACTION = 0.5
FALSE_PER_1000H = 1.0
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


def text_table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [list(COLUMNS), *rows]) for i in range(len(COLUMNS))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(COLUMNS, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)


def markdown_table(rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


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
    ]


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
    args = ap.parse_args(argv)
    site = load_site(SITE)
    names = args.only or library()
    scores: list[Score] = []
    ramps: set[str] = set()
    for name in names:
        spec = load_scenario(name, site)
        if any(e["kind"] in RAMP_EVENTS for e in spec.events):
            ramps.add(name)
        began = time.perf_counter()
        last = max((float(e["at_s"]) for e in spec.events), default=0.0)
        cut = max(QUICK_S, last + QUICK_AFTER_S) if args.quick else None
        run = run_scenario(spec, cut, context=not args.without_context)
        s = score(run)
        scores.append(s)
        took = time.perf_counter() - began
        print(f"  {name}: {run.duration_s:.0f} s simulated in {took:.1f} s", file=sys.stderr)
        if args.false and s.false_detail:
            print(f"    false: {', '.join(s.false_detail[:40])}", file=sys.stderr)
    rows = [row(s) for s in scores]
    print(text_table(rows))
    print()
    if args.quick:
        print("quick run: incidents cut short, so the verdicts below are not the targets' own")
    print("\n".join(summary(scores, ramps)))
    print()
    print(markdown_table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

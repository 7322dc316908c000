"""When do the physics cross-checks (MASS_BALANCE, VAPOUR_PRESSURE) fire, and where not?

Runs library scenarios through the live service in simulated time (benchmarks.
detection_run, the same runs as benchmarks/detection.py) and prints, per scenario, every
first MASS_BALANCE and VAPOUR_PRESSURE activation (tag, seconds after start) beside the
scenario's events, and for the others how many fired. Default: the three scenarios the
checks are for and the normal days. No asserts: it reports.

    python benchmarks/cross_checks.py [NAME ...]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.detection_run import run_scenario
from hazardwatch.vocabulary.config import load_site
from hazardwatch.vocabulary.model import Condition
from simulators.library import library, load_scenario

SITE = Path(__file__).resolve().parents[1] / "examples" / "park.yaml"
CHECKS = (Condition.MASS_BALANCE, Condition.VAPOUR_PRESSURE)
FOR = ("stuck-level-during-overfill", "leak-idle-tank", "pressure-transmitter-drift")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", help="scenarios (default: FOR and the normal days)")
    args = ap.parse_args(argv)
    names = args.names or [*FOR, *(n for n in library() if n.startswith("normal-day"))]
    site = load_site(SITE)
    hours = 0.0
    for name in names:
        spec = load_scenario(name, site)
        began = time.perf_counter()
        run = run_scenario(spec)
        fired = [a for a in run.activations if a.condition in CHECKS]
        events = ", ".join(f"{e['kind']} at {e['at_s']:.0f} s" for e in spec.events) or "none"
        print(f"{name} ({run.duration_s:.0f} s in {time.perf_counter() - began:.0f} s; {events})")
        for a in fired:
            print(f"  {a.condition.label} on {a.tag} at {a.ts - run.start_ts:.0f} s")
        if not fired:
            print("  none")
        if name.startswith("normal-day"):
            hours += run.n_sensors * run.duration_s / 3600.0
    if hours:
        print(f"normal days: {hours:,.0f} sensor-hours")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

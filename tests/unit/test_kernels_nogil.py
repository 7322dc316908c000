"""Every compiled loop of the detector releases the GIL while it runs (detectors.compiled), so
the threads beside the event loop are not held up by the detector step."""

from __future__ import annotations

import importlib
import pkgutil

from numba.core.registry import CPUDispatcher

import detectors


def compiled_loops() -> dict[str, CPUDispatcher]:
    found: dict[str, CPUDispatcher] = {}
    for info in pkgutil.walk_packages(detectors.__path__, "detectors."):
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if isinstance(value, CPUDispatcher) and value.__module__ == info.name:
                found[f"{info.name}.{name}"] = value
    return found


def test_every_compiled_loop_releases_the_gil() -> None:
    loops = compiled_loops()
    assert len(loops) >= 10  # the signal kernels, the checks, the window and sampling loops
    assert [name for name, loop in loops.items() if not loop.targetoptions.get("nogil")] == []

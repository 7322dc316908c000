"""Stopping the server processes the test fixtures start (mosquitto, VictoriaMetrics)."""

from __future__ import annotations

import subprocess


def stop_process(proc: subprocess.Popen[bytes] | None, grace_s: float) -> None:
    """Terminate `proc` if it still runs; kill it if it has not exited after `grace_s`."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)

"""Stopping the server processes the test fixtures start (mosquitto, VictoriaMetrics), and
killing a child process mid-work."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path


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


def kill_9_after(script: str, arg: str, until: int) -> int:
    """Run Python `script` (with this repository importable, `arg` as argv[1]), which prints
    a growing number per line, and SIGKILL it once it has printed `until`; returns the last
    number it printed. The child must stop by itself (a bounded loop)."""
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": f"{root}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    child = subprocess.Popen([sys.executable, "-c", script, arg], stdout=subprocess.PIPE, env=env)
    assert child.stdout is not None
    reported = -1
    try:
        for line in child.stdout:
            reported = int(line)
            if reported >= until:
                break
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    finally:
        child.stdout.close()
        if child.poll() is None:
            child.kill()
            child.wait(10)
    return reported

"""A real VictoriaMetrics for tests: Debian's binary as a plain process on a free loopback port."""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson

from tests.brokers import free_port
from tests.processes import stop_process


def victoria_binary() -> str | None:
    return shutil.which("victoria-metrics")


@dataclass
class VictoriaMetrics:
    """A victoria-metrics process; `restart()` keeps the port and the data."""

    port: int
    workdir: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> VictoriaMetrics:
        binary = victoria_binary()
        if binary is None:
            raise RuntimeError("victoria-metrics is not installed: run `scripts/setup.sh test`")
        with (self.workdir / "victoria-metrics.log").open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    binary,
                    f"-storageDataPath={self.workdir / 'data'}",
                    f"-httpListenAddr=127.0.0.1:{self.port}",
                    # Tests write readings of fixed past dates; the default keeps one month.
                    "-retentionPeriod=100y",
                    "-loggerLevel=ERROR",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self._wait_healthy()
        return self

    def _wait_healthy(self, timeout_s: float = 20.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"victoria-metrics exited with {self.proc.returncode}")
            try:
                if httpx.get(f"{self.url}/health", timeout=0.5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise TimeoutError(f"victoria-metrics not healthy on {self.url} after {timeout_s}s")

    def stop(self) -> None:
        stop_process(self.proc, 15)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def export(self, match: str, start: float = 0.0) -> list[dict[str, Any]]:
        """Every stored sample of the series matching `match`, duplicates included."""
        httpx.get(f"{self.url}/internal/force_flush", timeout=10).raise_for_status()
        resp = httpx.get(
            f"{self.url}/api/v1/export",
            params={"match[]": match, "start": f"{start:.3f}"},
            timeout=30,
        )
        resp.raise_for_status()
        return [orjson.loads(line) for line in resp.content.splitlines() if line]


def start_victoria(workdir: Path) -> VictoriaMetrics:
    workdir.mkdir(parents=True, exist_ok=True)
    return VictoriaMetrics(port=free_port(), workdir=workdir).start()

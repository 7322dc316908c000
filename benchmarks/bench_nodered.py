"""HazardWatch under the Node-RED peer's harness, with the broker set as we recommend or not.

The harness (`publish.py`, `hw_site.py`, `hw_adapter.py` of the Node-RED peer benchmark) is not
part of this repository: pass its folder with --harness (set it up once with its own
`SETUP_ONLY=1 run.sh --hazardwatch .venv/bin/hazardwatch`, which also writes the site files).
This script runs the HazardWatch half of its side-by-side mode, with one more knob, the
broker's settings:
  --broker defaults     mosquitto's defaults plus set_tcp_nodelay (what the harness runs)
  --broker recommended  the settings README "What the broker needs" gives a park (the demo's
                        embedded broker: hazardwatch.shell.broker.mosquitto_settings), with
                        --ack-window 1000 for the service
It starts a fresh mosquitto and `hazardwatch run` (its own ports, so it can run beside the
harness), a viewer token for the adapter (the API asks for one since the adapter was
written: a loopback proxy here adds the header), the harness's adapter, then
`publish.py bench` at the given rates, and prints the harness's table for the run. With
--profile SECONDS, py-spy records the service for that long during the first fixed rate
and once more with the publisher flat out (collapsed stacks beside the results). The
service's memory is sampled every 2 s from /proc (memory.tsv beside the results: RSS split
into anonymous pages, the heap, and file pages, the reading store's memory maps). With
--checkout DIR the service runs from that checkout (`python -m hazardwatch` in it, this
venv): a before/after in one session. Everything it starts is stopped by pid. Asserts
nothing.

    python benchmarks/bench_nodered.py --harness ../shared/peers/nodered \
        [--broker defaults|recommended] [--variant defaults|limits] [--rates 20000,50000,100000]
        [--duration 10] [--profile 12] [--work /tmp/nrpeer] [--checkout DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hazardwatch.shell.broker import MAX_INFLIGHT, mosquitto_path, mosquitto_settings

MQTT_PORT, HTTP_PORT, PROXY_PORT = 18880, 18882, 18883
ROOT = Path(__file__).resolve().parents[1]


def broker_conf(kind: str, folder: Path) -> str:
    base = f"listener {MQTT_PORT} 127.0.0.1\nallow_anonymous true\nset_tcp_nodelay true\n"
    if kind == "defaults":
        return base + "persistence false\n"
    return base + ("user root\n" if os.geteuid() == 0 else "") + mosquitto_settings(folder)


class AuthProxy:
    """Loopback TCP proxy that adds `Authorization: Bearer` to each connection's first
    request (the adapter's /api/live; /api/health is open anyway)."""

    def __init__(self, token: str) -> None:
        self.header = f"Authorization: Bearer {token}\r\n".encode()
        self.server = socket.create_server(("127.0.0.1", PROXY_PORT))
        threading.Thread(target=self._accept, daemon=True, name="auth-proxy").start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        with client, socket.create_connection(("127.0.0.1", HTTP_PORT)) as upstream:
            for s in (client, upstream):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            head = b""
            while b"\r\n" not in head:
                data = client.recv(65536)
                if not data:
                    return
                head += data
            line, rest = head.split(b"\r\n", 1)
            upstream.sendall(line + b"\r\n" + self.header + rest)
            back = threading.Thread(target=_pipe, args=(upstream, client), daemon=True)
            back.start()
            _pipe(client, upstream)
            back.join(1)

    def close(self) -> None:
        self.server.close()


def _pipe(src: socket.socket, dst: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := src.recv(65536):
            dst.sendall(data)
    with contextlib.suppress(OSError):
        dst.shutdown(socket.SHUT_WR)


@contextlib.contextmanager
def process(args: list[str], log: Path, **kw: object) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=out, **kw)  # type: ignore[call-overload]
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


def wait_for(what: str, ok: object, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, ValueError):
            if ok():  # type: ignore[operator]
                return
        time.sleep(0.2)
    raise SystemExit(f"{what} not up within {timeout_s:.0f} s")


def connected() -> bool:
    url = f"http://127.0.0.1:{HTTP_PORT}/api/health"
    with urllib.request.urlopen(url, timeout=1) as r:
        return b'"connected":true' in r.read()


def listening(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=0.2):
        return True


def hazardwatch(*args: str) -> str:
    exe = ROOT / ".venv" / "bin" / "hazardwatch"
    return subprocess.run(
        [str(exe), *args], check=True, capture_output=True, text=True, timeout=120
    ).stdout


def sample_memory(pid: int, out: Path, every_s: float = 2.0) -> None:
    """RSS, its anonymous and file-backed parts (kB) every `every_s` until the process ends."""
    fields = ("VmRSS", "RssAnon", "RssFile", "RssShmem")
    with out.open("w") as f:
        f.write("t\t" + "\t".join(fields) + "\n")
        t0 = time.monotonic()
        while True:
            try:
                lines = Path(f"/proc/{pid}/status").read_text().splitlines()
            except OSError:
                return
            kb = dict(line.split(":", 1) for line in lines if line.split(":", 1)[0] in fields)
            row = [f"{time.monotonic() - t0:.0f}", *((kb.get(k) or "0").split()[0] for k in fields)]
            f.write("\t".join(row) + "\n")
            f.flush()
            time.sleep(every_s)


def profile(pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes]:
    spy = shutil.which("py-spy") or str(ROOT / ".venv" / "bin" / "py-spy")
    args = [spy, "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", "250"]
    args += ["--format", "raw", "--threads", "--nonblocking", "-o", str(out)]
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--harness", type=Path, required=True, help="the Node-RED peer's folder")
    ap.add_argument("--work", type=Path, default=Path("/tmp/nrpeer"), help="the harness's WORK")
    ap.add_argument("--broker", choices=("defaults", "recommended"), default="defaults")
    ap.add_argument("--variant", choices=("defaults", "limits"), default="defaults")
    ap.add_argument("--ack-window", type=int, default=0, help="0: 20 or the recommended 1000")
    ap.add_argument("--rates", default="20000,50000,100000")
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--lat-duration", type=float, default=10.0)
    ap.add_argument("--flat-duration", type=float, default=10.0)
    ap.add_argument("--profile", type=float, default=0.0, help="py-spy seconds (0: none)")
    ap.add_argument("--checkout", type=Path, default=None, help="run the service from here")
    a = ap.parse_args()
    py = a.work / "venv" / "bin" / "python"
    site = a.work / "hw" / f"site-{a.variant}.yaml"
    if not py.exists() or not site.exists():
        raise SystemExit(f"set the harness up first (SETUP_ONLY=1 run.sh --hazardwatch): {site}")
    mosquitto = mosquitto_path()
    if mosquitto is None:
        raise SystemExit("mosquitto is not installed")
    code = (a.checkout or ROOT).resolve()
    window = a.ack_window or (MAX_INFLIGHT if a.broker == "recommended" else 20)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    folder = Path(tempfile.mkdtemp(prefix=f"bench-nodered-{stamp}-"))
    out = folder / "results.jsonl"
    data = folder / "data"
    hazardwatch("user", "add", "bench", "--role", "viewer", "--data-dir", str(data))
    token = hazardwatch("user", "token", "bench", "--data-dir", str(data)).strip().splitlines()[-1]
    (folder / "mosquitto.conf").write_text(broker_conf(a.broker, folder))
    print(f"broker {a.broker}, ack window {window}, variant {a.variant}, code {code}")
    print(f"files in {folder}")
    print((folder / "mosquitto.conf").read_text(), end="")
    # `-m` from the checkout's folder: its modules come before the venv's editable install
    run = [str(ROOT / ".venv" / "bin" / "python"), "-m", "hazardwatch", "run"]
    run += ["--config", str(site)]
    run += ["--broker", f"mqtt://127.0.0.1:{MQTT_PORT}", "--data-dir", str(data)]
    run += ["--listen", f"127.0.0.1:{HTTP_PORT}", "--client-id", f"bench-nodered-{stamp}"]
    run += ["--ack-window", str(window)]
    harness = a.harness.resolve()
    with contextlib.ExitStack() as stack:
        broker = stack.enter_context(
            process([mosquitto, "-c", str(folder / "mosquitto.conf")], folder / "mosquitto.log")
        )
        wait_for("mosquitto", lambda: listening(MQTT_PORT), 15)
        service = stack.enter_context(process(run, folder / "hazardwatch.log", cwd=code))
        wait_for("HazardWatch", connected, 300)
        memory = (service.pid, folder / "memory.tsv")
        threading.Thread(target=sample_memory, args=memory, daemon=True).start()
        proxy = AuthProxy(token)
        stack.callback(proxy.close)
        adapter = [str(py), str(harness / "hw_adapter.py"), "--http", f"127.0.0.1:{PROXY_PORT}"]
        stack.enter_context(process([*adapter, "--port", str(MQTT_PORT)], folder / "adapter.log"))
        spies: list[subprocess.Popen[bytes]] = []
        if a.profile:
            # warm-up 5 s, latency run, then the first rate: start inside the first rate
            first = 5 + a.lat_duration + 8 + min(4.0, a.duration / 4)
            rates = a.rates.split(",")
            flat = first + (len(rates) - 1) * (a.duration + 6) + a.duration + 10

            def spy_later(delay: float, name: str) -> None:
                time.sleep(delay)
                spies.append(profile(service.pid, a.profile, folder / name))

            for delay, name in ((first, f"profile-{rates[0]}.txt"), (flat, "profile-flat.txt")):
                threading.Thread(target=spy_later, args=(delay, name), daemon=True).start()
        bench = [str(py), str(harness / "publish.py"), "bench", "--port", str(MQTT_PORT)]
        bench += ["--qos", "1", "--nr-pid", str(service.pid), "--broker-pid", str(broker.pid)]
        bench += ["--rates", a.rates, "--duration", str(a.duration), "--out", str(out)]
        bench += ["--lat-duration", str(a.lat_duration), "--flat-duration", str(a.flat_duration)]
        subprocess.run(bench, check=False, timeout=3600)
        for spy in spies:
            spy.wait(60)
    subprocess.run([str(py), str(harness / "publish.py"), "table", str(out)], check=False)
    shutil.rmtree(data / "readings", ignore_errors=True)  # GBs of readings; the rest stays
    print(f"results: {out}")


if __name__ == "__main__":
    main()

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
venv): a before/after in one session. With --with-nodered the harness's Node-RED flow runs
first on the same broker (same settings, same publisher, same rates), then HazardWatch,
and a table puts the two side by side rate by rate; --repeats runs both again. Everything
it starts is stopped by pid. Asserts nothing.

    python benchmarks/bench_nodered.py --harness ../shared/peers/nodered \
        [--broker defaults|recommended] [--variant defaults|limits] [--rates 20000,50000,100000]
        [--duration 10] [--profile 12] [--work /tmp/nrpeer] [--checkout DIR]
        [--with-nodered] [--repeats 2]
"""

from __future__ import annotations

import argparse
import contextlib
import json
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
from typing import Any

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
        proc = subprocess.Popen(args, stdout=out, stderr=out, **kw)
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


def node_binary(work: Path) -> str:
    """Node-RED 5 needs Node.js 22 or later: the system's if new enough, else the harness's."""
    node = shutil.which("node")
    if node:
        major = subprocess.run(
            [node, "-p", "process.versions.node.split('.')[0]"],
            text=True,
            capture_output=True,
            check=False,
        ).stdout.strip()
        if major.isdigit() and int(major) >= 22:
            return node
    bundled = work / "node22" / "node_modules" / ".bin" / "node"
    if not bundled.exists():
        raise SystemExit(
            f"no Node.js 22: set the harness up first (SETUP_ONLY=1 run.sh): {bundled}"
        )
    return str(bundled)


def nodered_userdir(harness: Path, folder: Path) -> Path:
    """The harness's flow and settings, with the flow's broker node pointed at our port."""
    ud = folder / "nodered"
    ud.mkdir(parents=True, exist_ok=True)
    flow = json.loads((harness / "flow.json").read_text())
    for node in flow:
        if node.get("type") == "mqtt-broker":
            node["broker"], node["port"] = "127.0.0.1", str(MQTT_PORT)
    (ud / "flow.json").write_text(json.dumps(flow))
    shutil.copy(harness / "settings.js", ud / "settings.js")
    return ud


def bench_args(
    a: argparse.Namespace, py: Path, harness: Path, pid: int, broker: int, out: Path, rep: int
) -> list[str]:
    args = [str(py), str(harness / "publish.py"), "bench", "--port", str(MQTT_PORT), "--qos", "1"]
    args += ["--nr-pid", str(pid), "--broker-pid", str(broker), "--repeat", str(rep)]
    args += ["--rates", a.rates, "--duration", str(a.duration), "--out", str(out)]
    return [*args, "--lat-duration", str(a.lat_duration), "--flat-duration", str(a.flat_duration)]


def run_nodered(a: argparse.Namespace, py: Path, folder: Path, broker: int, rep: int) -> None:
    harness = a.harness.resolve()
    ud = nodered_userdir(harness, folder)
    red = a.work / "node_modules" / "node-red" / "red.js"
    if not red.exists():
        raise SystemExit(
            f"Node-RED not installed: set the harness up first (SETUP_ONLY=1 run.sh): {red}"
        )
    env = {**os.environ, "NRPEER_QOS": "1", "NRPEER_LIMITS": str(a.work / "limits.json")}
    args = [
        node_binary(a.work),
        str(red),
        "--settings",
        str(ud / "settings.js"),
        "--userDir",
        str(ud),
    ]
    with process(args, folder / "node-red.log", env=env) as nodered:
        out = folder / "nodered.jsonl"
        bench = bench_args(a, py, harness, nodered.pid, broker, out, rep)
        subprocess.run(bench, check=False, timeout=3600)


def run_hazardwatch(a: argparse.Namespace, py: Path, folder: Path, broker: int, rep: int) -> None:
    code = (a.checkout or ROOT).resolve()
    window = a.ack_window or (MAX_INFLIGHT if a.broker == "recommended" else 20)
    site = a.work / "hw" / f"site-{a.variant}.yaml"
    data = folder / f"data-r{rep}"
    hazardwatch("user", "add", "bench", "--role", "viewer", "--data-dir", str(data))
    token = hazardwatch("user", "token", "bench", "--data-dir", str(data)).strip().splitlines()[-1]
    print(f"HazardWatch: ack window {window}, variant {a.variant}, code {code}", flush=True)
    # `-m` from the checkout's folder: its modules come before the venv's editable install
    run = [str(ROOT / ".venv" / "bin" / "python"), "-m", "hazardwatch", "run"]
    run += ["--config", str(site)]
    run += ["--broker", f"mqtt://127.0.0.1:{MQTT_PORT}", "--data-dir", str(data)]
    run += [
        "--listen",
        f"127.0.0.1:{HTTP_PORT}",
        "--client-id",
        f"bench-nodered-{folder.name}-{rep}",
    ]
    run += ["--ack-window", str(window)]
    harness = a.harness.resolve()
    with contextlib.ExitStack() as stack:
        service = stack.enter_context(process(run, folder / "hazardwatch.log", cwd=code))
        wait_for("HazardWatch", connected, 300)
        memory = (service.pid, folder / f"memory-r{rep}.tsv")
        threading.Thread(target=sample_memory, args=memory, daemon=True).start()
        proxy = AuthProxy(token)
        stack.callback(proxy.close)
        adapter = [str(py), str(harness / "hw_adapter.py"), "--http", f"127.0.0.1:{PROXY_PORT}"]
        stack.enter_context(process([*adapter, "--port", str(MQTT_PORT)], folder / "adapter.log"))
        spies: list[subprocess.Popen[bytes]] = []
        if a.profile and rep == 1:
            # warm-up 5 s, latency run, then the first rate: start inside the first rate
            first = 5 + a.lat_duration + 8 + min(4.0, a.duration / 4)
            rates = a.rates.split(",")
            flat = first + (len(rates) - 1) * (a.duration + 6) + a.duration + 10

            def spy_later(delay: float, name: str) -> None:
                time.sleep(delay)
                spies.append(profile(service.pid, a.profile, folder / name))

            for delay, name in ((first, f"profile-{rates[0]}.txt"), (flat, "profile-flat.txt")):
                threading.Thread(target=spy_later, args=(delay, name), daemon=True).start()
        bench = bench_args(a, py, harness, service.pid, broker, folder / "hazardwatch.jsonl", rep)
        subprocess.run(bench, check=False, timeout=3600)
        for spy in spies:
            spy.wait(60)
    shutil.rmtree(data / "readings", ignore_errors=True)  # GBs of readings; the rest stays


def _records(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _cell(rows: list[dict[str, Any]], key: str, fmt: str = "{:,.0f}") -> str:
    vals = sorted(float(r[key]) for r in rows if isinstance(r.get(key), int | float))
    if not vals:
        return "-"
    return " / ".join(fmt.format(v) for v in (vals[0], vals[len(vals) // 2]))


def side_by_side(nodered: list[dict[str, Any]], ours: list[dict[str, Any]]) -> str:
    """One markdown table: each fixed rate, flat out and latency, Node-RED beside HazardWatch
    (cells min / median over repeats; "kept up" counts the repeats that kept up)."""

    def rows(
        recs: list[dict[str, Any]], kind: str, rate: int | None = None
    ) -> list[dict[str, Any]]:
        return [r for r in recs if r["kind"] == kind and (rate is None or r["target_rate"] == rate)]

    def kept(recs: list[dict[str, Any]], rate: int) -> str:
        rr = rows(recs, "rate", rate)
        return f"{sum(bool(r['kept_up']) for r in rr)}/{len(rr)}" if rr else "-"

    def sustained(recs: list[dict[str, Any]]) -> str:
        best = 0
        for rate in sorted({int(r["target_rate"]) for r in rows(recs, "rate")}):
            rr = rows(recs, "rate", rate)
            if not all(r["kept_up"] for r in rr):
                break
            best = rate
        return f"{best:,}"

    head = "| QoS 1 (min / median) | Node-RED flow | HazardWatch |\n|---|---|---|\n"
    lines = [
        f"| sustained readings/s (kept up at it and every rate below, every repeat) "
        f"| {sustained(nodered)} | {sustained(ours)} |"
    ]
    rates = sorted({int(r["target_rate"]) for r in rows(nodered + ours, "rate")})
    for rate in rates:
        cells = [
            f"{kept(recs, rate)}, {_cell(rr, 'nr_rate_while_sending')}, "
            f"{_cell(rr, 'nr_cpu_pct_sending')}"
            for recs in (nodered, ours)
            for rr in [rows(recs, "rate", rate)]
        ]
        lines.append(f"| {rate:,}/s: kept up, processed/s, CPU % | {cells[0]} | {cells[1]} |")
    nr, hw = rows(nodered, "flatout"), rows(ours, "flatout")
    lines.append(
        f"| publisher flat out: processed/s | {_cell(nr, 'nr_rate_while_sending')} "
        f"| {_cell(hw, 'nr_rate_while_sending')} |"
    )
    nr, hw = rows(nodered, "latency"), rows(ours, "latency")
    for key, label in (("lat_p50_ms", "p50"), ("lat_p99_ms", "p99")):
        lines.append(
            f"| HH publish -> alarm out, {label} ms at the latency rate "
            f"| {_cell(nr, key, '{:.1f}')} | {_cell(hw, key, '{:.1f}')} |"
        )
    lines.append(
        f"| HH raised / expected at the latency rate "
        f"| {sum(int(r['alarms_raised']) for r in nr)}/{sum(int(r['spikes']) for r in nr)} "
        f"| {sum(int(r['alarms_raised']) for r in hw)}/{sum(int(r['spikes']) for r in hw)} |"
    )
    lines.append(
        f"| RSS MB, largest over the fixed rates | {_cell(rows(nodered, 'rate'), 'rss_max_mb')} "
        f"| {_cell(rows(ours, 'rate'), 'rss_max_mb')} |"
    )
    return head + "\n".join(lines)


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
    ap.add_argument(
        "--with-nodered", action="store_true", help="the Node-RED flow first, same broker"
    )
    ap.add_argument("--repeats", type=int, default=1)
    a = ap.parse_args()
    py = a.work / "venv" / "bin" / "python"
    site = a.work / "hw" / f"site-{a.variant}.yaml"
    if not py.exists() or not site.exists():
        raise SystemExit(f"set the harness up first (SETUP_ONLY=1 run.sh --hazardwatch): {site}")
    mosquitto = mosquitto_path()
    if mosquitto is None:
        raise SystemExit("mosquitto is not installed")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    folder = Path(tempfile.mkdtemp(prefix=f"bench-nodered-{stamp}-"))
    (folder / "mosquitto.conf").write_text(broker_conf(a.broker, folder))
    print(f"broker {a.broker}; files in {folder}")
    print((folder / "mosquitto.conf").read_text(), end="")
    harness = a.harness.resolve()
    with process(
        [mosquitto, "-c", str(folder / "mosquitto.conf")], folder / "mosquitto.log"
    ) as broker:
        wait_for("mosquitto", lambda: listening(MQTT_PORT), 15)
        for rep in range(1, a.repeats + 1):
            if a.with_nodered:
                run_nodered(a, py, folder, broker.pid, rep)
            run_hazardwatch(a, py, folder, broker.pid, rep)
    for name in ("nodered", "hazardwatch"):
        if (folder / f"{name}.jsonl").exists():
            print(f"\n{name}:")
            subprocess.run(
                [str(py), str(harness / "publish.py"), "table", str(folder / f"{name}.jsonl")],
                check=False,
            )
    if a.with_nodered:
        print(f"\nside by side, broker {a.broker}, {a.repeats} repeat(s):\n")
        print(
            side_by_side(_records(folder / "nodered.jsonl"), _records(folder / "hazardwatch.jsonl"))
        )
    print(f"results: {folder}")


if __name__ == "__main__":
    main()

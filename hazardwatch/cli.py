"""The `hazardwatch` command: run, demo, check-config, simulate, broker."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated

import typer

from hazardwatch.config import ConfigError, load_site
from hazardwatch.model import HazardWatchError, Site

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="HazardWatch: monitoring and early warning for major hazard sources.",
)

EXAMPLE_CONFIG = Path(__file__).resolve().parent.parent / "examples" / "park.yaml"


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(code)


def _load(config: Path) -> Site:
    try:
        return load_site(config)
    except ConfigError as exc:
        raise _fail(str(exc)) from None


def _parse_listen(listen: str) -> tuple[str, int]:
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise _fail(f"--listen {listen!r}: expected HOST:PORT, e.g. 127.0.0.1:8000")
    return host, int(port)


def _run_until_signal(main: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """Run `main(stop)` on a fresh loop; Ctrl-C and SIGTERM set `stop` for a clean shutdown."""

    async def runner() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await main(stop)

    asyncio.run(runner())


@app.command("check-config")
def check_config(config: Annotated[Path, typer.Argument(help="Site config (YAML)")]) -> None:
    """Validate a site config and summarise it."""
    site = _load(config)
    from hazardwatch.model import SensorTable

    table = SensorTable.from_site(site)
    n_hs = sum(len(e.hazard_sources) for e in site.enterprises)
    n_units = sum(len(h.units) for e in site.enterprises for h in e.hazard_sources)
    typer.echo(
        f"{config}: OK - park {site.park!r}: {len(site.enterprises)} enterprises, "
        f"{n_hs} hazard sources, {n_units} units, {table.n} sensors"
    )


@app.command()
def run(
    config: Annotated[Path, typer.Option(help="Site config (YAML)")],
    broker: Annotated[str, typer.Option(help="MQTT broker, mqtt://HOST:PORT")] = (
        "mqtt://127.0.0.1:1883"
    ),
    data_dir: Annotated[Path, typer.Option(help="Journal, readings, dead letters")] = Path("data"),
    listen: Annotated[str, typer.Option(help="HTTP HOST:PORT")] = "127.0.0.1:8000",
    client_id: Annotated[str, typer.Option(help="MQTT client id (persistent session)")] = (
        "hazardwatch"
    ),
    topic: Annotated[
        list[str] | None, typer.Option(help="Topic filter of this worker's shard (repeatable)")
    ] = None,
) -> None:
    """Run the service: ingest, detect, alarm, store, and serve the API and the page."""
    from hazardwatch.service import Service, Settings

    site = _load(config)
    host, port = _parse_listen(listen)
    settings = Settings(
        broker_url=broker,
        data_dir=data_dir,
        listen_host=host,
        listen_port=port,
        client_id=client_id,
        topics=topic or None,
    )
    _setup_logging()
    service = Service(site, settings)
    typer.echo(f"HazardWatch: {service.table.n} sensors, broker {broker}, http://{host}:{port}/")
    _run_until_signal(service.run)


@app.command()
def demo(
    config: Annotated[Path, typer.Option(help="Site config (YAML)")] = EXAMPLE_CONFIG,
    listen: Annotated[str, typer.Option(help="HTTP HOST:PORT")] = "127.0.0.1:8000",
    broker: Annotated[str, typer.Option(help="auto | mosquitto | amqtt")] = "auto",
    overfill: Annotated[str | None, typer.Option(help="Tank to overfill (default: first)")] = None,
    overfill_at: Annotated[float, typer.Option(help="Seconds until the overfill")] = 30.0,
    data_dir: Annotated[Path | None, typer.Option(help="Default: a temporary folder")] = None,
    duration: Annotated[float | None, typer.Option(help="Stop after this many seconds")] = None,
) -> None:
    """A simulated park with an overfill, an embedded broker, the service and the page."""
    from hazardwatch.broker import EmbeddedBroker
    from hazardwatch.service import Service, Settings
    from simulators import FleetPublisher, Overfill

    site = _load(config)
    host, port = _parse_listen(listen)
    tank = overfill or _first_tank_with_level(site)
    _setup_logging()
    with tempfile.TemporaryDirectory(prefix="hazardwatch-demo-") as tmp:
        root = data_dir or Path(tmp)
        if broker not in ("auto", "mosquitto", "amqtt"):
            raise _fail(f"--broker {broker!r}: expected auto, mosquitto or amqtt")
        with EmbeddedBroker(root / "broker", kind=broker) as mqtt:  # type: ignore[arg-type]
            settings = Settings(
                broker_url=mqtt.url, data_dir=root / "service", listen_host=host, listen_port=port
            )
            service = Service(site, settings)
            publisher = FleetPublisher(
                site, mqtt.url, rate_hz=1.0, seed=1, scenarios=[Overfill(tank, overfill_at)]
            )

            async def main(stop: asyncio.Event) -> None:
                publisher.start()
                typer.echo(
                    f"HazardWatch demo: {service.table.n} sensors via {mqtt.kind} at {mqtt.url}\n"
                    f"  control room: http://{host}:{port}/   API: http://{host}:{port}/docs\n"
                    f"  tank {tank} overfills in {overfill_at:.0f} s. Ctrl-C stops."
                )
                if duration is not None:
                    asyncio.get_running_loop().call_later(duration, stop.set)
                try:
                    await service.run(stop)
                finally:
                    await asyncio.to_thread(publisher.close)

            _run_until_signal(main)
    typer.echo("HazardWatch demo stopped.")


def _first_tank_with_level(site: Site) -> str:
    from hazardwatch.model import Kind

    for _, _, unit, sensor in site.iter_sensors():
        if sensor.kind is Kind.LEVEL and sensor.limits.hh is not None:
            return unit.id
    raise _fail("the config has no level sensor with an HH limit to overfill")


@app.command()
def simulate(
    config: Annotated[Path, typer.Option(help="Site config (YAML)")],
    broker: Annotated[str, typer.Option(help="MQTT broker, mqtt://HOST:PORT")],
    rate: Annotated[float, typer.Option(help="Readings per sensor per second")] = 1.0,
    mode: Annotated[str, typer.Option(help="batch | single")] = "batch",
    duration: Annotated[float | None, typer.Option(help="Seconds of wall time")] = None,
    speed: Annotated[float, typer.Option(help="Simulated seconds per wall second")] = 1.0,
    seed: Annotated[int, typer.Option(help="Same seed, same readings")] = 0,
    overfill: Annotated[str | None, typer.Option(help="Tank id to overfill")] = None,
    overfill_at: Annotated[float, typer.Option(help="Seconds until the overfill")] = 60.0,
) -> None:
    """Publish a simulated park to a broker."""
    from simulators import simulate as run_simulation

    site = _load(config)
    if mode not in ("batch", "single"):
        raise _fail(f"--mode {mode!r}: expected batch or single")
    stats = run_simulation(
        site,
        broker,
        rate_hz=rate,
        mode=mode,
        duration_s=duration,
        speed=speed,
        seed=seed,
        overfill=overfill,
        overfill_at_s=overfill_at,
    )
    typer.echo(f"simulate: {stats}")


@app.command("broker")
def broker_cmd(
    port: Annotated[int, typer.Option(help="Loopback port")] = 1883,
    kind: Annotated[str, typer.Option(help="auto | mosquitto | amqtt")] = "amqtt",
    data_dir: Annotated[Path | None, typer.Option(help="Default: a temporary folder")] = None,
) -> None:
    """Run the embedded MQTT broker on loopback until Ctrl-C."""
    from hazardwatch.broker import EmbeddedBroker

    with tempfile.TemporaryDirectory(prefix="hazardwatch-broker-") as tmp:
        with EmbeddedBroker(data_dir or Path(tmp), port=port, kind=kind) as b:  # type: ignore[arg-type]
            typer.echo(f"{b.kind} listening at {b.url}", err=True)

            async def wait(stop: asyncio.Event) -> None:
                await stop.wait()

            _run_until_signal(wait)


def _setup_logging() -> None:
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


def main() -> None:
    try:
        app()
    except HazardWatchError as exc:
        print(f"hazardwatch: {exc}", file=sys.stderr)
        sys.exit(2)

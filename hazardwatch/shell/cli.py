"""The `hazardwatch` command: run, demo, check-config, simulate, broker, replay, user, limits,
backtest."""

from __future__ import annotations

import asyncio
import logging
import re
import signal
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from hazardwatch.vocabulary.config import ConfigError, load_site
from hazardwatch.vocabulary.model import HazardWatchError, Site

if TYPE_CHECKING:
    from hazardwatch.storage.accounts import Accounts
    from hazardwatch.storage.limits import LimitBook

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="HazardWatch: monitoring and early warning for major hazard sources.",
)

EXAMPLE_CONFIG = Path(__file__).resolve().parents[2] / "examples" / "park.yaml"


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


_ALLOWED_HOST = typer.Option(
    help="A Host name the HTTP server answers besides loopback and the --listen address "
    "(repeatable; '*.park.example' for a domain); other hosts get 400 (DNS rebinding)"
)


def _allowed_hosts(names: list[str] | None) -> list[str] | None:
    """The --allowed-host names, checked: a name without port or scheme, or '*.domain'."""
    for name in names or ():
        ok = re.fullmatch(r"(\*\.)?[A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\]", name) is not None
        if not ok:
            raise _fail(
                f"--allowed-host {name!r}: expected a host name or address without port, "
                "e.g. hazardwatch.park.example, 10.8.0.5, [fd00::5] or *.park.example"
            )
    return names or None


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
    from hazardwatch.vocabulary.model import SensorTable

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
    store: Annotated[
        str,
        typer.Option(
            help="Readings: blocks (embedded, in --data-dir) | sqlite (a file) | influx (a server)"
        ),
    ] = "blocks",
    retention_days: Annotated[
        float, typer.Option(help="Raw readings kept this long (at least 30 days: 40号令)")
    ] = 90.0,
    aggregate_days: Annotated[
        float, typer.Option(help="Minute aggregates (min/max/mean/count) kept this long (blocks)")
    ] = 3 * 365.0,
    influx_url: Annotated[
        str | None,
        typer.Option(
            help="InfluxDB v2 write URL, e.g. VictoriaMetrics (env HAZARDWATCH_INFLUX_URL)"
        ),
    ] = None,
    influx_org: Annotated[
        str | None, typer.Option(help="Organisation (env HAZARDWATCH_INFLUX_ORG)")
    ] = None,
    influx_bucket: Annotated[
        str | None, typer.Option(help="Bucket (env HAZARDWATCH_INFLUX_BUCKET)")
    ] = None,
    spool_max_mb: Annotated[
        float, typer.Option(help="Disk for readings waiting while the store is down")
    ] = 1024.0,
    ack_window: Annotated[
        int,
        typer.Option(
            help="MQTT messages held unacknowledged until stored; at most the broker's "
            "in-flight limit (mosquitto: max_inflight_messages, 20 by default)"
        ),
    ] = 20,
    checkpoint_interval_s: Annotated[
        float,
        typer.Option(
            help="Save the detector's memory (windows, baselines) to --data-dir this often "
            "and at shutdown, so a restart keeps its early warnings; 0 disables"
        ),
    ] = 60.0,
    allowed_host: Annotated[list[str] | None, _ALLOWED_HOST] = None,
) -> None:
    """Run the service: ingest, detect, alarm, store, and serve the API and the page.

    The InfluxDB token is read from HAZARDWATCH_INFLUX_TOKEN only, never from a flag.
    """
    from hazardwatch.shell.service import Service, Settings
    from hazardwatch.storage import InfluxSettings

    site = _load(config)
    host, port = _parse_listen(listen)
    if store not in ("blocks", "sqlite", "influx"):
        raise _fail(f"--store {store!r}: expected blocks, sqlite or influx")
    if not retention_days >= 30:
        raise _fail(f"--retention-days {retention_days}: raw readings are kept 30 days at least")
    if not aggregate_days >= retention_days:
        raise _fail(f"--aggregate-days {aggregate_days}: at least --retention-days")
    if not spool_max_mb > 0:
        raise _fail(f"--spool-max-mb {spool_max_mb}: must be greater than 0")
    if not 1 <= ack_window <= 65535:
        raise _fail(f"--ack-window {ack_window}: must be 1..65535 (MQTT packet ids)")
    if not checkpoint_interval_s >= 0:
        raise _fail(f"--checkpoint-interval-s {checkpoint_interval_s}: must be 0 (off) or more")
    settings = Settings(
        broker_url=broker,
        data_dir=data_dir,
        listen_host=host,
        listen_port=port,
        client_id=client_id,
        topics=topic or None,
        store=store,
        retention_days=retention_days,
        aggregate_days=aggregate_days,
        influx=InfluxSettings.from_env(url=influx_url, org=influx_org, bucket=influx_bucket),
        spool_max_bytes=int(spool_max_mb * 1024 * 1024),
        ack_window=ack_window,
        checkpoint_interval_s=checkpoint_interval_s,
        allowed_hosts=_allowed_hosts(allowed_host),
    )
    _setup_process()
    service = Service(site, settings, limits=_limit_book(config, data_dir))
    where = {"influx": settings.influx.url, "sqlite": data_dir / "readings.db"}.get(
        store, data_dir / "readings"
    )
    typer.echo(
        f"HazardWatch: {service.table.n} sensors, broker {broker}, readings in {store} at "
        f"{where}, http://{host}:{port}/"
    )
    _run_until_signal(service.run)


@app.command()
def demo(
    config: Annotated[Path, typer.Option(help="Site config (YAML)")] = EXAMPLE_CONFIG,
    listen: Annotated[str, typer.Option(help="HTTP HOST:PORT")] = "127.0.0.1:8000",
    broker: Annotated[str, typer.Option(help="auto | mosquitto | amqtt")] = "auto",
    overfill: Annotated[str | None, typer.Option(help="Tank to overfill (default: first)")] = None,
    # Two minutes: the level's 300 s slope window is trusted once half full (or 32 samples,
    # one per 4.2 s), so the early warnings can come before the limits.
    overfill_at: Annotated[float, typer.Option(help="Seconds until the overfill")] = 120.0,
    data_dir: Annotated[Path | None, typer.Option(help="Default: a temporary folder")] = None,
    duration: Annotated[float | None, typer.Option(help="Stop after this many seconds")] = None,
    allowed_host: Annotated[list[str] | None, _ALLOWED_HOST] = None,
) -> None:
    """A simulated park with an overfill, an embedded broker, the service and the page."""
    from hazardwatch.shell.broker import MAX_INFLIGHT, EmbeddedBroker
    from hazardwatch.shell.service import Service, Settings
    from simulators import FleetPublisher, Overfill

    site = _load(config)
    host, port = _parse_listen(listen)
    hosts = _allowed_hosts(allowed_host)
    tank = overfill or _first_tank_with_level(site)
    _setup_process()
    with tempfile.TemporaryDirectory(prefix="hazardwatch-demo-") as tmp:
        root = data_dir or Path(tmp)
        if broker not in ("auto", "mosquitto", "amqtt"):
            raise _fail(f"--broker {broker!r}: expected auto, mosquitto or amqtt")
        with EmbeddedBroker(root / "broker", kind=broker) as mqtt:  # type: ignore[arg-type]
            settings = Settings(
                broker_url=mqtt.url,
                data_dir=root / "service",
                listen_host=host,
                listen_port=port,
                ack_window=MAX_INFLIGHT,  # amqtt sets no in-flight limit
                allowed_hosts=hosts,
            )
            service = Service(site, settings)
            password = _demo_operator(service.accounts)
            publisher = FleetPublisher(
                site,
                mqtt.url,
                rate_hz=1.0,
                seed=1,
                # The operator planned a 1 m fill: OVERRUN says so before any trend can.
                scenarios=[Overfill(tank, overfill_at, planned_lift=1.0)],
            )

            async def main(stop: asyncio.Event) -> None:
                publisher.start()
                typer.echo(
                    f"HazardWatch demo: {service.table.n} sensors via {mqtt.kind} at {mqtt.url}\n"
                    f"  control room: http://{host}:{port}/   API: http://{host}:{port}/docs\n"
                    f"  log in as {DEMO_OPERATOR!r} with password {password!r}\n"
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


DEMO_OPERATOR = "operator"


def _demo_operator(accounts: Accounts) -> str:
    """The demo's operator with a fresh password (a reused --data-dir keeps the user)."""
    from hazardwatch.storage.accounts import Role, new_password

    password = new_password()
    if accounts.user(DEMO_OPERATOR) is None:
        accounts.add_user(DEMO_OPERATOR, Role.OPERATOR, password, by="demo")
    else:
        accounts.set_password(DEMO_OPERATOR, password, by="demo")
    return password


def _first_tank_with_level(site: Site) -> str:
    from hazardwatch.vocabulary.model import Kind

    for _, _, unit, sensor in site.iter_sensors():
        if sensor.kind is Kind.LEVEL and sensor.limits.hh is not None:
            return unit.id
    raise _fail("the config has no level sensor with an HH limit to overfill")


@app.command(
    help=(
        "Simulate a park: publish it to a broker, or record it to CSV with its ground truth."
        "\n\nA scenario (--scenario NAME from the library, or a YAML file) brings its events, "
        "duration, seed, climate and start; options given here override them."
        "\n\nEach tick covers speed/rate simulated seconds, with a broker and in CSV alike, so "
        "a recording holds what the broker would have carried. A CSV run goes as fast as the "
        "machine allows."
        "\n\nWith a broker the readings' ts is simulated time starting now. The live service "
        "refuses ts more than 300 s ahead of its clock, so with --speed above 1 a run is "
        "refused when simulated time would get that far ahead (duration x (1 - 1/speed) "
        "> 240 s); starting in the past instead would make every sensor look stale to the "
        "service. For faster runs, record with --csv and use `hazardwatch replay`."
    )
)
def simulate(
    config: Annotated[Path | None, typer.Option(help="Site config (YAML)")] = None,
    generate: Annotated[
        str | None,
        typer.Option(help="Generate a park instead: enterprises=N,tanks=M[,seed=S]"),
    ] = None,
    scenario: Annotated[
        str | None, typer.Option(help="Scenario name from the library, or a scenario YAML file")
    ] = None,
    broker: Annotated[str | None, typer.Option(help="Publish to mqtt://HOST:PORT")] = None,
    csv: Annotated[
        Path | None,
        typer.Option(help="Write long CSV ts,tag,value,quality here instead (plus .truth.json)"),
    ] = None,
    rate: Annotated[
        float | None,
        typer.Option(
            help="Ticks per wall second, a reading per sensor each (default 1; CSV "
            "with a scenario: its dt_s)"
        ),
    ] = None,
    mode: Annotated[str, typer.Option(help="batch | single (broker only)")] = "batch",
    speed: Annotated[float, typer.Option(help="Simulated seconds per wall second")] = 1.0,
    seed: Annotated[
        int | None, typer.Option(help="Same seed, same readings (default: scenario's, or 0)")
    ] = None,
    duration: Annotated[
        float | None,
        typer.Option(help="Simulated seconds (default: the scenario's; broker: until Ctrl-C)"),
    ] = None,
    start: Annotated[
        float | None,
        typer.Option(
            help="Simulated start, epoch s (default: now, or with --speed > 1 in the past so the "
            "run ends at now; CSV: the scenario's, else 2026-01-01 00:00 +08)"
        ),
    ] = None,
    save_config: Annotated[
        Path | None, typer.Option(help="Write the site config used (e.g. a generated one)")
    ] = None,
    qos: Annotated[int, typer.Option(help="MQTT QoS of readings: 0 or 1")] = 1,
    overfill: Annotated[str | None, typer.Option(help="Also overfill this tank id")] = None,
    overfill_at: Annotated[float, typer.Option(help="Simulated seconds until the overfill")] = 60.0,
) -> None:
    """Simulate a park: publish it to a broker, or record it to CSV with its ground truth."""
    from simulators import (
        CSV_START_TS,
        GenerateError,
        Overfill,
        Scenario,
        check_live_clock,
        generate_site,
        load_scenario,
        parse_generate_spec,
        record_run,
        site_to_yaml,
        truth_path,
    )
    from simulators import simulate as run_simulation

    if (config is None) == (generate is None):
        raise _fail("simulate: give exactly one of --config FILE or --generate SPEC")
    if (broker is None) == (csv is None):
        raise _fail("simulate: give exactly one of --broker URL or --csv OUT.csv")
    if mode not in ("batch", "single"):
        raise _fail(f"--mode {mode!r}: expected batch or single")
    if qos not in (0, 1):
        raise _fail(f"--qos {qos}: expected 0 or 1")
    if (
        (rate is not None and not rate > 0)
        or not speed > 0
        or (duration is not None and not duration > 0)
    ):
        raise _fail("simulate: --rate, --speed and --duration must be greater than 0")
    try:
        if generate is not None:
            spec = parse_generate_spec(generate)
            site = generate_site(spec["enterprises"], spec["tanks"], spec.get("seed", seed or 0))
        else:
            assert config is not None
            site = _load(config)
        meta: dict[str, object] = {"scenario": None}
        scenarios: list[Scenario] = []
        climate = None
        csv_start = CSV_START_TS
        if scenario is not None:
            spec = load_scenario(scenario, site)
            scenarios = spec.build()
            meta = {"scenario": spec.name, "description": spec.description}
            seed = spec.seed if seed is None else seed
            duration = spec.duration_s if duration is None else duration
            climate, csv_start = spec.climate, spec.start_ts
            if rate is None and csv is not None:
                # No slower than the site says its sensors report: a replay of the CSV would
                # otherwise judge every sensor silent between two ticks.
                shortest = min((x.period_s for _, _, _, x in site.iter_sensors()), default=1.0)
                rate = speed / min(spec.dt_s, shortest)
        if overfill is not None:
            scenarios.append(Overfill(overfill, overfill_at))
        seed = 0 if seed is None else seed
        rate = 1.0 if rate is None else rate
        if save_config is not None:
            save_config.write_text(site_to_yaml(site), encoding="utf-8")
        if csv is not None:
            if duration is None:
                raise _fail("simulate: --csv needs --duration (or a --scenario that has one)")
            summary = record_run(
                site,
                csv,
                duration_s=duration,
                start_ts=csv_start if start is None else start,
                scenarios=scenarios,
                rate_hz=rate,
                speed=speed,
                seed=seed,
                climate=climate,
                meta=meta,
            )
            typer.echo(
                f"simulate: {summary['rows']} readings of {summary['sensors']} sensors over "
                f"{duration:g} simulated s -> {csv}, truth -> {truth_path(csv)}, "
                f"{summary['plans']} transfer plans -> {summary['plans_file']}"
            )
            return
        assert broker is not None
        import time

        now = time.time()
        if start is not None:
            begin = start
        elif speed > 1.0 and duration is not None:
            # Faster than real time: start in the past so that simulated time catches up
            # with the wall clock at the end; the service judges silence on the data's time
            # while readings flow, so readings behind the clock are fine, ahead are not.
            begin = now - duration * (1.0 - 1.0 / speed)
        else:
            begin = now
        check_live_clock(begin, now, duration, speed)
        stats = run_simulation(
            site,
            broker,
            rate_hz=rate,
            mode=mode,  # type: ignore[arg-type]
            duration_s=None if duration is None else duration / speed,
            speed=speed,
            seed=seed,
            scenarios=scenarios,
            qos=qos,
            start_ts=begin,
            climate=climate,
        )
    except GenerateError as exc:
        raise _fail(str(exc)) from None
    except (HazardWatchError, OSError) as exc:
        raise _fail(f"simulate: {exc}") from None
    truth = stats.pop("truth")
    typer.echo(f"simulate: {stats}")
    typer.echo(f"simulate: ground truth: {truth}")


@app.command("broker")
def broker_cmd(
    port: Annotated[int, typer.Option(help="Loopback port")] = 1883,
    kind: Annotated[str, typer.Option(help="auto | mosquitto | amqtt")] = "amqtt",
    data_dir: Annotated[Path | None, typer.Option(help="Default: a temporary folder")] = None,
) -> None:
    """Run the embedded MQTT broker on loopback until Ctrl-C."""
    from hazardwatch.shell.broker import EmbeddedBroker

    with tempfile.TemporaryDirectory(prefix="hazardwatch-broker-") as tmp:
        with EmbeddedBroker(data_dir or Path(tmp), port=port, kind=kind) as b:  # type: ignore[arg-type]
            typer.echo(f"{b.kind} listening at {b.url}", err=True)

            async def wait(stop: asyncio.Event) -> None:
                await stop.wait()

            _run_until_signal(wait)


@app.command()
def replay(
    input: Annotated[
        Path, typer.Option(help="Readings: CSV ts,tag,value[,quality] or ts,<tag>,...")
    ],
    output: Annotated[Path, typer.Option(help="Alarm transitions, one JSON line each")],
    config: Annotated[
        Path | None, typer.Option(help="Site config (YAML); without it, a wide CSV's columns")
    ] = None,
    learn_rows: Annotated[int, typer.Option(help="The first N rows only teach baselines")] = 0,
    data_dir: Annotated[
        Path | None, typer.Option(help="Journal and readings (default: a temporary folder)")
    ] = None,
    slice_s: Annotated[float, typer.Option(help="Seconds of data time per detector step")] = 1.0,
    chunk_rows: Annotated[int, typer.Option(help="Rows read at a time")] = 50_000,
    plans: Annotated[
        Path | None,
        typer.Option(help="Transfer plans, one JSON object a line (simulate writes .plans.jsonl)"),
    ] = None,
    comm_loss: Annotated[
        bool,
        typer.Option(
            "--comm-loss",
            help="Judge silence as live: COMM_LOSS after a sensor's stale time, gaps in the"
            " data included (default: a gap is a gap)",
        ),
    ] = False,
) -> None:
    """Run the live detector and alarm code over recorded readings; write the alarms."""
    from hazardwatch.shell.replay import ReplayInputError
    from hazardwatch.shell.replay import replay as run_replay

    _setup_process()

    site = _load(config) if config is not None else None
    try:
        summary = run_replay(
            input,
            output,
            site=site,
            learn_rows=learn_rows,
            data_dir=data_dir,
            slice_s=slice_s,
            chunk_rows=chunk_rows,
            plans=plans,
            comm_loss=comm_loss,
        )
    except ReplayInputError as exc:
        raise _fail(f"replay: {exc}") from None
    for line in summary.lines():
        typer.echo(line)


user_app = typer.Typer(
    no_args_is_help=True,
    help="Accounts of the API and the page: users, roles, bearer tokens. Create the first "
    "admin with `hazardwatch user add NAME --role admin`.",
)
app.add_typer(user_app, name="user")

_DATA_DIR = typer.Option(help="The service's --data-dir (its accounts.db)")
_PASSWORD_STDIN = typer.Option(
    "--password-stdin", help="Read the password from the first line of stdin"
)


def _accounts(data_dir: Path) -> Accounts:
    from hazardwatch.storage.accounts import Accounts

    return Accounts(data_dir / "accounts.db")


def _by() -> str:
    """Who made a change on the command line, for the audit."""
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no name for this uid (a container)
        return "cli"


def _password(from_stdin: bool) -> tuple[str, bool]:
    """(password, generated): from stdin, asked at a terminal, else generated."""
    from hazardwatch.storage.accounts import new_password

    if from_stdin:
        line = sys.stdin.readline().rstrip("\r\n")
        if not line:
            raise _fail("--password-stdin: the first line of stdin is empty")
        return line, False
    if sys.stdin.isatty():
        typed = typer.prompt(
            "Password (empty: generate one)",
            default="",
            hide_input=True,
            confirmation_prompt=True,
            show_default=False,
        )
        if typed:
            return typed, False
    return new_password(), True


def _account_call(fn: Callable[[], object]) -> None:
    from hazardwatch.storage.accounts import AccountError

    try:
        fn()
    except AccountError as exc:
        raise _fail(f"user: {exc}") from None


@user_app.command("add")
def user_add(
    name: Annotated[str, typer.Argument(help="User name (1-64 characters)")],
    role: Annotated[str, typer.Option(help="viewer | operator | engineer | admin")] = "viewer",
    data_dir: Annotated[Path, _DATA_DIR] = Path("data"),
    password_stdin: Annotated[bool, _PASSWORD_STDIN] = False,
) -> None:
    """Add a user; prints the password when it generated one."""
    from hazardwatch.storage.accounts import AccountError, Role

    try:
        parsed = Role.parse(role)
    except AccountError as exc:
        raise _fail(f"--role: {exc}") from None
    password, generated = _password(password_stdin)
    accounts = _accounts(data_dir)
    try:
        _account_call(lambda: accounts.add_user(name, parsed, password, by=_by(), where="cli"))
    finally:
        accounts.close()
    typer.echo(f"user {name!r} added as {parsed.label}")
    if generated:
        typer.echo(f"password: {password}")


@user_app.command("passwd")
def user_passwd(
    name: str,
    data_dir: Annotated[Path, _DATA_DIR] = Path("data"),
    password_stdin: Annotated[bool, _PASSWORD_STDIN] = False,
) -> None:
    """Set a user's password (their open sessions end); prints it when generated."""
    password, generated = _password(password_stdin)
    accounts = _accounts(data_dir)
    try:
        _account_call(lambda: accounts.set_password(name, password, by=_by(), where="cli"))
    finally:
        accounts.close()
    typer.echo(f"password of {name!r} changed")
    if generated:
        typer.echo(f"password: {password}")


@user_app.command("role")
def user_role(
    name: str,
    role: Annotated[str, typer.Argument(help="viewer | operator | engineer | admin")],
    data_dir: Annotated[Path, _DATA_DIR] = Path("data"),
) -> None:
    """Change a user's role."""
    from hazardwatch.storage.accounts import Role

    accounts = _accounts(data_dir)
    try:
        _account_call(lambda: accounts.set_role(name, Role.parse(role), by=_by(), where="cli"))
    finally:
        accounts.close()
    typer.echo(f"{name!r} is now {role}")


@user_app.command("disable")
def user_disable(name: str, data_dir: Annotated[Path, _DATA_DIR] = Path("data")) -> None:
    """Disable a user: no login, their sessions and tokens end."""
    accounts = _accounts(data_dir)
    try:
        _account_call(lambda: accounts.disable(name, by=_by(), where="cli"))
    finally:
        accounts.close()
    typer.echo(f"user {name!r} disabled")


@user_app.command("token")
def user_token(name: str, data_dir: Annotated[Path, _DATA_DIR] = Path("data")) -> None:
    """Issue a bearer token for NAME and print it (only now: just its hash is kept)."""
    accounts = _accounts(data_dir)
    issued: list[tuple[int, str]] = []
    try:
        _account_call(lambda: issued.append(accounts.issue_token(name, by=_by(), where="cli")))
    finally:
        accounts.close()
    ((token_id, token),) = issued
    typer.echo(f"token {token_id} for {name!r} (send as Authorization: Bearer ...):", err=True)
    typer.echo(token)


@user_app.command("revoke")
def user_revoke(
    token_id: Annotated[int, typer.Argument(help="The token's id (`hazardwatch user list`)")],
    data_dir: Annotated[Path, _DATA_DIR] = Path("data"),
) -> None:
    """Revoke a bearer token."""
    accounts = _accounts(data_dir)
    try:
        _account_call(lambda: accounts.revoke_token(token_id, by=_by(), where="cli"))
    finally:
        accounts.close()
    typer.echo(f"token {token_id} revoked")


@user_app.command("list")
def user_list(data_dir: Annotated[Path, _DATA_DIR] = Path("data")) -> None:
    """Users with their roles and tokens."""
    accounts = _accounts(data_dir)
    try:
        users, tokens = accounts.users(), accounts.tokens()
    finally:
        accounts.close()
    for u in users:
        live = [str(t["id"]) for t in tokens if t["user"] == u["name"] and not t["revoked_ts"]]
        state = " (disabled)" if u["disabled"] else ""
        typer.echo(f"{u['name']}\t{u['role']}{state}\ttokens: {', '.join(live) or '-'}")


limits_app = typer.Typer(
    no_args_is_help=True,
    help="Limits as audited data: a sensor's limits, deadband, delays and trend settings, "
    "changed with a reason, versioned in --data-dir's journal over the YAML, rolled back. A "
    "running service takes a change within a second, keeping the sensor's memory.",
)
app.add_typer(limits_app, name="limits")
_CONFIG = typer.Option(help="Site config (YAML): the seed the versions apply to")
_LIMITS_DIR = typer.Option(help="The service's --data-dir (its alarms.db keeps the versions)")


def _limit_book(config: Path, data_dir: Path) -> LimitBook:
    from hazardwatch.storage.limits import LimitBook, LimitError

    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        return LimitBook(config, data_dir / "alarms.db")
    except (LimitError, ConfigError) as exc:
        raise _fail(str(exc)) from None


def _limits_call(config: Path, data_dir: Path, fn: Callable[[LimitBook], object]) -> object:
    from hazardwatch.storage.limits import LimitError

    book = _limit_book(config, data_dir)
    try:
        return fn(book)
    except LimitError as exc:
        raise _fail(f"limits: {exc}") from None
    finally:
        book.close()


def _echo_json(x: object) -> None:
    import json

    typer.echo(json.dumps(x, indent=2, ensure_ascii=False, default=str))


@limits_app.command("show")
def limits_show(
    tag: str,
    config: Annotated[Path, _CONFIG],
    data_dir: Annotated[Path, _LIMITS_DIR] = Path("data"),
) -> None:
    """A sensor's settings: as written, as run (defaults applied) and its version."""
    _echo_json(_limits_call(config, data_dir, lambda b: b.show(tag)))


@limits_app.command("set")
def limits_set(
    tag: str,
    assignments: Annotated[
        list[str], typer.Argument(help="KEY=VALUE: limits.hh=9.5 deadband=0.2 trend.horizon_s=off")
    ],
    config: Annotated[Path, _CONFIG],
    reason: Annotated[str, typer.Option(help="Why the setting changes (journalled)")],
    data_dir: Annotated[Path, _LIMITS_DIR] = Path("data"),
) -> None:
    """Change a sensor's settings, validated as the config loader validates the file."""
    from hazardwatch.storage.limits import parse_assignments

    def change(book: LimitBook) -> object:
        return book.set(tag, parse_assignments(assignments), who=_by(), reason=reason, origin="cli")

    v = _limits_call(config, data_dir, change)
    typer.echo(f"{tag}: version {v.version}: {v.new}")  # type: ignore[attr-defined]


@limits_app.command("history")
def limits_history(
    config: Annotated[Path, _CONFIG],
    tag: Annotated[str | None, typer.Argument(help="One sensor (default: all)")] = None,
    data_dir: Annotated[Path, _LIMITS_DIR] = Path("data"),
) -> None:
    """Versions, newest first: who, when, why, old and new settings."""
    from hazardwatch.shell.replay import iso_utc

    versions = _limits_call(config, data_dir, lambda b: b.history(tag))
    for v in versions:  # type: ignore[attr-defined]
        back = f" (rollback to {v.rollback_of})" if v.rollback_of is not None else ""
        typer.echo(f"{v.version}\t{iso_utc(v.ts)}\t{v.tag}\t{v.who}\t{v.reason}{back}")
        typer.echo(f"\told {v.old}\n\tnew {v.new}")


@limits_app.command("rollback")
def limits_rollback(
    tag: str,
    version: Annotated[int, typer.Argument(help="The version to go back to; 0: the config's")],
    config: Annotated[Path, _CONFIG],
    reason: Annotated[str, typer.Option(help="Why (journalled)")] = "",
    data_dir: Annotated[Path, _LIMITS_DIR] = Path("data"),
) -> None:
    """Give a sensor the settings of an earlier version again (as a new version)."""

    def back(book: LimitBook) -> object:
        return book.rollback(tag, version, who=_by(), reason=reason, origin="cli")

    v = _limits_call(config, data_dir, back)
    typer.echo(f"{tag}: version {v.version}: {v.new}")  # type: ignore[attr-defined]


@limits_app.command("export")
def limits_export(
    config: Annotated[Path, _CONFIG],
    output: Annotated[Path | None, typer.Option(help="Write here (default: stdout)")] = None,
    data_dir: Annotated[Path, _LIMITS_DIR] = Path("data"),
) -> None:
    """The effective config (the YAML with every journalled change) as YAML."""
    text = str(_limits_call(config, data_dir, lambda b: b.export()))
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        typer.echo(f"effective config written to {output}", err=True)


@limits_app.command("suggest")
def limits_suggest(
    tag: str,
    config: Annotated[Path, _CONFIG],
    days: Annotated[float, typer.Option(help="History to learn from, up to now")] = 30.0,
    data_dir: Annotated[Path, typer.Option(help="The service's --data-dir")] = Path("data"),
) -> None:
    """Suggest limits from the sensor's stored history (changes nothing)."""
    import time

    from hazardwatch.shell.suggestion import suggest
    from hazardwatch.storage import BlockStore

    if not (data_dir / "readings").is_dir():
        raise _fail(f"--data-dir {data_dir}: no readings/ (the embedded store) to learn from")
    store = BlockStore(data_dir / "readings", background=False, readonly=True)
    try:
        now = time.time()
        found = _limits_call(config, data_dir, lambda b: suggest(b, store, tag, now - days * 86400))
    finally:
        store.close()
    _echo_json(found)


def _epoch(text: str, flag: str) -> float:
    """Epoch seconds from epoch seconds or ISO 8601 with an offset (Z, +08:00)."""
    from datetime import datetime

    try:
        return float(text)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise _fail(f"{flag} {text!r}: expected epoch seconds or ISO 8601") from None
    if parsed.utcoffset() is None:
        raise _fail(f"{flag} {text!r}: give a UTC offset (Z or +08:00)")
    return parsed.timestamp()


@app.command()
def backtest(
    config: Annotated[Path, _CONFIG],
    candidate: Annotated[
        Path, typer.Option(help="CHANGES.yaml: tag -> change, e.g. T1-LT: {limits: {hh: 9.5}}")
    ],
    from_: Annotated[str, typer.Option("--from", help="Start: epoch seconds or ISO 8601")],
    to: Annotated[str, typer.Option(help="End (inclusive): epoch seconds or ISO 8601")],
    tags: Annotated[str | None, typer.Option(help="These sensors only: TAG,TAG,...")] = None,
    unit: Annotated[str | None, typer.Option(help="Or one unit's sensors")] = None,
    hazard_source: Annotated[str | None, typer.Option(help="Or one hazard source's")] = None,
    data_dir: Annotated[
        Path,
        typer.Option(
            help="The service's --data-dir (its readings/, read beside a running service, "
            "and alarms.db)"
        ),
    ] = Path("data"),
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the report")] = None,
) -> None:
    """Replay the stored history twice, current and candidate settings; compare the alarms."""
    import json

    import yaml
    from rich.progress import Progress

    from alerting import Journal
    from hazardwatch.shell.backtest import BacktestError
    from hazardwatch.shell.backtest import backtest as run_backtest
    from hazardwatch.shell.backtest_incidents import recorded_incidents
    from hazardwatch.storage import BlockStore
    from hazardwatch.storage.limits import LimitError

    since, until = _epoch(from_, "--from"), _epoch(to, "--to")
    if not (data_dir / "readings").is_dir():
        raise _fail(f"--data-dir {data_dir}: no readings/ (the embedded store) to back-test")
    try:
        changes = yaml.safe_load(candidate.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise _fail(f"--candidate {candidate}: {exc}") from None
    _setup_process()
    book = _limit_book(config, data_dir)
    store = BlockStore(data_dir / "readings", background=False, readonly=True)
    try:
        current, cand = book.site(), book.candidate(changes)
        picked = [t.strip() for t in tags.split(",") if t.strip()] if tags else None
        with Journal(data_dir / "alarms.db") as journal:  # the incidents it records
            incidents = recorded_incidents(journal, since, until)
        with Progress(transient=True) as bar:
            task = bar.add_task("back-test (current, then candidate)", total=1.0)
            report = run_backtest(
                current, cand, store, since, until, tags=picked, unit=unit,
                hazard_source=hazard_source, changes=changes, incidents=incidents,
                progress=lambda done: bar.update(task, completed=done),
            )  # fmt: skip
    except (LimitError, BacktestError) as exc:
        raise _fail(f"backtest: {exc}") from None
    finally:
        store.close()
        book.close()
    for line in report.lines():
        typer.echo(line)
    if json_out is not None:
        json_out.write_text(json.dumps(report.to_dict(), indent=1), encoding="utf-8")


def _setup_process() -> None:
    """Process-wide settings of a process that hosts the detector: logging, the allocator."""
    from detectors import keep_large_blocks

    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # Large parks: reuse the detector's temporary arrays instead of re-faulting their pages.
    keep_large_blocks()


def main() -> None:
    try:
        app()
    except HazardWatchError as exc:
        print(f"hazardwatch: {exc}", file=sys.stderr)
        sys.exit(2)

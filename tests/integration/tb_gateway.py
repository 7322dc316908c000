"""The ThingsBoard IoT Gateway (PyPI thingsboard-gateway 3.8.5) as a test subprocess.

It runs in its own venv (`.venv-gateways`, made by `scripts/setup.sh test` from
requirements-gateways.lock): it brings a forked paho and pins what HazardWatch's venv does
not take. Its pitfalls, each set here: the Modbus connector reinstalls pymodbus at run time
unless exactly 3.9.2 is there (the lock pins it, with pyserial); `remoteConfiguration` false
and statistics off, or it waits for ThingsBoard's server; byte and word order explicit; its
update check goes to a dead loopback proxy.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from tests.brokers import free_port

ROOT = Path(__file__).resolve().parents[2]
GATEWAY_PYTHON = ROOT / ".venv-gateways" / "bin" / "python"


def _logs(folder: Path) -> dict[str, Any]:
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
        "handlers": {
            "file": {
                "class": "logging.FileHandler",
                "formatter": "plain",
                "filename": str(folder / "gateway.log"),
            }
        },
        "root": {"level": "INFO", "handlers": ["file"]},
    }


def write_config(folder: Path, broker_port: int, token: str, devices: list[dict[str, Any]]) -> Path:
    """A gateway config folder: the gateway on loopback mosquitto, one Modbus connector."""
    folder.mkdir(parents=True, exist_ok=True)
    main = {
        "thingsboard": {
            "host": "127.0.0.1",
            "port": broker_port,
            "remoteShell": False,
            "remoteConfiguration": False,
            "latencyDebugMode": False,
            "statistics": {"enable": False, "statsSendPeriodInSeconds": 3600},
            "deviceFiltering": {"enable": False},
            "maxPayloadSizeBytes": 8196,
            "minPackSendDelayMS": 50,
            "minPackSizeToSend": 500,
            "checkConnectorsConfigurationInSeconds": 3600,
            "handleDeviceRenaming": False,
            "security": {"type": "accessToken", "accessToken": token},
            "qos": 1,
            "reportStrategy": {"type": "ON_RECEIVED"},
            "checkingDeviceActivity": {"checkDeviceInactivity": False},
        },
        "storage": {"type": "memory", "read_records_count": 100, "max_records_count": 100000},
        "grpc": {"enabled": False},
        "connectors": [{"type": "modbus", "name": "PLC", "configuration": "modbus.json"}],
    }
    (folder / "tb_gateway.json").write_text(json.dumps(main, indent=2))
    (folder / "modbus.json").write_text(json.dumps({"master": {"slaves": devices}}, indent=2))
    (folder / "logs.json").write_text(json.dumps(_logs(folder), indent=2))
    return folder


def start(folder: Path) -> subprocess.Popen[bytes]:
    """The gateway process on `folder`'s config; its output goes to `folder`/stdout.log."""
    dead_proxy = f"http://127.0.0.1:{free_port()}"  # its update check must go nowhere
    env = {
        **os.environ,
        "TB_GW_CONFIG_DIR": str(folder),
        "https_proxy": dead_proxy,
        "http_proxy": dead_proxy,
        "HTTPS_PROXY": dead_proxy,
        "HTTP_PROXY": dead_proxy,
        "no_proxy": "",
        "NO_PROXY": "",
        "PYTHONUNBUFFERED": "1",
    }
    with (folder / "stdout.log").open("ab") as out:
        return subprocess.Popen(
            [str(GATEWAY_PYTHON), "-m", "thingsboard_gateway.tb_gateway"],
            cwd=folder,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

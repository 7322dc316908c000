"""A Modbus TCP PLC of a tank farm (pymodbus server), for gateways that poll PLCs.

Register map (all big-endian: byte order BIG, word order BIG):

- tank k (0-based): holding registers ``10*k`` .. ``10*k+5``: level (m), temperature (degC),
  pressure (kPa), each an IEEE float32 in two registers
- gas detector k: input register ``k``: concentration in 0.1 %LEL (16-bit unsigned)

`ModbusPlc.gateway_devices()` writes the ThingsBoard IoT Gateway's Modbus connector entries
for this map, so a test or a demo need not repeat it.

    python -m simulators.modbus_plc --port 5020 --tanks 2 --detectors 2 --level-rise-m-per-s 0.05
"""

from __future__ import annotations

import argparse
import asyncio
import struct
from types import TracebackType
from typing import Any, Self

from pymodbus.datastore import (
    ModbusSequentialDataBlock,
    ModbusServerContext,
    ModbusSlaveContext,
)
from pymodbus.server import ModbusTcpServer

TANK_STRIDE = 10  # holding registers per tank
_HOLDING, _INPUT = 3, 4  # function codes of the blocks
_QUANTITIES = ("level", "temperature", "pressure")


class ModbusPlc:
    """A PLC with `tanks` tanks and `detectors` gas detectors on a Modbus TCP port.

    ``async with ModbusPlc(port=5020, tanks=2) as plc: plc.set_tank(0, level=3.2)``
    """

    def __init__(
        self, host: str = "127.0.0.1", port: int = 5020, tanks: int = 1, detectors: int = 1
    ) -> None:
        self.host, self.port = host, port
        self.tanks, self.detectors = tanks, detectors
        self._slave = ModbusSlaveContext(
            hr=ModbusSequentialDataBlock(0, [0] * (TANK_STRIDE * max(tanks, 1) + 1)),
            ir=ModbusSequentialDataBlock(0, [0] * (max(detectors, 1) + 1)),
        )
        self._server = ModbusTcpServer(
            ModbusServerContext(slaves=self._slave, single=True), address=(host, port)
        )
        self._task: asyncio.Task[Any] | None = None

    def set_tank(self, k: int, **values: float) -> None:
        """Set any of level (m), temperature (degC), pressure (kPa) of tank `k`."""
        for name, value in values.items():
            address = TANK_STRIDE * k + 2 * _QUANTITIES.index(name)
            self._slave.setValues(_HOLDING, address, list(struct.unpack(">HH", _f32(value))))

    def tank(self, k: int) -> dict[str, float]:
        """What tank `k`'s registers say now."""
        out = {}
        for i, name in enumerate(_QUANTITIES):
            words = self._slave.getValues(_HOLDING, TANK_STRIDE * k + 2 * i, 2)
            out[name] = struct.unpack(">f", struct.pack(">HH", *words))[0]
        return out

    def set_gas(self, k: int, lel_pct: float) -> None:
        """Set gas detector `k` to `lel_pct` %LEL (kept to 0.1 %LEL)."""
        self._slave.setValues(_INPUT, k, [max(0, min(65535, round(lel_pct * 10)))])

    def gateway_devices(self, names: list[str], gas_names: list[str]) -> list[dict[str, Any]]:
        """The ThingsBoard IoT Gateway Modbus connector's `master.slaves` for this PLC: one
        device per tank (`names`) and per gas detector (`gas_names`), polled every second."""
        common = {
            "host": self.host,
            "port": self.port,
            "type": "tcp",
            "method": "socket",
            "unitId": 1,
            "timeout": 5,
            "byteOrder": "BIG",
            "wordOrder": "BIG",
            "retries": 1,
            "pollPeriod": 1000,
            "connectAttemptTimeMs": 500,
            "connectAttemptCount": 5,
            "waitAfterFailedAttemptsMs": 1000,
            "attributes": [],
            "attributeUpdates": [],
            "rpc": [],
        }
        devices = []
        for k, name in enumerate(names):
            series = [
                {
                    "tag": q,
                    "type": "32float",
                    "functionCode": 3,
                    "objectsCount": 2,
                    "address": TANK_STRIDE * k + 2 * i,
                }
                for i, q in enumerate(_QUANTITIES)
            ]
            devices.append(
                {**common, "deviceName": name, "deviceType": "tank", "timeseries": series}
            )
        for k, name in enumerate(gas_names):
            series = [
                {
                    "tag": "lel",
                    "type": "16uint",
                    "functionCode": 4,
                    "objectsCount": 1,
                    "address": k,
                    "divider": 10,
                }
            ]
            devices.append(
                {**common, "deviceName": name, "deviceType": "gas_detector", "timeseries": series}
            )
        return devices

    async def __aenter__(self) -> Self:
        self._task = asyncio.create_task(self._server.serve_forever())
        for _ in range(200):  # listening within 2 s, or the task's error says why not
            if self._server.transport is not None or self._task.done():
                break
            await asyncio.sleep(0.01)
        if self._task.done():
            self._task.result()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._server.shutdown()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


def _f32(value: float) -> bytes:
    return struct.pack(">f", value)


async def _run(args: argparse.Namespace) -> None:
    async with ModbusPlc(args.host, args.port, args.tanks, args.detectors) as plc:
        levels = [args.level_m] * args.tanks
        for k in range(args.tanks):
            plc.set_tank(k, level=levels[k], temperature=20.0, pressure=101.3)
        while True:
            await asyncio.sleep(1.0)
            for k in range(args.tanks):
                levels[k] += args.level_rise_m_per_s
                plc.set_tank(k, level=levels[k])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5020)
    parser.add_argument("--tanks", type=int, default=1)
    parser.add_argument("--detectors", type=int, default=1)
    parser.add_argument("--level-m", type=float, default=2.0)
    parser.add_argument("--level-rise-m-per-s", type=float, default=0.0)
    args = parser.parse_args(argv)
    asyncio.run(_run(args))


if __name__ == "__main__":
    main()

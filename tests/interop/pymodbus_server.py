"""A pymodbus Modbus/TCP server for otscout's interop test (tests/it/interop.rs).

Third-party server code: everything on the wire is pymodbus's own encoding. This script
only configures it (identity objects, which unit ids exist) and logs what arrives.

Usage: python3 pymodbus_server.py HOST PORT [--units 1,2,3] [--silent-missing] [--private N]
  --units          only these unit ids exist (a gateway with serial slaves behind it);
                   others get pymodbus's own "gateway target failed to respond" (0x0B)
                   exception, or no answer with --silent-missing. Default: every unit id
                   answers (pymodbus's default).
Prints one JSON line per event on stdout, then "READY <host> <port>" once listening:
  {"ev": "ready", "version": ...} / {"ev": "connect"} / {"ev": "disconnect"} /
  {"ev": "rx", "hex": ...} / {"ev": "tx", "hex": ...}
"""

import argparse
import asyncio
import json
import sys

import pymodbus
from pymodbus import ModbusDeviceIdentification
from pymodbus.exceptions import NoSuchIdException
from pymodbus.pdu import mei_message
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import SimData, SimDevice, DataType


def emit(**event):
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


def identity(private):
    ident = ModbusDeviceIdentification(
        info_name={
            "VendorName": "PeerLab Automation GmbH",
            "ProductCode": "PLB-MB-0502",
            "MajorMinorRevision": f"v{pymodbus.__version__}-interop",
            "VendorUrl": "http://peerlab.invalid/modbus",
            "ProductName": "PeerLab Modbus Interop Server",
            "ModelName": "PLB-MB-TCP-1",
            "UserApplicationName": "otscout interop",
        }
    )
    # Private objects of 100 bytes each: more than one reply holds, so the extended read
    # code pages with "more follows".
    for i in range(private):
        ident[0x80 + i] = (f"private object {0x80 + i:#04x} " * 8)[:100]
    return ident


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("--units", default="")
    ap.add_argument("--silent-missing", action="store_true")
    ap.add_argument("--private", type=int, default=0)
    args = ap.parse_args()
    units = [int(u) for u in args.units.split(",") if u]

    regs = SimData(address=0, count=16, values=0, datatype=DataType.REGISTERS)
    if units:
        devices = [SimDevice(id=u, simdata=[regs]) for u in units]
        original = mei_message.ReadDeviceInformationRequest.datastore_update

        async def gateway_update(self, context, device_id):
            # A gateway answers only for the slaves it has; pymodbus turns
            # NoSuchIdException into its gateway exception (or silence).
            if device_id not in units:
                raise NoSuchIdException(f"no unit {device_id}")
            return await original(self, context, device_id)

        mei_message.ReadDeviceInformationRequest.datastore_update = gateway_update
    else:
        devices = SimDevice(id=0, simdata=[regs])

    server = ModbusTcpServer(
        devices,
        address=(args.host, args.port),
        identity=identity(args.private),
        ignore_missing_devices=args.silent_missing,
        trace_packet=lambda sending, data: (
            emit(ev="tx" if sending else "rx", hex=data.hex()),
            data,
        )[1],
        trace_connect=lambda up: emit(ev="connect" if up else "disconnect"),
    )
    await server.serve_forever(background=True)
    emit(ev="ready", version=pymodbus.__version__)
    sys.stdout.write(f"READY {args.host} {args.port}\n")
    sys.stdout.flush()
    await server.serving


if __name__ == "__main__":
    asyncio.run(main())

"""A bacpypes3 BACnet/IP device for otscout's interop tests (tests/it/bacnet_interop.rs).

Usage: python3 bacpypes3_device.py ADDRESS/MASK:PORT INSTANCE
Prints `ready` once the application is bound, then serves until killed. The identity
properties are set to the values the test expects; everything else is bacpypes3's own.
"""

import asyncio
import sys

from bacpypes3.argparse import SimpleArgumentParser
from bacpypes3.app import Application


async def main() -> None:
    address, instance = sys.argv[1], sys.argv[2]
    args = SimpleArgumentParser().parse_args(
        [
            "--address", address,
            "--instance", instance,
            "--name", "bp3-ahu",
            "--vendoridentifier", "999",
        ]
    )
    app = Application.from_args(args)
    d = app.device_object
    d.modelName = "BP3-AHU"
    d.firmwareRevision = "0.0.110"
    d.applicationSoftwareVersion = "interop 1"
    d.description = "bacpypes3 interop device"
    d.location = "loopback"
    print("ready", flush=True)
    await asyncio.Future()


if __name__ == "__main__":
    asyncio.run(main())

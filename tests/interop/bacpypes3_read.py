"""A bacpypes3 BACnet/IP client for otscout's interop tests: reads the identity properties
of one device and prints them as JSON (one line).

Usage: python3 bacpypes3_read.py LOCAL_ADDRESS/MASK:PORT DEVICE_IP:PORT INSTANCE
"""

import asyncio
import json
import sys

from bacpypes3.argparse import SimpleArgumentParser
from bacpypes3.app import Application
from bacpypes3.pdu import Address
from bacpypes3.primitivedata import ObjectIdentifier

PROPS = [
    "object-identifier", "object-name", "vendor-name", "vendor-identifier", "model-name",
    "firmware-revision", "application-software-version", "description", "location",
]


async def main() -> None:
    local, device, instance = sys.argv[1], sys.argv[2], int(sys.argv[3])
    args = SimpleArgumentParser().parse_args(
        ["--address", local, "--instance", "4000", "--name", "bp3-client"]
    )
    app = Application.from_args(args)
    out = {}
    for p in PROPS:
        try:
            v = await asyncio.wait_for(
                app.read_property(Address(device), ObjectIdentifier(("device", instance)), p),
                timeout=3,
            )
            out[p] = str(v) if not isinstance(v, int) else v
        except Exception as e:  # an Error/Reject/timeout is data for the test
            out[p] = "error: " + type(e).__name__ + ": " + str(e)
    print(json.dumps(out), flush=True)
    app.close()


if __name__ == "__main__":
    asyncio.run(main())

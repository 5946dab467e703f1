"""An asyncua (pinned in .ci/run) OPC UA server on a loopback address, for otscout's
interop tests: SecurityPolicy None only (no certificate), anonymous and user name tokens,
and a BuildInfo otscout's opt-in session reads.

    python3 asyncua_server.py --host 127.41.0.9 --port 48410

Prints "ready <url>" once it serves, and stops when its standard input closes.
"""

import argparse
import asyncio
import sys

from asyncua import Server, ua


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", required=True)
    ap.add_argument("--port", type=int, required=True)
    a = ap.parse_args()
    if not a.host.startswith("127."):
        sys.exit("asyncua_server.py: loopback addresses only")
    url = f"opc.tcp://{a.host}:{a.port}/"
    s = Server()
    await s.init()
    s.set_endpoint(url)
    s.set_server_name("PeerLab asyncua Test Server")
    s.set_security_policy([ua.SecurityPolicyType.NoSecurity])
    await s.set_application_uri("urn:peerlab:asyncua:test")
    s.product_uri = "http://peerlab.invalid/asyncua"
    await s.set_build_info(
        "http://peerlab.invalid/asyncua",
        "PeerLab Automation GmbH",
        "PLB-UA-PY",
        "2.1.0-lab",
        "42",
        ua.DateTime(2026, 1, 1),
    )
    async with s:
        print(f"ready {url}", flush=True)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, sys.stdin.read)


if __name__ == "__main__":
    asyncio.run(main())

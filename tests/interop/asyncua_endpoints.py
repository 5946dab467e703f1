"""Reads a server's endpoints with asyncua's client (GetEndpoints over SecurityPolicy
None) and prints them as one JSON list, for otscout's differential test: the simulator's
OPC UA model must read as the asyncua server does.

    python3 asyncua_endpoints.py opc.tcp://127.41.0.9:48410/
"""

import asyncio
import json
import sys

from asyncua import Client


async def main() -> None:
    url = sys.argv[1]
    if not url.startswith("opc.tcp://127."):
        sys.exit("asyncua_endpoints.py: loopback addresses only")
    c = Client(url, timeout=5)
    eps = await c.connect_and_get_server_endpoints()
    out = []
    for e in eps:
        out.append(
            {
                "endpoint_url": e.EndpointUrl,
                "application_uri": e.Server.ApplicationUri,
                "product_uri": e.Server.ProductUri,
                "application_name": e.Server.ApplicationName.Text,
                "application_type": int(e.Server.ApplicationType),
                "security_mode": int(e.SecurityMode),
                "security_policy": e.SecurityPolicyUri,
                "tokens": [int(t.TokenType) for t in e.UserIdentityTokens],
                "certificate_len": len(e.ServerCertificate or b""),
                "transport": e.TransportProfileUri,
            }
        )
    print(json.dumps(out))


if __name__ == "__main__":
    asyncio.run(main())

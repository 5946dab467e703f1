"""python-snap7's S7 server for otscout's interop test (tests/it/interop.rs).

Third-party server code: python-snap7 3.x's server is its own pure-Python S7 emulator;
2.x wraps the native Snap7 library's server (the one behind the s7ident.pcap capture).
This script only starts it on the address asked and logs its events to stderr.

Usage: python3 snap7_server.py HOST PORT [SECONDS]
Prints "READY <python-snap7 version>" on stdout once listening; stops after SECONDS
(default 60) or when killed.
"""

import importlib.metadata
import logging
import sys
import time

logging.basicConfig(level=logging.DEBUG, stream=sys.stderr, format="%(name)s %(message)s")

from snap7.server import Server  # noqa: E402


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 60.0
    server = Server()
    server.start_to(host, port)
    version = importlib.metadata.version("python-snap7")
    sys.stdout.write(f"READY {version}\n")
    sys.stdout.flush()
    time.sleep(seconds)
    server.stop()


if __name__ == "__main__":
    main()

"""The s7commplus package's S7-1200/1500 emulator for otscout's interop test
(tests/it/interop.rs).

Third-party server code: s7commplus's `S7CommPlusServer` speaks COTP and S7comm-plus only
(protocol id 0x72) and closes on classic S7comm (0x32). This script only starts it on the
address asked and logs to stderr.

Usage: python3 s7commplus_server.py HOST PORT [SECONDS]
Prints "READY <s7commplus version>" on stdout once listening; stops after SECONDS
(default 60) or when killed.
"""

import importlib.metadata
import logging
import sys
import time

logging.basicConfig(level=logging.DEBUG, stream=sys.stderr, format="%(name)s %(message)s")

from s7commplus.server import S7CommPlusServer  # noqa: E402


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 60.0
    server = S7CommPlusServer()
    server.start(host=host, port=port)
    sys.stdout.write(f"READY {importlib.metadata.version('s7commplus')}\n")
    sys.stdout.flush()
    time.sleep(seconds)
    server.stop()


if __name__ == "__main__":
    main()

"""Run moto as a local AWS endpoint on 127.0.0.1, with the project's fixes applied."""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from moto.server import ThreadedMotoServer

from registry_workflow.local import moto_fixes

HOST = "127.0.0.1"
#: moto accepts any credentials; these keep boto3 and the aws CLI from looking for real ones
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
}


class LocalAws:
    """A moto server in this process (so the fixes and event hooks apply to it)."""

    def __init__(self, port: int = 5000) -> None:
        moto_fixes.apply()
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request drowns the twin's log
        self.port = port
        self._server = ThreadedMotoServer(ip_address=HOST, port=port, verbose=False)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> LocalAws:
        self._server.start()
        self.port = self._server.get_host_and_port()[1]  # the real one when asked for port 0
        return self

    def stop(self) -> None:
        self._server.stop()

    def environment(self) -> dict[str, str]:
        """What a client needs to talk to this server instead of AWS."""
        return {**FAKE_CREDENTIALS, "AWS_ENDPOINT_URL": self.url}


@contextmanager
def running(port: int = 0) -> Iterator[LocalAws]:
    server = LocalAws(port).start()
    try:
        yield server
    finally:
        server.stop()


def serve_until_stopped(stop: Callable[[], None]) -> None:
    """Block until Ctrl-C or SIGTERM, then call `stop` (servers here run on daemon threads)."""
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    try:
        stopped.wait()
    except KeyboardInterrupt:
        pass
    finally:
        stop()


def main() -> None:
    """`python -m registry_workflow.local.server --port N`: plain moto + fixes, no event bus."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--port", type=int, default=5000)
    args = parser.parse_args()
    server = LocalAws(args.port).start()
    print(f"ready: local AWS on {server.url}", flush=True)
    serve_until_stopped(server.stop)


if __name__ == "__main__":
    main()

"""Run moto as a local AWS endpoint on 127.0.0.1, with the project's fixes applied."""

from __future__ import annotations

import os
from collections.abc import Iterator
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
        self.port = port
        self._server = ThreadedMotoServer(ip_address=HOST, port=port, verbose=False)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> LocalAws:
        self._server.start()
        if self.port == 0:  # an ephemeral port: ask the server which one it got
            self.port = self._server._server.server_port  # type: ignore[union-attr]
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

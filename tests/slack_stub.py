"""A local HTTP server standing in for a Slack incoming webhook (127.0.0.1, ephemeral port).

Answers come from a script, one per request, then `default`: a status code (with optional
headers, e.g. 429 + Retry-After) or `HANG` (accept, never answer: the client times out).
Every request body that arrives is recorded, parsed as JSON. Requests to `/api/<method>` stand
in for Slack's Web API (`views.open`, `chat.update`: point a `WebClient` at `api_url`): answered
`{"ok": true}` (or the scripted status), recorded with their method and Authorization header.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

HANG = "hang"


@dataclass
class Reply:
    status: int | str = 200
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class SlackStub:
    url: str
    script: list[Reply] = field(default_factory=list)
    default: Reply = field(default_factory=Reply)
    requests: list[dict[str, Any]] = field(default_factory=list)
    attempts: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _release: threading.Event = field(default_factory=threading.Event)

    def answer(self, *replies: Reply | int | str) -> None:
        """Queue the next answers (ints are statuses, HANG hangs)."""
        self.script.extend(r if isinstance(r, Reply) else Reply(r) for r in replies)

    @property
    def api_url(self) -> str:
        """Base URL of the Web API stand-in, for slack_sdk's `WebClient(base_url=...)`."""
        return self.url.split("/services/", 1)[0] + "/api/"

    def api_calls(self, method: str) -> list[dict[str, Any]]:
        """Bodies of the Web API calls of `method` (e.g. "chat.update") that were answered 200."""
        return [r["body"] for r in self.requests if r.get("method") == method and r["status"] == 200]

    @property
    def messages(self) -> list[dict[str, Any]]:
        """Bodies that Slack accepted (answered 200)."""
        return [r["body"] for r in self.requests if r["status"] == 200]

    def _next(self) -> Reply:
        with self._lock:
            self.attempts += 1
            return self.script.pop(0) if self.script else self.default


def _handler(stub: SlackStub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            raw = self.rfile.read(length)
            reply = stub._next()
            if reply.status == HANG:
                stub._release.wait(10)
                return
            status = int(reply.status)
            record: dict[str, Any] = {"status": status, "body": json.loads(raw), "path": self.path}
            api = self.path.startswith("/api/")
            if api:
                record |= {"method": self.path.removeprefix("/api/"), "auth": self.headers.get("Authorization")}
            with stub._lock:
                stub.requests.append(record)
            if api:
                body = json.dumps({"ok": status == 200} | ({} if status == 200 else {"error": "stubbed"})).encode()
            else:
                body = b"ok" if status == 200 else b"error"
            self.send_response(status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # quiet test output
            return

    return Handler


@pytest.fixture
def slack_stub() -> Iterator[SlackStub]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(SlackStub(url="")))
    stub = SlackStub(url=f"http://127.0.0.1:{server.server_address[1]}/services/T000/B000/secret-token")
    server.RequestHandlerClass = _handler(stub)
    server.daemon_threads = True
    # shutdown() waits for the loop's next poll: 0.5 s by default, at the end of every test that uses the stub
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield stub
    finally:
        stub._release.set()
        server.shutdown()
        server.server_close()

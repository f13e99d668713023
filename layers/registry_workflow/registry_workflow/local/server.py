"""Run moto as a local AWS endpoint on 127.0.0.1, with the project's fixes applied."""

from __future__ import annotations

import logging
import os
import select
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from moto.server import ThreadedMotoServer
from werkzeug.serving import make_server

from registry_workflow.errors import RegistryWorkflowError
from registry_workflow.local import DEFAULT_PORT, moto_fixes

HOST = "127.0.0.1"
#: moto accepts any credentials; these keep boto3 and the aws CLI from looking for real ones
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}
#: how long stopping may take after the first Ctrl-C / SIGTERM before the process exits regardless
STOP_GRACE_SECONDS = 10.0
#: how often a serving loop looks for a stop request: `shutdown()` waits up to this long (0.5 s by
#: default in socketserver and werkzeug, paid by every twin stop and every test's stand-in server)
SHUTDOWN_POLL_SECONDS = 0.05


class PortInUseError(RegistryWorkflowError):
    """The port the twin was asked for is taken: said at once, instead of a server thread's traceback."""

    def __init__(self, port: int) -> None:
        self.port = port
        super().__init__(
            f"port {port} on {HOST} is already in use (another twin, or another program): "
            "stop it, or choose another port with --port (0 picks a free one)"
        )


def ensure_port_free(port: int) -> None:
    """Raise `PortInUseError` unless `port` can be bound on 127.0.0.1 now (port 0 always can)."""
    if port == 0:
        return
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds: TIME_WAIT is not "taken"
        try:
            probe.bind((HOST, port))
        except OSError as exc:
            raise PortInUseError(port) from exc


#: `route(method, headers, body) -> (status, headers, body)`: a path the twin serves on moto's port
Route = Callable[[str, dict[str, str], bytes], tuple[int, dict[str, str], bytes]]
#: the largest request body a route accepts (a Lambda function URL's request payload limit)
MAX_ROUTE_BODY = 6 * 1024 * 1024


class LocalAws:
    """A moto server in this process (so the fixes and event hooks apply to it).

    `routes` maps a path to the twin's own handler of it (a function URL), served on the same port.
    """

    def __init__(self, port: int = DEFAULT_PORT, routes: dict[str, Route] | None = None) -> None:
        moto_fixes.apply()
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request drowns the twin's log
        self.port = port
        self.routes: dict[str, Route] = routes if routes is not None else {}
        self._server = _RoutedMotoServer(self.routes, ip_address=HOST, port=port, verbose=False)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> LocalAws:
        ensure_port_free(self.port)
        self._server.start()
        self.port = self._server.get_host_and_port()[1]  # the real one when asked for port 0
        return self

    def stop(self) -> None:
        self._server.stop()

    def environment(self) -> dict[str, str]:
        """What a client needs to talk to this server instead of AWS (the region is the client's choice)."""
        return {**FAKE_CREDENTIALS, "AWS_ENDPOINT_URL": self.url}


class _Dispatcher(DomainDispatcherApplication):
    """moto's dispatcher, remembering each host's backend.

    moto finds the backend of a request's host by listing its own package directory (a few
    hundred `stat` calls) and then trying every service's URL patterns, on every request and under
    the one lock all requests take. The answer depends only on the host, and a twin sees a handful
    of hosts (one per service and region), so it is worked out once per host.
    """

    def __init__(self, create_app: Callable[..., Any]) -> None:
        super().__init__(create_app)
        self._backend_of: dict[str | None, Any] = {}

    def get_backend_for_host(self, host: str | None) -> Any:
        if host not in self._backend_of:  # called under moto's lock (get_application)
            self._backend_of[host] = super().get_backend_for_host(host)
        return self._backend_of[host]


class _RoutedMotoServer(ThreadedMotoServer):
    """moto's threaded server, with the twin's own paths (`routes`) answered before moto sees them."""

    def __init__(self, routes: dict[str, Route], **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.routes = routes

    def _server_entry(self) -> None:  # moto's own, with its app wrapped
        moto = _Dispatcher(create_backend_app)
        routes = self.routes

        def app(environ: dict, start_response: Callable) -> list[bytes]:
            route = routes.get(environ.get("PATH_INFO", ""))
            if route is None:
                return moto(environ, start_response)
            length = int(environ.get("CONTENT_LENGTH") or 0)
            if length > MAX_ROUTE_BODY:
                status, headers, body = 413, {"Content-Type": "text/plain"}, b"Request Entity Too Large"
            else:
                raw = environ["wsgi.input"].read(length) if length else b""
                names = {k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")}
                if environ.get("CONTENT_TYPE"):
                    names["content-type"] = environ["CONTENT_TYPE"]
                status, headers, body = route(environ.get("REQUEST_METHOD", "GET"), names, raw)
            start_response(f"{status} {_REASONS.get(status, 'Status')}", list(headers.items()))
            return [body]

        self._server = make_server(self._ip_address, self._port, app, True, request_handler=MotoRequestHandler)
        self._server_ready_event.set()
        self._server.serve_forever(poll_interval=SHUTDOWN_POLL_SECONDS)


_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
            413: "Request Entity Too Large", 500: "Internal Server Error", 502: "Bad Gateway"}  # fmt: skip


@contextmanager
def running(port: int = 0) -> Iterator[LocalAws]:
    server = LocalAws(port).start()
    try:
        yield server
    finally:
        server.stop()


def serve_until_stopped(
    stop: Callable[[], None], start: Callable[[], None] | None = None, grace_seconds: float = STOP_GRACE_SECONDS
) -> None:
    """Run `start`, serve until the first Ctrl-C or SIGTERM, then `stop` — and always end the process.

    Both signals are handled from before `start` (one that arrives while starting stops too). The
    first signal is the only one needed: later ones are ignored while `stop` runs, and if stopping
    (or the interpreter's exit, which joins worker threads) takes longer than `grace_seconds`, the
    process exits anyway. Call from the main thread.
    """

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop_signal, interrupt)
    try:
        if start is not None:
            start()
        _wait_for_a_signal()
    except KeyboardInterrupt:
        pass
    finally:
        for stop_signal in (signal.SIGINT, signal.SIGTERM):
            signal.signal(stop_signal, signal.SIG_IGN)
        _exit_after(grace_seconds)
        stop()


def _wait_for_a_signal() -> None:
    """Block until a signal arrives, whichever thread the kernel hands it to.

    A process-directed signal goes to any thread that does not block it. Python runs the handler
    in the main thread, but only once that thread runs again: a main thread asleep in `sleep()` or
    `Event.wait()` is woken only if the signal landed on it, so with worker threads busy a SIGTERM
    could wait for a second one. The wakeup fd is written whatever thread caught the signal.
    """
    reader, writer = socket.socketpair()
    writer.setblocking(False)
    previous = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    try:
        while True:
            select.select([reader], [], [])  # the handler raises KeyboardInterrupt once this returns
            reader.recv(64)
    finally:
        signal.set_wakeup_fd(previous)
        reader.close()
        writer.close()


def _exit_after(seconds: float) -> None:
    """A daemon timer that ends the process if it is still alive after `seconds`."""

    def force() -> None:
        print(f"stop took longer than {seconds:g} s: exiting now", file=sys.stderr, flush=True)
        os._exit(1)

    timer = threading.Timer(seconds, force)
    timer.daemon = True
    timer.start()


def main() -> None:
    """`python -m registry_workflow.local.server --port N`: plain moto + fixes, no event bus."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    args = parser.parse_args()
    server = LocalAws(args.port).start()
    print(f"ready: local AWS on {server.url}", flush=True)
    serve_until_stopped(server.stop)


if __name__ == "__main__":
    main()

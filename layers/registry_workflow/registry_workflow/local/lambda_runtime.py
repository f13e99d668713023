"""Lambda execution environments for the offline twin: one process per concurrent invocation, kept warm.

Lambda runs a function in as many execution environments as it has concurrent invocations, each
a process with the function's own environment variables, that imports the handler once (the
init phase) and then handles one invocation at a time until it is reclaimed. The twin does the
same: an `ExecutionEnvironment` is a child process that sets the function's environment, imports
its `app.py`, and answers invocations over a pipe; the handler reaches AWS (the twin's moto
server) over HTTP through `AWS_ENDPOINT_URL`, as it would reach AWS.

Processes are forked from a forkserver that has already imported the heavy third-party libraries
(boto3, Powertools): a new environment starts in a fraction of a second instead of a
full interpreter start. The project's own modules are imported only in the environment, after
its variables are set, so nothing read from the environment at import time leaks between
functions. This module is what each environment imports first: keep it free of moto and heavy
imports.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import signal
import threading
import time
import uuid
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from registry_workflow.local.template import ACCOUNT, DEFAULT_REGION, load_handler_module

#: Lambda's init phase may take 10 s; a loaded 2-core laptop starting ten environments needs more
INIT_TIMEOUT_SECONDS = 60.0
#: third-party libraries the forkserver imports once, so environments start warm (never the
#: workflow's own modules: those are imported inside each environment, after its variables are
#: set; the twin's `preload` reads none)
PRELOAD = [
    "registry_workflow.local.preload",  # first: hides what Lambda lacks, then reads botocore's models
    "boto3",
    "botocore.session",
    "botocore.config",
    "yaml",
    "aws_lambda_powertools.logging",
    "aws_lambda_powertools.metrics",
    "aws_lambda_powertools.utilities.idempotency",
    "aws_lambda_powertools.utilities.typing",
    "registry_workflow.local.lambda_runtime",
]
#: inherited variables an environment drops before it sets its function's own (like Lambda,
#: a function sees its configuration, not the operator's shell)
_FOREIGN_PREFIXES = ("AWS_", "POWERTOOLS_", "REGISTRY_", "LEDGER_", "IDEMPOTENCY_", "NOTIFICATION_", "SLACK_")


@dataclass(frozen=True)
class FunctionRuntime:
    """What an execution environment needs to run one function."""

    name: str
    module_path: Path
    handler: str
    environment: dict[str, str]
    function_arn: str
    timeout_seconds: float
    memory_mb: int = 256


@dataclass(frozen=True)
class Invocation:
    """What one invocation returned: the handler's JSON result, or the error Lambda would report."""

    ok: bool
    result: Any = None
    error: str | None = None
    pid: int | None = None


class LambdaContext:
    """What Powertools reads from a Lambda context; the remaining time counts down from the timeout."""

    def __init__(
        self,
        function_name: str,
        function_arn: str | None = None,
        *,
        timeout_seconds: float = 60.0,
        memory_mb: int = 256,
        request_id: str | None = None,
    ) -> None:
        self.function_name = function_name
        self.memory_limit_in_mb = memory_mb
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION
        self.invoked_function_arn = function_arn or function_arn_of(function_name, region)
        self.aws_request_id = request_id or str(uuid.uuid4())
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def function_arn_of(function_name: str, region: str) -> str:
    return f"arn:aws:lambda:{region}:{ACCOUNT}:function:{function_name}"


class ExecutionEnvironment:
    """One warm execution environment of one function: a child process, one invocation at a time."""

    def __init__(self, function: FunctionRuntime) -> None:
        self.function = function
        context = _multiprocessing_context()
        self._conn, child_end = context.Pipe()
        # the child's end of a pipe no one writes to: EOF there means this process is gone
        lifeline, self._lifeline = context.Pipe(duplex=False)
        self.process = context.Process(
            target=_serve, args=(child_end, lifeline, function), name=f"lambda-{function.name}", daemon=True
        )
        self.process.start()
        child_end.close()
        lifeline.close()
        self._ready = False
        self._stopped = False
        self._stop_lock = threading.Lock()

    @property
    def pid(self) -> int | None:
        return self.process.pid

    @property
    def alive(self) -> bool:
        return self.process.is_alive()

    def invoke(self, event: dict[str, Any]) -> Invocation:
        """Run the handler on `event`; a timeout or a dead process kills this environment."""
        try:
            if not self._ready:
                if not self._conn.poll(INIT_TIMEOUT_SECONDS):
                    return self._lost(f"Runtime.InitTimeout: init took longer than {INIT_TIMEOUT_SECONDS:.0f} s")
                self._conn.recv()  # the init phase is over
                self._ready = True
            self._conn.send((json.dumps(event), str(uuid.uuid4())))
            if not self._conn.poll(self.function.timeout_seconds):
                return self._lost(f"Sandbox.Timedout: Task timed out after {self.function.timeout_seconds:.2f} seconds")
            ok, payload, error = self._conn.recv()
        except (EOFError, OSError):
            return self._lost(f"Runtime.ExitError: the runtime exited (exit code {self.process.exitcode})")
        return Invocation(ok, json.loads(payload) if ok else None, error, self.pid)

    def stop(self) -> None:
        """Reclaim the environment (what Lambda does to an idle one, or after a timeout).

        Safe to call twice and from two threads at once: the twin stopping reclaims every
        environment while an invocation thread may be reclaiming the one it timed out on.
        """
        with self._stop_lock:
            if self._stopped:
                return
            self._stopped = True
            if self.process.is_alive():
                self.process.terminate()
                self.process.join(2)
                if self.process.is_alive():
                    self.process.kill()
                    self.process.join(2)
            self._conn.close()
            self._lifeline.close()

    def _lost(self, error: str) -> Invocation:
        pid = self.pid
        self.stop()
        return Invocation(False, None, error, pid)


def _multiprocessing_context() -> Any:
    """forkserver where there is one (Linux, macOS): forked from a warm server; spawn elsewhere."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(PRELOAD)  # takes effect when the server starts (once per process)
        return context
    return multiprocessing.get_context("spawn")


# --- inside the execution environment -------------------------------------------------------------


def _serve(conn: Connection, lifeline: Connection, function: FunctionRuntime) -> None:
    """The environment's main loop: init once, then answer invocations until the pipe closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group: the twin decides
    _exit_with_owner(lifeline)
    for key in [k for k in os.environ if k.startswith(_FOREIGN_PREFIXES)]:
        del os.environ[key]
    os.environ.update(function.environment)
    handler, init_error = None, None
    try:
        handler = getattr(load_handler_module(function.module_path), function.handler)
    except Exception as exc:  # noqa: BLE001 - reported on every invocation, as Lambda does
        init_error = f"Runtime.ImportModuleError: {type(exc).__name__}: {exc}"
    conn.send("ready")
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return
        raw_event, request_id = request
        if handler is None:
            conn.send((False, None, init_error))
            continue
        context = LambdaContext(
            function.name,
            function.function_arn,
            timeout_seconds=function.timeout_seconds,
            memory_mb=function.memory_mb,
            request_id=request_id,
        )
        try:
            payload = json.dumps(handler(json.loads(raw_event), context))
        except Exception as exc:  # noqa: BLE001 - a handler error is the invocation's outcome
            conn.send((False, None, f"{type(exc).__name__}: {exc}"))
        else:
            conn.send((True, payload, None))


def _exit_with_owner(lifeline: Connection) -> None:
    """Exit, even mid-invocation, as soon as the twin reclaims us or dies (even by SIGKILL).

    The twin holds the other end of `lifeline` and never writes to it: EOF means it closed it or
    exited. (The process's parent is the forkserver, which outlives the twin while we run.)
    """

    def watch() -> None:
        with contextlib.suppress(EOFError, OSError):
            lifeline.recv()
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-owner", daemon=True).start()

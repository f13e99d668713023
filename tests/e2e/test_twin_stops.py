"""`registry-workflow local` stops on the first SIGTERM or Ctrl-C, always, and takes its workers with it."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from twin_process import start_twin
from workflow_steps import create_bucket, register, stamped, wait_for

pytestmark = pytest.mark.e2e

SIGNALS = [pytest.param(signal.SIGTERM, id="SIGTERM"), pytest.param(signal.SIGINT, id="SIGINT")]


@pytest.mark.parametrize("stop_signal", SIGNALS)
def test_one_signal_stops_a_twin_with_warm_environments(tmp_path: Path, stop_signal: int) -> None:
    twin = start_twin(tmp_path)
    assert twin.cli("provision").returncode == 0
    create_bucket(twin)
    arn = register(twin, 1, auc=0.91)
    assert wait_for(lambda: stamped(twin, arn) == "passed")
    twin.idle()
    environments = [pid for pids in twin.log()["environments"].values() for pid in pids]
    assert environments  # the validator and notifier ran in their own processes, still warm

    output = twin.stop(stop_signal)  # one signal; wait() raises if the twin is still running after 20 s

    assert twin.process.returncode == 0
    assert output.rstrip().endswith("stopped")
    assert wait_for(lambda: not twin.survivors(), timeout=10)


@pytest.mark.parametrize("stop_signal", SIGNALS)
def test_one_signal_stops_a_twin_in_the_middle_of_invocations(tmp_path: Path, stop_signal: int) -> None:
    twin = start_twin(tmp_path)
    assert twin.cli("provision").returncode == 0
    create_bucket(twin)
    register(twin, 1, auc=0.91)  # the validator's and notifier's environments are starting now

    output = twin.stop(stop_signal)

    assert twin.process.returncode == 0
    assert "stopped" in output
    assert wait_for(lambda: not twin.survivors(), timeout=10)


def test_a_taken_port_is_said_at_once_with_exit_2(tmp_path: Path) -> None:
    import socket
    import subprocess
    import sys
    import time

    from conftest import REPO

    # GIVEN something already listening on the port asked for
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        # WHEN the twin is started on it
        started = time.monotonic()
        done = subprocess.run(
            [str(Path(sys.executable).parent / "registry-workflow"), "local", "--port", str(port)],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
        )

    # THEN it stops at once (before starting anything) with exit 2, naming the port and --port
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"port {port} on 127.0.0.1 is already in use" in done.stderr
    assert "--port" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert time.monotonic() - started < 30  # a functional bound, not a benchmark: it used to hang


def test_the_default_port_is_not_one_laptops_hold() -> None:
    from registry_workflow.local import DEFAULT_PORT

    assert DEFAULT_PORT not in {5000, 7000, 4566}  # macOS AirPlay Receiver; LocalStack

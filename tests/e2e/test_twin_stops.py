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

"""The twin runs functions as Lambda does: concurrently up to their concurrency, each with its own environment.

A small template of its own wires three functions to model-package events of three groups. The
handlers meet at a barrier of marker files: they can only all pass it if the twin ran them at
the same time, so the assertions are about outcomes, never about timing.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from conftest import REPO
from registry_workflow.local.twin import Twin

SPEC = {
    "Containers": [{"Image": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/model:1"}],
    "SupportedContentTypes": ["application/json"],
    "SupportedResponseMIMETypes": ["application/json"],
}

HANDLER = """
import importlib.util
import os
import time
from pathlib import Path

MARKERS = Path(os.environ["MARKERS"])
IMPORTED_WITH = os.environ.get("WHO")  # read at import: the init phase sees the function's own env


def handler(event, context):
    time.sleep(float(os.environ.get("SLEEP", "0")))
    mine = MARKERS / context.aws_request_id
    mine.touch()
    try:
        peers = len(list(MARKERS.iterdir()))
        deadline = time.monotonic() + 20
        while peers < int(os.environ["EXPECT"]) and time.monotonic() < deadline:
            time.sleep(0.02)
            peers = max(peers, len(list(MARKERS.iterdir())))
        if os.environ.get("FAIL_ONCE") and not (MARKERS.parent / "failed").exists():
            (MARKERS.parent / "failed").touch()
            raise RuntimeError("first attempt fails")
        return {
            "peers": peers,
            "pid": os.getpid(),
            "who": os.environ["WHO"],
            "imported_with": IMPORTED_WITH,
            "sees_other": "ONLY_B" in os.environ if os.environ["WHO"] == "a" else "ONLY_A" in os.environ,
            "region": os.environ["AWS_REGION"],
            "arn": context.invoked_function_arn,
            # what the Lambda runtime lacks is absent here too (the dev venv has both)
            "missing": [m for m in ("aws_xray_sdk", "awscrt") if importlib.util.find_spec(m) is None],
        }
    finally:
        if os.environ.get("KEEP") != "1":
            mine.unlink()
"""

TEMPLATE = """
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Timeout: 30
Resources:
  AFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: code/
      Handler: app.handler
      Environment:
        Variables: {{WHO: a, ONLY_A: "1", MARKERS: "{markers}/a", EXPECT: "3", KEEP: "1"}}
      Events:
        Versions:
          Type: EventBridgeRule
          Properties:
            Pattern: {{source: [aws.sagemaker], detail: {{ModelPackageGroupName: [group-a]}}}}
  BFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: code/
      Handler: app.handler
      ReservedConcurrentExecutions: 1
      Environment:
        Variables: {{WHO: b, ONLY_B: "1", MARKERS: "{markers}/b", EXPECT: "1"}}
      Events:
        Versions:
          Type: EventBridgeRule
          Properties:
            Pattern: {{source: [aws.sagemaker], detail: {{ModelPackageGroupName: [group-b]}}}}
  RetriedFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: code/
      Handler: app.handler
      Environment:
        Variables: {{WHO: c, MARKERS: "{markers}/c", EXPECT: "1", FAIL_ONCE: "1"}}
      Events:
        Versions:
          Type: EventBridgeRule
          Properties:
            Pattern: {{source: [aws.sagemaker], detail: {{ModelPackageGroupName: [group-c]}}}}
  SlowFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: code/
      Handler: app.handler
      Timeout: 1
      Environment:
        Variables: {{WHO: d, MARKERS: "{markers}/d", EXPECT: "1", SLEEP: "30"}}
      Events:
        Versions:
          Type: EventBridgeRule
          Properties:
            Pattern: {{source: [aws.sagemaker], detail: {{ModelPackageGroupName: [group-d]}}}}
"""


@pytest.fixture
def twin(tmp_path: Path) -> Iterator[Twin]:
    markers = tmp_path / "markers"
    for name in ("a", "b", "c", "d"):
        (markers / name).mkdir(parents=True)
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "app.py").write_text(textwrap.dedent(HANDLER))
    template = tmp_path / "template.yaml"
    template.write_text(TEMPLATE.format(markers=markers))
    with Twin(
        port=0,
        template_path=template,
        config_dir=REPO / "config",
        region="eu-west-1",
        concurrency=3,
        retry_delays=(0.1, 0.1),
    ) as running:
        yield running


def register(twin: Twin, group: str, count: int) -> None:
    sagemaker = boto3.session.Session().client("sagemaker", endpoint_url=twin.url, region_name="eu-west-1")
    sagemaker.create_model_package_group(ModelPackageGroupName=group)
    for _ in range(count):
        sagemaker.create_model_package(ModelPackageGroupName=group, InferenceSpecification=SPEC)


def results(twin: Twin, function: str) -> list[dict[str, Any]]:
    assert twin.wait_idle(60)
    outcomes = [o for o in twin.log.outcomes if o.function == function]
    assert all(o.ok for o in outcomes), [o.error for o in outcomes]
    return [o.result for o in outcomes]


def test_invocations_of_one_function_run_at_the_same_time(twin: Twin) -> None:
    register(twin, "group-a", 3)

    found = results(twin, "AFunction")

    assert [r["peers"] for r in found] == [3, 3, 3]  # each saw the other two inside: they ran together
    assert len({r["pid"] for r in found}) == 3  # in three execution environments


def test_reserved_concurrency_is_a_ceiling(twin: Twin) -> None:
    register(twin, "group-b", 3)

    found = results(twin, "BFunction")

    # each invocation found only its own marker (and removed it): never two at once
    assert [r["peers"] for r in found] == [1, 1, 1]
    assert len({r["pid"] for r in found}) == 1  # one warm environment, reused


def test_each_function_sees_only_its_own_environment(twin: Twin) -> None:
    register(twin, "group-a", 3)
    register(twin, "group-b", 1)

    a, b = results(twin, "AFunction")[0], results(twin, "BFunction")[0]

    assert (a["who"], a["imported_with"], a["sees_other"]) == ("a", "a", False)
    assert (b["who"], b["imported_with"], b["sees_other"]) == ("b", "b", False)
    assert a["region"] == b["region"] == "eu-west-1"
    assert a["arn"] == "arn:aws:lambda:eu-west-1:123456789012:function:AFunction"
    assert a["missing"] == b["missing"] == ["aws_xray_sdk", "awscrt"]


def test_a_failed_attempt_is_retried(twin: Twin) -> None:
    register(twin, "group-c", 1)

    assert twin.wait_idle(60)
    (outcome,) = [o for o in twin.log.outcomes if o.function == "RetriedFunction"]

    assert (outcome.ok, outcome.attempts) == (True, 2)


def test_a_handler_past_its_timeout_is_stopped_and_retried_in_a_new_environment(twin: Twin) -> None:
    register(twin, "group-d", 1)

    assert twin.wait_idle(60)
    (outcome,) = [o for o in twin.log.outcomes if o.function == "SlowFunction"]

    assert (outcome.ok, outcome.attempts) == (False, 3)
    assert outcome.error == "Sandbox.Timedout: Task timed out after 1.00 seconds"
    assert twin.environments()["SlowFunction"] == []  # each timed-out environment was reclaimed


def test_stop_reclaims_every_environment(twin: Twin) -> None:
    register(twin, "group-a", 3)
    results(twin, "AFunction")
    pids = twin.environments()["AFunction"]
    assert len(pids) == 3

    twin.stop()

    assert twin.environments() == {}
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            _still_running(pid)


def _still_running(pid: int) -> None:
    """Raise ProcessLookupError once `pid` is gone (reaped, or a zombie its forkserver will reap)."""
    import os

    status = Path(f"/proc/{pid}/status")
    if status.exists() and "State:\tZ" not in status.read_text():
        os.kill(pid, 0)
        return
    raise ProcessLookupError(pid)

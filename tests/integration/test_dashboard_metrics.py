"""The metrics the dashboard added are published where it looks for them (moto, the real handlers).

Each handler runs as Lambda runs it (`lambda_handler`, Powertools' `log_metrics`), so what it
prints is the EMF document CloudWatch would turn into metrics: read back, it must carry the
name, unit and the one `service` dimension the dashboard's widgets ask for.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from deploy_support import (
    ENDPOINT,
    POLICY,
    DeployWorld,
    approval_event,
    live_version,
    register_version,
    set_approval,
    set_endpoint_status,
)
from registry_workflow.observability import SERVICE

pytest_plugins = ["deploy_support"]


def emitted(capsys: pytest.CaptureFixture[str]) -> list[tuple[str, str, list[float], list[list[str]]]]:
    """(name, unit, values, dimension sets) of every metric printed as EMF since the last call."""
    found = []
    for line in capsys.readouterr().out.splitlines():
        if not line.startswith("{") or '"_aws"' not in line:
            continue
        document = json.loads(line)
        assert document.get("service") == SERVICE
        for directive in document["_aws"]["CloudWatchMetrics"]:
            for metric in directive["Metrics"]:
                values = document[metric["Name"]]
                values = values if isinstance(values, list) else [values]
                found.append((metric["Name"], metric["Unit"], values, directive["Dimensions"]))
    return found


@pytest.fixture
def validator(lambda_context: Any) -> Any:
    from handler_loader import handler_module

    module = handler_module("validator")
    return lambda event: module.lambda_handler(event, lambda_context)


def creation_event(world: DeployWorld, arn: str) -> dict[str, Any]:
    event = approval_event(world.sagemaker, arn)
    event["detail"].pop("UpdatedModelPackageFields")
    return event


def test_a_closed_deployment_publishes_its_duration(
    world: DeployWorld, deployer: Any, tracker: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a version approved and deployed until its endpoint is in service
    live_version(world, deployer, tracker)

    # THEN the tracker published how long it took, in seconds, beside the success
    metrics = {name: (unit, value, dims) for name, unit, value, dims in emitted(capsys)}
    unit, values, dimensions = metrics["DeploymentDuration"]
    assert unit == "Seconds"
    (seconds,) = values
    assert seconds >= 0  # moto is quick: the start and the close are moments apart
    assert dimensions == [["service"]]
    assert "DeploymentsSucceeded" in metrics


def test_an_approval_queued_behind_a_busy_endpoint_is_counted(
    world: DeployWorld, deployer: Any, tracker: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    live_version(world, deployer, tracker)
    set_endpoint_status(ENDPOINT, "Updating")
    v2 = register_version(world.sagemaker)
    capsys.readouterr()

    # WHEN v2 is approved while the endpoint is busy
    assert deployer(set_approval(world.sagemaker, v2, "Approved"))["action"] == "queued"
    first = emitted(capsys)

    # THEN one queued approval is counted
    assert [(n, u, v) for n, u, v, _ in first if n == "DeploymentsQueued"] == [("DeploymentsQueued", "Count", [1.0])]


def test_validations_are_counted_passed_or_failed(
    world: DeployWorld, validator: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a version that passes the policy and, under a stricter policy, one that fails it
    good = register_version(world.sagemaker, validated=False)
    validator(creation_event(world, good))
    passed = emitted(capsys)
    (Path(os.environ["REGISTRY_CONFIG_DIR"]) / "policy.toml").write_text(
        POLICY + "\n[defaults.validation]\nmin = { auc = 0.95 }\n"
    )
    bad = register_version(world.sagemaker, validated=False)
    validator(creation_event(world, bad))
    failed = emitted(capsys)

    # THEN each is counted under its verdict, beside VersionsValidated
    assert {n for n, *_ in passed} >= {"ValidationsPassed", "VersionsValidated"}
    assert "ValidationsFailed" not in {n for n, *_ in passed}
    assert {n for n, *_ in failed} >= {"ValidationsFailed", "VersionsValidated"}
    assert "ValidationsPassed" not in {n for n, *_ in failed}

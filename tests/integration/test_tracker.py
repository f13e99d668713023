"""Tracker against moto: terminal states close deployments once; the newest queued approval starts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import load_event
from deploy_support import (
    ENDPOINT,
    GROUP,
    DeployWorld,
    config_of,
    endpoint_event,
    register_version,
    set_approval,
    set_endpoint_status,
)
from registry_workflow.errors import MalformedEventError
from registry_workflow.ledger import DeploymentStatus
from registry_workflow.local import moto_fixes

pytest_plugins = ["deploy_support"]


@pytest.mark.parametrize("sample", ["endpoint-creating", "endpoint-updating"])
def test_non_terminal_states_do_nothing_without_aws(
    sample: str, tracker: Any, config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # no moto at all: any AWS call would fail (no endpoint override, fake credentials)
    monkeypatch.setenv("LEDGER_TABLE", "no-such-table")

    assert tracker(load_event(sample)) == {
        "action": "not_terminal",
        "detail": sample.split("-")[1].capitalize(),
    }


@pytest.mark.parametrize("sample", ["endpoint-in-service", "endpoint-in-service-describe-spelling"])
def test_both_spellings_of_in_service_close_the_deployment(
    sample: str, world: DeployWorld, deployer: Any, tracker: Any
) -> None:
    # GIVEN v1 being deployed to the sample's endpoint
    arn = register_version(world.sagemaker)
    deployer(set_approval(world.sagemaker, arn, "Approved"))

    # WHEN the sample event (either spelling) arrives
    result = tracker(load_event(sample))

    # THEN the deployment is verified against DescribeEndpoint and closed
    assert result["action"] == "succeeded"
    live = world.ledger.live(ENDPOINT)
    assert live is not None
    assert live.package_arn == arn


def test_duplicate_in_service_events_close_once_and_notify_once(
    world: DeployWorld, deployer: Any, tracker: Any
) -> None:
    arn = register_version(world.sagemaker)
    deployer(set_approval(world.sagemaker, arn, "Approved"))
    event = endpoint_event(world.sagemaker)

    first, second = tracker(event), tracker(dict(event, id="redelivered"))

    assert first["action"] == "succeeded"
    assert second["action"] == "nothing_in_progress"
    (record,) = world.ledger.for_endpoint(ENDPOINT)
    assert record.status == DeploymentStatus.SUCCEEDED
    assert world.titles().count(f"{GROUP} v1: live") == 1


def test_failed_creation_is_recorded_with_the_failure_reason(world: DeployWorld, deployer: Any, tracker: Any) -> None:
    arn = register_version(world.sagemaker)
    moto_fixes.behaviour.fail_next = "The role could not be assumed"
    deployer(set_approval(world.sagemaker, arn, "Approved"))

    result = tracker(endpoint_event(world.sagemaker))

    assert result["action"] == "failed"
    (record,) = world.ledger.for_endpoint(ENDPOINT)
    assert (record.status, record.failure_reason) == (
        DeploymentStatus.FAILED,
        "The role could not be assumed",
    )
    assert world.ledger.in_progress(ENDPOINT) is None
    assert world.titles()[-1] == f"{GROUP} v1: deployment failed"


def test_newest_queued_approval_wins_and_older_ones_are_superseded(
    world: DeployWorld, deployer: Any, tracker: Any
) -> None:
    # GIVEN v1 live, then the endpoint busy while v3 and v2 are approved (in that order)
    v1 = register_version(world.sagemaker)
    deployer(set_approval(world.sagemaker, v1, "Approved"))
    tracker(endpoint_event(world.sagemaker))
    v2, v3 = register_version(world.sagemaker), register_version(world.sagemaker)
    set_endpoint_status(ENDPOINT, "Updating")
    assert deployer(set_approval(world.sagemaker, v3, "Approved"))["action"] == "queued"
    assert deployer(set_approval(world.sagemaker, v2, "Approved"))["action"] == "queued"

    # WHEN the endpoint is in service again
    set_endpoint_status(ENDPOINT, "InService")
    result = tracker(endpoint_event(world.sagemaker))

    # THEN v3 starts and v2 is superseded
    assert result["next"]["version"] == 3
    by_version = {d.version: d for d in world.ledger.for_endpoint(ENDPOINT)}
    assert by_version[2].status == DeploymentStatus.SUPERSEDED
    assert by_version[3].status == DeploymentStatus.IN_PROGRESS
    assert world.sagemaker.describe_endpoint(EndpointName=ENDPOINT)["EndpointConfigName"] == config_of(world, 3)
    assert f"{GROUP} v2: superseded" in world.titles()


def test_in_service_on_the_old_config_without_a_reason_is_still_a_failure(
    world: DeployWorld, deployer: Any, tracker: Any
) -> None:
    # GIVEN v1 live and v2 in progress; the endpoint is (somehow) InService on v1's config
    v1 = register_version(world.sagemaker)
    deployer(set_approval(world.sagemaker, v1, "Approved"))
    tracker(endpoint_event(world.sagemaker))
    v2 = register_version(world.sagemaker)
    deployer(set_approval(world.sagemaker, v2, "Approved"))
    from moto.sagemaker.models import sagemaker_backends

    sagemaker_backends["123456789012"]["us-east-1"].endpoints[ENDPOINT].endpoint_config_name = config_of(world, 1)

    result = tracker(endpoint_event(world.sagemaker))

    # THEN not a false success: the config is what counts, not the status
    assert result["action"] == "failed"
    assert f"not {config_of(world, 2)}" in result["detail"]


def test_unmanaged_endpoint_is_ignored(world: DeployWorld, tracker: Any) -> None:
    event = load_event("endpoint-in-service")
    event["detail"]["EndpointName"] = "someone-elses-endpoint"

    assert tracker(event) == {"action": "ignored", "detail": "unmanaged endpoint"}


def test_malformed_event_raises_typed_error(tracker: Any) -> None:
    event = load_event("endpoint-in-service")
    event["detail"]["EndpointStatus"] = "SLEEPING"

    with pytest.raises(MalformedEventError):
        tracker(event)

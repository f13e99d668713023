"""Adoption on first sight and the scheduled sweep: no approval waits for an event that never comes.

The tracker's rule matches endpoints tagged `managed-by=registry-workflow`; an endpoint made
elsewhere is tagged when the deployer first sees it, even when the approval is only queued. What
no event will ever end (a lock left by a killed run, a queue whose endpoint went idle unseen) is
ended by the sweep: an EventBridge schedule that invokes the tracker.
"""

from __future__ import annotations

from typing import Any

import pytest
from conftest import ACCOUNT, REGION
from deploy_support import (
    ENDPOINT,
    GROUP,
    LEDGER_TABLE,
    ROLE_ARN,
    DeployWorld,
    config_of,
    endpoint_event,
    live_version,
    register_version,
    set_approval,
    set_endpoint_status,
)
from registry_workflow import aws
from registry_workflow.ledger import DeploymentStatus

pytest_plugins = ["deploy_support"]

AML_GROUP = "rc-anti-money-laundering"
AML_ENDPOINT = f"{AML_GROUP}-endpoint"


class LambdaTimeout(BaseException):
    """Lambda killing the run (not an Exception: nothing in the handler catches it)."""


def scheduled_event() -> dict[str, Any]:
    """What an EventBridge schedule rule sends its target."""
    return {
        "version": "0",
        "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "time": "2026-01-01T00:00:00Z",
        "region": REGION,
        "resources": [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/registry-workflow-dev-sweep"],
        "detail": {},
    }


def tags_of(world: DeployWorld, endpoint: str = ENDPOINT) -> dict[str, str]:
    arn = world.sagemaker.describe_endpoint(EndpointName=endpoint)["EndpointArn"]
    return {t["Key"]: t["Value"] for t in world.sagemaker.list_tags(ResourceArn=arn)["Tags"]}


def make_endpoint_elsewhere(world: DeployWorld) -> None:
    """The project's endpoint, made by hand: no managed-by tag, nothing in the ledger."""
    world.sagemaker.create_model(
        ModelName="hand-made", Containers=[{"Image": "hand-made:latest"}], ExecutionRoleArn=ROLE_ARN
    )
    world.sagemaker.create_endpoint_config(
        EndpointConfigName="hand-made",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": "hand-made",
                "InitialInstanceCount": 2,
                "InstanceType": "ml.m5.large",
            }
        ],
    )
    world.sagemaker.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName="hand-made")


def test_a_busy_endpoint_made_elsewhere_is_tagged_at_once_so_its_in_service_starts_the_queue(
    world: DeployWorld, deployer: Any, tracker: Any, calls: dict[str, list[dict[str, Any]]]
) -> None:
    # GIVEN the project's endpoint made elsewhere, and busy with someone else's update
    make_endpoint_elsewhere(world)
    set_endpoint_status(ENDPOINT, "Updating")
    v1 = register_version(world.sagemaker)

    # WHEN v1 is approved: it can only be queued
    assert deployer(set_approval(world.sagemaker, v1, "Approved"))["action"] == "queued"

    # THEN the endpoint is already ours (tagged), though nothing was deployed to it
    assert tags_of(world)["managed-by"] == "registry-workflow"
    assert len(calls["AddTags"]) == 1
    assert "UpdateEndpoint" not in calls

    # WHEN the foreign update ends: its event carries the tag the tracker's rule matches
    set_endpoint_status(ENDPOINT, "InService")
    event = endpoint_event(world.sagemaker)
    assert event["detail"]["Tags"]["managed-by"] == "registry-workflow"
    tracked = tracker(event)

    # THEN the queued approval starts (no second AddTags), and its own in-service closes it
    assert (tracked["next"]["action"], tracked["next"]["version"]) == ("started", 1)
    assert len(calls["AddTags"]) == 1
    assert tracker(endpoint_event(world.sagemaker))["action"] == "succeeded"
    live = world.ledger.live(ENDPOINT)
    assert live is not None
    assert live.package_arn == v1
    assert tags_of(world)["registry-workflow:model-package-arn"] == v1


def test_one_sweep_frees_a_stale_lock_and_starts_stranded_queues(
    world: DeployWorld, deployer: Any, tracker: Any, calls: dict[str, list[dict[str, Any]]]
) -> None:
    # GIVEN fraud-detection: v1 live, v2's run killed holding the lock, v3 queued behind it
    live_version(world, deployer, tracker)
    v2, v3 = register_version(world.sagemaker), register_version(world.sagemaker)

    def killed(**_: Any) -> None:
        raise LambdaTimeout

    world.sagemaker.meta.events.register("before-call.sagemaker.UpdateEndpoint", killed)
    with pytest.raises(LambdaTimeout):
        deployer(set_approval(world.sagemaker, v2, "Approved"))
    world.sagemaker.meta.events.unregister("before-call.sagemaker.UpdateEndpoint", killed)
    assert deployer(set_approval(world.sagemaker, v3, "Approved"))["action"] == "queued"
    stuck = world.ledger.in_progress(ENDPOINT)
    assert stuck is not None
    assert stuck.version == 2
    age_lock(stuck.endpoint, stuck.deployment_id)
    # AND anti-money-laundering: v1 live, v2 queued while the endpoint was busy, which then went
    # idle without an event reaching the tracker (stranded)
    aml_v1 = register_version(world.sagemaker, AML_GROUP)
    assert deployer(set_approval(world.sagemaker, aml_v1, "Approved"))["action"] == "started"
    assert tracker(endpoint_event(world.sagemaker, AML_ENDPOINT))["action"] == "succeeded"
    set_endpoint_status(AML_ENDPOINT, "Updating")
    aml_v2 = register_version(world.sagemaker, AML_GROUP)
    assert deployer(set_approval(world.sagemaker, aml_v2, "Approved"))["action"] == "queued"
    set_endpoint_status(AML_ENDPOINT, "InService")
    calls.clear()

    # WHEN the schedule invokes the tracker once
    report = tracker(scheduled_event())

    # THEN the stale lock is closed (failed: the endpoint never got v2) and both queues started
    assert report["action"] == "swept"
    assert report["checked"] == 2  # the deploy-enabled projects; algo's deploys are off
    assert report["locks_released"] == [ENDPOINT]
    assert sorted(report["queues_started"]) == sorted([ENDPOINT, AML_ENDPOINT])
    assert report["left_for_next_run"] == []
    fraud = {d.version: d.status for d in world.ledger.for_endpoint(ENDPOINT)}
    assert fraud == {
        1: DeploymentStatus.SUCCEEDED,
        2: DeploymentStatus.FAILED,
        3: DeploymentStatus.IN_PROGRESS,
    }
    aml = {d.version: d.status for d in world.ledger.for_endpoint(AML_ENDPOINT)}
    assert aml == {1: DeploymentStatus.SUCCEEDED, 2: DeploymentStatus.IN_PROGRESS}
    assert sorted(u["EndpointName"] for u in calls["UpdateEndpoint"]) == sorted([ENDPOINT, AML_ENDPOINT])
    assert f"{GROUP} v2: deployment failed" in world.titles()

    # AND the started deployments close on their own events, as any other
    assert tracker(endpoint_event(world.sagemaker))["action"] == "succeeded"
    assert tracker(endpoint_event(world.sagemaker, AML_ENDPOINT))["action"] == "succeeded"
    assert world.sagemaker.describe_endpoint(EndpointName=ENDPOINT)["EndpointConfigName"] == config_of(world, 3)

    # WHEN the schedule fires again: nothing left to do, and nothing is called but the reads
    calls.clear()
    again = tracker(scheduled_event())
    assert (again["pending"], again["outcomes"]) == ([], {})
    assert calls == {}


def test_a_sweep_does_at_most_its_bound_and_leaves_the_rest_for_the_next_run(
    world: DeployWorld, deployer: Any, tracker: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from registry_workflow.deployment import service as deployment

    # GIVEN two endpoints with a stranded queue each, and a bound of one per run
    for group, endpoint in ((GROUP, ENDPOINT), (AML_GROUP, AML_ENDPOINT)):
        first = register_version(world.sagemaker, group)
        deployer(set_approval(world.sagemaker, first, "Approved"))
        tracker(endpoint_event(world.sagemaker, endpoint))
        set_endpoint_status(endpoint, "Updating")
        assert (
            deployer(set_approval(world.sagemaker, register_version(world.sagemaker, group), "Approved"))["action"]
            == "queued"
        )
        set_endpoint_status(endpoint, "InService")
    monkeypatch.setattr(deployment, "SWEEP_MAX_ENDPOINTS", 1)

    # WHEN the schedule fires
    first_run = tracker(scheduled_event())

    # THEN it starts one queue and names the other for the next run
    assert (first_run["queues_started"], first_run["left_for_next_run"]) == ([ENDPOINT], [AML_ENDPOINT])

    # WHEN the started deployment closes and the schedule fires again: the other queue starts
    assert tracker(endpoint_event(world.sagemaker))["action"] == "succeeded"
    second_run = tracker(scheduled_event())
    assert (second_run["queues_started"], second_run["left_for_next_run"]) == ([AML_ENDPOINT], [])
    assert world.ledger.queued(ENDPOINT) == world.ledger.queued(AML_ENDPOINT) == []


def age_lock(endpoint: str, deployment_id: str) -> None:
    """Make a deployment's start older than its rollout could take (plus Lambda's 15 minutes)."""
    aws.client("dynamodb").update_item(
        TableName=LEDGER_TABLE,
        Key={"pk": {"S": f"ENDPOINT#{endpoint}"}, "sk": {"S": f"DEPLOY#{deployment_id}"}},
        UpdateExpression="SET started_at = :old",
        ExpressionAttributeValues={":old": {"S": "2020-01-01T00:00:00.000000Z"}},
    )

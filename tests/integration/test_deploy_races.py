"""Deployer and tracker events in awkward orders: rejections during a rollout, late endpoint events,
approvals queued just after the queue was drained, a deployment closed under the deployer's feet.

Each case interleaves the two handlers at a chosen API call (a botocore hook on the shared client
runs the other handler there), against moto with the project's fixes.
"""

from __future__ import annotations

from typing import Any

import pytest
from deploy_support import (
    ENDPOINT,
    GROUP,
    LEDGER_TABLE,
    DeployWorld,
    config_of,
    endpoint_event,
    live_version,
    register_version,
    set_approval,
    set_endpoint_status,
)
from registry_workflow import aws
from registry_workflow.ledger import Deployment, DeploymentStatus
from registry_workflow.local import moto_fixes

pytest_plugins = ["deploy_support"]


def once(action: Any) -> Any:
    """A botocore hook that runs `action` the first time only (the nested handler calls AWS too)."""
    fired: list[bool] = []

    def hook(**_: Any) -> None:
        if not fired:
            fired.append(True)
            action()

    return hook


def records_of(world: DeployWorld, arn: str) -> list[Deployment]:
    return [d for d in world.ledger.for_endpoint(ENDPOINT) if d.package_arn == arn]


def endpoint_config(world: DeployWorld) -> str:
    return str(world.sagemaker.describe_endpoint(EndpointName=ENDPOINT)["EndpointConfigName"])


# --- a rejection while the version is being deployed ---------------------------------------------


def test_rejecting_a_version_while_it_deploys_rolls_it_back_once_it_is_live(
    world: DeployWorld, deployer: Any, tracker: Any, calls: dict[str, list[dict[str, Any]]]
) -> None:
    # GIVEN v1 live, and v2 approved: UpdateEndpoint accepted, the endpoint still Updating
    v1 = live_version(world, deployer, tracker)
    v2 = register_version(world.sagemaker)
    assert deployer(set_approval(world.sagemaker, v2, "Approved"))["action"] == "started"
    [deploying] = records_of(world, v2)
    set_endpoint_status(ENDPOINT, "Updating")

    # WHEN a reviewer rejects v2 before its update ends
    result = deployer(set_approval(world.sagemaker, v2, "Rejected", "bias found"))

    # THEN a rollback to v1 is queued behind v2's deployment; the running update is left alone
    assert (result["action"], result["version"]) == ("queued", 1)
    assert len(calls["UpdateEndpoint"]) == 1
    [rollback] = world.ledger.queued(ENDPOINT)
    assert (rollback.kind, rollback.package_arn, rollback.previous_package_arn) == ("rollback", v1, v2)
    assert rollback.rollback_of == deploying.deployment_id
    assert rollback.approval_description == "bias found"
    in_progress = world.ledger.in_progress(ENDPOINT)
    assert in_progress is not None
    assert in_progress.deployment_id == deploying.deployment_id

    # WHEN v2's update ends and the tracker sees the endpoint InService on v2's config
    set_endpoint_status(ENDPOINT, "InService")
    tracked = tracker(endpoint_event(world.sagemaker))

    # THEN v2's deployment is recorded succeeded (it did go live) and the rollback starts at once
    assert (tracked["action"], tracked["version"]) == ("succeeded", 2)
    assert (tracked["next"]["action"], tracked["next"]["version"]) == ("started", 1)
    assert [u["EndpointConfigName"] for u in calls["UpdateEndpoint"]] == [config_of(world, 2), config_of(world, 1)]
    assert f"{GROUP} v1: rolling back" in world.titles()

    # WHEN the rollback's update ends
    assert tracker(endpoint_event(world.sagemaker))["action"] == "succeeded"

    # THEN v1 is live again through the rollback, and v2's deployment is marked rolled back
    assert endpoint_config(world) == config_of(world, 1)
    live = world.ledger.live(ENDPOINT)
    assert live is not None
    assert (live.package_arn, live.kind, live.deployment_id) == (v1, "rollback", rollback.deployment_id)
    [v2_record] = records_of(world, v2)
    assert v2_record.status == DeploymentStatus.ROLLED_BACK
    assert world.ledger.in_progress(ENDPOINT) is None
    assert world.ledger.queued(ENDPOINT) == []
    assert world.titles()[-1] == f"{GROUP} v1: live"


def test_a_rollback_queued_behind_a_failed_update_is_dropped(
    world: DeployWorld, deployer: Any, tracker: Any, calls: dict[str, list[dict[str, Any]]]
) -> None:
    # GIVEN v1 live; v2's update will be rolled back by SageMaker; v2 is rejected while it runs
    v1 = live_version(world, deployer, tracker)
    v2 = register_version(world.sagemaker)
    moto_fixes.behaviour.fail_next = "Instance ml.m5.large failed health checks"
    assert deployer(set_approval(world.sagemaker, v2, "Approved"))["action"] == "started"
    assert deployer(set_approval(world.sagemaker, v2, "Rejected"))["action"] == "queued"

    # WHEN the tracker sees the endpoint back InService on v1's config
    tracked = tracker(endpoint_event(world.sagemaker))

    # THEN v2 failed, its rollback is superseded (v2 never went live), no second update is made
    assert tracked["action"] == "failed"
    assert "next" not in tracked
    assert len(calls["UpdateEndpoint"]) == 1
    assert endpoint_config(world) == config_of(world, 1)
    by_kind = {d.kind: d for d in world.ledger.for_endpoint(ENDPOINT) if d.version == 1}
    assert by_kind["rollback"].status == DeploymentStatus.SUPERSEDED
    live = world.ledger.live(ENDPOINT)
    assert live is not None
    assert (live.package_arn, live.kind) == (v1, "deploy")


def test_a_rejection_that_raced_the_deployers_start_stops_it_once_it_holds_the_lock(
    world: DeployWorld, deployer: Any, tracker: Any, calls: dict[str, list[dict[str, Any]]]
) -> None:
    # GIVEN v1 live; v2's approval has read "Approved" but not yet taken the endpoint's lock
    v1 = live_version(world, deployer, tracker)
    v2 = register_version(world.sagemaker)
    approved = set_approval(world.sagemaker, v2, "Approved")
    rejections: list[dict[str, Any]] = []
    world.sagemaker.meta.events.register(
        "before-call.sagemaker.DescribeEndpoint",
        once(lambda: rejections.append(deployer(set_approval(world.sagemaker, v2, "Rejected")))),
    )

    # WHEN the rejection is handled right then (nothing of v2 in the ledger yet)
    outcome = deployer(approved)

    # THEN the rejection ended v2's standing (decision 84): the approval's run, reading it again
    # once it holds the lock, stands down; v2 is never deployed and v1 keeps serving untouched
    assert rejections[0]["action"] == "not_live"
    assert outcome["action"] == "superseded", outcome
    assert calls.get("UpdateEndpoint", []) == []
    assert endpoint_config(world) == config_of(world, 1)
    live = world.ledger.live(ENDPOINT)
    assert live is not None
    assert (live.package_arn, live.kind) == (v1, "deploy")
    [v2_record] = records_of(world, v2)
    assert v2_record.status == DeploymentStatus.SUPERSEDED
    assert world.ledger.in_progress(ENDPOINT) is None


# --- endpoint events older than the deployment ---------------------------------------------------


@pytest.mark.parametrize("old_status", ["InService", "Failed"])
def test_an_endpoint_event_older_than_the_deployment_leaves_it_holding_the_lock(
    old_status: str, world: DeployWorld, deployer: Any, tracker: Any, calls: dict[str, list[dict[str, Any]]]
) -> None:
    # GIVEN v1 live; v2's deployment has taken the lock but not yet called UpdateEndpoint
    live_version(world, deployer, tracker)
    v2 = register_version(world.sagemaker)
    early: list[dict[str, Any]] = []

    def old_event_arrives() -> None:
        # the endpoint as it was before v2 started (last modified then), reported late
        set_endpoint_status(ENDPOINT, old_status)
        early.append(tracker(endpoint_event(world.sagemaker)))
        set_endpoint_status(ENDPOINT, "InService")

    world.sagemaker.meta.events.register("before-call.sagemaker.CreateModel", once(old_event_arrives))

    # WHEN that event reaches the tracker in the middle of v2's deployment
    result = deployer(set_approval(world.sagemaker, v2, "Approved"))

    # THEN the tracker concludes nothing from it: v2 keeps the lock and its update goes out
    assert early[0]["action"] == "predates_deployment"
    assert result["action"] == "started"
    assert [u["EndpointConfigName"] for u in calls["UpdateEndpoint"]] == [config_of(world, 2)]
    assert "d-" in early[0]["deployment_id"]
    [deploying] = records_of(world, v2)
    assert deploying.status == DeploymentStatus.IN_PROGRESS

    # AND the endpoint's own InService after the update closes it: v2 live, the ledger agrees
    assert tracker(endpoint_event(world.sagemaker))["action"] == "succeeded"
    assert endpoint_config(world) == config_of(world, 2)
    live = world.ledger.live(ENDPOINT)
    assert live is not None
    assert live.package_arn == v2


def test_a_deployment_closed_under_the_deployer_never_calls_update_endpoint(
    world: DeployWorld, deployer: Any, tracker: Any, calls: dict[str, list[dict[str, Any]]]
) -> None:
    # GIVEN v1 live; v2's deployment is closed by someone else after it took the lock
    v1 = live_version(world, deployer, tracker)
    v2 = register_version(world.sagemaker)

    def close_it() -> None:
        in_progress = world.ledger.in_progress(ENDPOINT)
        assert in_progress is not None
        assert world.ledger.finish(in_progress, DeploymentStatus.FAILED, "closed by an operator")

    world.sagemaker.meta.events.register("before-call.sagemaker.CreateEndpointConfig", once(close_it))

    # WHEN the deployer reaches UpdateEndpoint
    result = deployer(set_approval(world.sagemaker, v2, "Approved"))

    # THEN it re-reads the lock, finds it gone, and leaves the endpoint alone
    assert result["action"] == "lock_lost"
    assert "UpdateEndpoint" not in calls
    assert endpoint_config(world) == config_of(world, 1)
    [v2_record] = records_of(world, v2)
    assert (v2_record.status, v2_record.failure_reason) == (DeploymentStatus.FAILED, "closed by an operator")
    live = world.ledger.live(ENDPOINT)
    assert live is not None
    assert live.package_arn == v1
    assert f"{GROUP} v2: deploying" not in world.titles()


# --- an approval queued just after the queue was drained ------------------------------------------


def test_an_approval_queued_after_the_queue_was_drained_is_started_by_the_deployer(
    world: DeployWorld, deployer: Any, tracker: Any, calls: dict[str, list[dict[str, Any]]]
) -> None:
    # GIVEN v1 being deployed: the endpoint still Creating
    v1 = register_version(world.sagemaker)
    assert deployer(set_approval(world.sagemaker, v1, "Approved"))["action"] == "started"
    set_endpoint_status(ENDPOINT, "Creating")
    v2 = register_version(world.sagemaker)
    drained: list[dict[str, Any]] = []

    def tracker_first(params: dict[str, Any], **_: Any) -> None:
        # the deployer has seen v1 in flight and is about to write v2 queued: the endpoint comes
        # InService and the tracker runs first, closes v1 and finds the queue empty
        queued_record = (params.get("Item") or {}).get("status", {}).get("S") == "queued"
        if params.get("TableName") == LEDGER_TABLE and queued_record and not drained:
            set_endpoint_status(ENDPOINT, "InService")
            drained.append(tracker(endpoint_event(world.sagemaker)))

    aws.client("dynamodb").meta.events.register("provide-client-params.dynamodb.PutItem", tracker_first)

    # WHEN v2's approval is queued behind the deployment that just ended
    result = deployer(set_approval(world.sagemaker, v2, "Approved"))

    # THEN the deployer sees the endpoint free after its write and starts v2 itself
    assert drained[0]["action"] == "succeeded"
    assert "next" not in drained[0]  # the queue was empty when the tracker looked
    assert result["action"] == "queued"
    assert (result["next"]["action"], result["next"]["version"]) == ("started", 2)
    assert world.ledger.queued(ENDPOINT) == []
    in_progress = world.ledger.in_progress(ENDPOINT)
    assert in_progress is not None
    assert in_progress.package_arn == v2
    assert [u["EndpointConfigName"] for u in calls["UpdateEndpoint"]] == [config_of(world, 2)]
    assert tracker(endpoint_event(world.sagemaker))["action"] == "succeeded"
    live = world.ledger.live(ENDPOINT)
    assert live is not None
    assert (live.package_arn, live.previous_package_arn) == (v2, v1)

"""Deployer against moto: fresh endpoint, guarded update, duplicates, busy endpoint, order, rollback."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import ACCOUNT, REPO
from deploy_support import (
    ENDPOINT,
    GROUP,
    ROLE_ARN,
    DeployWorld,
    approval_event,
    config_of,
    endpoint_event,
    live_version,
    model_of,
    register_version,
    set_approval,
    set_endpoint_status,
)
from registry_workflow import aws
from registry_workflow.deployment import model_name_for, package_created_of
from registry_workflow.errors import MalformedEventError
from registry_workflow.ledger import DeploymentStatus
from registry_workflow.local import moto_fixes
from registry_workflow.local.template import load_template, pattern_matches

pytest_plugins = ["deploy_support"]


def test_fresh_endpoint_is_created_from_the_approved_package(world: DeployWorld, deployer: Any, tracker: Any) -> None:
    # GIVEN a new version of a managed group, approved
    arn = register_version(world.sagemaker)
    event = set_approval(world.sagemaker, arn, "Approved")

    # WHEN the deployer gets the approval
    result = deployer(event)

    # THEN a model from the package, a config and the endpoint exist, tagged, and the ledger says so
    assert result["action"] == "started"
    model = world.sagemaker.describe_model(ModelName=model_of(world, 1))
    assert model["Containers"][0]["ModelPackageName"] == arn
    assert model["ExecutionRoleArn"] == ROLE_ARN
    config = world.sagemaker.describe_endpoint_config(EndpointConfigName=config_of(world, 1))
    assert config["ProductionVariants"][0]["VariantName"] == "AllTraffic"
    assert config["ProductionVariants"][0]["ModelName"] == model_of(world, 1)
    endpoint = world.sagemaker.describe_endpoint(EndpointName=ENDPOINT)
    assert endpoint["EndpointConfigName"] == config_of(world, 1)
    tags = {t["Key"]: t["Value"] for t in world.sagemaker.list_tags(ResourceArn=endpoint["EndpointArn"])["Tags"]}
    assert tags["managed-by"] == "registry-workflow"
    assert tags["registry-workflow:model-package-arn"] == arn
    assert tags["registry-workflow:model-package-version"] == "1"
    record = world.ledger.in_progress(ENDPOINT)
    assert record is not None
    assert (record.version, record.status, record.package_arn) == (1, DeploymentStatus.IN_PROGRESS, arn)
    assert record.approver == f"arn:aws:iam::{ACCOUNT}:root"  # who approved: the caller moto saw
    assert record.strategy == "create"  # CreateEndpoint: the policy's canary applies to updates only
    assert world.titles() == [f"{GROUP} v1: deploying"]

    # WHEN the endpoint reports InService on that config
    assert tracker(endpoint_event(world.sagemaker))["action"] == "succeeded"

    # THEN the deployment succeeded, the lock is free, people were told
    live = world.ledger.live(ENDPOINT)
    assert live is not None
    assert (live.version, live.status) == (1, DeploymentStatus.SUCCEEDED)
    assert live.finished_at
    assert world.ledger.in_progress(ENDPOINT) is None
    assert world.titles()[-1] == f"{GROUP} v1: live"


def test_update_uses_the_projects_canary_guardrails(
    world: DeployWorld, deployer: Any, tracker: Any, calls: dict[str, list[dict[str, Any]]]
) -> None:
    # GIVEN v1 live on the endpoint
    v1 = live_version(world, deployer, tracker)
    v2 = register_version(world.sagemaker)

    # WHEN v2 is approved
    assert deployer(set_approval(world.sagemaker, v2, "Approved"))["action"] == "started"

    # THEN UpdateEndpoint got a blue/green canary with the policy's size, wait and rollback alarms
    (update,) = calls["UpdateEndpoint"]
    assert update["EndpointConfigName"] == config_of(world, 2)
    policy = update["DeploymentConfig"]["BlueGreenUpdatePolicy"]
    assert policy["TrafficRoutingConfiguration"] == {
        "Type": "CANARY",
        "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 20},
        "WaitIntervalInSeconds": 120,
    }
    alarms = [a["AlarmName"] for a in update["DeploymentConfig"]["AutoRollbackConfiguration"]["Alarms"]]
    assert alarms == ["team-fraud-errors", f"{ENDPOINT}-5xx", f"{ENDPOINT}-latency"]
    created = {a["AlarmName"] for a in aws.client("cloudwatch").describe_alarms()["MetricAlarms"]}
    assert {f"{ENDPOINT}-5xx", f"{ENDPOINT}-latency"} <= created
    # the same variant name as v1's config, so the guardrails apply
    config = world.sagemaker.describe_endpoint_config(EndpointConfigName=config_of(world, 2))
    assert config["ProductionVariants"][0]["VariantName"] == "AllTraffic"
    record = world.ledger.in_progress(ENDPOINT)
    assert record is not None
    assert record.previous_package_arn == v1

    # WHEN the endpoint is back in service on the new config
    assert tracker(endpoint_event(world.sagemaker))["action"] == "succeeded"

    # THEN v2 is live and the endpoint's tags name it
    live = world.ledger.live(ENDPOINT)
    assert live is not None
    assert live.version == 2
    endpoint = world.sagemaker.describe_endpoint(EndpointName=ENDPOINT)
    tags = {t["Key"]: t["Value"] for t in world.sagemaker.list_tags(ResourceArn=endpoint["EndpointArn"])["Tags"]}
    assert tags["registry-workflow:model-package-arn"] == v2


def test_approved_delivered_three_times_is_one_deployment(
    world: DeployWorld, deployer: Any, calls: dict[str, list[dict[str, Any]]]
) -> None:
    arn = register_version(world.sagemaker)
    event = set_approval(world.sagemaker, arn, "Approved")
    calls.clear()

    results = [deployer(dict(event, id=f"delivery-{n}")) for n in range(3)]

    assert results[0] == results[1] == results[2]
    assert results[0]["action"] == "started"
    assert len(calls["CreateModel"]) == len(calls["CreateEndpoint"]) == 1
    assert len(calls["DescribeModelPackage"]) == 1  # duplicates stop at the idempotency check
    assert len(world.ledger.for_endpoint(ENDPOINT)) == 1
    assert world.titles() == [f"{GROUP} v1: deploying"]


def test_busy_endpoint_queues_the_approval_and_the_tracker_starts_it(
    world: DeployWorld, deployer: Any, tracker: Any, calls: dict[str, list[dict[str, Any]]]
) -> None:
    # GIVEN v1 live, and the endpoint busy with an update someone else started
    live_version(world, deployer, tracker)
    set_endpoint_status(ENDPOINT, "Updating")
    v2 = register_version(world.sagemaker)

    # WHEN v2 is approved
    result = deployer(set_approval(world.sagemaker, v2, "Approved"))

    # THEN it is queued (the re-check after queueing sees the endpoint busy), the endpoint untouched
    assert result["action"] == "queued"
    assert "next" not in result
    assert "UpdateEndpoint" not in calls
    (queued,) = world.ledger.queued(ENDPOINT)
    assert queued.version == 2
    assert len(world.ledger.for_endpoint(ENDPOINT)) == 2  # v1's deployment and the queued v2
    assert "Updating" in (queued.failure_reason or "")
    assert world.titles()[-1] == f"{GROUP} v2: queued"

    # WHEN the endpoint is back in service
    set_endpoint_status(ENDPOINT, "InService")
    tracked = tracker(endpoint_event(world.sagemaker))

    # THEN the tracker started v2
    assert tracked["action"] == "nothing_in_progress"
    assert tracked["next"]["action"] == "started"
    assert tracked["next"]["version"] == 2
    assert world.sagemaker.describe_endpoint(EndpointName=ENDPOINT)["EndpointConfigName"] == config_of(world, 2)
    assert world.ledger.queued(ENDPOINT) == []
    assert tracker(endpoint_event(world.sagemaker))["action"] == "succeeded"
    live = world.ledger.live(ENDPOINT)
    assert live is not None
    assert live.version == 2


def test_in_progress_endpoint_refusal_requeues_instead_of_failing(
    world: DeployWorld, deployer: Any, tracker: Any
) -> None:
    # GIVEN v1 live; the endpoint turns busy between DescribeEndpoint and UpdateEndpoint (a race)
    live_version(world, deployer, tracker)
    v2 = register_version(world.sagemaker)
    world.sagemaker.meta.events.register(
        "before-call.sagemaker.UpdateEndpoint", lambda **_: set_endpoint_status(ENDPOINT, "SystemUpdating")
    )

    # WHEN v2 is approved: moto refuses with "Cannot update in-progress endpoint"
    result = deployer(set_approval(world.sagemaker, v2, "Approved"))

    # THEN v2 is queued again and the lock is free for the tracker to start it
    assert result["action"] == "queued"
    assert world.ledger.in_progress(ENDPOINT) is None
    (queued,) = world.ledger.queued(ENDPOINT)
    assert "in-progress" in (queued.failure_reason or "")


def test_failed_update_is_recorded_failed_and_notified(world: DeployWorld, deployer: Any, tracker: Any) -> None:
    # GIVEN v1 live, and an update that SageMaker will roll back
    v1 = live_version(world, deployer, tracker)
    v2 = register_version(world.sagemaker)
    moto_fixes.behaviour.fail_next = "Instance ml.m5.large failed health checks"

    # WHEN v2 is approved and the endpoint reports InService (on the OLD config)
    assert deployer(set_approval(world.sagemaker, v2, "Approved"))["action"] == "started"
    result = tracker(endpoint_event(world.sagemaker))

    # THEN the deployment failed with SageMaker's reason, v1 is still live, people were told
    assert result["action"] == "failed"
    (failed,) = [d for d in world.ledger.for_endpoint(ENDPOINT) if d.version == 2]
    assert failed.status == DeploymentStatus.FAILED
    assert failed.failure_reason == "Instance ml.m5.large failed health checks"
    live = world.ledger.live(ENDPOINT)
    assert live is not None
    assert live.package_arn == v1
    assert world.ledger.in_progress(ENDPOINT) is None
    last = world.notifications()[-1]
    assert last["content"]["title"] == f"{GROUP} v2: deployment failed"
    assert "failed health checks" in last["content"]["description"]


def test_older_approval_never_replaces_a_newer_version(
    world: DeployWorld, deployer: Any, tracker: Any, calls: dict[str, list[dict[str, Any]]]
) -> None:
    # GIVEN v1, v2 and v3 registered; v3 approved first and deployed
    register_version(world.sagemaker)
    v2 = register_version(world.sagemaker)
    v3 = register_version(world.sagemaker)
    assert deployer(set_approval(world.sagemaker, v3, "Approved"))["action"] == "started"

    # WHEN v2's approval arrives while v3 is in flight, and again after v3 is live
    in_flight = deployer(set_approval(world.sagemaker, v2, "Approved"))
    tracker(endpoint_event(world.sagemaker))
    after = deployer(set_approval(world.sagemaker, v2, "Approved"))

    # THEN v2 is superseded each time, never deployed; v3 stays live
    assert in_flight["action"] == after["action"] == "superseded"
    assert len(calls["CreateModel"]) == 1
    live = world.ledger.live(ENDPOINT)
    assert live is not None
    assert live.package_arn == v3
    superseded = [d for d in world.ledger.for_endpoint(ENDPOINT) if d.status == DeploymentStatus.SUPERSEDED]
    assert {d.version for d in superseded} == {2}
    assert f"{GROUP} v2: superseded" in world.titles()


def test_rejecting_the_live_version_rolls_back_to_the_previous_succeeded_one(
    world: DeployWorld, deployer: Any, tracker: Any
) -> None:
    # GIVEN v1 then v2 live; v3 approved but failed (so "latest approved" would be wrong)
    v1 = live_version(world, deployer, tracker)
    v2 = live_version(world, deployer, tracker)
    v3 = register_version(world.sagemaker)
    moto_fixes.behaviour.fail_next = "bad model"
    deployer(set_approval(world.sagemaker, v3, "Approved"))
    assert tracker(endpoint_event(world.sagemaker))["action"] == "failed"

    # WHEN the live v2 is rejected
    result = deployer(set_approval(world.sagemaker, v2, "Rejected", "drift found in production"))

    # THEN the endpoint goes back to v1's config, recorded as a rollback
    assert result["action"] == "started"
    assert result["version"] == 1
    assert world.sagemaker.describe_endpoint(EndpointName=ENDPOINT)["EndpointConfigName"] == config_of(world, 1)
    rollback = world.ledger.in_progress(ENDPOINT)
    assert rollback is not None
    assert (rollback.kind, rollback.package_arn, rollback.previous_package_arn) == ("rollback", v1, v2)
    assert rollback.approval_description == "drift found in production"
    assert world.titles()[-1] == f"{GROUP} v1: rolling back"

    # WHEN the endpoint is in service on v1's config
    assert tracker(endpoint_event(world.sagemaker))["action"] == "succeeded"

    # THEN v1 is live again and v2's deployment is marked rolled back
    live = world.ledger.live(ENDPOINT)
    assert live is not None
    assert (live.package_arn, live.kind) == (v1, "rollback")
    (v2_record,) = [d for d in world.ledger.for_endpoint(ENDPOINT) if d.package_arn == v2]
    assert v2_record.status == DeploymentStatus.ROLLED_BACK
    assert v3 != v1


def test_rejecting_a_version_that_is_not_live_leaves_the_endpoint_alone(
    world: DeployWorld, deployer: Any, tracker: Any, calls: dict[str, list[dict[str, Any]]]
) -> None:
    live_version(world, deployer, tracker)
    v2 = register_version(world.sagemaker)
    before = world.sagemaker.describe_endpoint(EndpointName=ENDPOINT)
    calls.clear()

    result = deployer(set_approval(world.sagemaker, v2, "Rejected"))

    assert result["action"] == "not_live"
    after = world.sagemaker.describe_endpoint(EndpointName=ENDPOINT)
    assert after["EndpointConfigName"] == before["EndpointConfigName"] == config_of(world, 1)
    assert not {"UpdateEndpoint", "CreateModel", "CreateEndpointConfig"} & set(calls)
    assert len(world.ledger.for_endpoint(ENDPOINT)) == 1


def test_stale_approval_is_ignored(world: DeployWorld, deployer: Any, calls: dict[str, list[dict[str, Any]]]) -> None:
    # GIVEN an Approved event for a version that has been rejected since
    arn = register_version(world.sagemaker)
    event = set_approval(world.sagemaker, arn, "Approved")
    world.sagemaker.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Rejected")

    result = deployer(event)

    assert result["action"] in {"stale", "not_live"}
    assert "CreateModel" not in calls
    assert world.ledger.for_endpoint(ENDPOINT) == []


def test_retry_after_a_crash_reuses_what_exists(
    world: DeployWorld, deployer: Any, calls: dict[str, list[dict[str, Any]]]
) -> None:
    # GIVEN the model of v1 already made by an earlier, crashed attempt (under the name it plans)
    arn = register_version(world.sagemaker)
    created = package_created_of(world.sagemaker.describe_model_package(ModelPackageName=arn))
    model = model_name_for(GROUP, 1, arn, created, ROLE_ARN)
    world.sagemaker.create_model(ModelName=model, Containers=[{"ModelPackageName": arn}], ExecutionRoleArn=ROLE_ARN)

    result = deployer(set_approval(world.sagemaker, arn, "Approved"))

    assert result["action"] == "started"
    assert [m["ModelName"] for m in world.sagemaker.list_models()["Models"]] == [model] == [model_of(world, 1)]
    assert world.sagemaker.describe_endpoint(EndpointName=ENDPOINT)["EndpointConfigName"] == config_of(world, 1)


def test_unmanaged_group_and_disabled_deploys_are_ignored(
    world: DeployWorld, deployer: Any, calls: dict[str, list[dict[str, Any]]]
) -> None:
    stranger = register_version(world.sagemaker, "someone-elses-group")
    disabled = register_version(world.sagemaker, "algo-recommendation-engine")
    calls.clear()

    assert deployer(set_approval(world.sagemaker, stranger, "Approved"))["detail"] == "unmanaged group"
    assert deployer(set_approval(world.sagemaker, disabled, "Approved"))["detail"] == "deploy disabled for this project"
    assert not {"CreateModel", "CreateEndpoint"} & set(calls)


def test_malformed_event_raises_typed_error_without_writes(
    world: DeployWorld, deployer: Any, calls: dict[str, list[dict[str, Any]]]
) -> None:
    arn = register_version(world.sagemaker)
    event = approval_event(world.sagemaker, arn)
    del event["detail"]["ModelPackageArn"]
    calls.clear()

    with pytest.raises(MalformedEventError):
        deployer(event)

    assert calls == {}
    assert world.ledger.for_endpoint(ENDPOINT) == []


def test_an_endpoint_made_elsewhere_is_adopted_so_the_tracker_sees_it(
    world: DeployWorld, deployer: Any, tracker: Any, calls: dict[str, list[dict[str, Any]]]
) -> None:
    # GIVEN the project's endpoint already exists, made by hand: no managed-by tag, not in the ledger
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
    endpoint_arn = world.sagemaker.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName="hand-made")["EndpointArn"]
    assert world.sagemaker.list_tags(ResourceArn=endpoint_arn)["Tags"] == []
    v1 = register_version(world.sagemaker)
    approved = set_approval(world.sagemaker, v1, "Approved")
    calls.clear()
    order: list[str] = []
    world.sagemaker.meta.events.register(
        "provide-client-params.sagemaker.*", lambda model, **_: order.append(model.name)
    )

    # WHEN v1 is approved
    assert deployer(approved)["action"] == "started"

    # THEN the endpoint is tagged managed-by before UpdateEndpoint (one AddTags, first adoption only)
    assert [c["Tags"] for c in calls["AddTags"]] == [[{"Key": "managed-by", "Value": "registry-workflow"}]]
    assert order.index("AddTags") < order.index("UpdateEndpoint")
    # AND its state-change events now match the tracker's rule, which closes the deployment
    event = endpoint_event(world.sagemaker)
    (rule,) = load_template(REPO / "template.yaml").rules_for("TrackerFunction")
    assert pattern_matches(rule.pattern, event)
    assert tracker(event)["action"] == "succeeded"
    tags = {t["Key"]: t["Value"] for t in world.sagemaker.list_tags(ResourceArn=endpoint_arn)["Tags"]}
    assert (tags["managed-by"], tags["registry-workflow:model-package-arn"]) == ("registry-workflow", v1)

    # WHEN the next version is approved (an ordinary update)
    v2 = register_version(world.sagemaker)
    approved = set_approval(world.sagemaker, v2, "Approved")
    calls.clear()
    assert deployer(approved)["action"] == "started"

    # THEN no adoption tag again: the usual five SageMaker calls
    assert sorted(calls) == [
        "CreateEndpointConfig",
        "CreateModel",
        "DescribeEndpoint",
        "DescribeModelPackage",
        "UpdateEndpoint",
    ]
    assert sum(len(c) for c in calls.values()) == 5


def test_rejecting_the_only_live_version_says_it_stays_live(world: DeployWorld, deployer: Any, tracker: Any) -> None:
    # GIVEN v1 live, and no earlier version to go back to
    v1 = live_version(world, deployer, tracker)
    config_before = world.sagemaker.describe_endpoint(EndpointName=ENDPOINT)["EndpointConfigName"]

    # WHEN a reviewer rejects it
    result = deployer(set_approval(world.sagemaker, v1, "Rejected"))

    # THEN nothing is changed on the endpoint, and people are told it is still serving
    assert result["action"] == "no_rollback_target"
    assert world.sagemaker.describe_endpoint(EndpointName=ENDPOINT)["EndpointConfigName"] == config_before
    assert f"{GROUP} v1: rejected but still live: nothing to roll back to" in world.titles()

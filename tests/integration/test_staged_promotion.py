"""Staged promotion (issue 12) against moto: staging then production, driven by ModelLifeCycle.

An approval deploys to the first stage; `ModelLifeCycle = {Stage: production, StageStatus:
Approved}` asks for the next, which the deployer accepts only for a version live in staging
that soaked there without alarms; a rejection rolls back every stage; a failed production
rollout leaves staging alone. The decisions themselves are tested table-driven in
tests/unit/test_deployment_decisions.py; here they are carried out against SageMaker.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from deploy_support import (
    GROUP,
    DeployWorld,
    approval_event,
    endpoint_event,
    register_version,
    set_approval,
)
from registry_workflow import aws
from registry_workflow.ledger import DeploymentStatus

pytest_plugins = ["deploy_support"]

STAGING, PRODUCTION = f"{GROUP}-staging", f"{GROUP}-production"

STAGED_POLICY = """\
[defaults.deploy]
strategy = "all-at-once"
create_alarms = true

[[projects."rc-fraud-detection".stages]]
name = "staging"
soak_minutes = 30

[[projects."rc-fraud-detection".stages]]
name = "production"
strategy = "canary"
traffic_percent = 20
instance_count = 2

[projects."algo-recommendation-engine".deploy]
enabled = false
"""


@pytest.fixture
def staged(world: DeployWorld, config_dir: Path) -> DeployWorld:
    (config_dir / "policy.toml").write_text(STAGED_POLICY)
    return world


def lifecycle_of(world: DeployWorld, arn: str) -> dict[str, Any]:
    return world.sagemaker.describe_model_package(ModelPackageName=arn).get("ModelLifeCycle") or {}


def promote(world: DeployWorld, arn: str, stage: str = "production", why: str = "staging looks good") -> dict[str, Any]:
    """What `registry-workflow promote` (or the console) does; returns the event AWS sends for it."""
    lifecycle = {"Stage": stage, "StageStatus": "Approved", "StageDescription": why}
    world.sagemaker.update_model_package(ModelPackageArn=arn, ModelLifeCycle=lifecycle)
    return approval_event(world.sagemaker, arn, "ModelLifeCycle")


def soak(world: DeployWorld, endpoint: str, minutes: int) -> None:
    """Let `minutes` pass for the live deployment of `endpoint` (its finish time moved back)."""
    live = world.ledger.live(endpoint)
    assert live is not None
    then = (datetime.now(UTC) - timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    aws.client("dynamodb").update_item(
        TableName=world.ledger.table_name,
        Key={"pk": {"S": f"ENDPOINT#{endpoint}"}, "sk": {"S": f"DEPLOY#{live.deployment_id}"}},
        UpdateExpression="SET finished_at = :t",
        ExpressionAttributeValues={":t": {"S": then}},
    )


def live_in_staging(world: DeployWorld, deployer: Any, tracker: Any) -> str:
    arn = register_version(world.sagemaker)
    assert deployer(set_approval(world.sagemaker, arn, "Approved"))["action"] == "started"
    assert tracker(endpoint_event(world.sagemaker, STAGING))["action"] == "succeeded"
    return arn


def live_everywhere(world: DeployWorld, deployer: Any, tracker: Any) -> str:
    arn = live_in_staging(world, deployer, tracker)
    soak(world, STAGING, 31)
    assert deployer(promote(world, arn))["action"] == "started"
    assert tracker(endpoint_event(world.sagemaker, PRODUCTION))["action"] == "succeeded"
    return arn


def test_an_approval_goes_to_the_first_stage_only_and_the_lifecycle_says_so(
    staged: DeployWorld, deployer: Any, tracker: Any
) -> None:
    arn = live_in_staging(staged, deployer, tracker)

    assert staged.ledger.live(STAGING).package_arn == arn
    assert staged.ledger.for_endpoint(PRODUCTION) == []
    assert lifecycle_of(staged, arn)["Stage"] == "staging"
    assert lifecycle_of(staged, arn)["StageStatus"] == "Deployed"
    assert f"{GROUP} v1 [staging]: live" in staged.titles()
    # the workflow's own stamp is not a promotion: the deployer ignores its event
    stamp = promote(staged, arn, "staging")
    stamp["detail"]["ModelLifeCycle"]["StageStatus"] = "Deployed"
    assert deployer(stamp)["action"] == "ignored"


def test_a_promotion_deploys_to_production_after_the_soak(staged: DeployWorld, deployer: Any, tracker: Any) -> None:
    arn = live_everywhere(staged, deployer, tracker)

    production = staged.ledger.live(PRODUCTION)
    assert production is not None
    assert (production.package_arn, production.stage, production.strategy) == (arn, "production", "create")
    assert lifecycle_of(staged, arn)["Stage"] == "production"
    assert lifecycle_of(staged, arn)["StageStatus"] == "Deployed"
    assert staged.ledger.live(STAGING).package_arn == arn  # staging still serves it


def test_a_promotion_before_the_soak_is_refused_with_the_time_left(
    staged: DeployWorld, deployer: Any, tracker: Any
) -> None:
    arn = live_in_staging(staged, deployer, tracker)
    soak(staged, STAGING, 10)

    refused = deployer(promote(staged, arn))

    assert refused["action"] == "promotion_refused"
    assert refused["detail"].startswith("soaking: staging needs 30 min of service before production; 20 min")
    assert staged.ledger.for_endpoint(PRODUCTION) == []
    lifecycle = lifecycle_of(staged, arn)
    assert (lifecycle["Stage"], lifecycle["StageStatus"]) == ("staging", "Deployed")
    assert lifecycle["StageDescription"].startswith("promotion to production refused: soaking")
    assert f"{GROUP} v1 [production]: promotion to production refused" in staged.titles()


@pytest.mark.parametrize(
    ("stage", "why"),
    [
        ("prod", 'unknown stage "prod" (stages: staging, production)'),
        ("staging", '"staging" is the first stage'),
    ],
)
def test_a_promotion_to_an_unknown_or_first_stage_is_refused(
    staged: DeployWorld, deployer: Any, tracker: Any, stage: str, why: str
) -> None:
    arn = live_in_staging(staged, deployer, tracker)
    soak(staged, STAGING, 31)

    refused = deployer(promote(staged, arn, stage))

    assert refused["action"] == "promotion_refused"
    assert refused["detail"].startswith(why)
    assert staged.ledger.for_endpoint(PRODUCTION) == []
    assert (lifecycle_of(staged, arn)["Stage"], lifecycle_of(staged, arn)["StageStatus"]) == ("staging", "Deployed")


def test_a_version_not_live_in_staging_cannot_skip_it(staged: DeployWorld, deployer: Any, tracker: Any) -> None:
    live_in_staging(staged, deployer, tracker)
    unreleased = register_version(staged.sagemaker)  # validated, never approved

    refused = deployer(promote(staged, unreleased))

    assert refused["action"] == "promotion_refused"
    assert "not Approved" in refused["detail"] or "out of order" in refused["detail"]
    set_approval(staged.sagemaker, unreleased, "Approved")  # approved, but not live in staging yet
    refused = deployer(promote(staged, unreleased))
    assert refused["detail"] == "out of order: production takes a version live in staging; it is live in no stage"
    assert staged.ledger.for_endpoint(PRODUCTION) == []


def test_a_rejected_version_is_not_promoted(staged: DeployWorld, deployer: Any, tracker: Any) -> None:
    arn = live_in_staging(staged, deployer, tracker)
    soak(staged, STAGING, 31)
    staged.sagemaker.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Rejected")

    refused = deployer(promote(staged, arn))

    assert refused["action"] == "promotion_refused"
    assert refused["detail"] == "the version is Rejected, not Approved"


def test_a_staging_alarm_holds_the_promotion(staged: DeployWorld, deployer: Any, tracker: Any) -> None:
    first = live_in_staging(staged, deployer, tracker)  # v1 creates the endpoint
    soak(staged, STAGING, 31)
    second = register_version(staged.sagemaker)  # v2 updates it: the alarms are made
    deployer(set_approval(staged.sagemaker, second, "Approved"))
    assert tracker(endpoint_event(staged.sagemaker, STAGING))["action"] == "succeeded"
    soak(staged, STAGING, 31)
    aws.client("cloudwatch").set_alarm_state(
        AlarmName=f"{STAGING}-5xx", StateValue="ALARM", StateReason="5XX errors in staging"
    )

    refused = deployer(promote(staged, second))

    assert refused["detail"] == f"staging alarms in ALARM while it served there: {STAGING}-5xx"
    assert first != second
    assert staged.ledger.for_endpoint(PRODUCTION) == []


def test_an_alarm_that_fired_and_cleared_during_the_soak_holds_the_promotion(
    staged: DeployWorld, deployer: Any, tracker: Any
) -> None:
    live_in_staging(staged, deployer, tracker)  # v1 creates the endpoint
    soak(staged, STAGING, 32)
    second = register_version(staged.sagemaker)  # v2 updates it: the alarms are made
    deployer(set_approval(staged.sagemaker, second, "Approved"))
    assert tracker(endpoint_event(staged.sagemaker, STAGING))["action"] == "succeeded"
    soak(staged, STAGING, 31)
    cloudwatch = aws.client("cloudwatch")
    cloudwatch.set_alarm_state(AlarmName=f"{STAGING}-5xx", StateValue="ALARM", StateReason="5XX errors")
    cloudwatch.set_alarm_state(AlarmName=f"{STAGING}-5xx", StateValue="OK", StateReason="recovered")
    assert cloudwatch.describe_alarms(StateValue="ALARM")["MetricAlarms"] == []  # all clear now

    refused = deployer(promote(staged, second))

    assert refused["action"] == "promotion_refused"
    assert refused["detail"] == f"staging alarms in ALARM while it served there: {STAGING}-5xx"
    assert staged.ledger.for_endpoint(PRODUCTION) == []


def test_alarm_history_is_read_from_when_the_version_went_live(staged: DeployWorld) -> None:
    from registry_workflow.deployment.sagemaker import Endpoints

    cloudwatch = aws.client("cloudwatch")
    names = [f"{STAGING}-5xx", f"{STAGING}-latency"]
    for name in names:
        cloudwatch.put_metric_alarm(
            AlarmName=name,
            MetricName="Invocation5XXErrors",
            Namespace="AWS/SageMaker",
            Statistic="Sum",
            Period=60,
            EvaluationPeriods=1,
            Threshold=1.0,
            ComparisonOperator="GreaterThanOrEqualToThreshold",
        )
    before = datetime.now(UTC) - timedelta(seconds=1)
    cloudwatch.set_alarm_state(AlarmName=names[0], StateValue="ALARM", StateReason="5XX errors")
    cloudwatch.set_alarm_state(AlarmName=names[0], StateValue="OK", StateReason="recovered")
    endpoints = Endpoints(staged.sagemaker, cloudwatch)

    assert endpoints.alarms_in_alarm_since(names, before) == [names[0]]  # fired and cleared since
    assert endpoints.alarms_in_alarm_since(names, datetime.now(UTC) + timedelta(seconds=5)) == []  # before it
    assert endpoints.alarms_in_alarm_since(names, None) == []  # no live time known: the state now only
    cloudwatch.set_alarm_state(AlarmName=names[1], StateValue="ALARM", StateReason="slow")
    assert endpoints.alarms_in_alarm_since(names, None) == [names[1]]


def test_a_rejection_rolls_back_every_stage_where_the_version_is_live(
    staged: DeployWorld, deployer: Any, tracker: Any
) -> None:
    v1 = live_everywhere(staged, deployer, tracker)
    v2 = live_everywhere(staged, deployer, tracker)
    assert staged.ledger.live(PRODUCTION).package_arn == v2

    rejected = deployer(set_approval(staged.sagemaker, v2, "Rejected", "bias found in production"))

    # the last stage first, then the one before it: both start a rollback to v1
    assert rejected["action"] == "started"
    assert rejected["stage"] == "production"
    assert rejected["next"]["action"] == "started"
    assert rejected["next"]["stage"] == "staging"
    for endpoint in (PRODUCTION, STAGING):
        assert tracker(endpoint_event(staged.sagemaker, endpoint))["action"] == "succeeded"
        assert staged.ledger.live(endpoint).package_arn == v1
        rolled = [d for d in staged.ledger.for_endpoint(endpoint) if d.package_arn == v2]
        assert [d.status for d in rolled] == [DeploymentStatus.ROLLED_BACK]


def test_a_failed_production_rollout_leaves_staging_alone(staged: DeployWorld, deployer: Any, tracker: Any) -> None:
    live_everywhere(staged, deployer, tracker)
    v2 = live_in_staging(staged, deployer, tracker)
    soak(staged, STAGING, 31)
    assert deployer(promote(staged, v2))["action"] == "started"

    # SageMaker rolls the canary back: the endpoint is InService on v1's config again
    from moto.sagemaker.models import sagemaker_backends

    region = staged.sagemaker.meta.region_name
    endpoint = sagemaker_backends["123456789012"][region].endpoints[PRODUCTION]
    v1_config = staged.ledger.live(PRODUCTION).endpoint_config_name
    endpoint.endpoint_config_name = v1_config
    failed = tracker(endpoint_event(staged.sagemaker, PRODUCTION))

    assert failed["action"] == "failed"
    assert staged.ledger.live(STAGING).package_arn == v2  # staging untouched
    lifecycle = lifecycle_of(staged, v2)
    assert (lifecycle["Stage"], lifecycle["StageStatus"]) == ("staging", "Deployed")
    assert lifecycle["StageDescription"].startswith("promotion to production failed:")


def test_a_duplicate_promotion_event_changes_nothing_twice(staged: DeployWorld, deployer: Any, tracker: Any) -> None:
    arn = live_in_staging(staged, deployer, tracker)
    soak(staged, STAGING, 31)
    event = promote(staged, arn)

    first, again = deployer(event), deployer(event)

    assert first["action"] == "started"
    assert again == first  # the idempotency record answers
    assert len(staged.ledger.for_endpoint(PRODUCTION)) == 1


def test_one_call_that_approves_and_asks_for_production_deploys_to_staging_and_refuses_the_rest(
    staged: DeployWorld, deployer: Any, tracker: Any
) -> None:
    arn = register_version(staged.sagemaker)
    staged.sagemaker.update_model_package(
        ModelPackageArn=arn,
        ModelApprovalStatus="Approved",
        ModelLifeCycle={"Stage": "production", "StageStatus": "Approved", "StageDescription": "ship it"},
    )
    event = approval_event(staged.sagemaker, arn)
    event["detail"]["UpdatedModelPackageFields"] = ["ModelApprovalStatus", "ModelLifeCycle"]

    outcome = deployer(event)

    assert outcome["action"] == "started"  # staging
    assert outcome["next"]["action"] == "promotion_refused"
    assert outcome["next"]["detail"].startswith("out of order")
    assert staged.ledger.for_endpoint(PRODUCTION) == []
    assert lifecycle_of(staged, arn)["StageStatus"] == "Refused"  # never left asking
    assert tracker(endpoint_event(staged.sagemaker, STAGING))["action"] == "succeeded"
    lifecycle = lifecycle_of(staged, arn)
    assert (lifecycle["Stage"], lifecycle["StageStatus"]) == ("staging", "Deployed")


def test_a_rolled_back_version_no_longer_says_it_serves(staged: DeployWorld, deployer: Any, tracker: Any) -> None:
    live_everywhere(staged, deployer, tracker)
    v2 = live_everywhere(staged, deployer, tracker)

    deployer(set_approval(staged.sagemaker, v2, "Rejected", "bias found in production"))
    for endpoint in (PRODUCTION, STAGING):
        assert tracker(endpoint_event(staged.sagemaker, endpoint))["action"] == "succeeded"

    lifecycle = lifecycle_of(staged, v2)
    assert (lifecycle["Stage"], lifecycle["StageStatus"]) == ("production", "RolledBack")
    assert lifecycle["StageDescription"].startswith("rejected; rolled back to v1 on")


def test_a_version_set_back_to_pending_and_self_approved_is_not_promoted(
    staged: DeployWorld, deployer: Any, tracker: Any
) -> None:
    from deploy_support import registrant_client

    # GIVEN v1 live in staging and soaked; a reviewer sets it back to pending; its registrant
    # approves it herself, and the promotion's event comes before the gate has seen that approval
    arn = live_in_staging(staged, deployer, tracker)
    soak(staged, STAGING, 31)
    assert deployer(set_approval(staged.sagemaker, arn, "PendingManualApproval"))["action"] == "withdrawn"
    registrant_client().update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved")

    refused = deployer(promote(staged, arn))

    # THEN it is not promoted: the approval the gate admitted was withdrawn
    assert refused["action"] == "promotion_refused"
    assert refused["detail"] == "its approval was withdrawn or refused after the gate admitted it"
    assert staged.ledger.for_endpoint(PRODUCTION) == []


def test_a_version_rejected_then_approved_by_its_registrant_is_not_promoted(
    staged: DeployWorld, deployer: Any, tracker: Any
) -> None:
    from deploy_support import registrant_client

    # GIVEN v1 live in staging and soaked; a reviewer rejects it (nothing to roll back to: it keeps
    # serving staging); its registrant approves it herself, and asks for production before the
    # gate has seen her approval (found in the third adversarial review)
    arn = live_in_staging(staged, deployer, tracker)
    soak(staged, STAGING, 31)
    deployer(set_approval(staged.sagemaker, arn, "Rejected"))
    registrant_client().update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved")

    refused = deployer(promote(staged, arn))

    # THEN the rejection ended the approval the gate admitted: no promotion
    assert refused["action"] == "promotion_refused"
    assert refused["detail"] == "its approval was withdrawn or refused after the gate admitted it"
    assert staged.ledger.for_endpoint(PRODUCTION) == []

"""The offline twin's event bus: the events it emits have AWS's shape and reach the right rules."""

from __future__ import annotations

import json
import os
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC
from typing import Any

import boto3
import pytest
from conftest import REPO
from registry_workflow.errors import RegistryWorkflowError
from registry_workflow.events import parse_endpoint_event, parse_model_package_event
from registry_workflow.local.twin import Twin, twin_region

SPEC = {
    "Containers": [{"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/model:1"}],
    "SupportedContentTypes": ["application/json"],
    "SupportedResponseMIMETypes": ["application/json"],
}


@pytest.fixture
def twin(config_dir: Any) -> Iterator[Twin]:
    with Twin(port=0, config_dir=REPO / "config", transition_seconds=0.05) as running:
        yield running


def client(twin: Twin, service: str, region: str | None = None) -> Any:
    return boto3.session.Session().client(service, endpoint_url=twin.url, region_name=region)


def wait_for(condition: Any, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not reached")


def test_model_package_events_have_aws_shape(twin: Twin) -> None:
    sagemaker = client(twin, "sagemaker")
    sagemaker.create_model_package_group(ModelPackageGroupName="rc-fraud-detection")
    arn = sagemaker.create_model_package(
        ModelPackageGroupName="rc-fraud-detection",
        ModelApprovalStatus="PendingManualApproval",
        InferenceSpecification=SPEC,
    )["ModelPackageArn"]
    sagemaker.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved")
    sagemaker.update_model_package(ModelPackageArn=arn, CustomerMetadataProperties={"k": "v"})

    events = wait_for(lambda: twin.log.events if len(twin.log.events) == 3 else None)
    created, approved, stamped = (parse_model_package_event(json.loads(json.dumps(e))) for e in events)
    assert (created.detail.is_creation, created.detail.approval_status) == (True, "PendingManualApproval")
    assert (approved.detail.updated_fields, approved.detail.approval_status) == (
        ["ModelApprovalStatus"],
        "Approved",
    )
    assert stamped.detail.metadata_only
    assert stamped.detail.approval_status == "Approved"
    assert created.detail.version == 1
    assert created.resources == [arn]
    assert created.account == "123456789012"


def test_endpoint_passes_through_creating_to_in_service(twin: Twin) -> None:
    sagemaker = client(twin, "sagemaker")
    sagemaker.create_model(
        ModelName="m1", ExecutionRoleArn="arn:aws:iam::123456789012:role/sm", Containers=[{"Image": "x"}]
    )
    sagemaker.create_endpoint_config(
        EndpointConfigName="c1",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": "m1",
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
            }
        ],
    )
    sagemaker.create_endpoint(EndpointName="ep", EndpointConfigName="c1", Tags=[{"Key": "managed-by", "Value": "x"}])
    assert sagemaker.describe_endpoint(EndpointName="ep")["EndpointStatus"] == "Creating"

    wait_for(lambda: sagemaker.describe_endpoint(EndpointName="ep")["EndpointStatus"] == "InService")
    events = wait_for(lambda: twin.log.events if len(twin.log.events) == 2 else None)
    statuses = [e["detail"]["EndpointStatus"] for e in events]
    assert statuses == ["CREATING", "IN_SERVICE"]  # EventBridge's spelling
    parsed = parse_endpoint_event(events[-1])
    assert (parsed.detail.status, parsed.detail.tags) == ("InService", {"managed-by": "x"})


def test_duplicate_switch_delivers_each_event_twice(twin: Twin) -> None:
    request = urllib.request.Request(f"{twin.control_url}/twin/duplicate-events", data=b"true", method="POST")
    urllib.request.urlopen(request)
    sagemaker = client(twin, "sagemaker")
    sagemaker.create_model_package_group(ModelPackageGroupName="rc-fraud-detection")
    sagemaker.create_model_package(ModelPackageGroupName="rc-fraud-detection", InferenceSpecification=SPEC)

    assert twin.wait_idle()
    ids = [event["id"] for event in twin.log.events]
    assert len(ids) == 1  # group creation emits nothing; the version emits one event...
    assert sorted(twin.log.deliveries) == sorted(ids * 2)  # ...delivered twice, same id


def test_template_resources_exist_in_the_twin(twin: Twin) -> None:
    tables = client(twin, "dynamodb").list_tables()["TableNames"]
    assert "IdempotencyTable" in tables
    topics = [t["TopicArn"] for t in client(twin, "sns").list_topics()["Topics"]]
    assert any(t.endswith(":NotificationTopic") for t in topics)
    secret = client(twin, "secretsmanager").get_secret_value(SecretId="SlackWebhookSecret")
    assert json.loads(secret["SecretString"])["url"].startswith(twin.control_url)


@pytest.mark.parametrize("shape", ["epoch-ms", "iso"])
def test_model_package_times_come_in_either_shape_and_parse_to_one(config_dir: Any, shape: str) -> None:
    with Twin(port=0, config_dir=REPO / "config", timestamps=shape) as twin:
        sagemaker = client(twin, "sagemaker")
        sagemaker.create_model_package_group(ModelPackageGroupName="algo-unplanned")
        arn = sagemaker.create_model_package(
            ModelPackageGroupName="algo-unplanned",
            ModelApprovalStatus="PendingManualApproval",
            InferenceSpecification=SPEC,
        )["ModelPackageArn"]
        (event,) = wait_for(lambda: twin.log.events)
        described = sagemaker.describe_model_package(ModelPackageName=arn)

    raw = event["detail"]["CreationTime"]
    assert isinstance(raw, int if shape == "epoch-ms" else str)
    parsed = parse_model_package_event(json.loads(json.dumps(event))).detail
    created = described["CreationTime"].astimezone(UTC)
    assert parsed.creation_time == created.strftime("%Y-%m-%dT%H:%M:%S.") + f"{created.microsecond // 1000:03d}Z"
    assert parsed.last_modified_time == parsed.creation_time


def test_a_twin_in_another_region_lives_there(config_dir: Any) -> None:
    with Twin(port=0, config_dir=REPO / "config", region="ap-northeast-1") as twin:
        assert os.environ["AWS_DEFAULT_REGION"] == os.environ["AWS_REGION"] == "ap-northeast-1"
        topics = [t["TopicArn"] for t in client(twin, "sns", "ap-northeast-1").list_topics()["Topics"]]
        assert "arn:aws:sns:ap-northeast-1:123456789012:NotificationTopic" in topics
        environment = twin._runtime(twin.template.functions["ValidatorFunction"]).environment
        assert (environment["AWS_REGION"], environment["AWS_DEFAULT_REGION"]) == ("ap-northeast-1", "ap-northeast-1")
        assert environment["NOTIFICATION_TOPIC_ARN"] == "arn:aws:sns:ap-northeast-1:123456789012:NotificationTopic"

        here = client(twin, "sagemaker", "ap-northeast-1")
        here.create_model_package_group(ModelPackageGroupName="algo-unplanned")
        here.create_model_package(ModelPackageGroupName="algo-unplanned", InferenceSpecification=SPEC)
        elsewhere = client(twin, "sagemaker", "us-east-1")
        elsewhere.create_model_package_group(ModelPackageGroupName="algo-unplanned")
        elsewhere.create_model_package(ModelPackageGroupName="algo-unplanned", InferenceSpecification=SPEC)
        assert twin.wait_idle()

    # EventBridge is regional: only the stack's own region's change reaches its rules
    (event,) = twin.log.events
    assert event["region"] == "ap-northeast-1"
    assert event["resources"][0].startswith("arn:aws:sagemaker:ap-northeast-1:")


def test_the_region_comes_from_the_flag_then_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-central-1")
    assert twin_region() == "eu-central-1"
    monkeypatch.setenv("AWS_REGION", "ap-southeast-2")
    assert twin_region() == "ap-southeast-2"
    assert twin_region("ap-northeast-1") == "ap-northeast-1"
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    assert twin_region() == "us-east-1"
    with pytest.raises(RegistryWorkflowError, match="not an AWS region"):
        twin_region("Tokyo")


def test_the_sweep_schedule_reaches_the_tracker(twin: Twin) -> None:
    # GIVEN the template's schedule (the tracker's sweep, every 5 minutes)
    [schedule] = twin.template.schedules
    assert (schedule.target, schedule.expression) == ("TrackerFunction", "rate(5 minutes)")

    # WHEN it fires (the control route does what the clock does every 5 minutes)
    request = urllib.request.Request(f"{twin.control_url}/twin/fire-schedules", data=b"", method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        [event_id] = json.loads(response.read())["fired"]
    assert twin.wait_idle(30)

    # THEN the tracker got the standard scheduled event and swept without error
    [event] = [e for e in twin.log.events if e["id"] == event_id]
    assert (event["source"], event["detail-type"]) == ("aws.events", "Scheduled Event")
    [outcome] = [o for o in twin.log.outcomes if o.event_id == event_id]
    assert (outcome.function, outcome.ok) == ("TrackerFunction", True), outcome


@pytest.mark.parametrize(
    ("expression", "seconds"),
    [("rate(5 minutes)", 300.0), ("rate(1 minute)", 60.0), ("rate(2 hours)", 7200.0), ("cron(0 12 * * ? *)", None)],
)
def test_schedule_rates(expression: str, seconds: float | None) -> None:
    from registry_workflow.local.twin import _rate_seconds

    assert _rate_seconds(expression) == seconds


def test_the_twins_stack_takes_its_teams_and_guarded_stages_from_its_config(config_dir: Any) -> None:
    # as `make deploy` passes them: the seed's config (no stages) gives the template's defaults
    seed = Twin(port=0, config_dir=config_dir).template
    assert (seed.parameters["ManagedTeams"], seed.parameters["GuardedStages"]) == ("rc,algo", "production")

    (config_dir / ".env.shared").write_text("TEAMS=fx\nFX_PROJECTS=pricing\n")
    (config_dir / "policy.toml").write_text(
        '[[projects."fx-pricing".stages]]\nname = "staging"\n\n[[projects."fx-pricing".stages]]\nname = "prod"\n'
    )
    staged = Twin(port=0, config_dir=config_dir).template
    assert (staged.parameters["ManagedTeams"], staged.parameters["GuardedStages"]) == ("fx", "prod")
    [deployer] = staged.rules_for("DeployerFunction")
    assert "fx-" in json.dumps(deployer.pattern)
    assert "rc-" not in json.dumps(deployer.pattern)

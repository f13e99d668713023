"""Helpers for the deployment tests: a moto world with the ledger, a topic, versions and events.

Plain functions (not fixtures) so each test module wires its own fixtures from them.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import ACCOUNT, REGION
from registry_workflow import aws
from registry_workflow.events import to_event_spelling
from registry_workflow.ledger import DeploymentLedger

ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/registry-workflow-sagemaker-execution"
LEDGER_TABLE = "ledger-test"
IDEMPOTENCY_TABLE = "idempotency-test"
GROUP = "rc-fraud-detection"
ENDPOINT = "rc-fraud-detection-endpoint"

#: rc-fraud-detection rolls out by canary, the others all at once
POLICY = """\
[defaults.deploy]
strategy = "all-at-once"
create_alarms = true

[projects."rc-fraud-detection".deploy]
strategy = "canary"
traffic_percent = 20
instance_count = 2
wait_seconds = 120
rollback_alarms = ["team-fraud-errors"]

[projects."algo-recommendation-engine".deploy]
enabled = false
"""


@dataclass
class DeployWorld:
    """What a deployment test needs: clients, the ledger, and the notifications that went out."""

    ledger: DeploymentLedger
    sagemaker: Any
    queue_url: str
    _seen: list[dict[str, Any]] = field(default_factory=list)

    def notifications(self) -> list[dict[str, Any]]:
        """Every notification published so far (Amazon Q JSON, read from an SQS subscription)."""
        sqs = aws.client("sqs")
        while True:
            messages = sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                return list(self._seen)
            for message in messages:
                self._seen.append(json.loads(json.loads(message["Body"])["Message"]))
                sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])

    def titles(self) -> list[str]:
        return [n["content"]["title"] for n in self.notifications()]


def make_world(monkeypatch: pytest.MonkeyPatch, config_dir: Path) -> DeployWorld:
    """Tables, topic (with an SQS subscription to read it), env, policy: call inside `mocked_aws`."""
    (config_dir / "policy.toml").write_text(POLICY)
    monkeypatch.setenv("LEDGER_TABLE", LEDGER_TABLE)
    monkeypatch.setenv("IDEMPOTENCY_TABLE", IDEMPOTENCY_TABLE)
    monkeypatch.setenv("SAGEMAKER_EXECUTION_ROLE_ARN", ROLE_ARN)
    monkeypatch.delenv("SLACK_WEBHOOK_SECRET_ID", raising=False)
    ledger = DeploymentLedger(LEDGER_TABLE)
    ledger.create_table()
    aws.client("dynamodb").create_table(
        TableName=IDEMPOTENCY_TABLE,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    topic = aws.client("sns").create_topic(Name="notifications")["TopicArn"]
    monkeypatch.setenv("NOTIFICATION_TOPIC_ARN", topic)
    sqs = aws.client("sqs")
    queue_url = sqs.create_queue(QueueName="notifications-tap")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    aws.client("sns").subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    return DeployWorld(ledger, aws.client("sagemaker"), queue_url)


def register_version(sagemaker: Any, group: str = GROUP) -> str:
    """A new version in PendingManualApproval (the group is created on first use)."""
    with contextlib.suppress(sagemaker.exceptions.ClientError):
        sagemaker.create_model_package_group(ModelPackageGroupName=group)
    return str(
        sagemaker.create_model_package(
            ModelPackageGroupName=group,
            ModelApprovalStatus="PendingManualApproval",
            InferenceSpecification={
                "Containers": [{"Image": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{group}:latest"}],
                "SupportedContentTypes": ["application/json"],
                "SupportedResponseMIMETypes": ["application/json"],
            },
        )["ModelPackageArn"]
    )


def set_approval(sagemaker: Any, arn: str, status: str, description: str | None = None) -> dict[str, Any]:
    """Change a version's approval status; returns the event AWS would send for it."""
    kwargs = {"ApprovalDescription": description} if description else {}
    sagemaker.update_model_package(ModelPackageArn=arn, ModelApprovalStatus=status, **kwargs)
    return approval_event(sagemaker, arn)


def approval_event(sagemaker: Any, arn: str) -> dict[str, Any]:
    """The "SageMaker Model Package State Change" event of a real approval-status change, now."""
    package = sagemaker.describe_model_package(ModelPackageName=arn)
    detail = {
        "ModelPackageGroupName": package["ModelPackageGroupName"],
        "ModelPackageVersion": package["ModelPackageVersion"],
        "ModelPackageArn": arn,
        "CreationTime": _iso(package["CreationTime"]),
        "LastModifiedTime": _iso(package["LastModifiedTime"]),
        "ModelPackageStatus": package["ModelPackageStatus"],
        "ModelApprovalStatus": package["ModelApprovalStatus"],
        "UpdatedModelPackageFields": ["ModelApprovalStatus"],
    }
    return _envelope("SageMaker Model Package State Change", arn, detail)


def endpoint_event(sagemaker: Any, name: str = ENDPOINT, status: str | None = None) -> dict[str, Any]:
    """The "SageMaker Endpoint State Change" event for the endpoint as it is (EventBridge spelling)."""
    endpoint = sagemaker.describe_endpoint(EndpointName=name)
    tags = sagemaker.list_tags(ResourceArn=endpoint["EndpointArn"])["Tags"]
    detail = {
        "EndpointName": name,
        "EndpointArn": endpoint["EndpointArn"],
        "EndpointConfigName": endpoint["EndpointConfigName"],
        "ProductionVariants": json.loads(json.dumps(endpoint.get("ProductionVariants", []), default=str)),
        "EndpointStatus": to_event_spelling(status or endpoint["EndpointStatus"]),
        "CreationTime": int(endpoint["CreationTime"].timestamp() * 1000),
        "LastModifiedTime": int(endpoint["LastModifiedTime"].timestamp() * 1000),
        "Tags": {t["Key"]: t["Value"] for t in tags},
    }
    return _envelope("SageMaker Endpoint State Change", endpoint["EndpointArn"], detail)


def set_endpoint_status(name: str, status: str) -> None:
    """Make the moto endpoint busy (or anything else): moto's backends are plain objects."""
    from moto.sagemaker.models import sagemaker_backends

    sagemaker_backends[ACCOUNT][REGION].endpoints[name].endpoint_status = status


def _envelope(detail_type: str, resource: str, detail: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": "aws.sagemaker",
        "account": ACCOUNT,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": [resource],
        "detail": detail,
    }


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


# --- fixtures (a test module takes them with `pytest_plugins = ["deploy_support"]`) ----------------


@pytest.fixture
def world(mocked_aws: None, config_dir: Path, monkeypatch: pytest.MonkeyPatch) -> DeployWorld:
    return make_world(monkeypatch, config_dir)


@pytest.fixture
def deployer(lambda_context: Any) -> Any:
    from handler_loader import handler_module

    module = handler_module("deployer")
    return lambda event: module.lambda_handler(event, lambda_context)


@pytest.fixture
def tracker(lambda_context: Any) -> Any:
    from handler_loader import handler_module

    module = handler_module("tracker")
    return lambda event: module.lambda_handler(event, lambda_context)


@pytest.fixture
def calls(world: DeployWorld) -> dict[str, list[dict[str, Any]]]:
    """Every SageMaker API call the code makes from now on, with its parameters."""
    seen: dict[str, list[dict[str, Any]]] = {}

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        seen.setdefault(model.name, []).append(params)

    world.sagemaker.meta.events.register("provide-client-params.sagemaker.*", record)
    return seen


def live_version(world: DeployWorld, deployer: Any, tracker: Any) -> str:
    """Register, approve and deploy a version all the way to succeeded; returns its ARN."""
    arn = register_version(world.sagemaker)
    assert deployer(set_approval(world.sagemaker, arn, "Approved"))["action"] == "started"
    assert tracker(endpoint_event(world.sagemaker))["action"] == "succeeded"
    return arn

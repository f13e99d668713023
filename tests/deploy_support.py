"""Helpers for the deployment tests: a moto world with the ledger, a topic, versions and events.

Plain functions (not fixtures) so each test module wires its own fixtures from them.
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from conftest import ACCOUNT, REGION
from registry_workflow import aws
from registry_workflow.events import to_event_spelling
from registry_workflow.ledger import DeploymentLedger

ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/registry-workflow-sagemaker-execution"
LEDGER_TABLE = "ledger-test"
IDEMPOTENCY_TABLE = "idempotency-test"
GROUP = "rc-fraud-detection"
METRICS_BUCKET = "ml-artifacts-123456789012"
#: the IAM user that registers versions in the tests (the approver is the account's root)
REGISTRANT = "data-scientist"
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


def register_version(sagemaker: Any, group: str = GROUP, *, validated: bool = True, status: str | None = None) -> str:
    """A new version registered by a data scientist (an IAM user, not the approver), then validated.

    The gate deploys only versions the workflow validated (under the policy in force) and approved
    by someone other than the registrant: registration and validation run as they do in AWS — the
    registrant's own credentials, then the validator's code — and the tests approve as the
    account's other identity (the plain test credentials are the account's root).
    """
    with contextlib.suppress(sagemaker.exceptions.ClientError):
        sagemaker.create_model_package_group(ModelPackageGroupName=group)
    version = len(sagemaker.list_model_packages(ModelPackageGroupName=group)["ModelPackageSummaryList"]) + 1
    key = f"{group}/v{version}/statistics.json"
    s3 = aws.client("s3")
    with contextlib.suppress(s3.exceptions.ClientError):
        s3.create_bucket(Bucket=METRICS_BUCKET, CreateBucketConfiguration=_bucket_location())
    s3.put_object(Bucket=METRICS_BUCKET, Key=key, Body=json.dumps({"auc": 0.9}))
    arn = str(
        registrant_client().create_model_package(
            ModelPackageGroupName=group,
            ModelApprovalStatus=status or "PendingManualApproval",
            InferenceSpecification={
                "Containers": [{"Image": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{group}:latest"}],
                "SupportedContentTypes": ["application/json"],
                "SupportedResponseMIMETypes": ["application/json"],
            },
            ModelMetrics={
                "ModelQuality": {
                    "Statistics": {"ContentType": "application/json", "S3Uri": f"s3://{METRICS_BUCKET}/{key}"}
                }
            },
        )["ModelPackageArn"]
    )
    if validated and (status or "PendingManualApproval") == "PendingManualApproval":
        validate_as_the_validator(sagemaker, arn)
    return arn


def validate_as_the_validator(sagemaker: Any, arn: str) -> None:
    """What the validator Lambda does on registration: judge, stamp, keep the verdict for the gate."""
    from registry_workflow.audit import AuditTrail
    from registry_workflow.config import load_config
    from registry_workflow.events import parse_model_package_event
    from registry_workflow.gate import GateRecords
    from registry_workflow.validation import validate_version

    event = approval_event(sagemaker, arn)
    detail = parse_model_package_event(event).detail
    project = load_config().project_for_group(detail.group_name)
    if project is None:
        return  # an unmanaged group: the validator ignores it too
    table = os.environ.get("LEDGER_TABLE", LEDGER_TABLE)
    validate_version(detail, project, records=GateRecords(table), trail=AuditTrail(table))


def registrant_client() -> Any:
    """A SageMaker client signed with the data scientist's own access keys (moto's IAM user).

    Made once per moto state and region: a client costs ~30 ms to build, and tests register many
    versions. A key moto's IAM no longer holds (moto is reset per test) means a new user and key.
    """
    iam = aws.client("iam")
    with contextlib.suppress(iam.exceptions.EntityAlreadyExistsException):
        iam.create_user(UserName=REGISTRANT)
    keys = iam.list_access_keys(UserName=REGISTRANT)["AccessKeyMetadata"]
    sagemaker = aws.client("sagemaker")
    where = (sagemaker.meta.region_name, sagemaker.meta.endpoint_url)
    made = _REGISTRANT_CLIENTS.get(where)
    if made is not None and made[0] in {k["AccessKeyId"] for k in keys}:
        return made[1]
    for old in keys:
        iam.delete_access_key(UserName=REGISTRANT, AccessKeyId=old["AccessKeyId"])
    key = iam.create_access_key(UserName=REGISTRANT)["AccessKey"]
    client = boto3.session.Session(
        aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"], region_name=where[0]
    ).client("sagemaker", endpoint_url=where[1])
    _REGISTRANT_CLIENTS[where] = (key["AccessKeyId"], client)
    return client


#: (region, endpoint) → (access key id, client) of the registrant (see `registrant_client`)
_REGISTRANT_CLIENTS: dict[tuple[str, str], tuple[str, Any]] = {}


def role_client(role: str, session: str) -> Any:
    """A SageMaker client of a session of IAM role `role` (made once per moto state), as Lambda or
    an identity provider gives one: CreatedBy / LastModifiedBy name the session."""
    iam = aws.client("iam")
    try:
        arn = iam.create_role(RoleName=role, AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    except iam.exceptions.EntityAlreadyExistsException:
        arn = iam.get_role(RoleName=role)["Role"]["Arn"]
    creds = aws.client("sts").assume_role(RoleArn=arn, RoleSessionName=session)["Credentials"]
    return boto3.session.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    ).client("sagemaker")


def _bucket_location() -> dict[str, str]:
    region = aws.client("s3").meta.region_name
    return {} if region == "us-east-1" else {"LocationConstraint": region}


def set_approval(sagemaker: Any, arn: str, status: str, description: str | None = None) -> dict[str, Any]:
    """Change a version's approval status; returns the event AWS would send for it."""
    kwargs = {"ApprovalDescription": description} if description else {}
    sagemaker.update_model_package(ModelPackageArn=arn, ModelApprovalStatus=status, **kwargs)
    return approval_event(sagemaker, arn)


def approval_event(sagemaker: Any, arn: str, updated: str = "ModelApprovalStatus") -> dict[str, Any]:
    """The "SageMaker Model Package State Change" event of a real change of `updated`, now.

    `updated="ModelLifeCycle"`: a stage change (a promotion asked, or the workflow's stamp).
    """
    package = sagemaker.describe_model_package(ModelPackageName=arn)
    detail = {
        "ModelPackageGroupName": package["ModelPackageGroupName"],
        "ModelPackageVersion": package["ModelPackageVersion"],
        "ModelPackageArn": arn,
        "CreationTime": _iso(package["CreationTime"]),
        "LastModifiedTime": _iso(package["LastModifiedTime"]),
        "ModelPackageStatus": package["ModelPackageStatus"],
        "ModelApprovalStatus": package["ModelApprovalStatus"],
        "UpdatedModelPackageFields": [updated],
    }
    if "ModelLifeCycle" in package:
        detail["ModelLifeCycle"] = package["ModelLifeCycle"]
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


def model_of(world: DeployWorld, version: int, endpoint: str = ENDPOINT) -> str:
    """The model name the ledger recorded for the newest deployment of `version`."""
    return _newest(world, version, endpoint).model_name


def config_of(world: DeployWorld, version: int, endpoint: str = ENDPOINT) -> str:
    """The endpoint-config name the ledger recorded for the newest deployment of `version`."""
    return _newest(world, version, endpoint).endpoint_config_name


def _newest(world: DeployWorld, version: int, endpoint: str) -> Any:
    records = [d for d in world.ledger.for_endpoint(endpoint) if d.version == version]
    assert records, f"no deployment of v{version} on {endpoint}"
    return records[-1]


def live_version(world: DeployWorld, deployer: Any, tracker: Any) -> str:
    """Register, approve and deploy a version all the way to succeeded; returns its ARN."""
    arn = register_version(world.sagemaker)
    assert deployer(set_approval(world.sagemaker, arn, "Approved"))["action"] == "started"
    assert tracker(endpoint_event(world.sagemaker))["action"] == "succeeded"
    return arn

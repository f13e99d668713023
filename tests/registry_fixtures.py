"""Integration fixtures: a registry in moto with S3 metrics, SNS → SQS, the idempotency table, the
Slack secret, and the local Slack stand-in (`tests/slack_stub.py`).

A test module takes them with `pytest_plugins = ["registry_fixtures"]` (no integration conftest:
a second `conftest` module would shadow `tests/conftest.py` for `from conftest import ...`)."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from conftest import load_event
from registry_workflow import aws
from slack_stub import SlackStub, slack_stub  # noqa: F401 - re-exported fixture

BUCKET = "ml-artifacts-123456789012"
TOPIC = "registry-workflow-test-notifications"
SECRET = "registry-workflow/test/slack-webhook"
TABLE = "registry-workflow-test-idempotency"

POLICY_TOML = """\
[defaults.validation]
min = { auc = 0.8 }
"""


@dataclass
class Registry:
    """moto holding what the validator and notifier need, and ways to look at it."""

    config_dir: Path
    topic_arn: str
    queue_url: str
    calls: Counter[str] = field(default_factory=Counter)

    @property
    def sagemaker(self) -> Any:
        return aws.client("sagemaker")

    def write_policy(self, text: str) -> None:
        (self.config_dir / "policy.toml").write_text(text)

    def put_metrics(self, key: str, document: Any) -> str:
        body = document if isinstance(document, str | bytes) else json.dumps(document)
        aws.client("s3").put_object(Bucket=BUCKET, Key=key, Body=body)
        return f"s3://{BUCKET}/{key}"

    def register(
        self,
        group: str = "rc-fraud-detection",
        *,
        metrics: Any = None,
        metrics_uri: str | None = None,
        status: str = "PendingManualApproval",
    ) -> dict[str, Any]:
        """Create a version (its group too); `metrics` are uploaded and referenced. Returns Describe."""
        sm = self.sagemaker
        groups = {g["ModelPackageGroupName"] for g in sm.list_model_package_groups()["ModelPackageGroupSummaryList"]}
        if group not in groups:
            sm.create_model_package_group(ModelPackageGroupName=group)
        version = len(sm.list_model_packages(ModelPackageGroupName=group)["ModelPackageSummaryList"]) + 1
        if metrics is not None:
            metrics_uri = self.put_metrics(f"{group}/v{version}/statistics.json", metrics)
        kwargs: dict[str, Any] = {
            "ModelPackageGroupName": group,
            "ModelApprovalStatus": status,
            "InferenceSpecification": {
                "Containers": [
                    {
                        "Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/model:1",
                        "ModelDataUrl": f"s3://{BUCKET}/{group}/v{version}/model.tar.gz",
                    }
                ],
                "SupportedContentTypes": ["application/json"],
                "SupportedResponseMIMETypes": ["application/json"],
            },
        }
        if metrics_uri:
            kwargs["ModelMetrics"] = {
                "ModelQuality": {"Statistics": {"ContentType": "application/json", "S3Uri": metrics_uri}}
            }
        arn = sm.create_model_package(**kwargs)["ModelPackageArn"]
        return self.describe(arn)

    def describe(self, arn: str) -> dict[str, Any]:
        return dict(self.sagemaker.describe_model_package(ModelPackageName=arn))

    def event_for(
        self, arn: str, *, updated_fields: list[str] | None = None, sample: str = "model-package-registered"
    ) -> dict[str, Any]:
        """The event EventBridge would deliver for the version's current state (real shape from events/)."""
        package = self.describe(arn)
        event = load_event(sample)
        detail = event["detail"]
        detail.pop("UpdatedModelPackageFields", None)
        detail.pop("CustomerMetadataProperties", None)
        detail.pop("ApprovalDescription", None)
        modified = package.get("LastModifiedTime") or package["CreationTime"]
        detail |= {
            "ModelPackageGroupName": package["ModelPackageGroupName"],
            "ModelPackageVersion": package["ModelPackageVersion"],
            "ModelPackageArn": arn,
            "ModelApprovalStatus": package["ModelApprovalStatus"],
            "CreationTime": package["CreationTime"].isoformat(),
            "LastModifiedTime": modified.isoformat(),
        }
        for source in ("ModelMetrics", "CustomerMetadataProperties", "ApprovalDescription"):
            if package.get(source):
                detail[source] = package[source]
        if updated_fields:
            detail["UpdatedModelPackageFields"] = updated_fields
        event["resources"] = [arn]
        return event

    def count_calls(self, *services: str) -> Counter[str]:
        """Count every API call made through the shared clients (`service:Operation`)."""
        for service in services:
            client = aws.client(service)

            def hook(model: Any, _service: str = service, **_: Any) -> None:
                self.calls[f"{_service}:{model.name}"] += 1

            client.meta.events.register("before-call", hook)
        return self.calls

    def sns_messages(self) -> list[dict[str, Any]]:
        """Messages the topic delivered to its SQS subscriber (parsed Amazon Q JSON)."""
        sqs = aws.client("sqs")
        found: list[dict[str, Any]] = []
        while True:
            batch = sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not batch:
                return found
            for message in batch:
                found.append(json.loads(json.loads(message["Body"])["Message"]))
                sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])


@pytest.fixture
def registry(
    mocked_aws: None,
    config_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    slack_stub: SlackStub,  # noqa: F811
) -> Registry:
    aws.client("s3").create_bucket(Bucket=BUCKET)
    topic_arn = aws.client("sns").create_topic(Name=TOPIC)["TopicArn"]
    sqs = aws.client("sqs")
    queue_url = sqs.create_queue(QueueName="notifications-subscriber")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    aws.client("sns").subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    aws.client("secretsmanager").create_secret(Name=SECRET, SecretString=json.dumps({"url": slack_stub.url}))
    aws.client("dynamodb").create_table(
        TableName=TABLE,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
    )
    monkeypatch.setenv("IDEMPOTENCY_TABLE", TABLE)
    monkeypatch.setenv("NOTIFICATION_TOPIC_ARN", topic_arn)
    monkeypatch.setenv("SLACK_WEBHOOK_SECRET_ID", SECRET)
    (config_dir / "policy.toml").write_text(POLICY_TOML)
    return Registry(config_dir, topic_arn, queue_url)

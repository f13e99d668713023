"""What a team does on the twin, step by step, through its public surface only (for tests/e2e)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import Any

from twin_process import RunningTwin

GROUP = "rc-fraud-detection"
ENDPOINT = "rc-fraud-detection-endpoint"
BUCKET = "sagemaker-e2e-artifacts"
#: statuses a deployment ends in; anything else at the end of a test is work left undone
FINISHED = {"succeeded", "failed", "rolled_back", "superseded"}


def wait_for(condition: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = condition()
        except Exception:  # noqa: BLE001 - not there yet
            value = None
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("condition not reached within the timeout")


def create_bucket(twin: RunningTwin) -> None:
    s3 = twin.client("s3")
    if twin.region == "us-east-1":
        s3.create_bucket(Bucket=BUCKET)
    else:
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": twin.region})


def register(
    twin: RunningTwin,
    version: int,
    auc: float = 0.9,
    *,
    group: str = GROUP,
    status: str = "PendingManualApproval",
    metrics: dict[str, float] | None = None,
) -> str:
    """Upload the version's metrics and register it (as the data scientist: the default keys).

    `metrics` replaces the default model-quality file (auc, accuracy) with a flat one.
    """
    s3, sagemaker = twin.client("s3"), twin.client("sagemaker")
    key = f"{group}/v{version}/statistics.json"
    body: Any = metrics or {"binary_classification_metrics": {"auc": {"value": auc}, "accuracy": {"value": 0.95}}}
    s3.put_object(Bucket=BUCKET, Key=key, Body=json.dumps(body).encode())
    return str(
        sagemaker.create_model_package(
            ModelPackageGroupName=group,
            ModelApprovalStatus=status,
            InferenceSpecification={
                "Containers": [{"Image": f"123456789012.dkr.ecr.{twin.region}.amazonaws.com/{group}:{version}"}],
                "SupportedContentTypes": ["application/json"],
                "SupportedResponseMIMETypes": ["application/json"],
            },
            ModelMetrics={
                "ModelQuality": {"Statistics": {"ContentType": "application/json", "S3Uri": f"s3://{BUCKET}/{key}"}}
            },
        )["ModelPackageArn"]
    )


def approve(twin: RunningTwin, arn: str) -> None:
    """The seed's approval (UpdateModelPackage), by a reviewer (a second person: the gate refuses self-approval).

    Through boto3 as the reviewer: the aws CLI costs over a second of CPU per call, and the seed's
    commands themselves, `aws sagemaker update-model-package` included, run verbatim in
    tests/e2e/test_seed_commands.py and the README walkthrough.
    """
    twin.client("sagemaker", as_reviewer=True).update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved")


def reject(twin: RunningTwin, arn: str, reason: str = "Performance below threshold") -> None:
    twin.client("sagemaker", as_reviewer=True).update_model_package(
        ModelPackageArn=arn, ModelApprovalStatus="Rejected", ApprovalDescription=reason
    )


def history(twin: RunningTwin) -> list[dict[str, Any]]:
    result = twin.read("history", GROUP, "--json")
    assert result.returncode == 0, result.stderr
    return list(json.loads(result.stdout))


def live(twin: RunningTwin) -> int | None:
    match = re.search(rf"{ENDPOINT}\s+v(\d+)\s", twin.read("status").stdout)
    return int(match.group(1)) if match else None


def stamped(twin: RunningTwin, arn: str) -> str | None:
    described = twin.client("sagemaker").describe_model_package(ModelPackageName=arn)
    return (described.get("CustomerMetadataProperties") or {}).get("validation.status")


def settled(twin: RunningTwin) -> list[dict[str, Any]] | None:
    """The group's history once nothing is queued or deploying and the endpoint is InService; else None."""
    records = history(twin)
    if not records or any(r["status"] not in FINISHED for r in records):
        return None
    endpoint = twin.client("sagemaker").describe_endpoint(EndpointName=ENDPOINT)
    return records if endpoint["EndpointStatus"] == "InService" else None


def serving(twin: RunningTwin) -> int:
    """The version whose config the endpoint really runs (DescribeEndpoint, not the ledger)."""
    config = twin.client("sagemaker").describe_endpoint(EndpointName=ENDPOINT)["EndpointConfigName"]
    records = [r for r in history(twin) if r["endpoint_config_name"] == config]
    versions = {r["version"] for r in records}
    assert len(versions) == 1, (config, records)
    return versions.pop()

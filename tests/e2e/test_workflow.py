"""The whole workflow on the twin, driven only through its public surface: boto3, the aws CLI,
`registry-workflow` commands and the twin's control switches."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import Any

import pytest
from twin_process import RunningTwin

pytestmark = pytest.mark.e2e

GROUP = "rc-fraud-detection"
ENDPOINT = "rc-fraud-detection-endpoint"
BUCKET = "sagemaker-e2e-artifacts"


def wait_for(condition: Callable[[], Any], timeout: float = 20.0) -> Any:
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


def register(twin: RunningTwin, version: int, auc: float) -> str:
    s3, sagemaker = twin.client("s3"), twin.client("sagemaker")
    key = f"{GROUP}/v{version}/statistics.json"
    body = {"binary_classification_metrics": {"auc": {"value": auc}, "accuracy": {"value": 0.95}}}
    s3.put_object(Bucket=BUCKET, Key=key, Body=json.dumps(body).encode())
    return str(
        sagemaker.create_model_package(
            ModelPackageGroupName=GROUP,
            ModelApprovalStatus="PendingManualApproval",
            InferenceSpecification={
                "Containers": [{"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/fraud:1"}],
                "SupportedContentTypes": ["application/json"],
                "SupportedResponseMIMETypes": ["application/json"],
            },
            ModelMetrics={
                "ModelQuality": {"Statistics": {"ContentType": "application/json", "S3Uri": f"s3://{BUCKET}/{key}"}}
            },
        )["ModelPackageArn"]
    )


def approve(twin: RunningTwin, arn: str) -> None:
    twin.aws_cli("sagemaker", "update-model-package", "--model-package-arn", arn, "--model-approval-status", "Approved")


def history(twin: RunningTwin) -> list[dict[str, Any]]:
    result = twin.cli("history", GROUP, "--json")
    assert result.returncode == 0, result.stderr
    return list(json.loads(result.stdout))


def live(twin: RunningTwin) -> int | None:
    match = re.search(rf"{ENDPOINT}\s+v(\d+)\s", twin.cli("status").stdout)
    return int(match.group(1)) if match else None


def stamped(twin: RunningTwin, arn: str) -> str | None:
    described = twin.client("sagemaker").describe_model_package(ModelPackageName=arn)
    return (described.get("CustomerMetadataProperties") or {}).get("validation.status")


@pytest.fixture
def provisioned(running_twin: RunningTwin) -> RunningTwin:
    assert running_twin.cli("provision").returncode == 0
    running_twin.client("s3").create_bucket(Bucket=BUCKET)
    return running_twin


def test_register_validate_approve_deploy_reject_rollback(provisioned: RunningTwin) -> None:
    twin = provisioned
    v1 = register(twin, 1, auc=0.91)
    assert wait_for(lambda: stamped(twin, v1) == "passed")
    approve(twin, v1)
    assert wait_for(lambda: live(twin) == 1)

    v2 = register(twin, 2, auc=0.70)
    described = wait_for(
        lambda: (
            (d := twin.client("sagemaker").describe_model_package(ModelPackageName=v2))["ModelApprovalStatus"]
            == "Rejected"
            and d
        )
    )
    assert "auc 0.7 < min 0.8" in described["ApprovalDescription"]

    v3 = register(twin, 3, auc=0.93)
    assert wait_for(lambda: stamped(twin, v3) == "passed")
    approve(twin, v3)
    assert wait_for(lambda: live(twin) == 3)

    twin.aws_cli(
        "sagemaker",
        "update-model-package",
        "--model-package-arn",
        v3,
        "--model-approval-status",
        "Rejected",
        "--approval-description",
        "Performance below threshold",
    )
    assert wait_for(lambda: live(twin) == 1)
    endpoint = twin.client("sagemaker").describe_endpoint(EndpointName=ENDPOINT)
    assert endpoint["EndpointConfigName"].endswith("-v1")
    statuses = {(r["version"], r["kind"]): r["status"] for r in history(twin)}
    assert statuses[(3, "deploy")] == "rolled_back"
    assert statuses[(1, "rollback")] == "succeeded"
    log = twin.log()
    assert any("rolling back" in m.get("text", "") for m in log["slack"])
    assert all(o["ok"] for o in log["outcomes"]), [o for o in log["outcomes"] if not o["ok"]]


def test_every_event_twice_changes_nothing_twice(provisioned: RunningTwin) -> None:
    twin = provisioned
    twin.control("/twin/duplicate-events", "true")
    v1 = register(twin, 1, auc=0.91)
    assert wait_for(lambda: stamped(twin, v1) == "passed")
    approve(twin, v1)
    assert wait_for(lambda: live(twin) == 1)
    twin.idle()

    log = twin.log()
    assert len(log["deliveries"]) == 2 * len(log["events"])  # each event really arrived twice
    assert len(history(twin)) == 1  # one deployment
    texts = [m.get("text", "") for m in log["slack"]]
    for word in ("Registered", "Validation passed", "Approved", "deploying", "live"):
        assert sum(word in t for t in texts) == 1, (word, texts)


def test_failed_update_is_reported_and_the_old_version_stays_live(provisioned: RunningTwin) -> None:
    twin = provisioned
    v1 = register(twin, 1, auc=0.91)
    assert wait_for(lambda: stamped(twin, v1) == "passed")
    approve(twin, v1)
    assert wait_for(lambda: live(twin) == 1)

    twin.control("/twin/fail-next-update", "CloudWatch alarm rc-fraud-detection-endpoint-5xx fired")
    v2 = register(twin, 2, auc=0.92)
    assert wait_for(lambda: stamped(twin, v2) == "passed")
    approve(twin, v2)

    failed = wait_for(lambda: next((r for r in history(twin) if r["version"] == 2 and r["status"] == "failed"), None))
    assert "5xx fired" in failed["failure_reason"]
    assert live(twin) == 1
    endpoint = twin.client("sagemaker").describe_endpoint(EndpointName=ENDPOINT)
    assert (endpoint["EndpointStatus"], endpoint["EndpointConfigName"][-3:]) == ("InService", "-v1")
    assert wait_for(lambda: any("failed" in m.get("text", "").lower() for m in twin.log()["slack"]))

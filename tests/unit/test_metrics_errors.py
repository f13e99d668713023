"""S3 errors: the version's fault fails closed, ours is retried (never a verdict on a good model)."""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber
from registry_workflow.errors import AwsOperationError, MetricsUnavailableError
from registry_workflow.metrics import load_metrics

MODEL_METRICS = {"ModelQuality": {"Statistics": {"ContentType": "application/json", "S3Uri": "s3://b/k.json"}}}


def stubbed_s3(code: str, status: int) -> boto3.client:
    s3 = boto3.client("s3", region_name="us-east-1")
    stubber = Stubber(s3)
    stubber.add_client_error("get_object", service_error_code=code, http_status_code=status)
    stubber.activate()
    return s3


@pytest.mark.parametrize(("code", "status"), [("NoSuchKey", 404), ("NoSuchBucket", 404)])
def test_missing_metrics_fail_closed(code: str, status: int) -> None:
    with pytest.raises(MetricsUnavailableError, match=r"metrics not found: s3://b/k\.json"):
        load_metrics(MODEL_METRICS, stubbed_s3(code, status))


def test_archived_metrics_are_not_readable() -> None:
    with pytest.raises(MetricsUnavailableError, match="not readable"):
        load_metrics(MODEL_METRICS, stubbed_s3("InvalidObjectState", 403))


@pytest.mark.parametrize(
    ("code", "status"), [("AccessDenied", 403), ("KMS.AccessDeniedException", 400), ("SlowDown", 503)]
)
def test_our_own_permission_or_service_faults_are_retried_not_judged(code: str, status: int) -> None:
    with pytest.raises(AwsOperationError, match=code):
        load_metrics(MODEL_METRICS, stubbed_s3(code, status))

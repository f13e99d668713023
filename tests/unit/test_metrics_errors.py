"""S3 errors: the version's fault fails closed, ours is retried (never a verdict on a good model)."""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber
from registry_workflow.errors import AwsOperationError, MetricsUnavailableError
from registry_workflow.metrics import MAX_METRICS_BYTES, flatten_metrics, load_metrics, parse_metrics_json

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


def test_an_object_larger_than_the_cap_is_refused_before_its_body_is_read() -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    stubber = Stubber(s3)
    body = _UnreadableBody()
    stubber.add_response(
        "get_object", {"ContentLength": MAX_METRICS_BYTES + 1, "Body": body}, {"Bucket": "b", "Key": "k.json"}
    )
    stubber.activate()

    with pytest.raises(MetricsUnavailableError, match=f"larger than {MAX_METRICS_BYTES} bytes"):
        load_metrics(MODEL_METRICS, s3)
    assert body.closed


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ('{"auc": ' + "1" * 4301 + "}", "number too long"),
        (b"\xff\xfe{", "not UTF-8 JSON"),
        ("{auc: 1}", "not JSON"),
    ],
)
def test_documents_that_break_the_parser_are_refused_with_a_reason(body: str | bytes, reason: str) -> None:
    with pytest.raises(MetricsUnavailableError, match=reason):
        parse_metrics_json(body, "s3://b/k.json")


def test_non_finite_and_float_overflowing_numbers_are_not_metrics() -> None:
    document = parse_metrics_json('{"auc": NaN, "f1": -Infinity, "big": ' + "9" * 400 + ', "recall": 0.8}')

    assert flatten_metrics(document) == {"recall": 0.8}


class _UnreadableBody:
    """A streaming body that fails the test if read (the cap is checked on ContentLength first)."""

    closed = False

    def read(self, *_: object) -> bytes:
        raise AssertionError("the body of an oversized object was read")

    def close(self) -> None:
        self.closed = True

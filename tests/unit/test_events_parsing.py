"""Parsing model-package events at the edge: every sample, and the bad events that must be refused."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from conftest import EVENTS, load_event
from registry_workflow.errors import MalformedEventError
from registry_workflow.events import MODEL_PACKAGE_STATE_CHANGE, parse_model_package_event

PACKAGE_SAMPLES = sorted(
    p.stem for p in EVENTS.glob("*.json") if load_event(p.stem).get("detail-type") == MODEL_PACKAGE_STATE_CHANGE
)


@pytest.mark.parametrize("sample", PACKAGE_SAMPLES)
def test_every_model_package_sample_parses(sample: str) -> None:
    raw = load_event(sample)
    event = parse_model_package_event(raw)
    assert event.id == raw["id"]
    assert event.detail.arn == raw["detail"]["ModelPackageArn"]
    assert event.detail.version == raw["detail"]["ModelPackageVersion"]
    assert event.detail.approval_status == raw["detail"]["ModelApprovalStatus"]


@pytest.mark.parametrize(
    ("sample", "creation", "approval_changed", "metadata_only"),
    [
        ("model-package-registered", True, True, False),
        ("model-package-no-updated-fields", True, True, False),
        ("model-package-approved", False, True, False),
        ("model-package-back-to-pending", False, True, False),
        ("model-package-rejected-with-description", False, True, False),
        ("model-package-metadata-stamp", False, False, True),
        ("validation-stamp-passed", False, False, True),
        ("validation-stamp-failed", False, True, False),
        ("model-package-promotion-requested", False, False, False),
    ],
)
def test_what_changed(sample: str, creation: bool, approval_changed: bool, metadata_only: bool) -> None:
    detail = parse_model_package_event(load_event(sample)).detail
    assert (detail.is_creation, detail.approval_changed, detail.metadata_only) == (
        creation,
        approval_changed,
        metadata_only,
    )


@pytest.mark.parametrize("sample", PACKAGE_SAMPLES)
def test_only_the_promotion_sample_asks_for_a_promotion(sample: str) -> None:
    detail = parse_model_package_event(load_event(sample)).detail
    assert detail.promotion_asked is (sample == "model-package-promotion-requested")
    if detail.promotion_asked:
        assert detail.lifecycle is not None
        assert (detail.lifecycle.stage, detail.lifecycle.stage_status) == ("production", "Approved")


def test_optional_fields_may_be_absent() -> None:
    raw = load_event("model-package-registered")
    for key in (
        "ModelMetrics",
        "InferenceSpecification",
        "LastModifiedTime",
        "ModelLifeCycle",
        "MetadataProperties",
    ):
        raw["detail"].pop(key)
    raw.pop("account")
    detail = parse_model_package_event(raw).detail
    assert detail.model_metrics is None
    assert detail.last_modified_time is None


def broken(change: Any) -> dict[str, Any]:
    event = copy.deepcopy(load_event("model-package-registered"))
    change(event)
    return event


@pytest.mark.parametrize(
    ("event", "where"),
    [
        (broken(lambda e: e["detail"].pop("ModelPackageGroupName")), "ModelPackageGroupName"),
        (broken(lambda e: e["detail"].update(ModelPackageVersion="one")), "ModelPackageVersion"),
        (broken(lambda e: e["detail"].update(ModelPackageVersion=0)), "ModelPackageVersion"),
        (broken(lambda e: e["detail"].update(ModelPackageArn="not-an-arn")), "ModelPackageArn"),
        (broken(lambda e: e["detail"].update(ModelApprovalStatus="Maybe")), "ModelApprovalStatus"),
        (broken(lambda e: e["detail"].update(UpdatedModelPackageFields="ModelApprovalStatus")), "Updated"),
        (broken(lambda e: e.pop("detail")), "detail"),
        (broken(lambda e: e.update(source="aws.s3")), "source"),
        (broken(lambda e: e.update({"detail-type": "SageMaker Endpoint State Change"})), "detail-type"),
    ],
)
def test_bad_events_raise_a_typed_error_naming_the_field_and_event(event: dict[str, Any], where: str) -> None:
    with pytest.raises(MalformedEventError, match=where) as raised:
        parse_model_package_event(event)
    assert raised.value.event_id == event["id"]


@pytest.mark.parametrize("event", [None, "text", [], 42])
def test_non_objects_are_malformed(event: Any) -> None:
    with pytest.raises(MalformedEventError):
        parse_model_package_event(event)


def test_event_without_id_is_malformed() -> None:
    event = load_event("model-package-registered")
    del event["id"]
    with pytest.raises(MalformedEventError) as raised:
        parse_model_package_event(event)
    assert raised.value.event_id is None


# --- CreationTime / LastModifiedTime: ISO strings (AWS's docs) or epoch milliseconds (real captures) ---

#: "CreationTime": 1622695255225 is the shape of a capture from a real account (aws-samples'
#: amazon-sagemaker-drift-detection README); the same instant as AWS's documented ISO string
EPOCH_MS, ISO = 1622695255225, "2021-06-03T04:40:55.225Z"


def in_shape(creation: Any, last_modified: Any) -> dict[str, Any]:
    event = copy.deepcopy(load_event("model-package-approved"))
    event["detail"]["CreationTime"], event["detail"]["LastModifiedTime"] = creation, last_modified
    return event


@pytest.mark.parametrize(
    "value",
    [
        EPOCH_MS,
        ISO,
        "2021-06-03T04:40:55.225+00:00",
        "2021-06-03T13:40:55.225+09:00",  # another offset, same instant
        "2021-06-03T04:40:55.225999Z",  # finer than the epoch shape carries: truncated, not rounded
        "2021-06-03T04:40:55.225",  # no offset: UTC
        float(EPOCH_MS),
    ],
)
def test_both_shapes_of_one_instant_parse_to_one_canonical_time(value: Any) -> None:
    detail = parse_model_package_event(in_shape(value, value)).detail
    assert detail.creation_time == detail.last_modified_time == ISO


def test_the_same_event_in_both_shapes_is_one_idempotency_key() -> None:
    from registry_workflow.handlers.intake import approval_key

    as_epoch = parse_model_package_event(in_shape(EPOCH_MS, EPOCH_MS + 5000))
    as_iso = parse_model_package_event(in_shape(ISO, "2021-06-03T04:41:00.225Z"))
    assert approval_key(as_epoch) == approval_key(as_iso)
    later = parse_model_package_event(in_shape(EPOCH_MS, EPOCH_MS + 5001))
    assert approval_key(later) != approval_key(as_epoch)  # a millisecond later is another change


@pytest.mark.parametrize("value", ["yesterday", "1622695255225", True, [], {"ms": 1}, 10**20, float("nan")])
def test_a_time_in_neither_shape_is_malformed(value: Any) -> None:
    with pytest.raises(MalformedEventError, match="LastModifiedTime"):
        parse_model_package_event(in_shape(ISO, value))


def test_endpoint_event_times_share_the_canonical_form() -> None:
    from registry_workflow.events import parse_endpoint_event

    event = copy.deepcopy(load_event("endpoint-in-service"))
    event["detail"]["LastModifiedTime"] = EPOCH_MS
    assert parse_endpoint_event(event).detail.last_modified_time == ISO


def test_epoch_millis_and_event_time_agree_exactly() -> None:
    from datetime import UTC, datetime

    from registry_workflow.events import epoch_millis, event_time

    moment = datetime(2021, 6, 3, 4, 40, 55, 225999, tzinfo=UTC)
    assert epoch_millis(moment) == EPOCH_MS
    assert epoch_millis(moment.replace(tzinfo=None)) == EPOCH_MS  # naive is UTC (moto's times)
    assert event_time(epoch_millis(moment)) == event_time(moment.isoformat()) == ISO


def test_a_versions_audit_key_takes_the_events_creation_time_else_its_descriptions() -> None:
    from datetime import UTC, datetime
    from types import SimpleNamespace

    from registry_workflow.audit import created_of, version_key

    described = {"CreationTime": datetime(2021, 6, 3, 4, 40, 55, 225999, tzinfo=UTC)}
    from_event = parse_model_package_event(load_event("model-package-registered")).detail
    assert created_of(from_event, described) == from_event.creation_time
    assert created_of(SimpleNamespace(creation_time=None), described) == "2021-06-03T04:40:55.225Z"
    assert created_of(SimpleNamespace(creation_time=None), {}) is None
    arn = "arn:aws:sagemaker:us-east-1:123456789012:model-package/rc-a/1"
    assert (
        version_key("validated", arn, "2021-06-03T04:40:55.225Z", "abc")
        == f"validated:{arn}:2021-06-03T04:40:55.225Z:abc"
    )

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
        ("model-package-rejected-with-description", False, True, False),
        ("model-package-metadata-stamp", False, False, True),
        ("validation-stamp-passed", False, False, True),
        ("validation-stamp-failed", False, True, False),
    ],
)
def test_what_changed(sample: str, creation: bool, approval_changed: bool, metadata_only: bool) -> None:
    detail = parse_model_package_event(load_event(sample)).detail
    assert (detail.is_creation, detail.approval_changed, detail.metadata_only) == (
        creation,
        approval_changed,
        metadata_only,
    )


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

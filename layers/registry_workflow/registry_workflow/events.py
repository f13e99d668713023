"""Typed models of the EventBridge events this workflow consumes, parsed at the edge.

Strict on what the code relies on (group, version, ARN, approval status; endpoint name and
status), tolerant of everything real events may omit. The envelope mirrors Powertools'
`EventBridgeModel` but is defined here with plain pydantic: importing Powertools' parser package
pulls every model it has into a cold start (see docs/performance.md).

Facts designed against (../shared/AWS-FACTS.md): `UpdatedModelPackageFields` may be absent;
`CreationTime` / `LastModifiedTime` come as ISO-8601 strings (AWS's docs) or as epoch milliseconds
(events captured from real accounts, and endpoint events): both are read, and normalised here,
once, to one canonical string (`event_time`), so the same instant is one idempotency key whatever
its shape; `EndpointStatus` is `IN_SERVICE` in events and `InService` in `DescribeEndpoint`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from registry_workflow.errors import MalformedEventError

MODEL_PACKAGE_STATE_CHANGE = "SageMaker Model Package State Change"
ENDPOINT_STATE_CHANGE = "SageMaker Endpoint State Change"

ApprovalStatus = Literal["PendingManualApproval", "Approved", "Rejected"]

_TOLERANT = ConfigDict(extra="allow", populate_by_name=True, frozen=True)


class ModelLifeCycle(BaseModel):
    """`ModelLifeCycle` of a version (SageMaker's stages: where it is, and its status there)."""

    model_config = _TOLERANT

    stage: str | None = Field(default=None, alias="Stage", max_length=63)
    stage_status: str | None = Field(default=None, alias="StageStatus", max_length=63)
    stage_description: str | None = Field(default=None, alias="StageDescription")


class ModelPackageDetail(BaseModel):
    """`detail` of "SageMaker Model Package State Change"."""

    model_config = _TOLERANT

    group_name: str = Field(alias="ModelPackageGroupName", min_length=1, max_length=63)
    version: int = Field(alias="ModelPackageVersion", ge=1)
    arn: str = Field(alias="ModelPackageArn", pattern=r"^arn:aws[a-z-]*:sagemaker:[a-z0-9-]+:\d{12}:model-package/")
    approval_status: ApprovalStatus = Field(alias="ModelApprovalStatus")
    package_status: str | None = Field(default=None, alias="ModelPackageStatus")
    #: canonical times (`event_time`): "2021-06-03T04:40:55.225Z", whichever shape the event used
    creation_time: str | None = Field(default=None, alias="CreationTime")
    last_modified_time: str | None = Field(default=None, alias="LastModifiedTime")
    updated_fields: list[str] | None = Field(default=None, alias="UpdatedModelPackageFields")
    approval_description: str | None = Field(default=None, alias="ApprovalDescription")
    customer_metadata: dict[str, str] | None = Field(default=None, alias="CustomerMetadataProperties")
    model_metrics: dict[str, Any] | None = Field(default=None, alias="ModelMetrics")
    #: where the version is in a staged project: {Stage, StageStatus, StageDescription}
    lifecycle: ModelLifeCycle | None = Field(default=None, alias="ModelLifeCycle")

    @field_validator("creation_time", "last_modified_time", mode="before")
    @classmethod
    def _canonical_time(cls, value: Any) -> str | None:
        return None if value is None else event_time(value)

    @property
    def is_creation(self) -> bool:
        """A creation event carries no UpdatedModelPackageFields (or an empty list)."""
        return not self.updated_fields

    @property
    def approval_changed(self) -> bool:
        return self.is_creation or "ModelApprovalStatus" in (self.updated_fields or [])

    @property
    def lifecycle_changed(self) -> bool:
        """`ModelLifeCycle` changed and the approval did not: a promotion asked, or the workflow's own stamp."""
        fields = set(self.updated_fields or [])
        return "ModelLifeCycle" in fields and "ModelApprovalStatus" not in fields

    @property
    def promotion_asked(self) -> bool:
        """A person asked to promote the version: `ModelLifeCycle` set to a stage with `StageStatus` Approved."""
        lifecycle = self.lifecycle
        return (
            self.lifecycle_changed
            and lifecycle is not None
            and bool(lifecycle.stage)
            and (lifecycle.stage_status == "Approved")
        )

    @property
    def lifecycle_asked_with_approval(self) -> bool:
        """One update both approved the version and asked for a stage (`StageStatus` Approved)."""
        fields = set(self.updated_fields or [])
        lifecycle = self.lifecycle
        return (
            {"ModelLifeCycle", "ModelApprovalStatus"} <= fields
            and lifecycle is not None
            and (lifecycle.stage_status == "Approved")
        )

    @property
    def metadata_only(self) -> bool:
        """Only CustomerMetadataProperties changed: a stamp, e.g. the validator's own."""
        return bool(self.updated_fields) and set(self.updated_fields or []) <= {"CustomerMetadataProperties"}


class EndpointDetail(BaseModel):
    """`detail` of "SageMaker Endpoint State Change"."""

    model_config = _TOLERANT

    endpoint_name: str = Field(alias="EndpointName", min_length=1, max_length=63)
    endpoint_arn: str | None = Field(default=None, alias="EndpointArn")
    endpoint_config_name: str | None = Field(default=None, alias="EndpointConfigName")
    status: str = Field(alias="EndpointStatus")
    tags: dict[str, str] = Field(default_factory=dict, alias="Tags")
    last_modified_time: str | None = Field(default=None, alias="LastModifiedTime")

    @field_validator("last_modified_time", mode="before")
    @classmethod
    def _canonical_time(cls, value: Any) -> str | None:
        return None if value is None else event_time(value)

    @field_validator("status")
    @classmethod
    def _normalise(cls, value: str) -> str:
        return normalise_endpoint_status(value)


class _Envelope(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True, frozen=True)

    id: str
    version: str = "0"
    account: str | None = None
    time: datetime | None = None
    region: str | None = None
    resources: list[str] = Field(default_factory=list)
    source: Literal["aws.sagemaker"]
    detail_type: str = Field(alias="detail-type")


class ModelPackageEvent(_Envelope):
    detail_type: Literal["SageMaker Model Package State Change"] = Field(alias="detail-type")
    detail: ModelPackageDetail


class EndpointEvent(_Envelope):
    detail_type: Literal["SageMaker Endpoint State Change"] = Field(alias="detail-type")
    detail: EndpointDetail


def parse_model_package_event(event: Any) -> ModelPackageEvent:
    return _parse(ModelPackageEvent, event)


def parse_endpoint_event(event: Any) -> EndpointEvent:
    return _parse(EndpointEvent, event)


def _parse[T: _Envelope](model: type[T], event: Any) -> T:
    event_id = event.get("id") if isinstance(event, dict) else None
    if not isinstance(event, dict):
        raise MalformedEventError(None, f"expected a JSON object, got {type(event).__name__}")
    try:
        return model.model_validate(event)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "<root>"
        raise MalformedEventError(
            str(event_id) if event_id is not None else None,
            f"{where}: {first['msg']} ({exc.error_count()} error(s))",
        ) from None


# EventBridge spells endpoint states IN_SERVICE; DescribeEndpoint says InService. One spelling here.
_STATUS = {
    "OUT_OF_SERVICE": "OutOfService",
    "CREATING": "Creating",
    "UPDATING": "Updating",
    "SYSTEM_UPDATING": "SystemUpdating",
    "ROLLING_BACK": "RollingBack",
    "IN_SERVICE": "InService",
    "DELETING": "Deleting",
    "FAILED": "Failed",
    "UPDATE_ROLLBACK_FAILED": "UpdateRollbackFailed",
}
_KNOWN = set(_STATUS.values())


def normalise_endpoint_status(value: str) -> str:
    """`IN_SERVICE` / `InService` / `in_service` → `InService`; unknown values are errors."""
    if value in _KNOWN:
        return value
    normalised = _STATUS.get(value.upper().replace("-", "_"))
    if normalised is None:
        raise ValueError(f"unknown endpoint status {value!r}")
    return normalised


def to_event_spelling(status: str) -> str:
    """`InService` → `IN_SERVICE` (how EventBridge writes it)."""
    return next(k for k, v in _STATUS.items() if v == normalise_endpoint_status(status))


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)


def event_time(value: Any) -> str:
    """An event timestamp in its canonical form, ISO-8601 UTC to the millisecond ("…T04:40:55.225Z").

    Accepts both shapes SageMaker's events use: epoch milliseconds (`1622695255225`) and ISO-8601
    strings (`"2021-06-03T04:40:55.225Z"`, any offset, any precision; naive means UTC). Finer
    precision is truncated to the millisecond, the precision of the epoch shape, so both shapes of
    one instant give one string. Anything else raises ValueError (a malformed event).
    """
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"expected epoch milliseconds or an ISO-8601 string, got {type(value).__name__}")
    if isinstance(value, int | float):
        try:
            moment = _EPOCH + timedelta(milliseconds=int(value))
        except (OverflowError, ValueError):
            raise ValueError(f"epoch milliseconds out of range: {value!r}") from None
    else:
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"not an ISO-8601 time: {value[:40]!r}") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
    return _format_millis(moment)


def epoch_millis(moment: datetime) -> int:
    """A datetime as epoch milliseconds (exact, truncated like `event_time`; naive means UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // _MILLISECOND


def _format_millis(moment: datetime) -> str:
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def utc_now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"

"""Typed models of the EventBridge events this workflow consumes, parsed at the edge.

Strict on what the code relies on (group, version, ARN, approval status; endpoint name and
status), tolerant of everything real events may omit. The envelope mirrors Powertools'
`EventBridgeModel`. The models are declared as field tables (checks.py) and validated into plain
classes: a well-formed event in plain Python, anything else by pydantic-core (imported then, with
the core schemas the same tables describe), so values, coercion and error messages are those of the
pydantic models these replace, and a handler's init imports neither pydantic nor pydantic-core
(docs/performance.md). Importing Powertools' parser package would pull every model it has.

Facts designed against (../shared/AWS-FACTS.md): `UpdatedModelPackageFields` may be absent;
`CreationTime` / `LastModifiedTime` come as ISO-8601 strings (AWS's docs) or as epoch milliseconds
(events captured from real accounts, and endpoint events): both are read, and normalised here,
once, to one canonical string (`event_time`), so the same instant is one idempotency key whatever
its shape; `EndpointStatus` is `IN_SERVICE` in events and `InService` in `DescribeEndpoint`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Literal

from registry_workflow.checks import (
    After,
    AnyValue,
    Before,
    DictOf,
    Field,
    Int,
    Invalid,
    ListOf,
    Model,
    Nullable,
    OneOf,
    Spec,
    Str,
    Undecided,
    Validated,
)
from registry_workflow.errors import MalformedEventError

MODEL_PACKAGE_STATE_CHANGE = "SageMaker Model Package State Change"
ENDPOINT_STATE_CHANGE = "SageMaker Endpoint State Change"

ApprovalStatus = Literal["PendingManualApproval", "Approved", "Rejected"]
APPROVAL_STATUSES = ("PendingManualApproval", "Approved", "Rejected")


class _Parsed(Validated):
    """A validated event part (read-only: checks.Validated).

    Unknown keys are allowed and kept apart from the fields, as the pydantic models did (`extra="allow"`).
    """

    __slots__ = ()

    def __hash__(self) -> int:
        return hash((type(self), tuple(self.__dict__)))


class ModelLifeCycle(_Parsed):
    """`ModelLifeCycle` of a version (SageMaker's stages: where it is, and its status there)."""

    stage: str | None
    stage_status: str | None
    stage_description: str | None


class ModelPackageDetail(_Parsed):
    """`detail` of "SageMaker Model Package State Change"."""

    group_name: str
    version: int
    arn: str
    approval_status: ApprovalStatus
    package_status: str | None
    #: canonical times (`event_time`): "2021-06-03T04:40:55.225Z", whichever shape the event used
    creation_time: str | None
    last_modified_time: str | None
    updated_fields: list[str] | None
    approval_description: str | None
    customer_metadata: dict[str, str] | None
    model_metrics: dict[str, Any] | None
    #: where the version is in a staged project: {Stage, StageStatus, StageDescription}
    lifecycle: ModelLifeCycle | None

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


class EndpointDetail(_Parsed):
    """`detail` of "SageMaker Endpoint State Change"."""

    endpoint_name: str
    endpoint_arn: str | None
    endpoint_config_name: str | None
    status: str
    tags: dict[str, str]
    last_modified_time: str | None


class _Envelope(_Parsed):
    id: str
    version: str
    account: str | None
    time: datetime | None
    region: str | None
    resources: list[str]
    source: Literal["aws.sagemaker"]
    detail_type: str


class ModelPackageEvent(_Envelope):
    detail: ModelPackageDetail


class EndpointEvent(_Envelope):
    detail: EndpointDetail


# --- the field tables (what the pydantic models declared: checks.py validates them) --------------
# Each field: its spec, its default, and its alias (the event's spelling; the attribute's name is
# accepted too, as populate_by_name did). Unknown keys are kept apart from the fields (`extra="allow"`).


def _canonical_time(value: Any) -> str | None:
    return None if value is None else event_time(value)


class _Moment(Spec):
    """`datetime`: an RFC 3339 string with a zone is read here; anything else is pydantic-core's to judge."""

    _RFC3339 = re.compile(
        r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?(?:(Z)|([+-])(\d{2}):(\d{2}))",
        re.ASCII,
    )

    def check(self, value: Any) -> Any:
        found = self._RFC3339.fullmatch(value) if type(value) is str else None
        if found is None:
            raise Undecided
        year, month, day, hour, minute, second, fraction, utc, sign, zone_hours, zone_minutes = found.groups()
        if utc:
            zone = UTC
        elif int(zone_hours) > 23 or int(zone_minutes) > 59:
            raise Undecided
        else:
            offset = timedelta(hours=int(zone_hours), minutes=int(zone_minutes))
            zone = timezone(-offset if sign == "-" else offset)
        try:
            moment = datetime(
                int(year),
                int(month),
                int(day),
                int(hour),
                int(minute),
                int(second),
                int((fraction or "").ljust(6, "0")),
                tzinfo=zone,
            )
        except ValueError:
            raise Undecided from None
        if moment.year < 1:
            raise Undecided
        return moment

    def schema(self) -> Any:
        from pydantic_core import core_schema

        return core_schema.datetime_schema()


def _optional(spec: Spec, alias: str) -> Field:
    return Field(Nullable(spec), None, alias=alias)


def _time(alias: str) -> Field:
    """A field validator in "before" mode on `str | None`, as `@field_validator(..., mode="before")` made it."""
    return Field(Before(_canonical_time, Nullable(Str())), None, alias=alias)


def _model(cls: type, fields: dict[str, Field]) -> Model:
    """A model of `cls`: fields by alias (or name), unknown keys kept, a frozen instance."""
    config = {"title": cls.__name__, "extra_fields_behavior": "allow"}
    return Model(cls, fields, extra="allow", config=config)


_LIFECYCLE = _model(
    ModelLifeCycle,
    {
        "stage": _optional(Str(max_length=63), "Stage"),
        "stage_status": _optional(Str(max_length=63), "StageStatus"),
        "stage_description": _optional(Str(), "StageDescription"),
    },
)

_PACKAGE_DETAIL = _model(
    ModelPackageDetail,
    {
        "group_name": Field(Str(min_length=1, max_length=63), alias="ModelPackageGroupName"),
        "version": Field(Int(ge=1), alias="ModelPackageVersion"),
        "arn": Field(
            Str(pattern=r"^arn:aws[a-z-]*:sagemaker:[a-z0-9-]+:\d{12}:model-package/"), alias="ModelPackageArn"
        ),
        "approval_status": Field(OneOf(*APPROVAL_STATUSES), alias="ModelApprovalStatus"),
        "package_status": _optional(Str(), "ModelPackageStatus"),
        "creation_time": _time("CreationTime"),
        "last_modified_time": _time("LastModifiedTime"),
        "updated_fields": _optional(ListOf(Str()), "UpdatedModelPackageFields"),
        "approval_description": _optional(Str(), "ApprovalDescription"),
        "customer_metadata": _optional(DictOf(Str(), Str()), "CustomerMetadataProperties"),
        "model_metrics": _optional(DictOf(Str(), AnyValue()), "ModelMetrics"),
        "lifecycle": _optional(_LIFECYCLE, "ModelLifeCycle"),
    },
)

_ENDPOINT_DETAIL = _model(
    EndpointDetail,
    {
        "endpoint_name": Field(Str(min_length=1, max_length=63), alias="EndpointName"),
        "endpoint_arn": _optional(Str(), "EndpointArn"),
        "endpoint_config_name": _optional(Str(), "EndpointConfigName"),
        "status": Field(After(Str(), lambda v: normalise_endpoint_status(v)), alias="EndpointStatus"),
        "tags": Field(DictOf(Str(), Str()), factory=dict, alias="Tags"),
        "last_modified_time": _time("LastModifiedTime"),
    },
)


def _envelope(cls: type, detail_type: str, detail: Model) -> Model:
    return _model(
        cls,
        {
            "id": Field(Str(), alias="id"),
            "version": Field(Str(), "0", alias="version"),
            "account": _optional(Str(), "account"),
            "time": _optional(_Moment(), "time"),
            "region": _optional(Str(), "region"),
            "resources": Field(ListOf(Str()), factory=list, alias="resources"),
            "source": Field(OneOf("aws.sagemaker"), alias="source"),
            "detail_type": Field(OneOf(detail_type), alias="detail-type"),
            "detail": Field(detail, alias="detail"),
        },
    )


_MODELS: dict[type, Model] = {
    ModelPackageEvent: _envelope(ModelPackageEvent, MODEL_PACKAGE_STATE_CHANGE, _PACKAGE_DETAIL),
    EndpointEvent: _envelope(EndpointEvent, ENDPOINT_STATE_CHANGE, _ENDPOINT_DETAIL),
}


def parse_model_package_event(event: Any) -> ModelPackageEvent:
    return _parse(ModelPackageEvent, event)


def detail_of_package(package: dict[str, Any]) -> ModelPackageDetail:
    """A version's DescribeModelPackage as the detail of its state-change event (the fields the
    workflow reads), for work that acts on a version without an event of its own."""
    created = package.get("CreationTime")
    detail = {
        "ModelPackageGroupName": package.get("ModelPackageGroupName"),
        "ModelPackageVersion": package.get("ModelPackageVersion"),
        "ModelPackageArn": package.get("ModelPackageArn"),
        "ModelApprovalStatus": package.get("ModelApprovalStatus"),
        "CreationTime": created.isoformat() if isinstance(created, datetime) else None,
    }
    event = {"id": "describe", "source": "aws.sagemaker", "detail-type": MODEL_PACKAGE_STATE_CHANGE, "detail": detail}
    return parse_model_package_event(event).detail


def parse_endpoint_event(event: Any) -> EndpointEvent:
    return _parse(EndpointEvent, event)


def _parse[T: _Envelope](model: type[T], event: Any) -> T:
    event_id = event.get("id") if isinstance(event, dict) else None
    if not isinstance(event, dict):
        raise MalformedEventError(None, f"expected a JSON object, got {type(event).__name__}")
    try:
        parsed: T = _MODELS[model].validate(event)
    except Invalid as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "<root>"
        raise MalformedEventError(
            str(event_id) if event_id is not None else None,
            f"{where}: {first['msg']} ({exc.error_count()} error(s))",
        ) from None
    return parsed


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

"""The events' core-schema validators against the pydantic models they replaced (issue 14, cold start).

`registry_workflow.events` no longer builds pydantic models at import: it validates with
pydantic-core schemas written out by hand. The models below are the former ones, verbatim, kept
here as the oracle: on every sample in events/ and on mutated and random events (fixed seed), both
must accept the same events with the same values, and refuse the same events with the same message.
"""

from __future__ import annotations

import copy
import json
from datetime import datetime
from typing import Any, Literal

import pytest
from conftest import EVENTS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from registry_workflow import events
from registry_workflow.errors import MalformedEventError
from registry_workflow.events import event_time, normalise_endpoint_status

# --- the former models, under their names (error messages name the class) -------------------------

_TOLERANT = ConfigDict(extra="allow", populate_by_name=True, frozen=True)


class ModelLifeCycle(BaseModel):
    model_config = _TOLERANT

    stage: str | None = Field(default=None, alias="Stage", max_length=63)
    stage_status: str | None = Field(default=None, alias="StageStatus", max_length=63)
    stage_description: str | None = Field(default=None, alias="StageDescription")


class ModelPackageDetail(BaseModel):
    model_config = _TOLERANT

    group_name: str = Field(alias="ModelPackageGroupName", min_length=1, max_length=63)
    version: int = Field(alias="ModelPackageVersion", ge=1)
    arn: str = Field(alias="ModelPackageArn", pattern=r"^arn:aws[a-z-]*:sagemaker:[a-z0-9-]+:\d{12}:model-package/")
    approval_status: Literal["PendingManualApproval", "Approved", "Rejected"] = Field(alias="ModelApprovalStatus")
    package_status: str | None = Field(default=None, alias="ModelPackageStatus")
    creation_time: str | None = Field(default=None, alias="CreationTime")
    last_modified_time: str | None = Field(default=None, alias="LastModifiedTime")
    updated_fields: list[str] | None = Field(default=None, alias="UpdatedModelPackageFields")
    approval_description: str | None = Field(default=None, alias="ApprovalDescription")
    customer_metadata: dict[str, str] | None = Field(default=None, alias="CustomerMetadataProperties")
    model_metrics: dict[str, Any] | None = Field(default=None, alias="ModelMetrics")
    lifecycle: ModelLifeCycle | None = Field(default=None, alias="ModelLifeCycle")

    @field_validator("creation_time", "last_modified_time", mode="before")
    @classmethod
    def _canonical_time(cls, value: Any) -> str | None:
        return None if value is None else event_time(value)


class EndpointDetail(BaseModel):
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


def old_parse(model: type[_Envelope], event: Any) -> tuple[str, Any]:
    """("ok", the values) or ("refused", the message the former `_parse` raised)."""
    if not isinstance(event, dict):
        return "refused", str(MalformedEventError(None, f"expected a JSON object, got {type(event).__name__}"))
    event_id = event.get("id")
    try:
        parsed = model.model_validate(event)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "<root>"
        problem = f"{where}: {first['msg']} ({exc.error_count()} error(s))"
        return "refused", str(MalformedEventError(str(event_id) if event_id is not None else None, problem))
    return "ok", values(parsed)


def values(parsed: Any) -> Any:
    """Every field of a parsed event, nested parts included, as plain data (either implementation)."""
    if isinstance(parsed, BaseModel | events._Parsed):
        fields = parsed.__dict__
        return {name: values(value) for name, value in fields.items()}
    return parsed


def new_parse(parse: Any, event: Any) -> tuple[str, Any]:
    try:
        parsed = parse(event)
    except MalformedEventError as exc:
        return "refused", str(exc)
    return "ok", values(parsed)


PAIRS = [
    (ModelPackageEvent, events.parse_model_package_event),
    (EndpointEvent, events.parse_endpoint_event),
]
SAMPLES = [json.loads(p.read_text()) for p in sorted(EVENTS.glob("*.json")) if p.stem != "provision"]


def same(event: Any) -> None:
    for old, new in PAIRS:
        before = old_parse(old, copy.deepcopy(event))
        after = new_parse(new, copy.deepcopy(event))
        assert after == before, (old.__name__, event)


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: str(s["detail-type"]))
def test_every_sample_parses_as_before(sample: dict[str, Any]) -> None:
    same(sample)


# --- mutated and random events (fixed seed: the same examples on every run) ------------------------

leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=1, max_value=10**14).map(str),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.sampled_from(["InService", "IN_SERVICE", "2021-06-03T04:40:55.225Z", "aws.sagemaker", "", " 7 ", "1e3"]),
)
json_value = st.recursive(
    leaf,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=8,
)


def _paths(document: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(document, dict):
        for key, value in document.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            found += _paths(value, (*prefix, index))
    return found


@st.composite
def mutated(draw: st.DrawFn) -> Any:
    event: Any = copy.deepcopy(draw(st.sampled_from(SAMPLES)))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_paths(event)))
        if not path:
            continue
        parent = event
        for part in path[:-1]:
            parent = parent[part]
        if draw(st.booleans()):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(json_value)
    return event


@settings(
    max_examples=1500,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.one_of(mutated(), json_value))
def test_mutated_and_random_events_parse_or_fail_as_before(event: Any) -> None:
    same(event)


def test_parsed_events_are_read_only() -> None:
    parsed = events.parse_model_package_event(json.loads((EVENTS / "model-package-approved.json").read_text()))
    with pytest.raises(AttributeError):
        parsed.detail.version = 2  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del parsed.id


def test_parsed_events_copy_and_pickle_as_before() -> None:
    """Copy and pickle restore pydantic-core's slots through setattr: read-only must still let them."""
    import pickle

    event = json.loads((EVENTS / "model-package-approved.json").read_text())
    parsed = events.parse_model_package_event(event)

    assert copy.copy(parsed) == parsed
    assert copy.deepcopy(parsed) == parsed
    assert pickle.loads(pickle.dumps(parsed)) == parsed
    with pytest.raises(AttributeError):
        del parsed.detail


def test_the_samples_parse_without_pydantic_core() -> None:
    """A well-formed event is read by the plain checks alone: pydantic-core is not imported for it."""
    import subprocess
    import sys

    code = (
        "import json, pathlib, sys; from registry_workflow import events\n"
        "for path in sorted(pathlib.Path(sys.argv[1]).glob('*.json')):\n"
        "    event = json.loads(path.read_text())\n"
        "    if path.stem != 'provision':\n"
        "        endpoint = 'Endpoint' in event['detail-type']\n"
        "        (events.parse_endpoint_event if endpoint else events.parse_model_package_event)(event)\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'pydantic', 'pydantic_core'}))"
    )
    done = subprocess.run([sys.executable, "-c", code, str(EVENTS)], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


#: a lone surrogate (JSON's "\\ud800"): a Python string pydantic-core cannot always read as UTF-8
LONE = "x\ud800"
UNREADABLE = [
    ("id",),
    ("account",),
    ("source",),
    ("resources", 0),
    ("detail", "ModelPackageGroupName"),
    ("detail", "ModelPackageArn"),
    ("detail", "ApprovalDescription"),
    ("detail", "EndpointName"),
    ("detail", "EndpointStatus"),
    ("detail", "CustomerMetadataProperties", LONE),
    ("detail", "Tags", LONE),
    ("detail", "ModelMetrics", LONE),
    ("detail", "ModelMetrics", "a"),
    ("detail", LONE),
    (LONE,),
]


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: str(s["detail-type"]))
@pytest.mark.parametrize("path", UNREADABLE, ids=str)
def test_strings_pydantic_core_cannot_read_are_judged_as_before(sample: dict[str, Any], path: tuple[Any, ...]) -> None:
    """Hypothesis's text has no lone surrogates: these cases are written out (as values and as keys)."""
    event = copy.deepcopy(sample)
    node: Any = event
    for part in path[:-1]:
        if isinstance(node, dict) and not isinstance(node.get(part), dict | list):
            node[part] = {}
        node = node[part]
    if isinstance(node, list):
        node.append(LONE)
    else:
        node[path[-1]] = LONE
    same(event)

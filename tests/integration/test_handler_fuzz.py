"""Fuzzing every event handler (validator, notifier, deployer, tracker) through its Lambda entry.

Events are the samples in events/ mutated (keys dropped, types changed, random, huge and unicode
values, wrong detail-type or source) or fully random JSON. Two properties, for every example:

* only the typed errors of `registry_workflow.errors` escape; otherwise the handler returns;
* bad input writes nothing. An event that fails the handler's event model must make no AWS call
  at all. An event that parses (well-formed but about nothing that exists here: moto holds no
  version and no endpoint) may write only to the idempotency table — Powertools records the key
  before the run and deletes it when the run fails. Any other write (SageMaker, the ledger, SNS,
  CloudWatch, S3) fails the property.

`HYPOTHESIS_PROFILE=fuzz` (`make fuzz`) runs ten times as many examples as CI's "fast" profile.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import fuzz_stats
import pytest
from conftest import EVENTS, FakeLambdaContext
from deploy_support import IDEMPOTENCY_TABLE, make_world
from handler_loader import handler_module
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from registry_workflow import aws
from registry_workflow.errors import MalformedEventError, RegistryWorkflowError
from registry_workflow.events import parse_endpoint_event, parse_model_package_event

SERVICES = ("sagemaker", "s3", "sns", "dynamodb", "secretsmanager", "cloudwatch", "sqs")
READS = ("Describe", "Get", "List", "Query", "Scan", "BatchGet", "TransactGet")
SAMPLES = [json.loads(p.read_text()) for p in sorted(EVENTS.glob("*.json")) if p.stem != "provision"]

#: handler -> the event model it parses (an event that fails it must cause no AWS call)
PARSERS: dict[str, Callable[[Any], Any]] = {
    "validator": parse_model_package_event,
    "notifier": parse_model_package_event,
    "deployer": parse_model_package_event,
    "tracker": parse_endpoint_event,
}

#: one moto world per test, shared by its examples (each example clears the call log)
SUPPRESSED = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large]


# --- strategies -----------------------------------------------------------------------------------

unicode_text = st.text(st.characters(codec="utf-8"), max_size=40)
huge = st.sampled_from(["x" * 100_000, "é" * 30_000, 10**30, -(10**30), 1e308, [0] * 5_000, {"k": "v" * 50_000}])
leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    unicode_text,
)
json_value = st.recursive(
    leaf,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
envelope_field = st.sampled_from(["source", "detail-type", "id", "time", "account", "region", "resources"])
wrong_types = st.sampled_from(
    [
        "SageMaker Model Package State Change",
        "SageMaker Endpoint State Change",
        "SageMaker Model Package Group State Change",
        "Scheduled Event",
        "",
    ]
)


def _paths(document: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every key / index path inside a JSON document (the root is ())."""
    yield prefix
    if isinstance(document, dict):
        for key, value in document.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            yield from _paths(value, (*prefix, index))


def _set(document: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    parent = document
    for part in path[:-1]:
        parent = parent[part]
    parent[path[-1]] = value
    return document


def _drop(document: Any, path: tuple[Any, ...]) -> Any:
    if not path:
        return document
    parent = document
    for part in path[:-1]:
        parent = parent[part]
    del parent[path[-1]]
    return document


@st.composite
def mutated_events(draw: st.DrawFn) -> Any:
    """A sample from events/ with 0-4 mutations: drop, random value, string, huge, wrong type/source."""
    event: Any = copy.deepcopy(draw(st.sampled_from(SAMPLES)))
    for _ in range(draw(st.integers(0, 4))):
        operation = draw(st.sampled_from(["drop", "random", "string", "huge", "envelope", "type"]))
        if operation == "envelope" and isinstance(event, dict):
            field = draw(envelope_field)
            value = draw(st.one_of(wrong_types, json_value)) if field != "source" else draw(st.text(max_size=12))
            event[field] = value
            continue
        path = draw(st.sampled_from(list(_paths(event))))
        if operation == "drop":
            event = _drop(event, path)
        elif operation == "random":
            event = _set(event, path, draw(json_value))
        elif operation == "string":
            event = _set(event, path, draw(unicode_text))
        elif operation == "huge":
            event = _set(event, path, copy.deepcopy(draw(huge)))  # never mutate the shared one
        elif operation == "type":
            event = _set(event, path, _other_type(_get(event, path)))
    return event


def _get(document: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        document = document[part]
    return document


def _other_type(value: Any) -> Any:
    """The same value as another JSON type: "3" <-> 3, [x] <-> {"0": x}, None -> ""."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return int(value) if value.isascii() and value.isdecimal() else [value]
    if isinstance(value, list):
        return {str(i): v for i, v in enumerate(value)}
    if isinstance(value, dict):
        return list(value.values())
    return ""


random_events = st.one_of(
    json_value,
    st.dictionaries(st.sampled_from(["id", "source", "detail-type", "detail", "version", "x"]), json_value),
)


# --- the world and the property -----------------------------------------------------------------


class WriteCounter:
    """Every API call through the shared clients, as (service, operation, table)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str | None]] = []
        for service in SERVICES:
            aws.client(service).meta.events.register("provide-client-params", self._record)

    def _record(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        service = model.service_model.endpoint_prefix
        self.calls.append((service, model.name, params.get("TableName")))

    def writes(self) -> list[tuple[str, str, str | None]]:
        return [c for c in self.calls if not c[1].startswith(READS)]


@pytest.fixture
def fuzz_world(mocked_aws: None, config_dir: Path, monkeypatch: pytest.MonkeyPatch) -> WriteCounter:
    make_world(monkeypatch, config_dir)
    return WriteCounter()


@pytest.fixture(scope="module")
def handlers() -> dict[str, Callable[[Any, Any], Any]]:
    return {name: handler_module(name).lambda_handler for name in PARSERS}


def check(name: str, handler: Callable[[Any, Any], Any], event: Any, counter: WriteCounter, target: str) -> None:
    """Run one handler on one event and hold it to the properties in the module docstring."""
    counter.calls.clear()
    try:
        PARSERS[name](event)
        well_formed = True
    except MalformedEventError:
        well_formed = False
    raised: RegistryWorkflowError | None = None
    try:
        result = handler(event, FakeLambdaContext(function_name=f"fuzz-{name}"))
    except RegistryWorkflowError as exc:  # anything else fails the test as it is
        raised = exc
    if raised is not None:
        outcome = f"raised {type(raised).__name__}"
        assert well_formed or isinstance(raised, MalformedEventError), raised
    else:
        assert well_formed, f"{name} accepted an event its own model refuses: {event!r:.300}"
        outcome = f"returned {result.get('action')}"
    if not well_formed:
        assert counter.calls == [], f"{name} called AWS for a malformed event: {counter.calls}"
    stray = [w for w in counter.writes() if not (w[0] == "dynamodb" and w[2] == IDEMPOTENCY_TABLE)]
    assert stray == [], f"{name} wrote for bad input: {stray}; event {event!r:.300}"
    fuzz_stats.record(target, outcome)


#: per test: 5 tests x 200 = 1,000 examples in the "fast" profile (about 15 s), 10,000 under "fuzz"
EXAMPLES = max(200, settings.default.max_examples * 2 // 5)
FUZZ = settings(max_examples=EXAMPLES, suppress_health_check=SUPPRESSED)


@FUZZ
@given(event=mutated_events())
def test_validator_survives_mutated_events(fuzz_world: WriteCounter, handlers: Any, event: Any) -> None:
    check("validator", handlers["validator"], event, fuzz_world, "handler validator (mutated)")


@FUZZ
@given(event=mutated_events())
def test_notifier_survives_mutated_events(fuzz_world: WriteCounter, handlers: Any, event: Any) -> None:
    check("notifier", handlers["notifier"], event, fuzz_world, "handler notifier (mutated)")


@FUZZ
@given(event=mutated_events())
def test_deployer_survives_mutated_events(fuzz_world: WriteCounter, handlers: Any, event: Any) -> None:
    check("deployer", handlers["deployer"], event, fuzz_world, "handler deployer (mutated)")


@FUZZ
@given(event=mutated_events())
def test_tracker_survives_mutated_events(fuzz_world: WriteCounter, handlers: Any, event: Any) -> None:
    check("tracker", handlers["tracker"], event, fuzz_world, "handler tracker (mutated)")


@FUZZ
@given(event=random_events, name=st.sampled_from(sorted(PARSERS)))
def test_every_handler_survives_random_json(fuzz_world: WriteCounter, handlers: Any, event: Any, name: str) -> None:
    check(name, handlers[name], event, fuzz_world, "handlers (random JSON)")

"""Fault injection: every fault ends done once, or raised with nothing half-applied (Lambda retries the
event, then dead-letters it intact), and the retry finishes the job once.

Faults are injected below the product code: botocore `before-send` hooks answer an attempt in place
of AWS (moto never sees it), so botocore's own adaptive retry mode has to recover; the local Slack
stand-in answers 429 / 500 / hangs. Retry sleeps are patched to zero (botocore still decides what
to retry, and how often); the outcome of each case is recorded with `fuzz_stats.fault`.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fuzz_stats
import pytest
from conftest import FakeLambdaContext
from deploy_support import (
    ENDPOINT,
    GROUP,
    LEDGER_TABLE,
    DeployWorld,
    config_of,
    endpoint_event,
    make_world,
    model_of,
    register_version,
    set_approval,
)
from handler_loader import handler_module
from moto.core.botocore_stubber import MockRawResponse
from registry_workflow import aws, notifications
from registry_workflow.errors import AwsOperationError, NotificationError
from registry_workflow.ledger import DeploymentStatus
from registry_workflow.validation import STATUS_KEY
from slack_stub import HANG, Reply

pytest_plugins = ["registry_fixtures"]

GOOD = {"binary_classification_metrics": {"auc": {"value": 0.91}}}
SERVICES = ("sagemaker", "s3", "sns", "dynamodb", "secretsmanager", "cloudwatch")


# --- injection ------------------------------------------------------------------------------------


def _cbor_text(text: str) -> bytes:
    data = text.encode()
    assert len(data) < 256
    return (bytes([0x60 + len(data)]) if len(data) < 24 else bytes([0x78, len(data)])) + data


def error_reply(protocol: str, code: str, status: int = 400) -> tuple[int, dict[str, str], bytes]:
    """An AWS error answer in the service's wire protocol."""
    message = "injected fault"
    if protocol == "json":
        body = json.dumps({"__type": code, "message": message}).encode()
        return status, {"x-amzn-ErrorType": code, "Content-Type": "application/x-amz-json-1.1"}, body
    if protocol == "query":
        body = (
            f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message>"
            "</Error><RequestId>fault</RequestId></ErrorResponse>"
        ).encode()
        return status, {"Content-Type": "text/xml"}, body
    if protocol == "rest-xml":
        body = f"<Error><Code>{code}</Code><Message>{message}</Message></Error>".encode()
        return status, {"Content-Type": "application/xml"}, body
    if protocol == "smithy-rpc-v2-cbor":  # CloudWatch: a two-entry CBOR map
        body = b"\xa2" + _cbor_text("__type") + _cbor_text(code) + _cbor_text("message") + _cbor_text(message)
        return status, {"smithy-protocol": "rpc-v2-cbor", "Content-Type": "application/cbor"}, body
    raise AssertionError(protocol)


THROTTLE = {
    "json": ("ThrottlingException", 400),
    "query": ("Throttling", 400),
    "rest-xml": ("SlowDown", 503),
    "smithy-rpc-v2-cbor": ("ThrottlingException", 400),
}


class Faults:
    """Answers chosen attempts of chosen operations with an error, in place of AWS (and moto)."""

    def __init__(self) -> None:
        self.rules: list[tuple[Callable[[str, int], bool], str | None, int | None]] = []
        self.injected: Counter[str] = Counter()
        self.passed: Counter[str] = Counter()
        for service in SERVICES:
            client = aws.client(service)
            model = client.meta.service_model
            protocol = getattr(model, "resolved_protocol", None) or model.protocol  # the one on the wire
            client.meta.events.register_first("before-send", self._hook(service, protocol))

    def throttle_first_attempts(self) -> None:
        """Every call's first attempt is throttled (ThrottlingException / Throttling / SlowDown)."""
        self.rules.append((lambda op, attempt: attempt == 1, None, None))

    def fail(self, operation: str, code: str, status: int, *, attempts: int = 99) -> None:
        """`service:Operation` answers `code` on its first `attempts` attempts."""
        self.rules.append((lambda op, attempt: op == operation and attempt <= attempts, code, status))

    def clear(self) -> None:
        self.rules.clear()

    def _hook(self, service: str, protocol: str) -> Callable[..., Any]:
        def before_send(request: Any, event_name: str, **_: Any) -> Any:
            operation = f"{service}:{event_name.rsplit('.', 1)[-1]}"
            header = request.headers.get("amz-sdk-request", b"attempt=1")
            header = header.decode() if isinstance(header, bytes) else header
            attempt = int(header.split(";")[0].split("=")[1])
            for matches, code, status in self.rules:
                if matches(operation, attempt):
                    code, status = (code, status) if code else THROTTLE[protocol]
                    self.injected[f"{operation} {code}"] += 1
                    http_status, headers, body = error_reply(protocol, code, status or 400)
                    url, request.url = request.url, "https://fault-injected.invalid/"  # moto skips it
                    from botocore.awsrequest import AWSResponse

                    return AWSResponse(url, http_status, headers, MockRawResponse(body))
            self.passed[operation] += 1
            return None

        return before_send


@pytest.fixture(autouse=True)
def _no_retry_sleeps(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore decides what to retry; the waits between attempts are skipped."""
    monkeypatch.setattr("botocore.retries.standard.ExponentialBackoff.delay_amount", lambda self, ctx: 0.0)
    monkeypatch.setattr("botocore.retries.bucket.TokenBucket.acquire", lambda self, amount=1, block=True: True)


def record(name: str, outcome: str) -> None:
    fuzz_stats.fault(name, outcome)


class ShortContext(FakeLambdaContext):
    """An invocation that is about to time out: its idempotency record expires almost at once."""

    def get_remaining_time_in_millis(self) -> int:
        return 50


class LambdaTimeout(BaseException):
    """Lambda killing the run: no `except Exception` (ours or Powertools') sees it."""


def invoke(function: str, event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    return handler_module(function).lambda_handler(event, context or FakeLambdaContext())


# --- throttling on every call --------------------------------------------------------------------


def assert_every_call_throttled_then_passed(faults: Faults, handler: str) -> None:
    throttled = Counter({op.rsplit(" ", 1)[0]: n for op, n in faults.injected.items()})
    assert throttled, "no AWS call was made"
    assert throttled == faults.passed, (throttled, faults.passed)
    for op, n in throttled.items():
        for _ in range(n):
            record(f"throttling {op} ({handler})", "retried by botocore, done once")


def test_validator_recovers_from_throttling_on_every_call(registry: Any) -> None:
    arn = registry.register(metrics=GOOD)["ModelPackageArn"]
    event = registry.event_for(arn)
    faults = Faults()
    faults.throttle_first_attempts()

    result = invoke("validator", event)

    assert result["action"] == "stamped"
    assert registry.describe(arn)["CustomerMetadataProperties"][STATUS_KEY] == "passed"
    assert_every_call_throttled_then_passed(faults, "validator")


def test_notifier_recovers_from_throttling_on_every_call(registry: Any, slack_stub: Any) -> None:
    arn = registry.register(metrics=GOOD)["ModelPackageArn"]
    event = registry.event_for(arn)
    faults = Faults()
    faults.throttle_first_attempts()

    assert invoke("notifier", event)["action"] == "notified"

    assert len(registry.sns_messages()) == 1
    assert len(slack_stub.messages) == 1
    assert_every_call_throttled_then_passed(faults, "notifier")


@pytest.fixture
def world(mocked_aws: None, config_dir: Path, monkeypatch: pytest.MonkeyPatch) -> DeployWorld:
    return make_world(monkeypatch, config_dir)


def deploy_live(world: DeployWorld) -> str:
    arn = register_version(world.sagemaker)
    assert invoke("deployer", set_approval(world.sagemaker, arn, "Approved"))["action"] == "started"
    assert invoke("tracker", endpoint_event(world.sagemaker))["action"] == "succeeded"
    return arn


def test_deployer_and_tracker_recover_from_throttling_on_every_call(world: DeployWorld) -> None:
    # GIVEN v1 live (so v2 is an update: alarms, UpdateEndpoint)
    deploy_live(world)
    v2 = register_version(world.sagemaker)
    event = set_approval(world.sagemaker, v2, "Approved")
    faults = Faults()
    faults.throttle_first_attempts()
    # WHEN every call's first attempt is throttled
    assert invoke("deployer", event)["action"] == "started"
    assert_every_call_throttled_then_passed(faults, "deployer")
    in_service = endpoint_event(world.sagemaker)
    faults.injected.clear()
    faults.passed.clear()
    assert invoke("tracker", in_service)["action"] == "succeeded"
    assert_every_call_throttled_then_passed(faults, "tracker")
    # THEN the result is what it is without faults: v2 live, once
    records = world.ledger.for_endpoint(ENDPOINT)
    assert [(r.version, r.status) for r in records] == [
        (1, DeploymentStatus.SUCCEEDED),
        (2, DeploymentStatus.SUCCEEDED),
    ]
    assert len(world.sagemaker.list_models()["Models"]) == 2


# --- S3 metrics -----------------------------------------------------------------------------------


@pytest.mark.parametrize("document", ["missing", "not json {"])
def test_missing_or_unreadable_metrics_fail_closed_once(registry: Any, document: str) -> None:
    if document == "missing":
        arn = registry.register(metrics_uri="s3://ml-artifacts-123456789012/nothing/here.json")["ModelPackageArn"]
    else:
        arn = registry.register(metrics=document)["ModelPackageArn"]
    event = registry.event_for(arn)
    calls = registry.count_calls("sagemaker")

    first = invoke("validator", event)
    again = invoke("validator", dict(event, id="redelivery"))

    package = registry.describe(arn)
    assert first["action"] == "rejected"
    assert again == first  # the duplicate stops at the idempotency record
    assert package["CustomerMetadataProperties"][STATUS_KEY] == "failed"
    assert calls["sagemaker:UpdateModelPackage"] == 1
    record(f"S3 metrics {'missing' if document == 'missing' else 'not JSON'}", "failed closed, stamped once")


def test_s3_outage_raises_without_a_verdict_and_the_retry_judges_once(registry: Any) -> None:
    arn = registry.register(metrics=GOOD)["ModelPackageArn"]
    event = registry.event_for(arn)
    faults = Faults()
    faults.fail("s3:GetObject", "InternalError", 500)
    calls = registry.count_calls("sagemaker")

    with pytest.raises(AwsOperationError, match="s3:GetObject"):
        invoke("validator", event)
    assert calls["sagemaker:UpdateModelPackage"] == 0  # no verdict on metrics never read
    assert "CustomerMetadataProperties" not in registry.describe(arn)
    faults.clear()
    assert invoke("validator", event)["action"] == "stamped"
    assert calls["sagemaker:UpdateModelPackage"] == 1
    record("S3 GetObject 500 on every attempt", "raised (retried by Lambda), then done once")


# --- Slack and SNS --------------------------------------------------------------------------------


def test_slack_429_is_waited_out_and_sent_once(registry: Any, slack_stub: Any) -> None:
    arn = registry.register(metrics=GOOD)["ModelPackageArn"]
    slack_stub.answer(Reply(429, {"Retry-After": "0"}))

    invoke("notifier", registry.event_for(arn))

    assert [r["status"] for r in slack_stub.requests] == [429, 200]
    assert len(registry.sns_messages()) == 1
    record("Slack 429", "retried after Retry-After, sent once")


@pytest.mark.parametrize("failure", [500, HANG])
def test_slack_failure_raises_and_the_retry_sends_each_channel_once(
    registry: Any, slack_stub: Any, monkeypatch: pytest.MonkeyPatch, failure: int | str
) -> None:
    monkeypatch.setattr(notifications, "SLACK_SERVER_ERROR_RETRIES", 1)
    monkeypatch.setattr(notifications, "SLACK_CONNECTION_RETRIES", 0)
    monkeypatch.setattr(notifications, "SLACK_TIMEOUT_SECONDS", 1)
    arn = registry.register(metrics=GOOD)["ModelPackageArn"]
    event = registry.event_for(arn)
    slack_stub.answer(*([failure] * (2 if failure == 500 else 1)))  # every attempt of the first run

    with pytest.raises(NotificationError):
        invoke("notifier", event)
    invoke("notifier", event)  # Lambda's retry

    # SNS went out in the first run and is not repeated; Slack goes out in the retry
    assert len(registry.sns_messages()) == 1
    assert len(slack_stub.messages) == 1
    record(
        f"Slack {'timeout' if failure == HANG else 'HTTP 500'} after retries", "raised, retry sent each channel once"
    )


def test_sns_failure_raises_and_the_retry_sends_each_channel_once(registry: Any, slack_stub: Any) -> None:
    arn = registry.register(metrics=GOOD)["ModelPackageArn"]
    event = registry.event_for(arn)
    faults = Faults()
    faults.fail("sns:Publish", "KMSAccessDenied", 400)

    with pytest.raises(NotificationError, match="sns:Publish"):
        invoke("notifier", event)
    assert len(slack_stub.messages) == 1
    faults.clear()
    invoke("notifier", event)

    assert len(registry.sns_messages()) == 1
    assert len(slack_stub.messages) == 1
    record("SNS Publish refused", "raised, retry sent each channel once")


# --- DynamoDB races -------------------------------------------------------------------------------


def run_inside_first(
    operation: str, action: Callable[[], Any], when: Callable[[dict[str, Any]], bool] = lambda _: True
) -> list[Any]:
    """Run `action` as the first `operation` call matching `when` goes out (a concurrent invocation)."""
    done: list[Any] = []
    started: list[bool] = []

    def hook(params: dict[str, Any], **_: Any) -> None:
        if not started and when(params):  # once: the concurrent invocation makes the same call itself
            started.append(True)
            done.append(action())

    aws.client("dynamodb").meta.events.register(f"before-call.dynamodb.{operation}", hook)
    return done


def takes_the_endpoint_lock(params: dict[str, Any]) -> bool:
    """The ledger's `begin` (other transactions, e.g. the audit trail's, are not the race here)."""
    body = params.get("body") or b""
    return b'"LOCK"' in (body if isinstance(body, bytes) else str(body).encode())


def test_two_approvals_racing_for_one_endpoint_deploy_one_at_a_time(world: DeployWorld) -> None:
    v1 = register_version(world.sagemaker)
    v2 = register_version(world.sagemaker)
    e1 = set_approval(world.sagemaker, v1, "Approved")
    e2 = set_approval(world.sagemaker, v2, "Approved")
    # WHEN v2's approval takes the endpoint lock while v1's is about to
    inner = run_inside_first("TransactWriteItems", lambda: invoke("deployer", e2), when=takes_the_endpoint_lock)
    outer = invoke("deployer", e1)
    # THEN one wins the conditional write, the other is queued, and nothing is half-made
    assert inner[0]["action"] == "started"
    assert outer["action"] == "queued"
    assert [m["ModelName"] for m in world.sagemaker.list_models()["Models"]] == [model_of(world, 2)]
    # AND when v2 is live the queued older approval is superseded, not deployed
    assert invoke("tracker", endpoint_event(world.sagemaker))["action"] == "succeeded"
    statuses = {r.version: r.status for r in world.ledger.for_endpoint(ENDPOINT)}
    assert statuses == {1: DeploymentStatus.SUPERSEDED, 2: DeploymentStatus.SUCCEEDED}
    record("DynamoDB conditional-write conflict (two approvals, one endpoint)", "one deployed, other queued")


def test_the_same_approval_delivered_twice_at_once_deploys_once(world: DeployWorld) -> None:
    arn = register_version(world.sagemaker)
    event = set_approval(world.sagemaker, arn, "Approved")
    seconds: list[dict[str, Any]] = []

    def second_delivery() -> None:
        seconds.append(invoke("deployer", dict(event, id="second-delivery")))

    run_inside_first("TransactWriteItems", second_delivery)
    first = invoke("deployer", event)
    later = invoke("deployer", dict(event, id="second-delivery"))

    # the copy that arrived while the first ran stood down (the first owns the work, and Lambda
    # retries the first if it fails); a later copy gets the first's result
    assert seconds == [{"action": "duplicate", "detail": "the same change is being handled by another invocation"}]
    assert first == later
    assert first["action"] == "started"
    assert len(world.ledger.for_endpoint(ENDPOINT)) == 1
    assert len(world.sagemaker.list_models()["Models"]) == 1
    record("same approval twice concurrently", "the in-flight copy stood down, a later one returned the first result")


# --- a deployment interrupted half-way ------------------------------------------------------------


def interrupt_once(botocore_event: str) -> Callable[[BaseException], None]:
    """Arm an exception raised once at a botocore event of the shared SageMaker client."""
    armed: list[BaseException] = []

    def hook(**_: Any) -> None:
        if armed:
            raise armed.pop()

    aws.client("sagemaker").meta.events.register(botocore_event, hook)
    return armed.append


@pytest.fixture
def interrupt_create_endpoint() -> Callable[[BaseException], None]:
    """Raise once just before CreateEndpoint goes out (model and config already exist)."""
    return interrupt_once("before-call.sagemaker.CreateEndpoint")


def test_timeout_after_model_and_config_then_retry_makes_no_twins(
    world: DeployWorld, interrupt_create_endpoint: Callable[[BaseException], None]
) -> None:
    arn = register_version(world.sagemaker)
    event = set_approval(world.sagemaker, arn, "Approved")
    # GIVEN Lambda kills the run after CreateModel and CreateEndpointConfig succeeded
    interrupt_create_endpoint(LambdaTimeout())
    with pytest.raises(LambdaTimeout):
        invoke("deployer", event, ShortContext())
    [half] = world.ledger.for_endpoint(ENDPOINT)
    assert half.status == DeploymentStatus.IN_PROGRESS
    time.sleep(0.1)  # the in-progress idempotency record expires with the killed invocation
    # WHEN Lambda retries the event
    result = invoke("deployer", event)
    # THEN it resumes: one model, one config, one endpoint, one ledger record
    assert result["action"] == "started"
    assert [m["ModelName"] for m in world.sagemaker.list_models()["Models"]] == [model_of(world, 1)]
    configs = world.sagemaker.list_endpoint_configs()["EndpointConfigs"]
    assert [c["EndpointConfigName"] for c in configs] == [config_of(world, 1)]
    assert len(world.ledger.for_endpoint(ENDPOINT)) == 1
    assert invoke("tracker", endpoint_event(world.sagemaker))["action"] == "succeeded"
    record("Lambda timeout after CreateModel + CreateEndpointConfig", "retry resumed, no twins, one record")


def test_aws_error_mid_deployment_requeues_and_the_retry_makes_no_twins(world: DeployWorld) -> None:
    arn = register_version(world.sagemaker)
    event = set_approval(world.sagemaker, arn, "Approved")
    faults = Faults()
    faults.fail("sagemaker:CreateEndpoint", "InternalFailure", 500)

    with pytest.raises(AwsOperationError, match="CreateEndpoint"):
        invoke("deployer", event)
    [queued] = world.ledger.for_endpoint(ENDPOINT)
    assert queued.status == DeploymentStatus.QUEUED  # the lock is released for the retry
    assert world.ledger.in_progress(ENDPOINT) is None
    faults.clear()

    assert invoke("deployer", event)["action"] == "started"
    assert len(world.sagemaker.list_models()["Models"]) == 1
    assert len(world.sagemaker.list_endpoint_configs()["EndpointConfigs"]) == 1
    assert len(world.ledger.for_endpoint(ENDPOINT)) == 1
    record("CreateEndpoint 500 on every attempt", "raised, requeued; retry done once, no twins")


def test_a_stale_lock_is_taken_over_by_the_next_approval(
    world: DeployWorld, interrupt_create_endpoint: Callable[[BaseException], None]
) -> None:
    v1, v2, v3 = (register_version(world.sagemaker) for _ in range(3))
    # GIVEN v1's run was killed holding the endpoint lock, and its event never came back
    interrupt_create_endpoint(LambdaTimeout())
    with pytest.raises(LambdaTimeout):
        invoke("deployer", set_approval(world.sagemaker, v1, "Approved"), ShortContext())
    # WHEN v2 is approved while the lock is young, it waits
    assert invoke("deployer", set_approval(world.sagemaker, v2, "Approved"))["action"] == "queued"
    # AND once the lock is older than the rollout could take, v3's approval takes it over
    [stuck] = [r for r in world.ledger.for_endpoint(ENDPOINT) if r.version == 1]
    aws.client("dynamodb").update_item(
        TableName=LEDGER_TABLE,
        Key={"pk": {"S": f"ENDPOINT#{ENDPOINT}"}, "sk": {"S": f"DEPLOY#{stuck.deployment_id}"}},
        UpdateExpression="SET started_at = :old",
        ExpressionAttributeValues={":old": {"S": "2020-01-01T00:00:00.000000Z"}},
    )
    assert invoke("deployer", set_approval(world.sagemaker, v3, "Approved"))["action"] == "started"
    # THEN v1 is closed as failed, v3 holds the endpoint, v2 waits to be superseded
    statuses = {r.version: r.status for r in world.ledger.for_endpoint(ENDPOINT)}
    assert statuses == {1: DeploymentStatus.FAILED, 2: DeploymentStatus.QUEUED, 3: DeploymentStatus.IN_PROGRESS}
    assert world.ledger.in_progress(ENDPOINT).version == 3  # type: ignore[union-attr]
    assert invoke("tracker", endpoint_event(world.sagemaker))["action"] == "succeeded"
    record("stale endpoint lock (run killed, event lost)", "taken over by the next approval")


# --- a repeat of an UpdateEndpoint that SageMaker already accepted ---------------------------------


def wait_for_endpoint(world: DeployWorld, status: str, timeout: float = 15.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        endpoint = world.sagemaker.describe_endpoint(EndpointName=ENDPOINT)
        if endpoint["EndpointStatus"] == status or time.monotonic() > deadline:
            return dict(endpoint)
        time.sleep(0.05)


@pytest.fixture
def sagemaker_calls(world: DeployWorld) -> Counter[str]:
    """SageMaker API calls (not attempts) made from now on, by operation."""
    seen: Counter[str] = Counter()

    def count(model: Any, **_: Any) -> None:
        seen[model.name] += 1

    world.sagemaker.meta.events.register("provide-client-params.sagemaker.*", count)
    return seen


@pytest.fixture
def interrupt_after_update_endpoint() -> Callable[[BaseException], None]:
    """Raise once right after SageMaker answered UpdateEndpoint (the update is accepted)."""
    return interrupt_once("after-call.sagemaker.UpdateEndpoint")


def test_retry_after_a_timeout_following_update_endpoint_keeps_the_lock(
    world: DeployWorld,
    monkeypatch: pytest.MonkeyPatch,
    sagemaker_calls: Counter[str],
    interrupt_after_update_endpoint: Callable[[BaseException], None],
) -> None:
    from registry_workflow.local import moto_fixes

    # GIVEN v1 live; v2's run is killed right after SageMaker accepted its UpdateEndpoint
    deploy_live(world)
    v2 = register_version(world.sagemaker)
    event = set_approval(world.sagemaker, v2, "Approved")
    monkeypatch.setattr(moto_fixes.behaviour, "transition_seconds", 2.0)
    interrupt_after_update_endpoint(LambdaTimeout())
    with pytest.raises(LambdaTimeout):
        invoke("deployer", event, ShortContext())
    time.sleep(0.1)  # the in-progress idempotency record expires with the killed invocation
    titles_before = world.titles()

    # WHEN Lambda retries the event while the endpoint is still Updating to v2's config
    result = invoke("deployer", event)

    # THEN the retry sees the accepted update: the lock is kept, nothing is called again or queued
    assert (result["action"], result.get("detail")) == ("started", "update already accepted")
    assert sagemaker_calls["UpdateEndpoint"] == 1
    endpoint = world.sagemaker.describe_endpoint(EndpointName=ENDPOINT)
    assert endpoint["EndpointStatus"] == "Updating"
    assert endpoint["PendingDeploymentSummary"]["EndpointConfigName"] == config_of(world, 2)
    in_progress = world.ledger.in_progress(ENDPOINT)
    assert in_progress is not None
    assert in_progress.package_arn == v2
    assert world.ledger.queued(ENDPOINT) == []
    assert world.titles() == titles_before  # no misleading "queued"
    # AND the endpoint's InService closes it once
    assert wait_for_endpoint(world, "InService")["EndpointConfigName"] == config_of(world, 2)
    assert invoke("tracker", endpoint_event(world.sagemaker))["action"] == "succeeded"
    assert {r.version: r.status for r in world.ledger.for_endpoint(ENDPOINT)} == {
        1: DeploymentStatus.SUCCEEDED,
        2: DeploymentStatus.SUCCEEDED,
    }
    record("Lambda timeout after UpdateEndpoint (endpoint still Updating)", "retry kept the lock, no second update")


def test_retry_after_the_accepted_update_already_finished_closes_the_deployment(
    world: DeployWorld,
    sagemaker_calls: Counter[str],
    interrupt_after_update_endpoint: Callable[[BaseException], None],
) -> None:
    # GIVEN v1 live; v2's run is killed after UpdateEndpoint, and the update ends before the retry
    deploy_live(world)
    v2 = register_version(world.sagemaker)
    event = set_approval(world.sagemaker, v2, "Approved")
    interrupt_after_update_endpoint(LambdaTimeout())
    with pytest.raises(LambdaTimeout):
        invoke("deployer", event, ShortContext())
    time.sleep(0.1)

    # WHEN Lambda retries the event (the endpoint is InService on v2's config)
    result = invoke("deployer", event)

    # THEN the retry closes the deployment as succeeded, with no second update
    assert (result["action"], result["version"]) == ("succeeded", 2)
    assert sagemaker_calls["UpdateEndpoint"] == 1
    assert world.ledger.in_progress(ENDPOINT) is None
    live = world.ledger.live(ENDPOINT)
    assert live is not None
    assert live.package_arn == v2
    # AND the endpoint's own event, arriving after, changes nothing
    assert invoke("tracker", endpoint_event(world.sagemaker))["action"] == "nothing_in_progress"
    assert world.titles().count(f"{GROUP} v2: live") == 1
    record("Lambda timeout after UpdateEndpoint (update finished)", "retry closed it succeeded, no second update")


def test_a_repeated_update_endpoint_refused_as_busy_counts_as_accepted(
    world: DeployWorld, monkeypatch: pytest.MonkeyPatch, sagemaker_calls: Counter[str]
) -> None:
    from moto.sagemaker.models import sagemaker_backends
    from registry_workflow.local import moto_fixes

    # GIVEN v1 live; v2's UpdateEndpoint reaches SageMaker but its answer is lost, so the call
    # is repeated (botocore after a read timeout) and meets "Cannot update in-progress endpoint"
    deploy_live(world)
    v2 = register_version(world.sagemaker)
    monkeypatch.setattr(moto_fixes.behaviour, "transition_seconds", 2.0)

    lost: list[bool] = []

    def first_attempt_accepted(**_: Any) -> None:
        if not lost:  # SageMaker takes the first attempt; the call going out now is the repeat
            lost.append(True)
            sagemaker_backends["123456789012"]["us-east-1"].update_endpoint(ENDPOINT, config_of(world, 2))

    world.sagemaker.meta.events.register("before-call.sagemaker.UpdateEndpoint", first_attempt_accepted)

    # WHEN v2 is approved
    result = invoke("deployer", set_approval(world.sagemaker, v2, "Approved"))

    # THEN the refusal is recognised as our own update: started, lock kept, nothing queued
    assert (result["action"], result.get("detail")) == ("started", "update already accepted")
    assert sagemaker_calls["UpdateEndpoint"] == 1
    in_progress = world.ledger.in_progress(ENDPOINT)
    assert in_progress is not None
    assert in_progress.package_arn == v2
    assert world.ledger.queued(ENDPOINT) == []
    assert f"{GROUP} v2: queued" not in world.titles()
    assert wait_for_endpoint(world, "InService")["EndpointConfigName"] == config_of(world, 2)
    assert invoke("tracker", endpoint_event(world.sagemaker))["action"] == "succeeded"
    record("UpdateEndpoint repeated after its answer was lost", "busy refusal recognised, lock kept")


# --- endpoint tags after the ledger says succeeded -----------------------------------------------


@pytest.mark.parametrize(("code", "status"), [("ValidationException", 400), ("InternalFailure", 500)])
def test_a_tagging_failure_after_success_loses_nothing(world: DeployWorld, code: str, status: int) -> None:
    # GIVEN v1 then v2 live, v2 rejected: the rollback to v1 is under way
    v1 = deploy_live(world)
    v2 = deploy_live(world)
    assert invoke("deployer", set_approval(world.sagemaker, v2, "Rejected"))["action"] == "started"
    faults = Faults()
    faults.fail("sagemaker:AddTags", code, status)

    # WHEN the rollback is InService and SageMaker refuses the tracker's AddTags
    result = invoke("tracker", endpoint_event(world.sagemaker))

    # THEN nothing escapes: the rollback succeeded, v2 is rolled back, people were told
    assert result["action"] == "succeeded"
    assert faults.injected[f"sagemaker:AddTags {code}"] >= 1
    live = world.ledger.live(ENDPOINT)
    assert live is not None
    assert (live.package_arn, live.kind) == (v1, "rollback")
    [v2_record] = [r for r in world.ledger.for_endpoint(ENDPOINT) if r.package_arn == v2]
    assert v2_record.status == DeploymentStatus.ROLLED_BACK
    assert world.ledger.in_progress(ENDPOINT) is None
    assert world.titles()[-1] == f"{GROUP} v1: live"
    record(f"AddTags {code} after a verified deployment", "logged and counted; ledger and message intact")


# --- a transaction cancelled by a concurrent one ------------------------------------------------------


def conflict_on_taking_the_lock(times: int) -> Counter[str]:
    """DynamoDB's answer when another transaction touches the LOCK item at the same moment, to the
    next `times` sends taking it: TransactionCanceledException, reasons [None, TransactionConflict]
    (moto never gives it). Counts "sent" and "conflicts"; set "left" to arm it again."""
    sends = Counter(left=times)

    def before_send(request: Any, **_: Any) -> Any:
        if request.headers.get("X-Amz-Target", b"").endswith(b"TransactWriteItems") and b'"LOCK"' in request.body:
            sends["sent"] += 1
            if sends["left"] > 0:
                sends["left"] -= 1
                sends["conflicts"] += 1
                body = {
                    "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
                    "message": "Transaction cancelled, please refer cancellation reasons for specific reasons "
                    "[None, TransactionConflict]",
                    "CancellationReasons": [
                        {"Code": "None"},
                        {"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"},
                    ],
                }
                url, request.url = request.url, "https://fault-injected.invalid/"  # moto skips it
                from botocore.awsrequest import AWSResponse

                headers = {"Content-Type": "application/x-amz-json-1.0"}
                return AWSResponse(url, 400, headers, MockRawResponse(json.dumps(body).encode()))
        return None

    aws.client("dynamodb").meta.events.register_first("before-send.dynamodb.TransactWriteItems", before_send)
    return sends


def test_a_transaction_conflict_on_the_endpoint_lock_is_sent_again(
    world: DeployWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(aws, "pause_before_retry", lambda attempt: None)
    arn = register_version(world.sagemaker)
    sends = conflict_on_taking_the_lock(times=2)
    # WHEN two sends of the deployment's first transaction are cancelled by a concurrent one
    outcome = invoke("deployer", set_approval(world.sagemaker, arn, "Approved"))
    # THEN the third goes through: deployed once, not failed or queued behind nobody
    assert outcome["action"] == "started", outcome
    assert (sends["sent"], sends["conflicts"]) == (3, 2)
    assert [(r.version, r.status) for r in world.ledger.for_endpoint(ENDPOINT)] == [(1, DeploymentStatus.IN_PROGRESS)]
    record("DynamoDB TransactionConflict on the endpoint lock", "sent again, deployed once")


def test_a_transaction_conflict_that_never_clears_raises_with_nothing_taken(
    world: DeployWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(aws, "pause_before_retry", lambda attempt: None)
    arn = register_version(world.sagemaker)
    event = set_approval(world.sagemaker, arn, "Approved")
    sends = conflict_on_taking_the_lock(times=99)
    # WHEN every send conflicts
    with pytest.raises(AwsOperationError, match="TransactionConflict"):
        invoke("deployer", event)
    # THEN it gives up after a few sends, holding no lock and having made nothing
    assert sends["sent"] == 5
    assert world.ledger.in_progress(ENDPOINT) is None
    assert world.sagemaker.list_models()["Models"] == []
    # AND Lambda's retry of the event, once the conflicts clear, deploys it once
    sends["left"] = 0
    assert invoke("deployer", event)["action"] == "started"
    assert len(world.sagemaker.list_models()["Models"]) == 1
    record("DynamoDB TransactionConflict that never clears", "raised, nothing taken, the retry deployed once")

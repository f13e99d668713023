"""Notifier Lambda against moto (SageMaker, SNS → SQS, Secrets Manager, DynamoDB) and a local Slack."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import FakeLambdaContext
from handler_loader import handler_module
from registry_workflow import aws, notifications
from registry_workflow.deadline import Deadline
from registry_workflow.errors import MalformedEventError, NotificationError

pytest_plugins = ["registry_fixtures"]

BAD = {"binary_classification_metrics": {"auc": {"value": 0.71}}}
GOOD = {"binary_classification_metrics": {"auc": {"value": 0.91}}}


class FakeClock:
    """The invocation's clock for Slack's retry waits: a wait advances it, nothing really sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture(autouse=True)
def fake_clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """Every `Deadline` the notifier makes runs on a fake clock (deadline.py's seam): waits are recorded, not slept."""
    fake = FakeClock()
    made_from = Deadline.from_context.__func__  # type: ignore[attr-defined]

    def from_context(cls: type[Deadline], context: Any, **_: Any) -> Deadline:
        return made_from(cls, context, clock=fake.clock, sleep=fake.sleep)  # type: ignore[no-any-return]

    monkeypatch.setattr(Deadline, "from_context", classmethod(from_context))
    return fake


def notify(event: dict[str, Any], context: FakeLambdaContext) -> dict[str, Any]:
    return handler_module("notifier").lambda_handler(event, context)


def validate(event: dict[str, Any], context: FakeLambdaContext) -> dict[str, Any]:
    return handler_module("validator").lambda_handler(event, context)


def slack_text(message: dict[str, Any]) -> str:
    return json.dumps(message["blocks"])


def test_registration_reaches_sns_and_slack_with_the_actor(registry: Any, slack_stub: Any, lambda_context: Any) -> None:
    # GIVEN a new version
    package = registry.register(metrics=GOOD)
    arn = package["ModelPackageArn"]
    # WHEN its creation event reaches the notifier
    result = notify(registry.event_for(arn), lambda_context)
    # THEN SNS carries Amazon Q JSON threaded on the version and Slack gets one Block Kit message
    assert result["kind"] == "registered"
    [sns] = registry.sns_messages()
    assert sns["version"] == "1.0"
    assert sns["source"] == "custom"
    assert sns["content"]["textType"] == "client-markdown"
    assert sns["metadata"]["threadId"] == arn
    actor = package["LastModifiedBy"]["IamIdentity"]["Arn"]  # who registered it, as AWS reports the caller
    assert actor in sns["content"]["description"]
    [slack] = slack_stub.messages
    assert "rc-fraud-detection" in slack["text"]
    assert actor in slack_text(slack)


def test_validator_rejection_is_announced_with_reason_and_metrics(
    registry: Any, slack_stub: Any, lambda_context: Any
) -> None:
    # GIVEN the validator rejected a version (one update: stamp + status)
    arn = registry.register(metrics=BAD)["ModelPackageArn"]
    validate(registry.event_for(arn), lambda_context)
    rejection = registry.event_for(
        arn, updated_fields=["ModelApprovalStatus", "ApprovalDescription", "CustomerMetadataProperties"]
    )
    # WHEN that change reaches the notifier
    assert notify(rejection, lambda_context)["kind"] == "rejected"
    # THEN the message says why, with the metric against its threshold
    [sns] = registry.sns_messages()
    description = sns["content"]["description"]
    assert registry.describe(arn)["ApprovalDescription"] in description
    assert "auc = 0.71" in description
    assert "❌" in description
    [slack] = slack_stub.messages
    assert "auc 0.71 &lt; min 0.8" in slack_text(slack)


def test_validation_stamp_of_a_pending_version_is_announced(
    registry: Any, slack_stub: Any, lambda_context: Any
) -> None:
    arn = registry.register(metrics=GOOD)["ModelPackageArn"]
    validate(registry.event_for(arn), lambda_context)
    stamp_event = registry.event_for(arn, updated_fields=["CustomerMetadataProperties"])

    assert notify(stamp_event, lambda_context)["kind"] == "validated"

    [sns] = registry.sns_messages()
    assert "Validation passed" in sns["content"]["title"]
    assert "auc = 0.91" in sns["content"]["description"]
    assert len(slack_stub.messages) == 1


def test_validation_stamp_is_announced_even_when_the_event_carries_no_metadata(
    registry: Any, slack_stub: Any, lambda_context: Any
) -> None:
    # GIVEN a validated version, and its stamp event as AWS documents it: no CustomerMetadataProperties
    arn = registry.register(metrics=GOOD)["ModelPackageArn"]
    validate(registry.event_for(arn), lambda_context)
    stamp_event = registry.event_for(arn, updated_fields=["CustomerMetadataProperties"])
    del stamp_event["detail"]["CustomerMetadataProperties"]

    # WHEN it arrives twice
    results = [notify(stamp_event, lambda_context) for _ in range(2)]

    # THEN the stamp is read from DescribeModelPackage and announced once
    assert results[0]["kind"] == "validated"
    [sns] = registry.sns_messages()
    assert "Validation passed" in sns["content"]["title"]
    assert len(slack_stub.messages) == 1


def test_a_bare_metadata_event_without_a_validation_stamp_is_ignored(
    registry: Any, slack_stub: Any, lambda_context: Any
) -> None:
    arn = registry.register(metrics=GOOD)["ModelPackageArn"]
    registry.sagemaker.update_model_package(ModelPackageArn=arn, CustomerMetadataProperties={"owner": "team-rc"})
    event = registry.event_for(arn, updated_fields=["CustomerMetadataProperties"])
    del event["detail"]["CustomerMetadataProperties"]

    assert notify(event, lambda_context)["action"] == "ignored"
    assert registry.sns_messages() == []
    assert slack_stub.attempts == 0


def test_same_event_three_times_sends_one_message(registry: Any, slack_stub: Any, lambda_context: Any) -> None:
    arn = registry.register(metrics=GOOD)["ModelPackageArn"]
    registry.sagemaker.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved")
    event = registry.event_for(arn, updated_fields=["ModelApprovalStatus"])
    calls = registry.count_calls("sagemaker", "sns")

    for _ in range(3):
        notify(event, lambda_context)

    assert len(slack_stub.requests) == 1
    assert len(registry.sns_messages()) == 1
    # one Describe and one Publish in all: the duplicates stop at the idempotency check
    assert calls == {"sagemaker:DescribeModelPackage": 1, "sns:Publish": 1}


def test_slack_429_honours_retry_after(
    registry: Any, slack_stub: Any, lambda_context: Any, fake_clock: FakeClock
) -> None:
    arn = registry.register(metrics=GOOD)["ModelPackageArn"]
    slack_stub.answer(notifications_reply(429, {"Retry-After": "1"}))

    notify(registry.event_for(arn), lambda_context)

    assert [r["status"] for r in slack_stub.requests] == [429, 200]
    assert fake_clock.sleeps == [2.0]  # Slack's Retry-After (1 s) and one second more, then the retry
    assert len(slack_stub.messages) == 1


def test_slack_5xx_is_retried_then_fails_and_a_redelivery_sends(
    registry: Any, slack_stub: Any, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(notifications, "SLACK_SERVER_ERROR_RETRIES", 1)
    arn = registry.register(metrics=GOOD)["ModelPackageArn"]
    event = registry.event_for(arn)
    slack_stub.answer(500, 502)

    # WHEN Slack keeps failing, THEN the invocation fails (Lambda retries, then the DLQ)
    with pytest.raises(NotificationError, match="HTTP 502"):
        notify(event, lambda_context)
    assert [r["status"] for r in slack_stub.requests] == [500, 502]
    # AND the failed run left no idempotency record: the retry delivers the message
    notify(event, lambda_context)
    assert len(slack_stub.messages) == 1


def test_slack_timeout_is_retried_then_fails(
    registry: Any, slack_stub: Any, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(notifications, "SLACK_TIMEOUT_SECONDS", 1)
    monkeypatch.setattr(notifications, "SLACK_CONNECTION_RETRIES", 1)
    arn = registry.register(metrics=GOOD)["ModelPackageArn"]
    slack_stub.answer("hang", "hang")

    with pytest.raises(NotificationError, match="TimeoutError"):
        notify(registry.event_for(arn), lambda_context)

    assert slack_stub.attempts == 2


def test_webhook_url_never_reaches_the_logs(
    registry: Any, slack_stub: Any, lambda_context: Any, capsys: pytest.CaptureFixture[str], caplog: Any
) -> None:
    # slack_sdk logs the URL when it retries (INFO) and sends (DEBUG); botocore's DEBUG wire log
    # prints every response body, secrets included, so it stays at INFO as in Lambda
    caplog.set_level("INFO")
    caplog.set_level("DEBUG", logger="slack_sdk")
    caplog.set_level("DEBUG", logger="registry-workflow")
    arn = registry.register(metrics=GOOD)["ModelPackageArn"]
    slack_stub.answer(notifications_reply(429, {"Retry-After": "0"}), 500)

    notify(registry.event_for(arn), lambda_context)

    assert len(slack_stub.requests) == 3
    token = slack_stub.url.rsplit("/", 1)[1]
    captured = capsys.readouterr()
    assert token not in captured.out + captured.err
    assert token not in caplog.text


def test_empty_webhook_url_turns_slack_off(registry: Any, slack_stub: Any, lambda_context: Any) -> None:
    secret = aws.client("secretsmanager")
    secret.put_secret_value(SecretId="registry-workflow/test/slack-webhook", SecretString='{"url": ""}')
    arn = registry.register(metrics=GOOD)["ModelPackageArn"]

    notify(registry.event_for(arn), lambda_context)

    assert slack_stub.attempts == 0
    assert len(registry.sns_messages()) == 1


def test_a_project_can_have_its_own_topic(registry: Any, slack_stub: Any, lambda_context: Any) -> None:
    own_topic = aws.client("sns").create_topic(Name="fraud-team")["TopicArn"]
    registry.write_policy(f'[projects."rc-fraud-detection".notify]\nsns_topic_arn = "{own_topic}"\nslack = false\n')
    arn = registry.register(metrics=GOOD)["ModelPackageArn"]
    calls = registry.count_calls("sns")

    notify(registry.event_for(arn), lambda_context)

    assert registry.sns_messages() == []  # not the stack's default topic
    assert calls["sns:Publish"] == 1
    assert slack_stub.attempts == 0


def test_other_metadata_updates_are_not_announced(registry: Any, slack_stub: Any, lambda_context: Any) -> None:
    # an approved version gets another stamp: the event still says Approved and carries validation.*
    arn = registry.register(metrics=GOOD)["ModelPackageArn"]
    validate(registry.event_for(arn), lambda_context)
    registry.sagemaker.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved")
    registry.sagemaker.update_model_package(ModelPackageArn=arn, CustomerMetadataProperties={"deploy.status": "live"})
    event = registry.event_for(arn, updated_fields=["CustomerMetadataProperties"])
    calls = registry.count_calls("sagemaker", "sns", "dynamodb")

    assert notify(event, lambda_context)["action"] == "ignored"
    assert sum(calls.values()) == 0
    assert slack_stub.attempts == 0


def test_malformed_event_raises_typed_error_and_sends_nothing(
    registry: Any, slack_stub: Any, lambda_context: Any
) -> None:
    arn = registry.register(metrics=GOOD)["ModelPackageArn"]
    event = registry.event_for(arn)
    del event["detail"]["ModelApprovalStatus"]
    calls = registry.count_calls("sagemaker", "sns", "dynamodb", "secretsmanager")

    with pytest.raises(MalformedEventError):
        notify(event, lambda_context)

    assert sum(calls.values()) == 0
    assert slack_stub.attempts == 0
    assert registry.sns_messages() == []


def test_a_burst_of_100_registrations_loses_no_message(registry: Any, slack_stub: Any, lambda_context: Any) -> None:
    # GIVEN 100 new versions at once, and Slack rate-limiting some posts
    arns = [registry.register(metrics=GOOD)["ModelPackageArn"] for _ in range(100)]
    events = [registry.event_for(arn) for arn in arns]
    slack_stub.answer(*[notifications_reply(429, {"Retry-After": "0"}) if i % 25 == 0 else 200 for i in range(100)])
    # WHEN each reaches the notifier
    for event in events:
        notify(event, lambda_context)
    # THEN every version has exactly one SNS message and one Slack message
    threads = [m["metadata"]["threadId"] for m in registry.sns_messages()]
    assert sorted(threads) == sorted(arns)
    slack_arns = [m["blocks"][-1]["elements"][0]["text"] for m in slack_stub.messages]
    assert sorted(slack_arns) == sorted(arns)


def notifications_reply(status: int, headers: dict[str, str]) -> Any:
    from slack_stub import Reply

    return Reply(status, headers)


def test_a_recreated_groups_v1_gets_its_own_validated_message(
    registry: Any, slack_stub: Any, lambda_context: FakeLambdaContext
) -> None:
    # GIVEN v1 validated and announced
    old = registry.register(metrics=GOOD)["ModelPackageArn"]
    validate(registry.event_for(old), lambda_context)
    notify(registry.event_for(old, updated_fields=["CustomerMetadataProperties"]), lambda_context)
    # AND the group deleted and created again within the once-keys' lifetime, its new v1 validated
    # with the same outcome under the same policy
    registry.sagemaker.delete_model_package(ModelPackageName=old)
    registry.sagemaker.delete_model_package_group(ModelPackageGroupName="rc-fraud-detection")
    new = registry.register(metrics=GOOD)["ModelPackageArn"]
    assert new == old
    validate(registry.event_for(new), lambda_context)

    # WHEN the notifier gets the new v1's validation event
    result = notify(registry.event_for(new, updated_fields=["CustomerMetadataProperties"]), lambda_context)

    # THEN it is announced: the old v1's once-key does not speak for it
    assert result["action"] == "notified"
    assert len(slack_stub.messages) == 2

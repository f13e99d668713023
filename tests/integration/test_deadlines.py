"""Nothing waits past the invocation: Slack's retries are bounded by the Lambda's remaining time.

Slack is the local stand-in (tests/slack_stub.py); time is a fake clock whose `sleep` only moves
it forward, so no test here really sleeps.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from conftest import FakeLambdaContext
from deploy_support import DeployWorld, endpoint_event, register_version, set_approval
from handler_loader import handler_module
from registry_workflow import aws, notifications
from registry_workflow.deadline import DEFAULT_MARGIN_SECONDS, Deadline
from registry_workflow.errors import NotificationError
from registry_workflow.notifications import Notification, post_slack
from slack_stub import Reply, SlackStub, slack_stub  # noqa: F401 - the fixture

pytest_plugins = ["deploy_support"]

MESSAGE = Notification(
    kind="deploy_succeeded",
    group="rc-fraud-detection",
    package_arn="arn:aws:sagemaker:us-east-1:123456789012:model-package/rc-fraud-detection/1",
    status="live",
    version=1,
)


@dataclass
class FakeClock:
    now: float = 0.0
    slept: list[float] = field(default_factory=list)

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    def deadline(self, seconds_left: float) -> Deadline:
        return Deadline(self.now + seconds_left, clock=lambda: self.now, sleep=self.sleep)


@dataclass
class TimedContext(FakeLambdaContext):
    remaining_ms: int = 60_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def test_a_retry_after_that_would_outlast_the_invocation_is_not_waited_for(slack_stub: SlackStub) -> None:  # noqa: F811
    # GIVEN Slack rate-limiting with Retry-After: 30, and a 60 s invocation
    slack_stub.default = Reply(429, {"Retry-After": "30"})
    clock = FakeClock()

    # WHEN a message is posted
    with pytest.raises(NotificationError, match="HTTP 429"):
        post_slack(MESSAGE, slack_stub.url, deadline=clock.deadline(60))

    # THEN one wait fits (31 s + a 5 s attempt, 5 s kept back), the second would not: two attempts
    assert clock.slept == [31.0]
    assert slack_stub.attempts == 2


def test_a_short_retry_after_is_waited_out_through_the_injected_sleep(slack_stub: SlackStub) -> None:  # noqa: F811
    slack_stub.answer(Reply(429, {"Retry-After": "0"}))
    clock = FakeClock()

    post_slack(MESSAGE, slack_stub.url, deadline=clock.deadline(60))

    assert [r["status"] for r in slack_stub.requests] == [429, 200]
    assert clock.slept == [1.0]  # Retry-After + slack_sdk's 1 s jitter bound


def test_server_errors_back_off_within_the_deadline(
    slack_stub: SlackStub,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(notifications, "SLACK_SERVER_ERROR_RETRIES", 5)
    slack_stub.default = Reply(503)
    clock = FakeClock()

    with pytest.raises(NotificationError, match="HTTP 503"):
        post_slack(MESSAGE, slack_stub.url, deadline=clock.deadline(12))

    # every wait taken still left an attempt and the margin before the end (backoff has jitter:
    # how many fit varies, that they fit does not)
    assert clock.slept
    assert clock.now + notifications.SLACK_TIMEOUT_SECONDS + DEFAULT_MARGIN_SECONDS <= 12
    assert slack_stub.attempts == len(clock.slept) + 1 < 6


def test_no_time_left_means_no_post(slack_stub: SlackStub) -> None:  # noqa: F811
    clock = FakeClock()

    with pytest.raises(NotificationError, match="no time left"):
        post_slack(MESSAGE, slack_stub.url, deadline=clock.deadline(DEFAULT_MARGIN_SECONDS + 0.5))

    assert slack_stub.attempts == 0
    assert clock.slept == []


def test_the_tracker_closes_the_deployment_without_waiting_on_slack_past_its_time(
    world: DeployWorld,
    deployer: Any,
    slack_stub: SlackStub,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN Slack configured for the stack, and v1 being deployed
    aws.client("secretsmanager").create_secret(Name="slack-webhook", SecretString=json.dumps({"url": slack_stub.url}))
    monkeypatch.setenv("SLACK_WEBHOOK_SECRET_ID", "slack-webhook")
    arn = register_version(world.sagemaker)
    assert deployer(set_approval(world.sagemaker, arn, "Approved"))["action"] == "started"
    sent_before = slack_stub.attempts
    # AND Slack now asks for 30 s of patience, while the tracker's invocation has 9 s left
    slack_stub.default = Reply(429, {"Retry-After": "30"})

    # WHEN the endpoint's in-service event reaches the tracker
    result = handler_module("tracker").lambda_handler(endpoint_event(world.sagemaker), TimedContext(remaining_ms=9_000))

    # THEN the deployment is closed; Slack got one attempt (4 s timeout), no 31 s wait was started
    assert result["action"] == "succeeded"
    assert slack_stub.attempts == sent_before + 1
    assert world.titles()[-1] == "rc-fraud-detection v1: live"  # SNS still went out

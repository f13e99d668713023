"""One message model, two outputs: SNS (Amazon Q Developer custom-notification JSON) and Slack.

Every sender in the workflow builds a `Notification` and calls `notify(notification, project)`.

* SNS: the message is Amazon Q Developer's custom-notification JSON — it silently drops plain
  text. `threadId` is the package ARN, so every message about a version lands in one thread.
* Slack: an incoming webhook, Block Kit, through `slack_sdk`'s `WebhookClient`. 429 honours
  `Retry-After`; 5xx, connection errors and timeouts are retried with backoff; after that
  `NotificationError` is raised, so the event is retried by Lambda and ends in the dead-letter
  queue. The URL comes from a Secrets Manager secret `{"url": "..."}` (cached for
  `SECRET_MAX_AGE_SECONDS`); an empty url turns Slack off. The URL is never logged: slack_sdk's
  own logger (which prints it on retries) is replaced by a silent one.

Channels: the project's `notify` policy (`sns_topic_arn`, `slack_secret_id`, `sns`, `slack`),
falling back to the stack's `NOTIFICATION_TOPIC_ARN` and `SLACK_WEBHOOK_SECRET_ID`.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from http.client import RemoteDisconnected
from typing import TYPE_CHECKING, Any
from urllib.error import URLError
from urllib.parse import quote, urlparse

from botocore.exceptions import BotoCoreError, ClientError

from registry_workflow import aws
from registry_workflow.deadline import DEFAULT_MARGIN_SECONDS, UNLIMITED, Deadline
from registry_workflow.errors import NotificationError
from registry_workflow.observability import logger

if TYPE_CHECKING:
    from slack_sdk.http_retry import RetryHandler
    from slack_sdk.http_retry.request import HttpRequest
    from slack_sdk.http_retry.response import HttpResponse
    from slack_sdk.http_retry.state import RetryState

    from registry_workflow.config import Project

TOPIC_ENV = "NOTIFICATION_TOPIC_ARN"
SLACK_SECRET_ENV = "SLACK_WEBHOOK_SECRET_ID"

#: per-attempt timeout of a webhook post (seconds; slack_sdk takes an int)
SLACK_TIMEOUT_SECONDS = 5
SLACK_RATE_LIMIT_RETRIES = 4
SLACK_SERVER_ERROR_RETRIES = 2
SLACK_CONNECTION_RETRIES = 2
SECRET_MAX_AGE_SECONDS = 300

_ICONS = {
    "registered": ":package:",
    "validated": ":mag:",
    "approved": ":white_check_mark:",
    "rejected": ":x:",
    "deploy_started": ":rocket:",
    "deploy_succeeded": ":tada:",
    "deploy_failed": ":rotating_light:",
    "rolled_back": ":rewind:",
    "superseded": ":fast_forward:",
    "queued": ":hourglass_flowing_sand:",
    "refused": ":no_entry:",
    "promotion_refused": ":no_entry_sign:",
    "retired": ":wastebasket:",
}
KINDS = frozenset(_ICONS)
#: `guard(channel, send)`: runs `send` unless this message already went out on `channel`
ChannelGuard = Callable[[str, Callable[[], None]], None]
_ARN_REGION = re.compile(r"^arn:(aws[a-z-]*):sagemaker:([a-z0-9-]+):")
#: the AWS console's domain per partition (template.yaml's ConsoleDomain mapping says the same)
CONSOLE_DOMAINS = {
    "aws": "console.aws.amazon.com",
    "aws-cn": "console.amazonaws.cn",
    "aws-us-gov": "console.amazonaws-us-gov.com",
}


@dataclass(frozen=True)
class MetricLine:
    """One key metric and the threshold it was held to."""

    name: str
    value: float
    threshold: str | None = None
    ok: bool = True


@dataclass(frozen=True)
class Notification:
    """What happened to one version, for people."""

    kind: str
    group: str
    package_arn: str
    status: str
    version: int | None = None
    actor: str | None = None
    reason: str | None = None
    metrics: tuple[MetricLine, ...] = ()
    endpoint: str | None = None
    #: the caller's region, for a package ARN that names none (the ARN's region comes first)
    region: str | None = None
    #: the stage of a staged project (empty: the project's only stage)
    stage: str = ""
    #: the version's CreationTime (events' canonical form): a recreated group reuses its versions'
    #: ARNs, so the Approve/Reject buttons carry it to tell this version from an earlier one
    created: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown notification kind {self.kind!r}; expected one of {sorted(KINDS)}")

    @property
    def title(self) -> str:
        version = f" v{self.version}" if self.version is not None else ""
        stage = f" [{self.stage}]" if self.stage else ""
        return f"{self.group}{version}{stage}: {self.status}"

    @property
    def console_url(self) -> str:
        """SageMaker console page of the version, in its partition's console (region and partition
        come from the ARN when it has them, else from the caller's region)."""
        match = _ARN_REGION.match(self.package_arn)
        region = match.group(2) if match else self.region
        partition = match.group(1) if match else _partition_of_region(region)
        domain = CONSOLE_DOMAINS.get(partition, CONSOLE_DOMAINS["aws"])
        if not region:  # the console picks the user's last region
            home = f"{domain}/sagemaker/home"
        elif partition == "aws":
            home = f"{region}.{domain}/sagemaker/home?region={region}"
        else:  # China and GovCloud consoles take the region as a parameter only
            home = f"{domain}/sagemaker/home?region={region}"
        return f"https://{home}#/model-packages/{quote(self.package_arn, safe='')}"


def notify(
    notification: Notification,
    project: Project,
    *,
    once: ChannelGuard | None = None,
    deadline: Deadline = UNLIMITED,
) -> None:
    """Send to every channel the project uses; raise `NotificationError` if any refused after retries.

    `once(channel, send)` runs each channel's send at most once per message: a retry after one
    channel failed re-sends only that channel (the notifier passes an idempotent guard).
    `deadline` bounds Slack's retries by the time the invocation has left.
    """
    channels = _channels(project)
    failures: list[str] = []
    sent: list[str] = []
    guard = once or _send_now
    if channels.topic_arn:
        try:
            guard("sns", lambda: publish_sns(notification, channels.topic_arn))
            sent.append("sns")
        except NotificationError as exc:
            failures.append(str(exc))
    if channels.slack_secret_id:
        url = webhook_url(channels.slack_secret_id)
        if url:
            try:
                decide = notification.kind == "validated" and project.policy.approval.slack
                guard("slack", lambda: post_slack(notification, url, deadline=deadline, decide=decide))
                sent.append("slack")
            except NotificationError as exc:
                failures.append(str(exc))
    logger.info(
        "notification sent" if not failures else "notification failed",
        extra={
            "kind": notification.kind,
            "package_arn": notification.package_arn,
            "sent": sent,
            "failed": failures,
        },
    )
    if failures:
        raise NotificationError("; ".join(failures))


def _send_now(channel: str, send: Callable[[], None]) -> None:
    send()


def to_chatbot_json(n: Notification) -> dict[str, Any]:
    """Amazon Q Developer in chat applications custom notification (plain text is dropped)."""
    lines = [f"*Status:* {n.status}"]
    if n.actor:
        lines.append(f"*By:* {n.actor}")
    if n.reason:
        lines.append(f"*Reason:* {n.reason}")
    if n.stage:
        lines.append(f"*Stage:* {n.stage}")
    if n.endpoint:
        lines.append(f"*Endpoint:* {n.endpoint}")
    lines.extend(f"{'✅' if m.ok else '❌'} {_metric_text(m)}" for m in n.metrics)
    lines.append(f"Console: {n.console_url}")
    additional = {"group": n.group, "status": n.status, "kind": n.kind}
    if n.version is not None:
        additional["version"] = str(n.version)
    return {
        "version": "1.0",
        "source": "custom",
        "content": {
            "textType": "client-markdown",
            "title": n.title,
            "description": "\n".join(lines),
            "keywords": [n.group, n.kind],
        },
        "metadata": {
            "threadId": n.package_arn,
            "summary": n.title,
            "eventType": n.kind,
            "relatedResources": [n.package_arn],
            "additionalContext": additional,
        },
    }


def to_slack_blocks(n: Notification, *, decide: bool = False) -> dict[str, Any]:
    """Slack Block Kit payload for an incoming webhook; `decide` adds Approve/Reject (chat_approvals.py)."""
    icon = _ICONS.get(n.kind, "")
    fields = [f"*Group*\n{_esc(n.group)}", f"*Status*\n{_esc(n.status)}"]
    if n.version is not None:
        fields.append(f"*Version*\n{n.version}")
    if n.actor:
        fields.append(f"*By*\n{_esc(n.actor)}")
    if n.stage:
        fields.append(f"*Stage*\n{_esc(n.stage)}")
    if n.endpoint:
        fields.append(f"*Endpoint*\n{_esc(n.endpoint)}")
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": n.title[:150], "emoji": True}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in fields]},
    ]
    if n.reason:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _cap(f"*Reason*\n{_esc(n.reason)}")}})
    if n.metrics:
        metric_lines = "\n".join(f"{'✅' if m.ok else '❌'} {_esc(_metric_text(m))}" for m in n.metrics)
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _cap(f"*Metrics*\n{metric_lines}")}})
    blocks.append(
        {
            "type": "actions",
            "elements": [
                {
                    "type": "button",
                    "text": {"type": "plain_text", "text": "Open in console"},
                    "url": n.console_url,
                    "action_id": "open-console",
                },
                *(_decision_buttons(n.package_arn, n.created) if decide else []),
            ],
        }
    )
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": _esc(n.package_arn)}]})
    return {"text": f"{icon} {n.title}".strip(), "blocks": blocks}


def _decision_buttons(package_arn: str, created: str | None) -> list[dict[str, Any]]:
    from registry_workflow.chat_approvals import decision_buttons

    return decision_buttons(package_arn, created)


def actor_of(described_package: dict[str, Any]) -> str | None:
    """Who last changed a version: Studio user profile, else the IAM identity (DescribeModelPackage)."""
    for key in ("LastModifiedBy", "CreatedBy"):
        who = described_package.get(key) or {}
        name = who.get("UserProfileName")
        identity = who.get("IamIdentity") or {}
        actor = name or identity.get("Arn") or identity.get("PrincipalId")
        if actor:
            return str(actor)
    return None


def region_of(arn: str) -> str | None:
    match = _ARN_REGION.match(arn)
    return match.group(2) if match else None


def _partition_of_region(region: str | None) -> str:
    if region and region.startswith("cn-"):
        return "aws-cn"
    if region and region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


# --- channels ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Channels:
    topic_arn: str
    slack_secret_id: str


def _channels(project: Project) -> _Channels:
    policy = project.policy.notify
    topic = (policy.sns_topic_arn or os.environ.get(TOPIC_ENV, "")) if policy.sns else ""
    secret = (policy.slack_secret_id or os.environ.get(SLACK_SECRET_ENV, "")) if policy.slack else ""
    return _Channels(topic.strip(), secret.strip())


def publish_sns(notification: Notification, topic_arn: str) -> None:
    try:
        aws.client("sns").publish(TopicArn=topic_arn, Message=json.dumps(to_chatbot_json(notification)))
    except (ClientError, BotoCoreError) as exc:
        raise NotificationError(str(aws.as_operation_error("sns:Publish", exc))) from exc


def webhook_url(secret_id: str) -> str:
    """The Slack webhook URL from the secret `{"url": ...}`; "" means Slack is off."""
    from aws_lambda_powertools.utilities.parameters.exceptions import (
        GetParameterError,
        TransformParameterError,
    )

    try:
        value = _secrets_provider(aws.client("secretsmanager")).get(
            secret_id, max_age=SECRET_MAX_AGE_SECONDS, transform="json"
        )
    except (GetParameterError, TransformParameterError) as exc:
        # the exception text may quote the secret's value: name the secret, not the error
        raise NotificationError(f"slack webhook secret {secret_id} is unreadable ({type(exc).__name__})") from None
    url = str(value.get("url") or "").strip() if isinstance(value, dict) else ""
    if url and not _acceptable_url(url):
        raise NotificationError(f"slack webhook secret {secret_id} holds an invalid url (https only)")
    return url


@lru_cache(maxsize=4)
def _secrets_provider(client: Any) -> Any:
    # one provider (and its cache) per boto3 client: tests that reset clients get a fresh cache
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    return SecretsProvider(boto3_client=client)


def _acceptable_url(url: str) -> bool:
    parsed = urlparse(url)
    loopback = parsed.hostname in {"127.0.0.1", "localhost", "::1"}
    return bool(parsed.hostname) and (parsed.scheme == "https" or (parsed.scheme == "http" and loopback))


def post_slack(notification: Notification, url: str, *, deadline: Deadline = UNLIMITED, decide: bool = False) -> None:
    """Post the Block Kit message; retries per slack_sdk's handlers, then `NotificationError`.

    Each attempt waits at most `SLACK_TIMEOUT_SECONDS` (less when the invocation has less left),
    and a retry is made only when its wait (backoff, or Slack's `Retry-After`) and its attempt
    still end `DEFAULT_MARGIN_SECONDS` before `deadline`: Lambda's timeout never cuts a run
    short in a Slack sleep. Waits go through `deadline.sleep`.
    """
    from slack_sdk.webhook import WebhookClient

    left = deadline.remaining() - DEFAULT_MARGIN_SECONDS
    timeout = SLACK_TIMEOUT_SECONDS if left >= SLACK_TIMEOUT_SECONDS else math.floor(left)
    if timeout < 1:
        raise NotificationError("slack webhook post skipped: the invocation has no time left for it")
    client = WebhookClient(
        url, timeout=timeout, logger=_SILENT_SLACK_LOGGER, retry_handlers=_retry_handlers(deadline, timeout)
    )
    try:
        response = client.send_dict(to_slack_blocks(notification, decide=decide))
    except Exception as exc:  # noqa: BLE001 - urllib/slack_sdk errors vary, and their text may hold the URL
        raise NotificationError(f"slack webhook post failed: {type(exc).__name__}") from None
    if not 200 <= response.status_code < 300:
        raise NotificationError(f"slack webhook answered HTTP {response.status_code} after retries")


def _retry_handlers(
    deadline: Deadline = UNLIMITED, attempt_seconds: float = SLACK_TIMEOUT_SECONDS
) -> list[RetryHandler]:
    # slack_sdk is imported on first use, not at import: its package __init__ pulls in the Web API
    # client and asyncio (~50 ms of cold start), which SNS-only projects never need
    from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler

    bounded = _deadline_bounded_retry_handler()
    return [
        bounded(RateLimitErrorRetryHandler(max_retry_count=SLACK_RATE_LIMIT_RETRIES), deadline, attempt_seconds),
        bounded(
            _any_server_error_retry_handler()(max_retry_count=SLACK_SERVER_ERROR_RETRIES), deadline, attempt_seconds
        ),
        bounded(
            ConnectionErrorRetryHandler(
                max_retry_count=SLACK_CONNECTION_RETRIES,
                # a read timeout surfaces as a bare TimeoutError, which the default list misses
                error_types=[URLError, ConnectionResetError, RemoteDisconnected, TimeoutError],
            ),
            deadline,
            attempt_seconds,
        ),
    ]


def retry_after_seconds(response: HttpResponse | None) -> float | None:
    """Slack's `Retry-After` (seconds) of a 429, if it gave one that is a number."""
    headers = response.headers if response is not None else {}
    for name, values in headers.items():
        if name.lower() == "retry-after" and values:
            try:
                return max(0.0, float(values[0]))
            except (TypeError, ValueError):
                return None
    return None


@lru_cache(maxsize=1)
def _deadline_bounded_retry_handler() -> type[Any]:
    from slack_sdk.http_retry.handler import RetryHandler

    class DeadlineBoundedRetryHandler(RetryHandler):
        """One of slack_sdk's handlers, retrying only while the wait and the next attempt fit the deadline.

        The wait is computed once in `can_retry` (backoff with jitter, or `Retry-After` + 1 s,
        slack_sdk's own jitter bound) and slept in `prepare_for_next_attempt` through
        `deadline.sleep`; slack_sdk's handlers would `time.sleep` whatever the time left.
        """

        def __init__(self, inner: RetryHandler, deadline: Deadline, attempt_seconds: float) -> None:
            super().__init__(inner.max_retry_count, inner.interval_calculator)
            self.inner, self.deadline, self.attempt_seconds = inner, deadline, attempt_seconds
            self._wait = 0.0

        def can_retry(
            self,
            *,
            state: RetryState,
            request: HttpRequest,
            response: HttpResponse | None = None,
            error: Exception | None = None,
        ) -> bool:
            if not self.inner.can_retry(state=state, request=request, response=response, error=error):
                return False
            retry_after = (
                retry_after_seconds(response) if response is not None and response.status_code == 429 else None
            )
            if retry_after is not None:
                self._wait = retry_after + 1.0
            else:
                self._wait = self.inner.interval_calculator.calculate_sleep_duration(state.current_attempt)
            if self.deadline.allows(self._wait + self.attempt_seconds):
                return True
            logger.warning(
                "slack retry given up: it would outlast the invocation",
                extra={"wait_seconds": round(self._wait, 3), "remaining_seconds": round(self.deadline.remaining(), 3)},
            )
            return False

        def prepare_for_next_attempt(
            self,
            *,
            state: RetryState,
            request: HttpRequest,
            response: HttpResponse | None = None,
            error: Exception | None = None,
        ) -> None:
            state.next_attempt_requested = True
            self.deadline.sleep(self._wait)
            state.increment_current_attempt()

    return DeadlineBoundedRetryHandler


@lru_cache(maxsize=1)
def _any_server_error_retry_handler() -> type[RetryHandler]:
    from slack_sdk.http_retry.builtin_handlers import ServerErrorRetryHandler

    class AnyServerErrorRetryHandler(ServerErrorRetryHandler):
        """slack_sdk's ServerErrorRetryHandler retries 500 and 503 only; any 5xx is worth a retry."""

        def _can_retry(
            self,
            *,
            state: RetryState,
            request: HttpRequest,
            response: HttpResponse | None = None,
            error: Exception | None = None,
        ) -> bool:
            return response is not None and 500 <= response.status_code < 600

    return AnyServerErrorRetryHandler


def _silent_logger() -> logging.Logger:
    silent = logging.getLogger("registry_workflow.slack_sdk")
    silent.setLevel(logging.CRITICAL + 1)
    silent.propagate = False
    silent.addHandler(logging.NullHandler())
    return silent


_SILENT_SLACK_LOGGER = _silent_logger()


# --- text -------------------------------------------------------------------------------------


def _metric_text(m: MetricLine) -> str:
    text = f"{m.name} = {format(m.value, '.4g')}"
    return f"{text} (threshold {m.threshold})" if m.threshold else text


def _esc(text: str) -> str:
    """Slack mrkdwn needs &, < and > escaped."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cap(text: str, limit: int = 3000) -> str:
    """A section's text is at most 3000 characters."""
    return text if len(text) <= limit else text[: limit - 1] + "…"

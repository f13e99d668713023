"""Notifier entry: registrations, approval changes and validation outcomes → SNS and Slack.

One `DescribeModelPackage` per message (who acted is not in the event), one SNS publish, one
webhook post. Keys: approval changes are keyed on ARN + status + LastModifiedTime; validation
stamps on ARN + policy digest + outcome, so another stamp on the same version (which still
carries `validation.status`) never announces the same verdict twice.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from registry_workflow import aws
from registry_workflow.audit import created_of
from registry_workflow.config import Project
from registry_workflow.deadline import Deadline
from registry_workflow.errors import NotificationError
from registry_workflow.events import ModelPackageDetail, parse_model_package_event
from registry_workflow.handlers.intake import approval_key, ignored, managed_project, parse_or_refuse
from registry_workflow.idempotency import run_once
from registry_workflow.notifications import MetricLine, Notification, actor_of, notify, region_of
from registry_workflow.observability import logger, metrics
from registry_workflow.validation import (
    FAILED_RULES_KEY,
    PENDING,
    POLICY_KEY,
    STATUS_KEY,
    evaluate,
    stamped_metrics,
)

_STATUS_TEXT = {
    "registered": "Registered, pending manual approval",
    "approved": "Approved",
    "rejected": "Rejected",
}


def handle(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    parsed = parse_or_refuse(parse_model_package_event, event)
    detail = parsed.detail
    logger.append_keys(package_arn=detail.arn, event_id=parsed.id)
    kind = message_kind(detail)
    if kind is None:
        return ignored("neither an approval change nor a validation outcome")
    project = managed_project(detail.group_name)
    if project is None:
        return ignored("unmanaged group")
    package = None
    if kind == "validated":
        stamp = detail.customer_metadata
        if stamp is None:
            # AWS's documented event may leave CustomerMetadataProperties out: read the stamp
            package = _describe(detail.arn)
            stamp = package.get("CustomerMetadataProperties") or {}
            if STATUS_KEY not in stamp:
                return ignored("a metadata update that is not a validation outcome")
        created = detail.creation_time
        if created is None:
            package = package or _describe(detail.arn)
            created = created_of(detail, package)
        key = {
            "package_arn": detail.arn,
            # a group deleted and created again reuses its versions' ARNs: the new v1's outcome is news
            "created": created or "",
            "kind": kind,
            "policy": stamp.get(POLICY_KEY, ""),
            "outcome": stamp.get(STATUS_KEY, ""),
        }
    else:
        key = {**approval_key(parsed), "kind": kind}
    return run_once(
        _announce,
        key=key,
        lambda_context=context,
        kind=kind,
        detail=detail,
        project=project,
        context=context,
        package=package,
    )


def message_kind(detail: ModelPackageDetail) -> str | None:
    """registered / approved / rejected / validated, or None for events nobody needs to hear about."""
    if detail.approval_changed:
        if detail.approval_status == PENDING:
            return "registered" if detail.is_creation else None
        return detail.approval_status.lower()
    if detail.metadata_only and detail.approval_status == PENDING:
        stamp = detail.customer_metadata
        # no metadata in the event: maybe a validation outcome (the handler reads the stamp)
        return "validated" if stamp is None or STATUS_KEY in stamp else None
    return None


def _announce(
    *,
    key: dict[str, Any],
    kind: str,
    detail: ModelPackageDetail,
    project: Project,
    context: Any = None,
    package: dict[str, Any] | None = None,
) -> dict[str, Any]:
    package = package or _describe(detail.arn)
    notification = build_notification(kind, detail, package, project)
    try:
        # Slack's retries stop in time for the invocation to end cleanly (decision 28)
        notify(notification, project, once=_once_per_channel(key, context), deadline=Deadline.from_context(context))
    except NotificationError:
        metrics.add_metric(name="NotificationFailures", unit="Count", value=1)
        raise
    metrics.add_metric(name="NotificationsSent", unit="Count", value=1)
    return {"action": "notified", "kind": kind, "status": notification.status}


def _once_per_channel(key: dict[str, Any], context: Any) -> Any:
    """A retry after Slack failed must not publish to SNS again (nor the reverse): one key per channel."""

    def guard(channel: str, send: Any) -> None:
        run_once(_send_channel, key={**key, "channel": channel}, lambda_context=context, send=send)

    return guard


def _send_channel(*, key: dict[str, Any], send: Any) -> dict[str, Any]:
    send()
    return {"channel": key["channel"]}


def build_notification(
    kind: str, detail: ModelPackageDetail, package: dict[str, Any], project: Project
) -> Notification:
    """The message about one version, from the event and its `DescribeModelPackage`."""
    stamp = package.get("CustomerMetadataProperties") or detail.customer_metadata or {}
    outcome = stamp.get(STATUS_KEY)
    if kind == "validated":
        status = "Validation passed, awaiting review" if outcome == "passed" else "Validation failed"
        reason = stamp.get(FAILED_RULES_KEY) if outcome != "passed" else None
    else:
        status = _STATUS_TEXT[kind]
        reason = package.get("ApprovalDescription") or detail.approval_description
    return Notification(
        kind=kind,
        group=detail.group_name,
        package_arn=detail.arn,
        status=status,
        version=detail.version,
        actor=actor_of(package),
        reason=reason or None,
        metrics=_metric_lines(stamp, project),
        region=region_of(detail.arn) or aws.client("sagemaker").meta.region_name,
        created=created_of(detail, package),
    )


def _metric_lines(stamp: dict[str, str], project: Project) -> tuple[MetricLine, ...]:
    """The stamped key metrics, held against the project's absolute thresholds."""
    values = stamped_metrics(stamp)
    if not values:
        return ()
    checks = evaluate(values, project.policy.validation, project.policy.digest()).checks
    lines = [MetricLine(c.metric, c.value, c.threshold_text, c.ok) for c in checks if c.value is not None]
    judged = {line.name for line in lines}
    lines += [MetricLine(name, value) for name, value in values.items() if name not in judged]
    return tuple(lines)


def _describe(arn: str) -> dict[str, Any]:
    try:
        return dict(aws.client("sagemaker").describe_model_package(ModelPackageName=arn))
    except (ClientError, BotoCoreError) as exc:
        raise aws.as_operation_error("sagemaker:DescribeModelPackage", exc) from exc

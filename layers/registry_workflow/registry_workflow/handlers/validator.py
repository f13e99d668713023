"""Validator entry: a new version in PendingManualApproval is judged against its project's policy."""

from __future__ import annotations

from typing import Any

from registry_workflow.config import Project, load_config
from registry_workflow.errors import MalformedEventError
from registry_workflow.events import ModelPackageDetail, parse_model_package_event
from registry_workflow.idempotency import run_once
from registry_workflow.observability import logger, metrics
from registry_workflow.validation import PENDING, validate_version


def handle(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    try:
        parsed = parse_model_package_event(event)
    except MalformedEventError as exc:
        logger.error("malformed event", extra={"event_id": exc.event_id, "problem": str(exc)})
        metrics.add_metric(name="MalformedEvents", unit="Count", value=1)
        raise
    detail = parsed.detail
    logger.append_keys(package_arn=detail.arn, event_id=parsed.id)
    if detail.metadata_only:
        # a stamp (ours included) re-emits an event: never a reason to validate again
        return _ignored("metadata-only update")
    if detail.approval_status != PENDING:
        return _ignored(f"approval status {detail.approval_status}")
    project = load_config().project_for_group(detail.group_name)
    if project is None:
        logger.warning("event for an unmanaged group", extra={"group": detail.group_name})
        return _ignored("unmanaged group")
    key = {
        "package_arn": detail.arn,
        "approval_status": detail.approval_status,
        "last_modified": detail.last_modified_time or parsed.id,
    }
    return run_once(_validate, key=key, lambda_context=context, detail=detail, project=project)


def _validate(*, key: dict[str, Any], detail: ModelPackageDetail, project: Project) -> dict[str, Any]:
    outcome = validate_version(detail, project)
    metrics.add_metric(name=f"Versions{outcome.action.capitalize()}", unit="Count", value=1)
    if outcome.result is not None:  # judged (passed or failed), not skipped
        metrics.add_metric(name="VersionsValidated", unit="Count", value=1)
    result = outcome.result
    return {
        "action": outcome.action,
        "detail": outcome.detail,
        "status": result.status if result else None,
        "failed_rules": list(result.failed_rules) if result else [],
        "aws_calls": outcome.aws_calls,
    }


def _ignored(reason: str) -> dict[str, Any]:
    logger.info("event ignored", extra={"reason": reason})
    metrics.add_metric(name="EventsIgnored", unit="Count", value=1)
    return {"action": "ignored", "detail": reason}

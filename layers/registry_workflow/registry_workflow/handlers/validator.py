"""Validator entry: a new version in PendingManualApproval is judged against its project's policy."""

from __future__ import annotations

from typing import Any

from registry_workflow.config import Project
from registry_workflow.events import ModelPackageDetail, parse_model_package_event
from registry_workflow.handlers.intake import approval_key, ignored, managed_project, parse_or_refuse
from registry_workflow.idempotency import run_once
from registry_workflow.observability import logger, metrics
from registry_workflow.validation import PENDING, validate_version


def handle(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    parsed = parse_or_refuse(parse_model_package_event, event)
    detail = parsed.detail
    logger.append_keys(package_arn=detail.arn, event_id=parsed.id)
    if detail.metadata_only:
        # a stamp (ours included) re-emits an event: never a reason to validate again
        return ignored("metadata-only update")
    if detail.approval_status != PENDING:
        return ignored(f"approval status {detail.approval_status}")
    project = managed_project(detail.group_name)
    if project is None:
        return ignored("unmanaged group")
    return run_once(_validate, key=approval_key(parsed), lambda_context=context, detail=detail, project=project)


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

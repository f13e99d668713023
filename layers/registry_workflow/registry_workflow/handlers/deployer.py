"""Deployer entry: an approval-status change (Approved / Rejected) of a managed group's version.

Parses the event, picks the project, and runs the approval once per business key (package ARN +
approval status + LastModifiedTime; Powertools Idempotency): Approved delivered three times is
one deployment. The work itself is `DeploymentService.on_approval_change`.
"""

from __future__ import annotations

from typing import Any

from registry_workflow.config import Project, load_config
from registry_workflow.deployment import DeploymentService
from registry_workflow.errors import MalformedEventError
from registry_workflow.events import parse_model_package_event
from registry_workflow.idempotency import run_once
from registry_workflow.observability import logger

ACTIONS = {"Approved", "Rejected"}


def handle(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    try:
        parsed = parse_model_package_event(event)
    except MalformedEventError as exc:
        logger.error("malformed event", extra={"event_id": exc.event_id, "problem": str(exc)})
        raise
    detail = parsed.detail
    logger.append_keys(package_arn=detail.arn, event_id=parsed.id)
    if detail.approval_status not in ACTIONS:
        return _ignored(f"approval status {detail.approval_status}")
    if detail.metadata_only:
        return _ignored("metadata-only update")
    project = load_config().project_for_group(detail.group_name)
    if project is None:
        logger.warning("event for an unmanaged group", extra={"group": detail.group_name})
        return _ignored("unmanaged group")
    if not project.policy.deploy.enabled:
        return _ignored("deploy disabled for this project")
    key = {
        "package_arn": detail.arn,
        "approval_status": detail.approval_status,
        "last_modified": detail.last_modified_time or parsed.id,
    }
    # the context lets a crashed run's in-progress record expire, so Lambda's retry resumes it
    return run_once(_process, key=key, lambda_context=context, project=project)


def _process(*, key: dict[str, Any], project: Project) -> dict[str, Any]:
    trigger = f"{key['approval_status']}:{key['last_modified']}"
    outcome = DeploymentService.from_env().on_approval_change(project, key["package_arn"], trigger)
    logger.info("approval processed", extra=outcome.as_dict())
    return outcome.as_dict()


def _ignored(reason: str) -> dict[str, Any]:
    logger.info("event ignored", extra={"reason": reason})
    return {"action": "ignored", "detail": reason}

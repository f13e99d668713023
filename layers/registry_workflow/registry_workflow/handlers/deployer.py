"""Deployer entry: an approval-status change (Approved / Rejected) of a managed group's version.

Parses the event, picks the project, and runs the approval once per business key (package ARN +
approval status + LastModifiedTime; Powertools Idempotency): Approved delivered three times is
one deployment. The work itself is `DeploymentService.on_approval_change`. A retry (Lambda's, or a
redrive from the dead-letter queue) of an approval whose deployment is in progress resumes it:
what exists is reused, and an update SageMaker already accepted is not made again.
"""

from __future__ import annotations

from typing import Any

from registry_workflow.config import Project
from registry_workflow.deployment import DeploymentService
from registry_workflow.events import parse_model_package_event
from registry_workflow.handlers.intake import approval_key, ignored, managed_project, parse_or_refuse
from registry_workflow.idempotency import run_once
from registry_workflow.observability import logger

ACTIONS = {"Approved", "Rejected"}


def handle(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    parsed = parse_or_refuse(parse_model_package_event, event)
    detail = parsed.detail
    logger.append_keys(package_arn=detail.arn, event_id=parsed.id)
    if detail.approval_status not in ACTIONS:
        return ignored(f"approval status {detail.approval_status}")
    if detail.metadata_only:
        return ignored("metadata-only update")
    project = managed_project(detail.group_name)
    if project is None:
        return ignored("unmanaged group")
    if not project.policy.deploy.enabled:
        return ignored("deploy disabled for this project")
    # the context lets a crashed run's in-progress record expire, so Lambda's retry resumes it
    return run_once(_process, key=approval_key(parsed), lambda_context=context, project=project)


def _process(*, key: dict[str, Any], project: Project) -> dict[str, Any]:
    trigger = f"{key['approval_status']}:{key['last_modified']}"
    outcome = DeploymentService.from_env().on_approval_change(project, key["package_arn"], trigger)
    logger.info("approval processed", extra=outcome.as_dict())
    return outcome.as_dict()

"""Tracker entry: "SageMaker Endpoint State Change" of a managed endpoint, and the scheduled sweep.

Non-terminal states are ignored without an AWS call. On InService, Failed, UpdateRollbackFailed or
OutOfService the in-progress deployment is closed against `DescribeEndpoint` (the expected
config, not the status alone), people are told, and the next queued deployment starts. Ledger
writes are conditional, so a duplicate event changes nothing. A failure is concluded only from an
endpoint last modified after the deployment started: a late or redelivered event from before it
leaves the deployment holding the endpoint (`predates_deployment`). A deployment that went live
although its version was rejected meanwhile is followed by its rollback.

An EventBridge schedule (source ``aws.events``, detail-type ``Scheduled Event``) runs the sweep
instead: every deploy-enabled project's endpoint gets its stale lock freed and its stranded queue
started (`DeploymentService.sweep`), for the states no endpoint event will ever end.
"""

from __future__ import annotations

from typing import Any

from registry_workflow.config import load_config
from registry_workflow.deadline import Deadline
from registry_workflow.deployment import TERMINAL, DeploymentService
from registry_workflow.events import parse_endpoint_event
from registry_workflow.handlers.intake import ignored, parse_or_refuse
from registry_workflow.observability import logger

SCHEDULE_SOURCE, SCHEDULE_DETAIL_TYPE = "aws.events", "Scheduled Event"


def handle(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    deadline = Deadline.from_context(context)
    if is_schedule(event):
        return sweep(deadline)
    detail = parse_or_refuse(parse_endpoint_event, event).detail
    log = {"endpoint": detail.endpoint_name, "status": detail.status}
    if detail.status not in TERMINAL:
        return ignored(detail.status, action="not_terminal", **log)
    project = load_config().project_for_endpoint(detail.endpoint_name)
    if project is None:
        return ignored("unmanaged endpoint", **log)
    result = DeploymentService.from_env(deadline=deadline).track(project, detail.endpoint_name).as_dict()
    logger.info("endpoint state tracked", extra={**log, **result})
    return result


def is_schedule(event: Any) -> bool:
    """An EventBridge scheduled event (a rule's `ScheduleExpression`), not an endpoint state change."""
    return (
        isinstance(event, dict)
        and event.get("source") == SCHEDULE_SOURCE
        and event.get("detail-type") == SCHEDULE_DETAIL_TYPE
    )


def sweep(deadline: Deadline) -> dict[str, Any]:
    projects = [p for p in load_config().projects if p.policy.deploy.enabled]
    return DeploymentService.from_env(deadline=deadline).sweep(projects).as_dict()

"""Tracker entry: "SageMaker Endpoint State Change" of a managed endpoint.

Non-terminal states are ignored without an AWS call. On InService, Failed, UpdateRollbackFailed or
OutOfService the in-progress deployment is closed against `DescribeEndpoint` (the expected
config, not the status alone), people are told, and the next queued deployment starts. Ledger
writes are conditional, so a duplicate event changes nothing. A failure is concluded only from an
endpoint last modified after the deployment started: a late or redelivered event from before it
leaves the deployment holding the endpoint (`predates_deployment`). A deployment that went live
although its version was rejected meanwhile is followed by its rollback.
"""

from __future__ import annotations

from typing import Any

from registry_workflow.config import load_config
from registry_workflow.deployment import TERMINAL, DeploymentService
from registry_workflow.events import parse_endpoint_event
from registry_workflow.handlers.intake import ignored, parse_or_refuse
from registry_workflow.observability import logger


def handle(event: dict[str, Any]) -> dict[str, Any]:
    detail = parse_or_refuse(parse_endpoint_event, event).detail
    log = {"endpoint": detail.endpoint_name, "status": detail.status}
    if detail.status not in TERMINAL:
        return ignored(detail.status, action="not_terminal", **log)
    project = load_config().project_for_endpoint(detail.endpoint_name)
    if project is None:
        return ignored("unmanaged endpoint", **log)
    result = DeploymentService.from_env().track(project, detail.endpoint_name).as_dict()
    logger.info("endpoint state tracked", extra={**log, **result})
    return result

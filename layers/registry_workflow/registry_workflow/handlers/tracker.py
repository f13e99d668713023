"""Tracker entry: "SageMaker Endpoint State Change" of a managed endpoint.

Non-terminal states are ignored without an AWS call. On InService, Failed, UpdateRollbackFailed or
OutOfService the in-progress deployment is closed against `DescribeEndpoint` (the expected
config, not the status alone), people are told, and the next queued deployment starts. Ledger
writes are conditional, so a duplicate event changes nothing.
"""

from __future__ import annotations

from typing import Any

from registry_workflow.config import load_config
from registry_workflow.deployment import TERMINAL, DeploymentService
from registry_workflow.errors import MalformedEventError
from registry_workflow.events import parse_endpoint_event
from registry_workflow.observability import logger


def handle(event: dict[str, Any]) -> dict[str, Any]:
    try:
        detail = parse_endpoint_event(event).detail
    except MalformedEventError as exc:
        logger.error("malformed event", extra={"event_id": exc.event_id, "problem": str(exc)})
        raise
    log = {"endpoint": detail.endpoint_name, "status": detail.status}
    if detail.status not in TERMINAL:
        logger.info("endpoint not in a terminal state: nothing to do", extra=log)
        return {"action": "not_terminal", "detail": detail.status}
    project = load_config().project_for_endpoint(detail.endpoint_name)
    if project is None:
        logger.info("endpoint of no configured project: ignored", extra=log)
        return {"action": "ignored", "detail": "unmanaged endpoint"}
    result = DeploymentService.from_env().track(project, detail.endpoint_name).as_dict()
    logger.info("endpoint state tracked", extra={**log, **result})
    return result

"""Tracker: closes deployments on endpoint state changes, starts queued ones (EventBridge)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from registry_workflow.handlers.tracker import handle
from registry_workflow.observability import logger, metrics, tracer


# clear_state: keys appended for one event (package_arn, event_id) must not leak into the next
@logger.inject_lambda_context(correlation_id_path=correlation_paths.EVENT_BRIDGE, clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle(event, context)

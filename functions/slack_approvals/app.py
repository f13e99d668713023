"""Slack approvals: Slack's interactivity requests (function URL) and the decision queue (SQS)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from registry_workflow.chat_approvals import handle
from registry_workflow.observability import logger, metrics, tracer


# clear_state: keys appended for one request must not leak into the next; the event is never
# logged (it carries Slack's signature and the users' text)
@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle(event)

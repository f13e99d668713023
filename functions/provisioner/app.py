"""Provisioner: one Model Package Group per configured project (manual invoke or custom resource)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from registry_workflow.handlers.provisioner import handle
from registry_workflow.observability import logger, metrics, tracer


@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle(event)

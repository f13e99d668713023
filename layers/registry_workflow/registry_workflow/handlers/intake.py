"""What every event handler does first: parse at the edge, refuse loudly, ignore with a reason.

A malformed event is logged with its id, counted, and re-raised as the typed error (so Lambda
retries it and it ends in the dead-letter queue, untouched); an event that needs no work is
logged and counted with the reason, and answered without an AWS call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from registry_workflow.config import Project, load_config
from registry_workflow.errors import MalformedEventError
from registry_workflow.events import ModelPackageEvent
from registry_workflow.observability import logger, metrics


def parse_or_refuse[T](parse: Callable[[Any], T], event: Any) -> T:
    try:
        return parse(event)
    except MalformedEventError as exc:
        logger.error("malformed event", extra={"event_id": exc.event_id, "problem": str(exc)})
        metrics.add_metric(name="MalformedEvents", unit="Count", value=1)
        raise


def ignored(reason: str, action: str = "ignored", **log: Any) -> dict[str, Any]:
    logger.info("event ignored", extra={"reason": reason, **log})
    metrics.add_metric(name="EventsIgnored", unit="Count", value=1)
    return {"action": action, "detail": reason}


def managed_project(group_name: str) -> Project | None:
    """The configured project owning a group; None (and a warning) for anyone else's group."""
    project = load_config().project_for_group(group_name)
    if project is None:
        logger.warning("event for an unmanaged group", extra={"group": group_name})
    return project


def approval_key(event: ModelPackageEvent) -> dict[str, Any]:
    """The business key of one approval-status change: a redelivery has the same one."""
    detail = event.detail
    key = {
        "package_arn": detail.arn,
        "approval_status": detail.approval_status,
        "last_modified": detail.last_modified_time or event.id,
    }
    if detail.promotion_asked and detail.lifecycle is not None:  # a promotion: to which stage
        key["promotion"] = detail.lifecycle.stage
    return key

"""CloudFormation custom-resource protocol: tell the stack how a request ended.

A custom resource that never answers hangs the stack for an hour, so every path through the
provisioner ends in exactly one `send_response`.
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from registry_workflow.observability import logger


def is_custom_resource_event(event: Any) -> bool:
    return isinstance(event, dict) and "RequestType" in event and "ResponseURL" in event


def send_response(
    event: dict[str, Any],
    *,
    success: bool,
    reason: str = "",
    data: dict[str, Any] | None = None,
    physical_id: str | None = None,
    timeout: float = 10.0,
) -> None:
    """PUT the outcome to the pre-signed `ResponseURL` CloudFormation gave us."""
    body = json.dumps(
        {
            "Status": "SUCCESS" if success else "FAILED",
            "Reason": reason[:3000] or ("ok" if success else "failed"),
            "PhysicalResourceId": physical_id or event.get("PhysicalResourceId") or event["LogicalResourceId"],
            "StackId": event["StackId"],
            "RequestId": event["RequestId"],
            "LogicalResourceId": event["LogicalResourceId"],
            "NoEcho": False,
            "Data": data or {},
        }
    ).encode()
    request = urllib.request.Request(  # noqa: S310 - the URL is CloudFormation's pre-signed S3 URL
        event["ResponseURL"],
        data=body,
        method="PUT",
        headers={"Content-Type": "", "Content-Length": str(len(body))},
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
        logger.info("custom resource answered", extra={"status": response.status, "success": success})

"""Validator entry: a new version in PendingManualApproval is judged against its project's policy.

The verdict is stamped on the version (for people), kept in the ledger table (the gate's proof,
`registry_workflow.gate`) and recorded in the audit trail, after the version's "registered" entry.
"""

from __future__ import annotations

import os
from typing import Any

from registry_workflow import audit
from registry_workflow.audit import AuditTrail
from registry_workflow.config import Project
from registry_workflow.events import ModelPackageDetail, parse_model_package_event
from registry_workflow.gate import GateRecords, identity_of
from registry_workflow.handlers.intake import approval_key, ignored, managed_project, parse_or_refuse
from registry_workflow.idempotency import run_once
from registry_workflow.ledger_table import LEDGER_TABLE_ENV
from registry_workflow.observability import logger, metrics
from registry_workflow.validation import PENDING, describe_version, validate_version


def handle(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    parsed = parse_or_refuse(parse_model_package_event, event)
    detail = parsed.detail
    logger.append_keys(package_arn=detail.arn, event_id=parsed.id)
    if detail.metadata_only:
        # a stamp (ours included) re-emits an event: never a reason to validate again
        return ignored("metadata-only update")
    if detail.approval_status != PENDING:
        return ignored(f"approval status {detail.approval_status}")
    project = managed_project(detail.group_name)
    if project is None:
        return ignored("unmanaged group")
    audit.set_event(parsed.id)
    return run_once(_validate, key=approval_key(parsed), lambda_context=context, detail=detail, project=project)


def _validate(*, key: dict[str, Any], detail: ModelPackageDetail, project: Project) -> dict[str, Any]:
    records, trail = _gate_stores()
    package = describe_version(detail.arn)
    if trail is not None and detail.is_creation:
        registrant = identity_of(package.get("CreatedBy"))
        created = audit.created_of(detail, package)
        trail.record(
            detail.group_name,
            "registered",
            key=audit.version_key("registered", detail.arn, created),
            created=created,
            actor=str(registrant) if registrant else "unknown",
            version=detail.version,
            package_arn=detail.arn,
            details={"status": detail.approval_status},
        )
    outcome = validate_version(detail, project, records=records, trail=trail, package=package)
    metrics.add_metric(name=f"Versions{outcome.action.capitalize()}", unit="Count", value=1)
    if outcome.result is not None:  # judged (passed or failed), not skipped
        metrics.add_metric(name="VersionsValidated", unit="Count", value=1)
        metrics.add_metric(name=f"Validations{outcome.result.status.capitalize()}", unit="Count", value=1)
    result = outcome.result
    return {
        "action": outcome.action,
        "detail": outcome.detail,
        "status": result.status if result else None,
        "failed_rules": list(result.failed_rules) if result else [],
        "aws_calls": ["sagemaker:DescribeModelPackage", *outcome.aws_calls],
    }


def _gate_stores() -> tuple[GateRecords | None, AuditTrail | None]:
    """The ledger table's gate records and audit trail (the stack always sets LEDGER_TABLE)."""
    if not os.environ.get(LEDGER_TABLE_ENV, "").strip():
        logger.warning("LEDGER_TABLE is not set: the verdict is stamped but not kept for the gate")
        return None, None
    return GateRecords.from_env(), AuditTrail.from_env()

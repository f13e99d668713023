"""Provisioner entry: a manual invoke (`events/provision.json`) or a CloudFormation custom resource.

As the custom resource it also claims the account and region for its stack (one stack per
account and region, `stack_claim`) and refuses a config that names a team the stack was not
deployed for (its IAM policies and rules would not cover that team's groups), or that guards a
stage the stack's GuardedStages does not (any approver could ask for it).
"""

from __future__ import annotations

import os
from typing import Any

from registry_workflow import aws, stack_claim
from registry_workflow.config import load_config
from registry_workflow.custom_resource import is_custom_resource_event, send_response
from registry_workflow.errors import RegistryWorkflowError
from registry_workflow.observability import logger, metrics
from registry_workflow.provisioning import GroupState, ProvisionReport, check_against_stack, reconcile

PHYSICAL_ID = "registry-workflow-model-package-groups"
#: the stack's ManagedTeams, comma-separated (set by template.yaml on the function)
MANAGED_TEAMS_ENV = "MANAGED_TEAMS"
#: the stack's GuardedStages, comma-separated (likewise)
GUARDED_STAGES_ENV = "GUARDED_STAGES"


def handle(event: dict[str, Any]) -> dict[str, Any]:
    if is_custom_resource_event(event):
        return _handle_custom_resource(event)
    dry_run = bool(event.get("dry_run", False)) if isinstance(event, dict) else False
    report = provision(dry_run=dry_run)
    if report.failed:
        # raise so the invocation counts as an error: retried, alarmed, never a silent half-success
        raise RegistryWorkflowError(f"could not create {[r.name for r in report.failed]}: {report.failed[0].detail}")
    return _as_dict(report)


def provision(
    *,
    dry_run: bool = False,
    deployed_teams: str | None = None,
    deployed_stages: str | None = None,
    stack_id: str = "",
) -> ProvisionReport:
    """Reconcile the groups with the config; first, the checks that must hold before any write."""
    config = load_config()
    check_against_stack(
        config,
        os.environ.get(MANAGED_TEAMS_ENV) if deployed_teams is None else deployed_teams,
        os.environ.get(GUARDED_STAGES_ENV) if deployed_stages is None else deployed_stages,
    )
    if stack_id:
        stack_claim.claim(aws.client("ssm"), stack_id)
    if not config.enabled:
        logger.info("ENABLE_MODEL_REGISTRY=false: nothing to provision")
        return ProvisionReport(enabled=False)
    report = reconcile(config, aws.client("sagemaker"), dry_run=dry_run)
    metrics.add_metric(name="GroupsCreated", unit="Count", value=len(report.names(GroupState.CREATED)))
    logger.info("provisioned", extra={"summary": report.summary(), "drift": [r.name for r in report.drift]})
    return report


def _handle_custom_resource(event: dict[str, Any]) -> dict[str, Any]:
    request = event["RequestType"]
    if request == "Delete":
        # Deleting the stack leaves the groups and every version in them in place, by design;
        # it frees the account and region for another stack (its own claim only).
        reason = "groups are kept on stack deletion"
        try:
            if stack_claim.release(aws.client("ssm"), event["StackId"]):
                reason += "; account and region released"
        except Exception as exc:  # noqa: BLE001 - a stuck claim must not block the deletion
            logger.exception("could not release the stack claim")
            reason += f"; the claim {stack_claim.CLAIM_PARAMETER} could not be released ({exc}): delete it by hand"
        send_response(event, success=True, reason=reason, physical_id=PHYSICAL_ID)
        return {"RequestType": request}
    properties = event.get("ResourceProperties") or {}
    try:
        report = provision(
            deployed_teams=properties.get("ManagedTeams"),
            deployed_stages=properties.get("GuardedStages"),
            stack_id=event["StackId"],
        )
    except Exception as exc:  # noqa: BLE001 - any failure must reach CloudFormation, or the stack hangs
        logger.exception("provisioning failed")
        send_response(event, success=False, reason=str(exc), physical_id=PHYSICAL_ID)
        return {"RequestType": request, "error": str(exc)}
    if report.failed:
        reason = "; ".join(f"{r.name}: {r.detail}" for r in report.failed)
        send_response(event, success=False, reason=reason, physical_id=PHYSICAL_ID)
    else:
        send_response(event, success=True, data=_as_data(report), physical_id=PHYSICAL_ID)
    return _as_dict(report)


def _as_dict(report: ProvisionReport) -> dict[str, Any]:
    return {
        "enabled": report.enabled,
        "summary": report.summary(),
        "groups": [{"name": r.name, "state": r.state.value, "detail": r.detail} for r in report.results],
    }


def _as_data(report: ProvisionReport) -> dict[str, Any]:
    # custom resource Data values must be strings
    return {key: str(value) for key, value in report.summary().items()}

"""Deployer entry: an approval-status change (Approved / Rejected / back to pending) of a managed group's version.

A `ModelLifeCycle` change to `StageStatus: Approved` is a promotion (staged projects): it goes
to `DeploymentService.promote`, which deploys to that stage or refuses with the reason.

Parses the event, picks the project, and runs the approval once per business key (package ARN +
approval status + LastModifiedTime; Powertools Idempotency): Approved delivered three times is
one deployment. The change is recorded in the audit trail; an approval then passes the gate
(`registry_workflow.admission`: validated under the policy in force, four eyes, an allowed
approver) before `DeploymentService.approve`; a rejection goes to `DeploymentService.reject`. A retry (Lambda's, or a
redrive from the dead-letter queue) of an approval whose deployment is in progress resumes it:
what exists is reused, and an update SageMaker already accepted is not made again.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from registry_workflow import audit
from registry_workflow.admission import Gatekeeper
from registry_workflow.config import Project
from registry_workflow.deadline import Deadline
from registry_workflow.deployment import APPROVED, REJECTED, DeploymentService, Outcome
from registry_workflow.events import ModelPackageDetail, parse_model_package_event
from registry_workflow.gate import PENDING
from registry_workflow.handlers.intake import approval_key, ignored, managed_project, parse_or_refuse
from registry_workflow.idempotency import run_once
from registry_workflow.observability import logger

ACTIONS = {"Approved", "Rejected"}


def handle(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    parsed = parse_or_refuse(parse_model_package_event, event)
    detail = parsed.detail
    logger.append_keys(package_arn=detail.arn, event_id=parsed.id)
    if detail.lifecycle_changed and not detail.promotion_asked:
        return ignored("ModelLifeCycle stamp (not a promotion)")
    withdrawn = detail.approval_status == PENDING and detail.approval_changed and not detail.is_creation
    withdrawn = withdrawn and not detail.promotion_asked
    if detail.approval_status not in ACTIONS and not detail.promotion_asked and not withdrawn:
        return ignored(f"approval status {detail.approval_status}")
    if detail.metadata_only:
        return ignored("metadata-only update")
    project = managed_project(detail.group_name)
    if project is None:
        return ignored("unmanaged group")
    audit.set_event(parsed.id)
    # the context lets a crashed run's in-progress record expire, so Lambda's retry resumes it
    return run_once(
        _process,
        key=approval_key(parsed),
        lambda_context=context,
        project=project,
        detail=detail,
        deadline=Deadline.from_context(context),  # bounds Slack's retries by the time left
    )


def _promote(
    service: DeploymentService,
    gate: Gatekeeper,
    project: Project,
    detail: ModelPackageDetail,
    package: dict[str, Any],
    key: dict[str, Any],
) -> Outcome:
    gate.record_promotion(detail, package)
    outcome = service.promote(project, package, f"promotion:{key['last_modified']}")
    if outcome.action == "promotion_refused":
        gate.record_promotion_refused(detail, outcome.detail)
    return outcome


def _undo_withdrawn(
    service: DeploymentService,
    project: Project,
    detail: ModelPackageDetail,
    package: dict[str, Any],
    trigger: str,
    when: str | None = None,
) -> Outcome:
    """Undo deployments of the version (`package`, as described) started at or after this change
    (`when`: the time the standing was revoked at, else the event's)."""
    return service.undo_withdrawn(project, package, when or detail.last_modified_time or "", trigger)


def _process(
    *, key: dict[str, Any], project: Project, detail: ModelPackageDetail, deadline: Deadline
) -> dict[str, Any]:
    trigger = f"{key['approval_status']}:{key['last_modified']}"
    service = DeploymentService.from_env(deadline=deadline)
    gate = Gatekeeper.from_env(service.sagemaker)
    package = service.describe_package(detail.arn)
    gate.record_change(detail, package)
    rejected_at = None
    if detail.approval_status == REJECTED and not detail.promotion_asked:
        # a rejection ends the approval the gate admitted, even one overtaken by a new approval:
        # that one stands only once the gate admits it (a self-approval after a rejection must not
        # ride on the approval the rejection ended while its own event is on its way). None: the
        # version does not exist (or not under this ARN)
        rejected_at = gate.revoke(detail, package)
    if detail.approval_status == PENDING and not detail.promotion_asked:
        # set back to pending: an approval the gate admitted no longer stands; queued deployments
        # of the version are dropped when their turn comes (deployment/standing.py), and one
        # started on it since is undone
        when = gate.withdraw(detail, package)
        if not project.policy.deploy.enabled:
            return Outcome("withdrawn", version=detail.version, detail="approval withdrawn").as_dict()
        return _undo_withdrawn(service, project, detail, package, trigger, when).as_dict()
    if not project.policy.deploy.enabled:
        return ignored("deploy disabled for this project")
    status = package.get("ModelApprovalStatus")
    if detail.promotion_asked:
        if not project.is_staged:
            return ignored("promotion asked of a project with one stage")
        outcome = _promote(service, gate, project, detail, package, key)
    elif status == REJECTED:
        # whatever the event said: a rejected version must not stay live, in any stage
        outcome = service.reject_everywhere(project, package, trigger)
    elif status == APPROVED and detail.approval_status == APPROVED:
        refused = gate.admit(project, detail, package)
        if refused is not None:
            # work that ran before this refusal may have started the version on an earlier approval
            # this one replaced: undone (decision 84)
            undone = _undo_withdrawn(service, project, detail, service.describe_package(detail.arn), trigger)
            return refused.as_dict() | ({"undone": undone.as_dict()} if undone.action != "withdrawn" else {})
        outcome = service.approve(project, package, trigger)
        if project.is_staged and detail.lifecycle_asked_with_approval:
            # one call approved it and asked for a later stage: it goes to the first stage now, and
            # the promotion is judged (refused: not live there yet) so it is never left pending
            outcome = replace(outcome, next=_promote(service, gate, project, detail, package, key))
    elif rejected_at is not None and gate.records.standing(detail.arn, package.get("CreationTime")) != "admitted":
        # a rejection overtaken by another change (a self-approval the gate refuses, a set-back to
        # pending) before this event came: no approval admitted since, so the rejection is carried
        # out as if it were still the version's status. A second person's approval admitted later
        # deploys the version again by its own event (decision 87)
        outcome = service.reject_everywhere(project, package, trigger, force=True)
    else:
        # a rejection overtaken by an approval the gate admitted since, or nothing to act on: the
        # gate is never applied to an approval this event did not announce
        outcome = Outcome("stale", version=detail.version, detail=f"the version is {status} now")
    logger.info("approval processed", extra=outcome.as_dict())
    return outcome.as_dict()

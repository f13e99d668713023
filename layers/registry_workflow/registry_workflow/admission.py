"""The deployer's first step for every approval-status change: record it, then apply the gate.

`Gatekeeper.record_change` writes the audit entries of the change (registered, approved,
rejected). `Gatekeeper.admit` decides whether an approval may deploy (`registry_workflow.gate`
holds the rules and the records) and carries out a refusal:

* no verdict of the workflow under the policy in force → validate now (the validator's own code);
  a failure is set `Rejected` with the failed rules (the ordinary rejection event then announces
  it), a pass goes on;
* a failed verdict → `Rejected` with the failed rules;
* a self-approval, an approval by someone not allowed, or by an unknown identity → back to
  `PendingManualApproval` with the reason as `ApprovalDescription`, announced as "approval refused".

Every refusal is an audit entry. An admitted approval is handed to `DeploymentService.approve`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from registry_workflow import aws
from registry_workflow.audit import WORKFLOW_ACTOR, AuditTrail, created_of, version_key
from registry_workflow.gate import (
    APPROVED,
    PENDING,
    REJECTED,
    SAME_CHANGE_SECONDS,
    WORKFLOW_ROLES_ENV,
    ApprovalVerdict,
    GateRecords,
    configured_chat_role,
    identity_of,
    judge_approval,
    judge_chat_approval,
)
from registry_workflow.observability import logger, metrics

if TYPE_CHECKING:
    from registry_workflow.config import Project
    from registry_workflow.events import ModelPackageDetail

DESCRIPTION_MAX = 1024


@dataclass(frozen=True)
class Refused:
    """Why an approval does not deploy; `as_dict` is the handler's result."""

    version: int
    refusal: str
    reason: str
    then: str  # what the version was set to: PendingManualApproval | Rejected | unchanged

    def as_dict(self) -> dict[str, Any]:
        return {"action": "refused", "version": self.version, "refusal": self.refusal, "detail": self.reason}


class Gatekeeper:
    """Applies the gate to one approval; see the module docstring."""

    def __init__(
        self,
        records: GateRecords,
        trail: AuditTrail,
        *,
        sagemaker: Any | None = None,
        workflow_roles: frozenset[str] = frozenset(),
        notifier: Any | None = None,
        chat_role: str | None = None,
    ) -> None:
        self.records = records
        #: name of the role the Slack approvals function runs as (CHAT_APPROVALS_ROLE)
        self.chat_role = chat_role
        self.trail = trail
        self.sagemaker = sagemaker or aws.client("sagemaker")
        self.workflow_roles = workflow_roles
        self._notifier = notifier

    @classmethod
    def from_env(cls, sagemaker: Any | None = None) -> Gatekeeper:
        return cls(
            GateRecords.from_env(),
            AuditTrail.from_env(),
            sagemaker=sagemaker,
            workflow_roles=frozenset(r.strip() for r in os.environ.get(WORKFLOW_ROLES_ENV, "").split(",") if r.strip()),
            chat_role=configured_chat_role(),
        )

    # --- the audit entries of a change ------------------------------------------------------------

    def record_change(self, detail: ModelPackageDetail, package: dict[str, Any]) -> None:
        """registered (a creation event), approved / rejected (by whom, why).

        Only a change the version still shows is recorded: an event older than the version's
        current state (a later change overtook it) cannot say who made it, and the later change's
        own event records that one. A version that does not exist records nothing.
        """
        arn, group, version = detail.arn, detail.group_name, detail.version
        if package.get("ModelPackageStatus") in (None, "Deleted") or package.get("ModelPackageArn") != arn:
            return
        created = created_of(detail, package)
        if detail.is_creation:
            self.trail.record(
                group,
                "registered",
                key=version_key("registered", arn, created),
                created=created,
                actor=_who(package.get("CreatedBy")),
                version=version,
                package_arn=arn,
                details={"status": detail.approval_status},
            )
        status = detail.approval_status
        if status not in (APPROVED, REJECTED) or detail.lifecycle_changed:
            return  # a ModelLifeCycle change is not an approval (`record_promotion`)
        if not _same_change(detail, package):
            return
        self.trail.record(
            group,
            status.lower(),
            key=f"{status}:{arn}:{detail.last_modified_time}",
            # a rejection made in Slack names the Slack user (the chat function's role only carried it)
            actor=(status == REJECTED and self.records.chat_actor(package)) or _who(package.get("LastModifiedBy")),
            version=version,
            package_arn=arn,
            created=created,
            reason=package.get("ApprovalDescription") or None,
        )

    def revoke(self, detail: ModelPackageDetail, package: dict[str, Any]) -> str | None:
        """The approval the gate admitted (if any) no longer stands as of this change (set back to
        pending, or rejected): the change's time, or None for a version that does not exist (or
        not under this ARN), which records nothing."""
        if package.get("ModelPackageStatus") in (None, "Deleted") or package.get("ModelPackageArn") != detail.arn:
            return None
        if not detail.last_modified_time and not _same_change(detail, package):
            return None  # no time of its own: the description's may be a later, admitted approval's
        when = _approved_at(detail, package)
        self.records.revoke(detail.arn, _created(detail, package), when)
        return when

    def withdraw(self, detail: ModelPackageDetail, package: dict[str, Any]) -> str | None:
        """The version was set back to pending: an approval the gate admitted no longer stands.

        As `record_change`: a version that does not exist (or not under this ARN) records nothing.
        Returns the time the standing was revoked at (None: nothing recorded).
        """
        when = self.revoke(detail, package)
        if when is None:
            return None
        changer, same = identity_of(package.get("LastModifiedBy")), _same_change(detail, package)
        if same and changer is not None and changer.is_role_of(self.workflow_roles, detail.arn):
            return when  # the gate's own revert of a refused approval: its `refused` entry says so already
        self.trail.record(
            detail.group_name,
            "withdrawn",
            key=f"withdrawn:{detail.arn}:{when}",
            # who changed it last, when that is still this change (a late event cannot say who)
            actor=_who(package.get("LastModifiedBy")) if same else "unknown",
            version=detail.version,
            package_arn=detail.arn,
            created=created_of(detail, package),
            reason=package.get("ApprovalDescription") or None,
        )
        return when

    def record_promotion(self, detail: ModelPackageDetail, package: dict[str, Any]) -> None:
        """A promotion asked (`ModelLifeCycle` → a stage, Approved): who asked, for which stage."""
        lifecycle = detail.lifecycle
        if lifecycle is None or package.get("ModelPackageArn") != detail.arn:
            return
        self.trail.record(
            detail.group_name,
            "promotion_asked",
            key=f"promotion:{detail.arn}:{lifecycle.stage}:{detail.last_modified_time}",
            actor=_who(package.get("LastModifiedBy")),
            version=detail.version,
            package_arn=detail.arn,
            created=created_of(detail, package),
            reason=lifecycle.stage_description or None,
            details={"stage": lifecycle.stage},
        )

    def record_promotion_refused(self, detail: ModelPackageDetail, why: str) -> None:
        lifecycle = detail.lifecycle
        self.trail.record(
            detail.group_name,
            "promotion_refused",
            key=f"promotion-refused:{detail.arn}:{detail.last_modified_time}",
            actor=WORKFLOW_ACTOR,
            version=detail.version,
            package_arn=detail.arn,
            created=detail.creation_time,
            reason=why,
            details={"stage": lifecycle.stage if lifecycle else None},
        )

    # --- the gate ----------------------------------------------------------------------------------

    def admit(self, project: Project, detail: ModelPackageDetail, package: dict[str, Any]) -> Refused | None:
        """None when the approval may deploy; otherwise what was refused (and done about it)."""
        arn, version = detail.arn, detail.version
        digest = project.policy.digest()
        validation = self.records.validation(arn, digest, created=package.get("CreationTime"))
        verdict = self._verdict(project, detail, package, auto_approved=bool(validation and validation.auto_approved))

        if validation is None:
            # the validator's own code, loaded only for this rare path (not at every cold start)
            from registry_workflow.validation import validate_version

            outcome = validate_version(
                detail, project, sagemaker=self.sagemaker, records=self.records, trail=self.trail,
                package=package, for_approval=True,
            )  # fmt: skip
            if outcome.action == "skipped":
                return Refused(version, "stale", outcome.detail, "unchanged")
            if outcome.result is None or not outcome.result.passed:
                metrics.add_metric(name="ApprovalsRefused", unit="Count", value=1)
                reason = f"not validated before approval, and validation failed: {outcome.detail}"
                self._refused(project, detail, "failed_validation", reason, REJECTED, announced=True, package=package)
                return Refused(version, "failed_validation", reason, REJECTED)
        elif not validation.passed:
            reason = f"failed validation (policy {digest}): {validation.failed_rules or 'see the stamp'}"
            self._set_status(arn, REJECTED, reason)
            metrics.add_metric(name="ApprovalsRefused", unit="Count", value=1)
            self._refused(project, detail, "failed_validation", reason, REJECTED, announced=True, package=package)
            return Refused(version, "failed_validation", reason, REJECTED)

        if verdict.allowed:
            logger.info(
                "approval admitted",
                extra={"package_arn": arn, "approver": verdict.approver, "registrant": verdict.registrant},
            )
            # its standing: later work (a queued start, a promotion, a rollback) asks for it
            self.records.admit(
                arn, package.get("CreationTime"), _approved_at(detail, package), verdict.approver, digest
            )
            return None
        reason = f"approval refused: {verdict.reason}"
        self._set_status(arn, PENDING, reason)
        metrics.add_metric(name="ApprovalsRefused", unit="Count", value=1)
        self._refused(
            project, detail, verdict.refusal or "refused", reason, PENDING, approver=verdict.approver, package=package
        )
        return Refused(version, verdict.refusal or "refused", reason, PENDING)

    def _verdict(
        self, project: Project, detail: ModelPackageDetail, package: dict[str, Any], *, auto_approved: bool
    ) -> ApprovalVerdict:
        """The four-eyes verdict of this approval: taken once, before the gate writes anything.

        Judged from this Describe, then kept with a conditional write: a retry of the same event
        (whose Describe our own writes have changed since) gets the verdict kept the first time.
        """
        approved_at = detail.last_modified_time or _iso(package.get("LastModifiedTime")) or "unknown"
        approver = identity_of(package.get("LastModifiedBy"))
        if self.chat_role and approver is not None and approver.is_role_of({self.chat_role}, detail.arn):
            # approved in Slack: the person is the Slack user of the chat function's record
            verdict = judge_chat_approval(
                package,
                self.records.chat_decision(detail.arn),
                project.policy.approval,
                project.team,
                event_last_modified=_instant(detail.last_modified_time),
            )
            return self.records.keep_approval(detail.arn, approved_at, verdict)
        verdict = judge_approval(
            package,
            project.policy.approval,
            event_last_modified=_instant(detail.last_modified_time),
            workflow_roles=self.workflow_roles,
            auto_approved=auto_approved,
        )
        return self.records.keep_approval(detail.arn, approved_at, verdict)

    def _set_status(self, arn: str, status: str, reason: str) -> None:
        try:
            self.sagemaker.update_model_package(
                ModelPackageArn=arn, ModelApprovalStatus=status, ApprovalDescription=reason[:DESCRIPTION_MAX]
            )
        except (ClientError, BotoCoreError) as exc:
            raise aws.as_operation_error("sagemaker:UpdateModelPackage", exc) from exc

    def _refused(
        self,
        project: Project,
        detail: ModelPackageDetail,
        refusal: str,
        reason: str,
        then: str,
        *,
        approver: str | None = None,
        announced: bool = False,
        package: dict[str, Any] | None = None,
    ) -> None:
        logger.warning(
            "approval refused", extra={"package_arn": detail.arn, "refusal": refusal, "reason": reason, "then": then}
        )
        # a refused approval withdraws any earlier one the gate admitted (decision 84)
        self.records.revoke(detail.arn, _created(detail, package), _approved_at(detail, package))
        self.trail.record(
            detail.group_name,
            "refused",
            key=f"refused:{detail.arn}:{detail.last_modified_time}",
            actor=WORKFLOW_ACTOR,
            version=detail.version,
            package_arn=detail.arn,
            created=detail.creation_time,
            reason=reason,
            details={"refusal": refusal, "then": then, "approver": approver},
        )
        if announced:
            return  # the rejection's own event is announced by the notifier, with the failed rules
        from registry_workflow.notifications import Notification, notify, region_of

        notification = Notification(
            kind="refused",
            group=detail.group_name,
            package_arn=detail.arn,
            status="approval refused, back to pending review",
            version=detail.version,
            actor=approver,
            reason=reason,
            region=region_of(detail.arn) or self.sagemaker.meta.region_name,
        )
        try:
            (self._notifier or notify)(notification, project)
        except Exception:  # noqa: BLE001 - the refusal is recorded and the version reverted; a lost message must not undo it
            metrics.add_metric(name="NotificationFailures", unit="Count", value=1)
            logger.exception("refusal notification failed", extra={"package_arn": detail.arn})


def _who(user_context: Any) -> str:
    identity = identity_of(user_context)
    return str(identity) if identity else "unknown"


def _same_change(detail: ModelPackageDetail, package: dict[str, Any]) -> bool:
    """Whether `package` (Describe) is still the state the event announced (nobody changed it since)."""
    if package.get("ModelApprovalStatus") != detail.approval_status:
        return False
    described, announced = package.get("LastModifiedTime"), _instant(detail.last_modified_time)
    if not isinstance(described, datetime) or announced is None:
        return True
    return abs((described - announced).total_seconds()) < SAME_CHANGE_SECONDS


def _instant(canonical: str | None) -> datetime | None:
    """An event time in `events.event_time`'s canonical form (parsed at the edge) as a datetime."""
    return datetime.fromisoformat(canonical) if canonical else None


def _iso(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else None


def _created(detail: ModelPackageDetail, package: dict[str, Any] | None) -> object:
    """The version's CreationTime: as described, else as the event gave it (the standing's key)."""
    return (package or {}).get("CreationTime") or _instant(detail.creation_time)


def _approved_at(detail: ModelPackageDetail, package: dict[str, Any] | None) -> str:
    """The change's time in the events' canonical form (standings compare these as strings)."""
    from registry_workflow.events import event_time

    if detail.last_modified_time:
        return str(detail.last_modified_time)
    modified = (package or {}).get("LastModifiedTime")
    if isinstance(modified, datetime):
        return event_time(modified.isoformat())
    return ""

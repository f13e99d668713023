"""Rejection: roll a rejected live version back to the last approved one, or retire its endpoint.

A rejection drops the version's queued deployments and, where it is live (or being deployed),
queues or starts a rollback to the newest earlier version still approved. With none, the
stage's policy (`on_reject_without_fallback`) says whether the version keeps serving (people are
told) or the endpoint is deleted (`retire`). A version rejected while it was being deployed is
rolled back by the tracker once it is live (`roll_back_rejected`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from registry_workflow.deployment import decisions
from registry_workflow.deployment.announcements import actor_of
from registry_workflow.deployment.decisions import STAGE_RETIRED, Decision, parse_ledger_time
from registry_workflow.deployment.outcomes import Outcome, chained, outcome_of
from registry_workflow.deployment.resources import alarm_names, package_created_of
from registry_workflow.errors import DeploymentConflictError, RegistryWorkflowError
from registry_workflow.gate import APPROVED, REJECTED, moment
from registry_workflow.ledger import Deployment, DeploymentStatus, EndpointSnapshot, deployment_id_for
from registry_workflow.observability import logger, metrics

if TYPE_CHECKING:
    from collections.abc import Iterable

    from registry_workflow.config import Project, Stage
    from registry_workflow.deployment.service import DeploymentService


class Rejection:
    """Undoes rejected versions: rollbacks, retirements, and the queued deployments a rejection drops."""

    def __init__(self, service: DeploymentService) -> None:
        self._service = service
        self.ledger = service.ledger
        self.endpoints = service.endpoints

    def reject(
        self,
        project: Project,
        package: dict[str, Any],
        trigger: str,
        stage: Stage | None = None,
        *,
        force: bool = False,
    ) -> Outcome:
        """A rejection: roll `stage`'s endpoint back if the rejected version is live or being deployed there.

        Being deployed: a rollback is queued behind it, with ``rollback_of`` naming the deployment;
        the tracker starts it once that deployment is live, and supersedes it if the update
        failed (the rejected version never went live). Otherwise the endpoint is left alone.
        """
        stage = stage or project.stages[0]
        arn, version = package["ModelPackageArn"], int(package["ModelPackageVersion"])
        log = {"group": project.group_name, "version": version, "package_arn": arn, "endpoint": stage.endpoint}
        rejected_now = force or package.get("ModelApprovalStatus") == REJECTED
        state = self.ledger.snapshot(stage.endpoint)
        decision = decisions.on_rejection(state, arn, rejected_now=rejected_now, lock_checked=False)
        self._drop_rejected(decision.drop, log)
        if decision.action == "check_lock":
            if self._service.tracking.release_if_stale(project, decision.record):
                state = self.ledger.snapshot(stage.endpoint)  # the stale deployment was just closed: decide again
            decision = decisions.on_rejection(state, arn, rejected_now=rejected_now, lock_checked=True)
        if decision.action == "stale":
            logger.info("stale rejection ignored: version is not Rejected now", extra=log)
            return Outcome("stale", version=version, stage=stage.label)
        if decision.action == "not_live":
            logger.info("rejected version is not live: endpoint left alone", extra=log)
            return Outcome("not_live", version=version, stage=stage.label)
        rejected = decision.record
        assert rejected is not None
        return self._roll_back(project, stage, state, rejected, package, f"rollback:{arn}:{trigger}")

    def reject_everywhere(
        self, project: Project, package: dict[str, Any], trigger: str, *, force: bool = False
    ) -> Outcome:
        """A rejection in every stage (the last first): each rolls back where the version is live.

        `force`: carried out though the version is no longer `Rejected` (see `reject`)."""
        outcomes = [self.reject(project, package, trigger, stage, force=force) for stage in reversed(project.stages)]
        result = chained(outcomes)
        assert result is not None  # a project has at least one stage
        return result

    def undo_withdrawn(self, project: Project, package: dict[str, Any], withdrawn_at: str, trigger: str) -> Outcome:
        """An approval withdrawn (set back to pending, or refused by the gate) at `withdrawn_at`:
        a deployment of the version that started at or after that moment rode on an approval that
        no longer stood when it started (work that ran before the withdrawal's event was seen); it
        is undone as a rejection's would be. One that started before stays: it was admitted."""
        arn, version = package["ModelPackageArn"], int(package.get("ModelPackageVersion") or 0)
        withdrawn = parse_ledger_time(withdrawn_at)
        if withdrawn is None:
            return Outcome("withdrawn", version=version, detail="approval withdrawn")
        if self._service.standing.records.standing(arn, package.get("CreationTime")) == "admitted":
            # an approval admitted after this withdrawal stands (a late or redelivered event): what
            # runs now rides on that one
            return Outcome("withdrawn", version=version, detail="approval withdrawn; re-approved and admitted since")
        outcomes = []
        for stage in reversed(project.stages):
            state = self.ledger.snapshot(stage.endpoint)
            ours = [r for r in (state.in_progress, state.live) if r is not None and r.package_arn == arn]
            started = parse_ledger_time(ours[0].started_at) if ours else None
            if started is not None and started >= withdrawn:
                logger.warning(
                    "a deployment started on a withdrawn approval: undone",
                    extra={"package_arn": arn, "endpoint": stage.endpoint, "started_at": ours[0].started_at},
                )
                outcomes.append(self.reject(project, package, f"withdrawn:{trigger}", stage, force=True))
        return chained(outcomes) or Outcome(
            "withdrawn", version=version, detail="approval withdrawn; nothing deployed on it since"
        )

    def _roll_back(
        self,
        project: Project,
        stage: Stage,
        state: EndpointSnapshot,
        rejected: Deployment,
        package: dict[str, Any],
        trigger: str,
    ) -> Outcome:
        """Queue or start the rollback undoing `rejected`, or say why there is none."""
        decision, description = self._plan(project, stage, state, rejected, package, trigger, read_endpoint=True)
        ended = self._without_rollback(project, stage, decision, package, trigger)
        if ended is not None:
            return ended
        if decision.action not in {"queue", "start"}:
            # "duplicate": a rollback of it is under way already (e.g. started when closing the
            # deployment it undoes found the version withdrawn): nothing to start twice
            return outcome_of(decision)
        if decision.action == "queue" and rejected.status != DeploymentStatus.SUCCEEDED:
            logger.info("rejected while being deployed: rollback queued", extra={"endpoint": stage.endpoint})
        return self._service.rollout.carry_out(project, decision, description, notify=False)

    def _plan(
        self,
        project: Project,
        stage: Stage,
        state: EndpointSnapshot,
        rejected: Deployment,
        package: dict[str, Any],
        trigger: str,
        *,
        read_endpoint: bool,
    ) -> tuple[Decision, dict[str, Any] | None]:
        """The rollback undoing `rejected` as `decisions.plan_rollback` places it, and the endpoint
        read for it (`read_endpoint`, when a rollback could start now)."""
        target = decisions.rollback_target(state, rejected.package_arn, lambda c: self.still_approved(project, c))
        rollback = self._rollback_record(project, stage, rejected, target, package, trigger) if target else None
        needs_endpoint = read_endpoint and rollback is not None and state.in_progress is None
        description = self.endpoints.describe_endpoint(stage.endpoint) if needs_endpoint else None
        decision = decisions.plan_rollback(
            state, rejected, target, rollback, description, without_fallback=stage.deploy.on_reject_without_fallback
        )
        return decision, description

    def _without_rollback(
        self, project: Project, stage: Stage, decision: Decision, package: dict[str, Any], trigger: str
    ) -> Outcome | None:
        """The outcome when there is no rollback to carry out: nothing to roll back to, or the endpoint retired."""
        if decision.action == "no_rollback_target":
            return self._no_rollback_target(project, decision, package)
        if decision.action == "retire":
            return self._retire(project, stage, decision, package, trigger)
        return None

    def _no_rollback_target(self, project: Project, decision: Decision, package: dict[str, Any]) -> Outcome:
        """Nothing to roll back to: people are told when the rejected version is live (it keeps serving)."""
        rejected = decision.record
        assert rejected is not None
        logger.info("no rollback target", extra={"endpoint": rejected.endpoint, "package_arn": rejected.package_arn})
        if decision.notify:
            logger.warning(
                "cannot roll back", extra={"endpoint": rejected.endpoint, "package_arn": rejected.package_arn}
            )
            self._service.announcer.notify(
                "deploy_failed",
                project,
                rejected,
                reason=decision.why,
                actor=self._actor(package),
                status="rejected but still live: nothing to roll back to",
            )
        return outcome_of(decision)

    def _retire(
        self, project: Project, stage: Stage, decision: Decision, package: dict[str, Any], trigger: str
    ) -> Outcome:
        """Take a rejected live version down with its endpoint: nothing approved to fall back to.

        A `retire` record holds the endpoint's lock while DeleteEndpoint runs (no deployment can
        start meanwhile); the rejected deployment becomes rolled_back, and the endpoint's created
        alarms go with it. A deployment that took the lock first replaces the version anyway. A
        refused deletion is recorded failed and said: the version keeps serving.
        """
        rejected = decision.record
        assert rejected is not None
        record = replace(
            rejected,
            deployment_id=deployment_id_for(stage.endpoint, rejected.package_arn, f"retire:{trigger}"),
            status=DeploymentStatus.QUEUED,
            kind="retire",
            strategy="delete",
            rollback_of=rejected.deployment_id,
            approver=self._actor(package),
            approval_description=package.get("ApprovalDescription"),
            failure_reason=None,
            created_at="",
            updated_at="",
            started_at=None,
            finished_at=None,
        )
        try:
            record = self.ledger.begin(record)
        except DeploymentConflictError as exc:
            why = f"not deleted: another deployment holds the endpoint and replaces the rejected version ({exc})"
            return Outcome("no_rollback_target", rejected.deployment_id, rejected.version, why, stage=stage.label)
        try:
            if stage.deploy.create_alarms:
                self.endpoints.delete_alarms(alarm_names(stage.endpoint))
            self.endpoints.delete_endpoint(stage.endpoint)
        except RegistryWorkflowError as exc:
            self.ledger.finish(record, DeploymentStatus.FAILED, f"endpoint not deleted: {exc}")
            self._service.tracking.failed(
                project, stage, record, f"the rejected version keeps serving: endpoint not deleted: {exc}", None
            )
            return Outcome("failed", record.deployment_id, record.version, str(exc), stage=stage.label)
        logger.warning("rejected version taken down: endpoint deleted", extra={"endpoint": stage.endpoint})
        return self._service.tracking.close(project, record, None)

    def close_retirement(self, project: Project, stage: Stage, record: Deployment) -> Outcome:
        """A `retire` record whose endpoint is gone: succeeded, and the rejected deployment rolled_back."""
        if not self.ledger.finish(record, DeploymentStatus.SUCCEEDED):
            return Outcome("duplicate", record.deployment_id, record.version, stage=stage.label)
        rejected = self.ledger.get(record.endpoint, record.rollback_of or "")
        if rejected is not None:
            self.ledger.transition(
                rejected,
                DeploymentStatus.ROLLED_BACK,
                expected=DeploymentStatus.SUCCEEDED,
                failure_reason="rejected; endpoint deleted: nothing approved to fall back to",
            )
        metrics.add_metric(name="EndpointsRetired", unit="Count", value=1)
        if project.is_staged:
            self._service.promotion.mark_taken_down(stage, record.package_arn, STAGE_RETIRED, "endpoint deleted")
        self._service.announcer.notify(
            "retired",
            project,
            record,
            reason=f"rejected with no earlier approved version: {record.endpoint} deleted",
            status="rejected and taken down: endpoint deleted",
        )
        return Outcome("retired", record.deployment_id, record.version, stage=stage.label)

    def _rollback_record(
        self,
        project: Project,
        stage: Stage,
        rejected: Deployment,
        target: Deployment,
        package: dict[str, Any],
        trigger: str,
    ) -> Deployment:
        return replace(
            target,
            deployment_id=deployment_id_for(stage.endpoint, target.package_arn, trigger),
            status=DeploymentStatus.QUEUED,
            kind="rollback",
            rollback_of=rejected.deployment_id,
            previous_package_arn=rejected.package_arn,
            approver=self._actor(package),
            approval_description=package.get("ApprovalDescription"),
            strategy=stage.deploy.strategy,
            failure_reason=None,
            created_at="",
            updated_at="",
            started_at=None,
            finished_at=None,
            stage=stage.label or None,
        )

    def replan(self, project: Project, rollback: Deployment, stage: Stage | None = None) -> Outcome:
        """A rollback whose target no longer stands was dropped: undo what it undid again, with the
        next target or what the project does without one. Forced unless the undone version stands
        again: a withdrawal's undo rolls back a version that is not Rejected (decision 84)."""
        undone = self.endpoints.describe_package(rollback.previous_package_arn or "")
        stands = undone.get("ModelApprovalStatus") == APPROVED and (
            self._service.standing.records.standing(undone.get("ModelPackageArn") or "", undone.get("CreationTime"))
            == "admitted"
        )
        return self.reject(project, undone, f"replanned:{rollback.deployment_id}", stage, force=not stands)

    def _actor(self, package: dict[str, Any]) -> str | None:
        """Who rejected the version: the Slack user for a rejection made in Slack, else `actor_of`."""
        return self._service.standing.records.chat_actor(package) or actor_of(package)

    def still_approved(self, project: Project, candidate: Deployment) -> bool:
        """A rollback target must still be approved, its approval not withdrawn since the gate
        admitted it, and the same version (not a recreated group's)."""
        package = self.endpoints.describe_package(candidate.package_arn)
        if candidate.package_created:
            if package_created_of(package) != candidate.package_created:
                return False  # the group was recreated: that ARN is another version now
        elif _made_before(candidate, package):
            return False  # a record from before package_created was kept, older than this version
        if package.get("ModelApprovalStatus") != APPROVED:
            return False
        return self._service.standing.why_not(project, package, policy_in_force=False) is None

    def _drop_rejected(self, queued: Iterable[Deployment], log: dict[str, Any]) -> None:
        for record in queued:
            if self.ledger.transition(
                record, DeploymentStatus.SUPERSEDED, expected=DeploymentStatus.QUEUED, failure_reason="rejected"
            ):
                logger.info(
                    "queued deployment of a rejected version dropped", extra={**log, "id": record.deployment_id}
                )

    def roll_back_rejected(
        self, project: Project, stage: Stage, record: Deployment, package: dict[str, Any]
    ) -> Outcome:
        """`record` just went live but its version was rejected meanwhile: queue its rollback."""
        state = self.ledger.snapshot(record.endpoint)
        rejected = state.get(record.deployment_id) or replace(record, status=DeploymentStatus.SUCCEEDED)
        trigger = f"rejected-while-deploying:{record.deployment_id}"
        decision, _ = self._plan(project, stage, state, rejected, package, trigger, read_endpoint=False)
        ended = self._without_rollback(project, stage, decision, package, trigger)
        if ended is not None:
            return ended
        if decision.action not in {"queue", "start"}:
            return outcome_of(decision)  # queued already (by the rejection)
        why = f"v{record.version} was rejected while it was being deployed"
        queued, _ = self.ledger.add(replace(decision.record, status=DeploymentStatus.QUEUED, failure_reason=why))
        logger.warning(
            "rejected version went live: rollback queued",
            extra={"endpoint": record.endpoint, "deployment_id": queued.deployment_id, "version": queued.version},
        )
        return Outcome("queued", queued.deployment_id, queued.version, why, stage=stage.label)


def _made_before(record: Deployment, package: dict[str, Any]) -> bool:
    """Was `record` made before `package` (the version now under its ARN) was created?"""
    created, made = moment(package.get("CreationTime")), parse_ledger_time(record.created_at)
    return created is not None and made is not None and made < created

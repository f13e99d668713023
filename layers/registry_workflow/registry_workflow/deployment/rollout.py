"""The rollout: an approval recorded, then queued, superseded or started under the endpoint's lock.

An approval (or an accepted promotion, or a rollback) becomes a ledger record named after what
it deploys (`_named`). `decisions` places it: started when the endpoint and its lock are free,
queued behind a deployment in progress, superseded by a newer one. Starting takes the lock
(`ledger.begin`), creates the model and config, reads the lock again and calls
Create/UpdateEndpoint; a busy endpoint requeues it, a repeat of our own accepted call keeps it.
After any queued write the queue is started if the endpoint turned out idle (`start_if_idle`).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from registry_workflow.deployment import decisions
from registry_workflow.deployment.announcements import actor_of
from registry_workflow.deployment.decisions import Decision, is_deployable
from registry_workflow.deployment.outcomes import Outcome, outcome_of, then
from registry_workflow.deployment.resources import (
    endpoint_config_name_for,
    model_name_for,
    package_created_of,
    production_variants,
    rollback_alarm_names,
)
from registry_workflow.deployment.sagemaker import DeploymentRefused, EndpointBusy
from registry_workflow.errors import ConfigError, DeploymentConflictError
from registry_workflow.ledger import Deployment, DeploymentStatus, deployment_id_for
from registry_workflow.observability import logger, metrics

if TYPE_CHECKING:
    from registry_workflow.config import Project, Stage
    from registry_workflow.deployment.service import DeploymentService

EXECUTION_ROLE_ENV = "SAGEMAKER_EXECUTION_ROLE_ARN"


class _LockLost(Exception):
    """The deployment no longer holds the endpoint's lock: someone closed it; never call SageMaker."""


class Rollout:
    """Records approvals and carries each one out: queue, supersede, or start and apply under the lock."""

    def __init__(self, service: DeploymentService) -> None:
        self._service = service
        self.ledger = service.ledger
        self.endpoints = service.endpoints

    def approve(self, project: Project, package: dict[str, Any], trigger: str, stage: Stage | None = None) -> Outcome:
        """An approval (or a promotion, for a later `stage`): deploy it, queue it, or record why not.

        An approval goes to the project's first stage; later stages take a version by promotion.
        """
        stage = stage or project.stages[0]
        record = self._record(project, stage, package, trigger, promotion=not stage.is_first)
        deployable = is_deployable(package, None if stage.is_first else stage.name)
        state = self.ledger.snapshot(stage.endpoint)  # one read for the record, the lock and what is live
        decision = decisions.on_approval(state, record, deployable=deployable, lock_checked=False)
        if decision.action == "check_lock":
            if self._service.tracking.release_if_stale(project, decision.record):
                state = self.ledger.snapshot(stage.endpoint)  # the stale deployment was just closed
            decision = decisions.on_approval(state, record, deployable=deployable, lock_checked=True)
        log = {"group": project.group_name, "version": record.version, "package_arn": record.package_arn}
        match decision.action:
            case "stale":
                logger.info(
                    "stale approval ignored: version is not Approved and Completed now",
                    extra={
                        **log,
                        "approval": package.get("ModelApprovalStatus"),
                        "status": package.get("ModelPackageStatus"),
                    },
                )
                return Outcome("stale", version=record.version, stage=stage.label)
            case "duplicate":
                return outcome_of(decision)
            case "resume":
                return self._apply_started(project, decision.record, self.endpoints.describe_endpoint(stage.endpoint))
            case "already_live":
                logger.info("approval of the live version: nothing to deploy", extra=log)
                return replace(outcome_of(decision), detail="")
            case "supersede":
                return self._supersede(project, decision.record, decision.why)
        description = self.endpoints.describe_endpoint(stage.endpoint)
        return self.carry_out(project, decisions.place(state, decision.record, description), description)

    def start_next(
        self, project: Project, stage: Stage, description: dict[str, Any] | None, *, recheck: bool = True
    ) -> Outcome | None:
        """Start the newest queued deployment; older ones (and any no newer than live) are superseded."""
        queued = self.ledger.queued(stage.endpoint)
        if not queued:
            return None
        only_for = None if stage.is_first else stage.name
        chosen, dropped = decisions.next_in_queue(
            queued,
            self.ledger.live(stage.endpoint),
            lambda record: self._why_not_now(project, record, only_for),
        )
        for record, why in dropped:
            self._supersede_queued(project, record, why)
        if chosen is None:
            return None
        if chosen.kind == "rollback" and not self._service.rejection.still_approved(project, chosen):
            # its target was fine when the rollback was queued, and is not now (withdrawn, rejected):
            # the rejection is planned again, with the next target or what the project does without one
            self._supersede_queued(project, chosen, "the rollback target's approval no longer stands")
            return self._service.rejection.replan(project, chosen, stage)
        return self._start(project, chosen, description, recheck=recheck)

    def _why_not_now(self, project: Project, record: Deployment, stage_name: str | None) -> str | None:
        """Why a queued deployment may not start now (None: it may): the version as SageMaker and
        the gate's records say it is now, not as it was when it was queued."""
        package = self.endpoints.describe_package(record.package_arn)
        if not is_deployable(package, stage_name):
            return "no longer Approved"
        if record.package_created and package_created_of(package) != record.package_created:
            return "the group was recreated: that ARN names another version now"
        return self._service.standing.why_not(project, package)

    def start_if_idle(self, project: Project, stage: Stage) -> Outcome | None:
        """Start the next queued deployment when no one holds the endpoint and it is not busy.

        Run after writing a queued record: the deployment it waited for may have been closed (and the
        queue found empty) between our read and our write, and then no event would ever start it.
        """
        state = self.ledger.snapshot(stage.endpoint)
        if state.lock_id is not None or not state.queued:
            return None
        description = self.endpoints.describe_endpoint(stage.endpoint)
        if description is not None and description["EndpointStatus"] != "InService":
            return None  # busy (its terminal event will start the queue) or Failed (nothing can start)
        logger.info(
            "endpoint idle after queueing: starting the next queued deployment", extra={"endpoint": stage.endpoint}
        )
        return self.start_next(project, stage, description, recheck=False)

    # --- carrying a decision out -----------------------------------------------------------

    def carry_out(
        self, project: Project, decision: Decision, description: dict[str, Any] | None, *, notify: bool = True
    ) -> Outcome:
        """A `place`/`plan_rollback` decision: adopt a foreign endpoint, then queue or start."""
        record = decision.record
        assert record is not None
        if decision.adopt and description is not None:
            # an endpoint made elsewhere: tagged now, even if the approval is queued, so the
            # tracker's rule (managed-by tag) sees the event that ends its busy state
            self.endpoints.adopt(description)
        if decision.action == "queue":
            return self._queue(project, record, decision.why, notify=notify)
        return self._start(project, record, description)

    def _start(
        self, project: Project, record: Deployment, description: dict[str, Any] | None, *, recheck: bool = True
    ) -> Outcome:
        stage = project.stage_for_endpoint(record.endpoint) or project.stages[0]
        self._role(project, stage)  # bad config fails before any write
        # names of what it deploys now: a queued record may wait across a policy change
        record = self._named(project, stage, record)
        if description is None:  # CreateEndpoint: no guardrail applies, whatever the policy's strategy
            record = replace(record, strategy="create")
        try:
            record = self.ledger.begin(record)
        except DeploymentConflictError as exc:
            return self._queue(project, record, str(exc), recheck=recheck)
        if record.kind in ("deploy", "rollback") and self._withdrawn(record):
            # withdrawn between the queue's (or the rollback target's) check and the lock: the
            # withdrawal's own run read the ledger before this lock (it saw nothing to undo), so
            # this run must see the withdrawal
            why = "its approval was withdrawn or refused after the gate admitted it"
            self.ledger.finish(record, DeploymentStatus.SUPERSEDED, why)
            logger.info("approval withdrawn before the deployment began", extra={"deployment_id": record.deployment_id})
            outcome = Outcome("superseded", record.deployment_id, record.version, why, stage=stage.label)
            if record.kind == "rollback":  # the rejection is planned again: the next target, or none
                outcome = then(outcome, self._service.rejection.replan(project, record, stage))
            return then(outcome, self.start_if_idle(project, stage) if recheck else None)
        return self._apply_started(project, record, description, recheck=recheck)

    def _withdrawn(self, record: Deployment) -> bool:
        """The version's standing, read after the lock was taken (one consistent read)."""
        if not record.package_created:
            return False
        created = datetime.fromisoformat(record.package_created)
        return self._service.standing.records.standing(record.package_arn, created) == "withdrawn"

    def _apply_started(
        self, project: Project, record: Deployment, description: dict[str, Any] | None, *, recheck: bool = True
    ) -> Outcome:
        """Run a deployment that holds the lock: first run, or a retry resuming it after a crash."""
        stage = project.stage_for_endpoint(record.endpoint) or project.stages[0]
        log = {"endpoint": record.endpoint, "deployment_id": record.deployment_id, "version": record.version}
        rollout = decisions.rollout_of(description, record)
        if rollout == "accepted":
            # an earlier run's UpdateEndpoint/CreateEndpoint was accepted: keep the lock, call nothing
            logger.info("update already accepted: waiting for the endpoint", extra=log)
            return Outcome(
                "started", record.deployment_id, record.version, "update already accepted", stage=stage.label
            )
        if rollout == "done":
            closed = self._service.tracking.close(project, record, description)
            if closed.next is not None:
                return replace(closed, next=self.start_if_idle(project, stage) or closed.next)
            return closed
        try:
            accepted = self._apply(project, stage, record, description)
        except EndpointBusy as exc:
            self.ledger.requeue(record, str(exc))
            logger.info("endpoint busy: deployment queued", extra={**log, "reason": str(exc)})
            self._service.announcer.notify(
                "queued", project, replace(record, status=DeploymentStatus.QUEUED), reason=str(exc)
            )
            outcome = Outcome("queued", record.deployment_id, record.version, str(exc), stage=stage.label)
            return then(outcome, self.start_if_idle(project, stage) if recheck else None)
        except DeploymentRefused as exc:
            self.ledger.finish(record, DeploymentStatus.FAILED, str(exc))
            self._service.tracking.failed(project, stage, record, str(exc), description)
            return Outcome("failed", record.deployment_id, record.version, str(exc), stage=stage.label)
        except _LockLost as exc:
            # closed by someone else (the tracker, a stale-lock takeover): they told people already
            logger.warning("deployment lost the endpoint lock: SageMaker not called", extra={**log, "reason": str(exc)})
            return Outcome("lock_lost", record.deployment_id, record.version, str(exc), stage=stage.label)
        except Exception:
            # transient (after botocore's retries): free the endpoint, let the event be retried
            self.ledger.requeue(record, "interrupted by an AWS error; retried")
            raise
        if accepted:
            logger.info("update already accepted: waiting for the endpoint", extra=log)
            return Outcome(
                "started", record.deployment_id, record.version, "update already accepted", stage=stage.label
            )
        metrics.add_metric(name="DeploymentsStarted", unit="Count", value=1)
        logger.info("deployment started", extra={**log, "config": record.endpoint_config_name})
        if record.kind == "rollback":
            reason = f"{record.previous_package_arn} was rejected while live: rolling back to v{record.version}"
            self._service.announcer.notify("rolled_back", project, record, reason=reason)
        else:
            self._service.announcer.notify("deploy_started", project, record)
        return Outcome("started", record.deployment_id, record.version, stage=stage.label)

    def _apply(self, project: Project, stage: Stage, record: Deployment, description: dict[str, Any] | None) -> bool:
        """Model, config, then Create/UpdateEndpoint; True when SageMaker already had the update.

        The lock is read again just before Create/UpdateEndpoint. A busy refusal of our own update
        (a retry of an accepted call: botocore's after a read timeout, or Lambda's after a crash)
        is recognised from DescribeEndpoint and counts as accepted.
        """
        policy = stage.deploy
        self.endpoints.create_model_and_config(record, policy, self._role(project, stage))
        if description is None:
            self._check_lock(record)
            self.endpoints.create_endpoint(record)
            return False
        if policy.create_alarms:
            self.endpoints.put_alarms(record.endpoint, policy.variant_name)
        self._check_lock(record)
        try:
            self.endpoints.update_endpoint(record, policy, rollback_alarm_names(policy, record.endpoint))
        except EndpointBusy:
            if decisions.rollout_of(self.endpoints.describe_endpoint(record.endpoint), record) is None:
                raise
            return True
        return False

    def _check_lock(self, record: Deployment) -> None:
        holder = self.ledger.lock_holder(record.endpoint)
        if holder != record.deployment_id:
            raise _LockLost(f"the endpoint lock is {f'held by {holder}' if holder else 'free'}")

    def _queue(
        self, project: Project, record: Deployment, why: str, *, notify: bool = True, recheck: bool = True
    ) -> Outcome:
        """Write `record` queued; then start the queue if the endpoint turned out idle meanwhile."""
        stage = project.stage_for_endpoint(record.endpoint) or project.stages[0]
        queued, created = self.ledger.add(replace(record, status=DeploymentStatus.QUEUED, failure_reason=why))
        logger.info(
            "deployment queued",
            extra={
                "endpoint": record.endpoint,
                "deployment_id": record.deployment_id,
                "version": record.version,
                "reason": why,
            },
        )
        if created and notify:
            self._service.announcer.notify("queued", project, queued, reason=why)
        metrics.add_metric(name="DeploymentsQueued", unit="Count", value=1 if created else 0)
        outcome = Outcome("queued", queued.deployment_id, queued.version, why, stage=stage.label)
        return then(outcome, self.start_if_idle(project, stage) if recheck else None)

    def _supersede(self, project: Project, record: Deployment, why: str) -> Outcome:
        superseded, created = self.ledger.add(replace(record, status=DeploymentStatus.SUPERSEDED, failure_reason=why))
        logger.info(
            "approval superseded", extra={"endpoint": record.endpoint, "version": record.version, "reason": why}
        )
        if created:
            metrics.add_metric(name="DeploymentsSuperseded", unit="Count", value=1)
            self._service.announcer.notify("superseded", project, superseded, reason=why)
        return Outcome("superseded", superseded.deployment_id, superseded.version, why, stage=record.stage or "")

    def _supersede_queued(self, project: Project, record: Deployment, why: str) -> None:
        if self.ledger.transition(
            record, DeploymentStatus.SUPERSEDED, expected=DeploymentStatus.QUEUED, failure_reason=why
        ):
            logger.info("queued deployment superseded", extra={"deployment_id": record.deployment_id, "reason": why})
            self._service.announcer.notify(
                "superseded", project, replace(record, status=DeploymentStatus.SUPERSEDED), reason=why
            )

    # --- what a deployment is --------------------------------------------------------------

    def _record(
        self, project: Project, stage: Stage, package: dict[str, Any], trigger: str, *, promotion: bool = False
    ) -> Deployment:
        """The deployment of `package` to `stage`; its approver is who the gate admitted (a Slack
        approval names the Slack user, not the chat function's role), or for a promotion who asked."""
        arn, version = package["ModelPackageArn"], int(package.get("ModelPackageVersion") or 0)
        records = self._service.standing.records
        admitted = None if promotion else records.admitted_approver(arn, package.get("CreationTime"))
        record = Deployment(
            deployment_id=deployment_id_for(stage.endpoint, arn, trigger),
            endpoint=stage.endpoint,
            group=project.group_name,
            version=version,
            package_arn=arn,
            model_name="",
            endpoint_config_name="",
            strategy=stage.deploy.strategy,
            approver=admitted or actor_of(package),
            approval_description=package.get("ApprovalDescription"),
            package_created=package_created_of(package),
            stage=stage.label or None,
        )
        return self._named(project, stage, record)

    def _named(self, project: Project, stage: Stage, record: Deployment) -> Deployment:
        """`record` with the model and config names of what it deploys now (package, role, policy).

        Run when a record is made and again when it starts, so a queued approval deploys the policy
        in force when it starts under names that say so. A started record keeps its names: a retry
        meets the same resources.
        """
        role = stage.deploy.execution_role_arn or self._service.execution_role_arn
        model = model_name_for(
            project.group_name, record.version, record.package_arn, record.package_created or "", role
        )
        variants = production_variants(stage.deploy, model)
        config = endpoint_config_name_for(record.endpoint, record.version, variants)
        return replace(record, model_name=model, endpoint_config_name=config)

    def _role(self, project: Project, stage: Stage) -> str:
        role = stage.deploy.execution_role_arn or self._service.execution_role_arn
        if not role:
            raise ConfigError(
                f"projects.{project.group_name}.deploy.execution_role_arn",
                "",
                f"no SageMaker execution role: set it in policy.toml or {EXECUTION_ROLE_ENV}",
            )
        return role

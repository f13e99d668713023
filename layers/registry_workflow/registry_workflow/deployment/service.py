"""Deploy approved versions, track them to a verified end, roll back rejected live versions.

`DeploymentService` is the orchestration the deployer and tracker Lambdas run: it reads the
ledger and the endpoint, asks the pure core (`decisions`) what to do, and carries the decision
out with `sagemaker.Endpoints` and the ledger's conditional writes. Each stage of a project
(`Project.stages`) is one endpoint with its own records, lock, queue, live version and rollback
target. Facts designed against (../shared/AWS-FACTS.md):

* names of models, endpoint configs and endpoints: ≤ 63 characters of ``[a-zA-Z0-9](-*[a-zA-Z0-9])*``;
  ours are ``<group>-v<N>-<digest>`` and ``<endpoint>-v<N>-<digest>``, the digest of what the
  resource is (package ARN + its CreationTime + execution role; the config's variants). A retry
  of a deployment meets "Cannot create already existing …" for the SAME resource and carries on;
  a deployment that differs in anything (a fixed instance type, a recreated group's v1, another
  role) gets new names, so nothing stale is reused;
* the endpoint config keeps the same variant name every version, so guardrails apply;
* a failed `UpdateEndpoint` leaves the endpoint `InService` on the OLD config: a deployment has
  succeeded only when `DescribeEndpoint` shows the expected `EndpointConfigName`;
* `UpdateEndpoint` on a busy endpoint fails with "Cannot update in-progress endpoint": the
  approval is queued and started by the tracker when the endpoint is back in service. After
  writing a queued record the deployer reads the lock and the endpoint again and starts the queue
  itself if both are free (the tracker may have drained the queue just before the write);
* the same refusal answers a repeat of OUR accepted call (botocore retrying after a read timeout,
  Lambda retrying after a crash): when `PendingDeploymentSummary` (or a Creating endpoint) names
  the deployment's config, the update is accepted — the lock is kept and nothing is called again;
  when the endpoint already runs that config, the deployment is closed as succeeded. So a
  redrive of the deployer's event resumes its deployment;
* the lock is read again right before Create/UpdateEndpoint: a deployment closed meanwhile
  (`lock_lost`) never touches the endpoint;
* the tracker concludes a failure (InService on another config, Failed, …) only from an
  endpoint whose `LastModifiedTime` is after the deployment's `started_at`: an older event says
  nothing about it (`predates_deployment`, the lock stays);
* a rejection of a version being deployed queues a rollback of that deployment; the tracker
  starts it once the deployment is live (succeeded, then rolled_back), or supersedes it when the
  update failed. The tracker also reads the version again on success: rejected meanwhile (a
  rejection that raced the deployer's start), the rollback is queued there and started;
* an endpoint none of our deployments ever went live on (made elsewhere) is adopted: one AddTags
  of ``managed-by`` as soon as the deployer sees it, before the approval is started OR queued,
  so the tracker's rule sees the event that ends its busy state;
* what no event will ever end — a lock left by a killed run whose event was lost, a queue whose
  endpoint went idle unseen — is ended by `sweep`, which an EventBridge schedule runs through
  the tracker: stale locks are released (`_release_if_stale`), idle endpoints' queues started.

Calls per deployment (SageMaker): fresh endpoint 5 (DescribeModelPackage, DescribeEndpoint,
CreateModel, CreateEndpointConfig, CreateEndpoint); update 5 (… UpdateEndpoint) plus one
PutMetricAlarm per created alarm (and one AddTags when an endpoint is adopted). The tracker, on
success: DescribeEndpoint, DescribeModelPackage (still approved?) and one AddTags once the new
config is verified (so the endpoint's tags never name a version that failed to go live; a
tagging failure is logged and counted as ``EndpointTagFailures``, never undoes the record).
The sweep: one consistent ledger Query per deploy-enabled project; an endpoint holding a lock or
a queue adds DescribeEndpoint and what closing or starting takes, for at most
`SWEEP_MAX_ENDPOINTS` endpoints per run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from registry_workflow.deadline import UNLIMITED, Deadline
from registry_workflow.deployment import decisions
from registry_workflow.deployment.decisions import (
    STAGE_APPROVED,
    STAGE_DEPLOYED,
    STAGE_REFUSED,
    STAGE_RETIRED,
    STAGE_ROLLED_BACK,
    Decision,
    StageView,
    is_deployable,
)
from registry_workflow.deployment.resources import (
    alarm_names,
    endpoint_config_name_for,
    model_name_for,
    package_created_of,
    production_variants,
    rollback_alarm_names,
)
from registry_workflow.deployment.sagemaker import DeploymentRefused, EndpointBusy, Endpoints
from registry_workflow.errors import ConfigError, DeploymentConflictError, RegistryWorkflowError
from registry_workflow.gate import APPROVED, REJECTED
from registry_workflow.ledger import Deployment, DeploymentLedger, DeploymentStatus, EndpointSnapshot, deployment_id_for
from registry_workflow.observability import logger, metrics

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from registry_workflow.config import Project, Stage

EXECUTION_ROLE_ENV = "SAGEMAKER_EXECUTION_ROLE_ARN"
#: endpoints holding a lock or a queue that one sweep acts on (the rest wait for the next run)
SWEEP_MAX_ENDPOINTS = 25
#: a sweep starts no more endpoints once the invocation has less left than this (seconds)
SWEEP_MARGIN_SECONDS = 15.0


@dataclass(frozen=True)
class Outcome:
    """What one event did; returned by the handlers (and logged)."""

    action: str  # started | queued | superseded | stale | already_live | duplicate | succeeded | failed | ...
    deployment_id: str | None = None
    version: int | None = None
    detail: str = ""
    next: Outcome | None = None
    #: the stage of a staged project it concerns (empty for a project's only stage)
    stage: str = ""

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "action": self.action,
            "deployment_id": self.deployment_id,
            "version": self.version,
        }
        if self.stage:
            data["stage"] = self.stage
        if self.detail:
            data["detail"] = self.detail
        if self.next is not None:
            data["next"] = self.next.as_dict()
        return data


def _of(decision: Decision, action: str | None = None, **changes: Any) -> Outcome:
    record = decision.record
    return Outcome(
        action or decision.action,
        record.deployment_id if record else None,
        record.version if record else None,
        decision.why,
        stage=(record.stage or "") if record else "",
        **changes,
    )


def _then(outcome: Outcome, follow_up: Outcome | None) -> Outcome:
    return replace(outcome, next=follow_up) if follow_up is not None else outcome


def actions_of(outcome: Outcome | None) -> list[str]:
    """The actions of an outcome and the ones it led to (`next`), in order."""
    found: list[str] = []
    while outcome is not None:
        found.append(outcome.action)
        outcome = outcome.next
    return found


@dataclass
class SweepReport:
    """What one scheduled sweep did: endpoints checked, those holding a lock or a queue, what each came to."""

    checked: int = 0
    pending: list[str] = field(default_factory=list)
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    left_for_next_run: list[str] = field(default_factory=list)

    @property
    def released(self) -> list[str]:
        return [e for e, o in self.outcomes.items() if o.action == "lock_released"]

    @property
    def started(self) -> list[str]:
        return [e for e, o in self.outcomes.items() if "started" in actions_of(o)]

    def as_dict(self) -> dict[str, Any]:
        return {
            "action": "swept",
            "checked": self.checked,
            "pending": list(self.pending),
            "locks_released": self.released,
            "queues_started": self.started,
            "left_for_next_run": list(self.left_for_next_run),
            "outcomes": {e: o.as_dict() for e, o in self.outcomes.items()},
        }


class _LockLost(Exception):
    """The deployment no longer holds the endpoint's lock: someone closed it; never call SageMaker."""


class DeploymentService:
    """Deploys, tracks and rolls back a project's endpoints (one per stage), recording every step in the ledger."""

    def __init__(
        self,
        ledger: DeploymentLedger,
        *,
        execution_role_arn: str = "",
        sagemaker: Any | None = None,
        cloudwatch: Any | None = None,
        notifier: Callable[..., None] | None = None,
        deadline: Deadline = UNLIMITED,
    ) -> None:
        self.ledger = ledger
        #: when the invocation ends: bounds Slack's retries and the sweep's work
        self.deadline = deadline
        self.execution_role_arn = execution_role_arn
        self.endpoints = Endpoints(sagemaker, cloudwatch)
        self.sagemaker = self.endpoints.sagemaker
        self._notifier = notifier

    @classmethod
    def from_env(cls, *, deadline: Deadline = UNLIMITED) -> DeploymentService:
        return cls(
            DeploymentLedger.from_env(), execution_role_arn=os.environ.get(EXECUTION_ROLE_ENV, ""), deadline=deadline
        )

    def describe_package(self, arn: str) -> dict[str, Any]:
        """The version now (DescribeModelPackage); a deleted one says `ModelPackageStatus: Deleted`."""
        return self.endpoints.describe_package(arn)

    # --- approvals -------------------------------------------------------------------------

    def approve(self, project: Project, package: dict[str, Any], trigger: str, stage: Stage | None = None) -> Outcome:
        """An approval (or a promotion, for a later `stage`): deploy it, queue it, or record why not.

        An approval goes to the project's first stage; later stages take a version by promotion.
        """
        stage = stage or project.stages[0]
        record = self._record(project, stage, package, trigger)
        deployable = is_deployable(package, None if stage.is_first else stage.name)
        state = self.ledger.snapshot(stage.endpoint)  # one read for the record, the lock and what is live
        decision = decisions.on_approval(state, record, deployable=deployable, lock_checked=False)
        if decision.action == "check_lock":
            if self._release_if_stale(project, decision.record):
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
                return _of(decision)
            case "resume":
                return self._apply_started(project, decision.record, self.endpoints.describe_endpoint(stage.endpoint))
            case "already_live":
                logger.info("approval of the live version: nothing to deploy", extra=log)
                return replace(_of(decision), detail="")
            case "supersede":
                return self._supersede(project, decision.record, decision.why)
        description = self.endpoints.describe_endpoint(stage.endpoint)
        return self._carry_out(project, decisions.place(state, decision.record, description), description)

    def reject(self, project: Project, package: dict[str, Any], trigger: str, stage: Stage | None = None) -> Outcome:
        """A rejection: roll `stage`'s endpoint back if the rejected version is live or being deployed there.

        Being deployed: a rollback is queued behind it, with ``rollback_of`` naming the deployment;
        the tracker starts it once that deployment is live, and supersedes it if the update
        failed (the rejected version never went live). Otherwise the endpoint is left alone.
        """
        stage = stage or project.stages[0]
        arn, version = package["ModelPackageArn"], int(package["ModelPackageVersion"])
        log = {"group": project.group_name, "version": version, "package_arn": arn, "endpoint": stage.endpoint}
        rejected_now = package.get("ModelApprovalStatus") == REJECTED
        state = self.ledger.snapshot(stage.endpoint)
        decision = decisions.on_rejection(state, arn, rejected_now=rejected_now, lock_checked=False)
        self._drop_rejected(decision.drop, log)
        if decision.action == "check_lock":
            if self._release_if_stale(project, decision.record):
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

    def reject_everywhere(self, project: Project, package: dict[str, Any], trigger: str) -> Outcome:
        """A rejection in every stage (the last first): each rolls back where the version is live."""
        outcomes = [self.reject(project, package, trigger, stage) for stage in reversed(project.stages)]
        if len(outcomes) == 1:
            return outcomes[0]
        chained: Outcome | None = None
        for outcome in reversed(outcomes):
            chained = _then(outcome, chained)
        assert chained is not None
        return chained

    def promote(self, project: Project, package: dict[str, Any], trigger: str) -> Outcome:
        """A promotion asked by `ModelLifeCycle = {Stage: <stage>, StageStatus: Approved}`.

        Deployed to that stage when the version is live in the stage before it, has soaked there
        and none of that stage's alarms is in ALARM; otherwise refused: people are told why and
        the version's `ModelLifeCycle` is set back to where it is live, with the reason.
        """
        stage_name, status = decisions.lifecycle_stage(package)
        version = int(package.get("ModelPackageVersion") or 0)
        if status != STAGE_APPROVED:
            return Outcome("stale", version=version, detail=f"ModelLifeCycle is {stage_name}/{status} now")
        views = [self._stage_view(project, s, package, s.index < len(project.stages) - 1) for s in project.stages]
        index, why = decisions.on_promotion(views, package)
        if index is None:
            return self._refuse_promotion(project, package, views, stage_name or "", why)
        stage = project.stages[index]
        logger.info("promotion accepted", extra={"group": project.group_name, "version": version, "stage": stage.name})
        return self.approve(project, package, trigger, stage)

    def _stage_view(self, project: Project, stage: Stage, package: dict[str, Any], read_alarms: bool) -> StageView:
        live = self.ledger.live(stage.endpoint)
        alarming: list[str] = []
        if read_alarms and live is not None and live.package_arn == package.get("ModelPackageArn"):
            alarming = self.endpoints.alarms_in_alarm(rollback_alarm_names(stage.deploy, stage.endpoint))
        return StageView(stage.name, stage.soak_minutes, live, tuple(alarming))

    def _refuse_promotion(
        self, project: Project, package: dict[str, Any], views: list[StageView], wanted: str, why: str
    ) -> Outcome:
        arn, version = package["ModelPackageArn"], int(package.get("ModelPackageVersion") or 0)
        logger.warning("promotion refused", extra={"group": project.group_name, "version": version, "reason": why})
        metrics.add_metric(name="PromotionsRefused", unit="Count", value=1)
        where = next((v.name for v in reversed(views) if v.live is not None and v.live.package_arn == arn), None)
        self._set_lifecycle_back(arn, where, f"promotion to {wanted} refused: {why}", asked=wanted)
        self._notify_version(project, package, "promotion_refused", f"promotion to {wanted} refused", why, wanted)
        return Outcome("promotion_refused", version=version, detail=why, stage=wanted)

    def _set_lifecycle_back(self, arn: str, where: str | None, why: str, *, asked: str = "") -> None:
        """ModelLifeCycle back to the stage where the version is live (Deployed), saying why; best effort.

        A version live in no stage keeps the stage it asked for, `Refused`: never `Approved` again.
        """
        stage, status = (where, STAGE_DEPLOYED) if where else (asked, STAGE_REFUSED)
        if stage:
            self._write_lifecycle(arn, stage, status, why)

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
        target = decisions.rollback_target(state, rejected.package_arn, self._still_approved)
        rollback = self._rollback_record(project, stage, rejected, target, package, trigger) if target else None
        needs_endpoint = rollback is not None and state.in_progress is None
        description = self.endpoints.describe_endpoint(stage.endpoint) if needs_endpoint else None
        decision = decisions.plan_rollback(
            state, rejected, target, rollback, description, without_fallback=stage.deploy.on_reject_without_fallback
        )
        if decision.action == "no_rollback_target":
            return self._no_rollback_target(project, decision, package)
        if decision.action == "retire":
            return self._retire(project, stage, decision, package, trigger)
        if decision.action == "queue" and rejected.status != DeploymentStatus.SUCCEEDED:
            logger.info("rejected while being deployed: rollback queued", extra={"endpoint": stage.endpoint})
        return self._carry_out(project, decision, description, notify=False)

    def _no_rollback_target(self, project: Project, decision: Decision, package: dict[str, Any]) -> Outcome:
        """Nothing to roll back to: people are told when the rejected version is live (it keeps serving)."""
        rejected = decision.record
        assert rejected is not None
        logger.info("no rollback target", extra={"endpoint": rejected.endpoint, "package_arn": rejected.package_arn})
        if decision.notify:
            logger.warning(
                "cannot roll back", extra={"endpoint": rejected.endpoint, "package_arn": rejected.package_arn}
            )
            self._notify(
                "deploy_failed",
                project,
                rejected,
                reason=decision.why,
                actor=self._actor(package),
                status="rejected but still live: nothing to roll back to",
            )
        return _of(decision)

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
            self._failed(
                project, stage, record, f"the rejected version keeps serving: endpoint not deleted: {exc}", None
            )
            return Outcome("failed", record.deployment_id, record.version, str(exc), stage=stage.label)
        logger.warning("rejected version taken down: endpoint deleted", extra={"endpoint": stage.endpoint})
        return self._close(project, record, None)

    def _close_retirement(self, project: Project, stage: Stage, record: Deployment) -> Outcome:
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
            self._mark_taken_down(stage, record.package_arn, STAGE_RETIRED, "endpoint deleted")
        self._notify(
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

    def _still_approved(self, candidate: Deployment) -> bool:
        """A rollback target must still be approved, and the same version (not a recreated group's)."""
        package = self.describe_package(candidate.package_arn)
        if candidate.package_created and package_created_of(package) != candidate.package_created:
            return False  # the group was recreated: that ARN is another version now
        return package.get("ModelApprovalStatus") == APPROVED

    def _drop_rejected(self, queued: Iterable[Deployment], log: dict[str, Any]) -> None:
        for record in queued:
            if self.ledger.transition(
                record, DeploymentStatus.SUPERSEDED, expected=DeploymentStatus.QUEUED, failure_reason="rejected"
            ):
                logger.info(
                    "queued deployment of a rejected version dropped", extra={**log, "id": record.deployment_id}
                )

    # --- tracking --------------------------------------------------------------------------

    def track(self, project: Project, endpoint: str) -> Outcome:
        """An endpoint reached a terminal state: close the in-progress deployment, start the next."""
        stage = project.stage_for_endpoint(endpoint) or project.stages[0]
        description = self.endpoints.describe_endpoint(endpoint)
        decision = decisions.on_endpoint_state(description, self.ledger.in_progress(endpoint))
        if decision.action == "predates_deployment":
            logger.info(
                "endpoint state predates the deployment: lock kept",
                extra={"endpoint": endpoint, "deployment_id": decision.record.deployment_id},
            )
        if decision.action in {"not_terminal", "predates_deployment"}:
            outcome = _of(decision)
            return replace(outcome, version=None) if decision.action == "not_terminal" else outcome
        outcome = Outcome("nothing_in_progress", detail=decisions.status_of(description), stage=stage.label)
        if decision.action == "close":
            outcome = self._close(project, decision.record, description)
            if outcome.action == "duplicate":
                return outcome
        if "retired" in actions_of(outcome):  # the endpoint was deleted after it was read
            description = self.endpoints.describe_endpoint(endpoint)
        if decisions.status_of(description) == "InService":
            outcome = _then(outcome, self._start_next(project, stage, description))
        return outcome

    def sweep(self, projects: Iterable[Project], *, max_endpoints: int | None = None) -> SweepReport:
        """The scheduled sweep: free stale locks and start stranded queues, no event needed.

        Each stage's endpoint costs one consistent Query (its records and lock); only an endpoint
        holding a lock or a queue costs more (DescribeEndpoint, then what starting or closing
        takes). At most `max_endpoints` (`SWEEP_MAX_ENDPOINTS`) such endpoints are acted on, and
        none once the invocation has less than `SWEEP_MARGIN_SECONDS` left: the rest wait for the
        next run. One endpoint's AWS error does not stop the others; the first is raised at the end
        (the run is retried, and the function's error alarm sees it).
        """
        limit = SWEEP_MAX_ENDPOINTS if max_endpoints is None else max_endpoints
        report = SweepReport()
        errors: list[RegistryWorkflowError] = []
        for project, stage in ((p, s) for p in projects for s in p.stages):
            endpoint = stage.endpoint
            if len(report.pending) >= limit or not self.deadline.allows(0, SWEEP_MARGIN_SECONDS):
                report.left_for_next_run.append(endpoint)
                continue
            try:
                state = self.ledger.snapshot(endpoint)
                report.checked += 1
                if state.lock_id is None and not state.queued:
                    continue
                report.pending.append(endpoint)
                outcome = self._sweep_endpoint(project, stage, state)
            except RegistryWorkflowError as exc:
                logger.error("sweep failed for an endpoint", extra={"endpoint": endpoint, "reason": str(exc)})
                metrics.add_metric(name="SweepErrors", unit="Count", value=1)
                errors.append(exc)
                continue
            if outcome is not None:
                report.outcomes[endpoint] = outcome
        logger.info("sweep done", extra=report.as_dict())
        if report.released:
            metrics.add_metric(name="SweepLocksReleased", unit="Count", value=len(report.released))
        if report.started:
            metrics.add_metric(name="SweepQueuesStarted", unit="Count", value=len(report.started))
        if errors:
            raise errors[0]
        return report

    def _sweep_endpoint(self, project: Project, stage: Stage, state: EndpointSnapshot) -> Outcome | None:
        """One endpoint holding a lock or a queue: release the lock if stale, then start the queue if idle."""
        inflight = state.in_progress
        released = None
        if inflight is not None:
            if not self._release_if_stale(project, inflight):
                return None  # a live deployment (or a busy endpoint): its own event will close it
            released = Outcome("lock_released", inflight.deployment_id, inflight.version, stage=stage.label)
        started = self._start_if_idle(project, stage)
        return _then(released, started) if released is not None else started

    def _release_if_stale(self, project: Project, inflight: Deployment) -> bool:
        """Close a lock that no run will close (`decisions.stale_lock`); True when the endpoint is free again.

        A rollback that closing it queued (the version was rejected meanwhile) is started.
        """
        stage = project.stage_for_endpoint(inflight.endpoint) or project.stages[0]
        description = self.endpoints.describe_endpoint(inflight.endpoint)
        if not decisions.stale_lock(description, inflight, stage.deploy.max_execution_timeout_seconds):
            return False
        logger.warning(
            "stale endpoint lock taken over",
            extra={
                "endpoint": inflight.endpoint,
                "deployment_id": inflight.deployment_id,
                "status": decisions.status_of(description),
            },
        )
        metrics.add_metric(name="StaleLocksRecovered", unit="Count", value=1)
        if self._close(project, inflight, description).next is not None:
            self._start_if_idle(project, stage)
        return True

    def _close(self, project: Project, record: Deployment, description: dict[str, Any] | None) -> Outcome:
        """Close the in-progress `record` against the endpoint's state (its config, not its status).

        On success the version is read again: rejected while it was being deployed, a rollback is
        queued (`next` of the outcome) for the caller to start. Tagging is best effort.
        """
        stage = project.stage_for_endpoint(record.endpoint) or project.stages[0]
        succeeded, reason = decisions.close_verdict(description, record)
        log = {"endpoint": record.endpoint, "deployment_id": record.deployment_id, "version": record.version}
        if succeeded and record.kind == "retire":
            return self._close_retirement(project, stage, record)
        if succeeded:
            # read before the ledger write: if this read fails, the retried event still finds the lock
            package = self.describe_package(record.package_arn)
            if not self.ledger.finish(record, DeploymentStatus.SUCCEEDED):
                return Outcome("duplicate", record.deployment_id, record.version, stage=stage.label)
            metrics.add_metric(name="DeploymentsSucceeded", unit="Count", value=1)
            if began := decisions.parse_ledger_time(record.started_at):  # start to in service (p50/p95)
                metrics.add_metric("DeploymentDuration", "Seconds", (datetime.now(UTC) - began).total_seconds())
            logger.info("deployment succeeded", extra=log)
            if record.kind == "rollback" and record.rollback_of:
                rejected = self.ledger.get(record.endpoint, record.rollback_of)
                if rejected is not None and self.ledger.transition(
                    rejected,
                    DeploymentStatus.ROLLED_BACK,
                    expected=DeploymentStatus.SUCCEEDED,
                    failure_reason=f"rejected; rolled back to v{record.version} ({record.deployment_id})",
                ):
                    metrics.add_metric(name="DeploymentsRolledBack", unit="Count", value=1)
            self._notify("deploy_succeeded", project, replace(record, status=DeploymentStatus.SUCCEEDED))
            self.endpoints.tag_live(description or {}, record)
            self._mark_deployed(project, stage, record, package)
            follow_up = None
            if package.get("ModelApprovalStatus") == REJECTED:
                follow_up = self._roll_back_rejected(project, stage, record, package)
            return Outcome("succeeded", record.deployment_id, record.version, next=follow_up, stage=stage.label)

        if not self.ledger.finish(record, DeploymentStatus.FAILED, reason):
            return Outcome("duplicate", record.deployment_id, record.version, stage=stage.label)
        self._failed(project, stage, record, reason, description)
        return Outcome("failed", record.deployment_id, record.version, reason, stage=stage.label)

    def _failed(
        self, project: Project, stage: Stage, record: Deployment, reason: str, description: dict[str, Any] | None
    ) -> None:
        metrics.add_metric(name="DeploymentsFailed", unit="Count", value=1)
        logger.warning(
            "deployment failed",
            extra={
                "endpoint": record.endpoint,
                "deployment_id": record.deployment_id,
                "reason": reason,
                "status": decisions.status_of(description),
            },
        )
        self._notify("deploy_failed", project, replace(record, status=DeploymentStatus.FAILED), reason=reason)
        if project.is_staged and not stage.is_first and record.kind == "deploy":
            previous = project.stages[stage.index - 1].name
            self._set_lifecycle_back(record.package_arn, previous, f"promotion to {stage.name} failed: {reason}")

    def _mark_deployed(self, project: Project, stage: Stage, record: Deployment, package: dict[str, Any]) -> None:
        """Staged projects: the version's ModelLifeCycle says where it now serves (never moved backwards).

        A rollback also says so of the version it undid: `RolledBack` where it was rejected live.
        """
        if not project.is_staged:
            return
        if decisions.should_mark_deployed(package, [s.name for s in project.stages], stage.name):
            why = f"live on {stage.endpoint} ({record.deployment_id})"
            self._write_lifecycle(record.package_arn, stage.name, STAGE_DEPLOYED, why)
        if record.kind == "rollback" and record.previous_package_arn:
            self._mark_taken_down(
                stage, record.previous_package_arn, STAGE_ROLLED_BACK, f"rolled back to v{record.version}"
            )

    def _mark_taken_down(self, stage: Stage, arn: str, status: str, why: str) -> None:
        """The rejected version's ModelLifeCycle, where it said it served in `stage`: no longer there."""
        stage_name, _ = decisions.lifecycle_stage(self.describe_package(arn))
        if stage_name == stage.name:
            self._write_lifecycle(arn, stage.name, status, f"rejected; {why} on {stage.endpoint}")

    def _write_lifecycle(self, arn: str, stage: str, status: str, why: str) -> None:
        """Best effort: the ledger is the record; a failed write is counted and logged."""
        try:
            self.endpoints.set_lifecycle(arn, stage, status, why)
        except RegistryWorkflowError as exc:
            metrics.add_metric(name="LifecycleWriteFailures", unit="Count", value=1)
            logger.warning("ModelLifeCycle not updated", extra={"package_arn": arn, "reason": str(exc)})

    def _roll_back_rejected(
        self, project: Project, stage: Stage, record: Deployment, package: dict[str, Any]
    ) -> Outcome:
        """`record` just went live but its version was rejected meanwhile: queue its rollback."""
        state = self.ledger.snapshot(record.endpoint)
        rejected = state.get(record.deployment_id) or replace(record, status=DeploymentStatus.SUCCEEDED)
        target = decisions.rollback_target(state, rejected.package_arn, self._still_approved)
        trigger = f"rejected-while-deploying:{record.deployment_id}"
        rollback = self._rollback_record(project, stage, rejected, target, package, trigger) if target else None
        decision = decisions.plan_rollback(
            state, rejected, target, rollback, None, without_fallback=stage.deploy.on_reject_without_fallback
        )
        if decision.action == "no_rollback_target":
            return self._no_rollback_target(project, decision, package)
        if decision.action == "retire":
            return self._retire(project, stage, decision, package, trigger)
        if decision.action not in {"queue", "start"}:
            return _of(decision)  # queued already (by the rejection)
        why = f"v{record.version} was rejected while it was being deployed"
        queued, _ = self.ledger.add(replace(decision.record, status=DeploymentStatus.QUEUED, failure_reason=why))
        logger.warning(
            "rejected version went live: rollback queued",
            extra={"endpoint": record.endpoint, "deployment_id": queued.deployment_id, "version": queued.version},
        )
        return Outcome("queued", queued.deployment_id, queued.version, why, stage=stage.label)

    def _start_next(
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
            lambda record: is_deployable(self.describe_package(record.package_arn), only_for),
        )
        for record, why in dropped:
            self._supersede_queued(project, record, why)
        if chosen is None:
            return None
        return self._start(project, chosen, description, recheck=recheck)

    def _start_if_idle(self, project: Project, stage: Stage) -> Outcome | None:
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
        return self._start_next(project, stage, description, recheck=False)

    # --- carrying a decision out -----------------------------------------------------------

    def _carry_out(
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
        return self._apply_started(project, record, description, recheck=recheck)

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
            closed = self._close(project, record, description)
            if closed.next is not None:
                return replace(closed, next=self._start_if_idle(project, stage) or closed.next)
            return closed
        try:
            accepted = self._apply(project, stage, record, description)
        except EndpointBusy as exc:
            self.ledger.requeue(record, str(exc))
            logger.info("endpoint busy: deployment queued", extra={**log, "reason": str(exc)})
            self._notify("queued", project, replace(record, status=DeploymentStatus.QUEUED), reason=str(exc))
            outcome = Outcome("queued", record.deployment_id, record.version, str(exc), stage=stage.label)
            return _then(outcome, self._start_if_idle(project, stage) if recheck else None)
        except DeploymentRefused as exc:
            self.ledger.finish(record, DeploymentStatus.FAILED, str(exc))
            self._failed(project, stage, record, str(exc), description)
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
            self._notify("rolled_back", project, record, reason=reason)
        else:
            self._notify("deploy_started", project, record)
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
            self._notify("queued", project, queued, reason=why)
        metrics.add_metric(name="DeploymentsQueued", unit="Count", value=1 if created else 0)
        outcome = Outcome("queued", queued.deployment_id, queued.version, why, stage=stage.label)
        return _then(outcome, self._start_if_idle(project, stage) if recheck else None)

    def _supersede(self, project: Project, record: Deployment, why: str) -> Outcome:
        superseded, created = self.ledger.add(replace(record, status=DeploymentStatus.SUPERSEDED, failure_reason=why))
        logger.info(
            "approval superseded", extra={"endpoint": record.endpoint, "version": record.version, "reason": why}
        )
        if created:
            metrics.add_metric(name="DeploymentsSuperseded", unit="Count", value=1)
            self._notify("superseded", project, superseded, reason=why)
        return Outcome("superseded", superseded.deployment_id, superseded.version, why, stage=record.stage or "")

    def _supersede_queued(self, project: Project, record: Deployment, why: str) -> None:
        if self.ledger.transition(
            record, DeploymentStatus.SUPERSEDED, expected=DeploymentStatus.QUEUED, failure_reason=why
        ):
            logger.info("queued deployment superseded", extra={"deployment_id": record.deployment_id, "reason": why})
            self._notify("superseded", project, replace(record, status=DeploymentStatus.SUPERSEDED), reason=why)

    def _record(self, project: Project, stage: Stage, package: dict[str, Any], trigger: str) -> Deployment:
        arn, version = package["ModelPackageArn"], int(package.get("ModelPackageVersion") or 0)
        record = Deployment(
            deployment_id=deployment_id_for(stage.endpoint, arn, trigger),
            endpoint=stage.endpoint,
            group=project.group_name,
            version=version,
            package_arn=arn,
            model_name="",
            endpoint_config_name="",
            strategy=stage.deploy.strategy,
            approver=self._actor(package),
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
        role = stage.deploy.execution_role_arn or self.execution_role_arn
        model = model_name_for(
            project.group_name, record.version, record.package_arn, record.package_created or "", role
        )
        variants = production_variants(stage.deploy, model)
        config = endpoint_config_name_for(record.endpoint, record.version, variants)
        return replace(record, model_name=model, endpoint_config_name=config)

    def _role(self, project: Project, stage: Stage) -> str:
        role = stage.deploy.execution_role_arn or self.execution_role_arn
        if not role:
            raise ConfigError(
                f"projects.{project.group_name}.deploy.execution_role_arn",
                "",
                f"no SageMaker execution role: set it in policy.toml or {EXECUTION_ROLE_ENV}",
            )
        return role

    # --- notifications ---------------------------------------------------------------------

    @staticmethod
    def _actor(package: dict[str, Any]) -> str | None:
        from registry_workflow.notifications import actor_of

        return actor_of(package)

    def _notify(
        self,
        kind: str,
        project: Project,
        record: Deployment,
        *,
        reason: str | None = None,
        actor: str | None = None,
        status: str | None = None,
    ) -> None:
        """Tell people; a channel failure is logged and counted, never undoes a recorded deployment."""
        self._send(
            project,
            kind=kind,
            group=record.group,
            package_arn=record.package_arn,
            status=status or _STATUS_TEXT.get(kind, str(record.status)),
            version=record.version,
            actor=actor or record.approver,
            reason=reason or record.failure_reason,
            endpoint=record.endpoint,
            stage=record.stage or "",
        )

    def _notify_version(
        self, project: Project, package: dict[str, Any], kind: str, status: str, reason: str, stage: str
    ) -> None:
        self._send(
            project,
            kind=kind,
            group=project.group_name,
            package_arn=package["ModelPackageArn"],
            status=status,
            version=int(package.get("ModelPackageVersion") or 0),
            actor=self._actor(package),
            reason=reason,
            endpoint=None,
            stage=stage,
        )

    def _send(self, project: Project, **fields: Any) -> None:
        from registry_workflow.notifications import Notification, notify

        notification = Notification(region=self.endpoints.region, **fields)
        try:
            (self._notifier or notify)(notification, project, deadline=self.deadline)
            metrics.add_metric(name="NotificationsSent", unit="Count", value=1)
        except Exception:  # noqa: BLE001 - a lost message must not undo a deployment already under way
            metrics.add_metric(name="NotificationFailures", unit="Count", value=1)
            logger.exception("notification failed", extra={"kind": fields.get("kind")})


#: the status line people read (the notification's title is "<group> v<n>: <status>")
_STATUS_TEXT = {
    "deploy_started": "deploying",
    "deploy_succeeded": "live",
    "deploy_failed": "deployment failed",
    "rolled_back": "rolling back",
    "superseded": "superseded",
    "queued": "queued",
}

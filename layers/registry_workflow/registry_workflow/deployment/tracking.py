"""Closing deployments: on an endpoint's terminal event (`track`), and on a schedule (`sweep`).

A deployment is closed against what the endpoint runs (its config, not its status): succeeded,
with its version read again (rejected meanwhile: a rollback follows), or failed. The sweep ends
what no event will: stale locks (`release_if_stale`) and queues of endpoints that went idle unseen.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from registry_workflow.deployment import decisions
from registry_workflow.deployment.outcomes import Outcome, actions_of, outcome_of, then
from registry_workflow.errors import RegistryWorkflowError
from registry_workflow.gate import REJECTED
from registry_workflow.ledger import Deployment, DeploymentStatus, EndpointSnapshot
from registry_workflow.observability import logger, metrics

if TYPE_CHECKING:
    from collections.abc import Iterable

    from registry_workflow.config import Project, Stage
    from registry_workflow.deployment.service import DeploymentService

#: endpoints holding a lock or a queue that one sweep acts on (the rest wait for the next run)
SWEEP_MAX_ENDPOINTS = 25
#: a sweep starts no more endpoints once the invocation has less left than this (seconds)
SWEEP_MARGIN_SECONDS = 15.0


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


class Tracking:
    """Closes in-progress deployments and starts what waited for them, on an event or on the schedule."""

    def __init__(self, service: DeploymentService) -> None:
        self._service = service
        self.ledger = service.ledger
        self.endpoints = service.endpoints

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
            outcome = outcome_of(decision)
            return replace(outcome, version=None) if decision.action == "not_terminal" else outcome
        outcome = Outcome("nothing_in_progress", detail=decisions.status_of(description), stage=stage.label)
        if decision.action == "close":
            outcome = self.close(project, decision.record, description)
            if outcome.action == "duplicate":
                return outcome
        if "retired" in actions_of(outcome):  # the endpoint was deleted after it was read
            description = self.endpoints.describe_endpoint(endpoint)
        if decisions.status_of(description) == "InService":
            outcome = then(outcome, self._service.rollout.start_next(project, stage, description))
        return outcome

    def sweep(self, projects: Iterable[Project], limit: int) -> SweepReport:
        """The scheduled sweep: free stale locks and start stranded queues, no event needed.

        Each stage's endpoint costs one consistent Query (its records and lock); only an endpoint
        holding a lock or a queue costs more (DescribeEndpoint, then what starting or closing
        takes). At most `limit` (`SWEEP_MAX_ENDPOINTS`) such endpoints are acted on, and none
        once the invocation has less than `SWEEP_MARGIN_SECONDS` left: the rest wait for the
        next run. One endpoint's AWS error does not stop the others; the first is raised at the end
        (the run is retried, and the function's error alarm sees it).
        """
        report = SweepReport()
        errors: list[RegistryWorkflowError] = []
        for project, stage in ((p, s) for p in projects for s in p.stages):
            endpoint = stage.endpoint
            if len(report.pending) >= limit or not self._service.deadline.allows(0, SWEEP_MARGIN_SECONDS):
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
            if not self.release_if_stale(project, inflight):
                return None  # a live deployment (or a busy endpoint): its own event will close it
            released = Outcome("lock_released", inflight.deployment_id, inflight.version, stage=stage.label)
        started = self._service.rollout.start_if_idle(project, stage)
        return then(released, started) if released is not None else started

    def release_if_stale(self, project: Project, inflight: Deployment) -> bool:
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
        if self.close(project, inflight, description).next is not None:
            self._service.rollout.start_if_idle(project, stage)
        return True

    def close(self, project: Project, record: Deployment, description: dict[str, Any] | None) -> Outcome:
        """Close the in-progress `record` against the endpoint's state (its config, not its status).

        On success the version is read again: rejected while it was being deployed, a rollback is
        queued (`next` of the outcome) for the caller to start. Tagging is best effort.
        """
        stage = project.stage_for_endpoint(record.endpoint) or project.stages[0]
        succeeded, reason = decisions.close_verdict(description, record)
        log = {"endpoint": record.endpoint, "deployment_id": record.deployment_id, "version": record.version}
        if succeeded and record.kind == "retire":
            return self._service.rejection.close_retirement(project, stage, record)
        if succeeded:
            # read before the ledger write: if this read fails, the retried event still finds the lock
            package = self.endpoints.describe_package(record.package_arn)
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
            self._service.announcer.notify(
                "deploy_succeeded", project, replace(record, status=DeploymentStatus.SUCCEEDED)
            )
            self.endpoints.tag_live(description or {}, record)
            self._service.promotion.mark_deployed(project, stage, record, package)
            follow_up = None
            if package.get("ModelApprovalStatus") == REJECTED:
                follow_up = self._service.rejection.roll_back_rejected(project, stage, record, package)
            elif withdrawn_at := self._service.standing.records.withdrawn_at(
                record.package_arn, package.get("CreationTime")
            ):
                # its approval was withdrawn (or refused) while it was deployed: a withdrawal seen
                # then could only plan the undo for when it is live (no target yet); it is now
                follow_up = self._service.rejection.undo_withdrawn(
                    project, package, withdrawn_at, f"closed:{record.deployment_id}"
                )
                if follow_up.action == "withdrawn":  # it started before the withdrawal: it stays
                    follow_up = None
            return Outcome("succeeded", record.deployment_id, record.version, next=follow_up, stage=stage.label)

        if not self.ledger.finish(record, DeploymentStatus.FAILED, reason):
            return Outcome("duplicate", record.deployment_id, record.version, stage=stage.label)
        self.failed(project, stage, record, reason, description)
        return Outcome("failed", record.deployment_id, record.version, reason, stage=stage.label)

    def failed(
        self, project: Project, stage: Stage, record: Deployment, reason: str, description: dict[str, Any] | None
    ) -> None:
        """Count, log and tell a failed deployment; a failed promotion's lifecycle goes back a stage."""
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
        self._service.announcer.notify(
            "deploy_failed", project, replace(record, status=DeploymentStatus.FAILED), reason=reason
        )
        if project.is_staged and not stage.is_first and record.kind == "deploy":
            previous = project.stages[stage.index - 1].name
            self._service.promotion.set_lifecycle_back(
                record.package_arn, previous, f"promotion to {stage.name} failed: {reason}"
            )

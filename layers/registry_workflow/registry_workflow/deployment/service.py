"""Deploy approved versions, track them to a verified end, roll back rejected live versions.

`DeploymentService` is the orchestration the deployer and tracker Lambdas run: it reads the
ledger and the endpoint, asks the pure core (`decisions`) what to do, and carries the decision
out with `sagemaker.Endpoints` and the ledger's conditional writes. Each stage of a project
(`Project.stages`) is one endpoint with its own records, lock, queue, live version and rollback
target.

This module is the facade the handlers use; the work is done by one collaborator per idea,
each holding the service (the ledger, `Endpoints`, the invocation's deadline) and reaching the
others through it, since they call each other both ways (a rollout closes a deployment that is
already live, closing one starts the queue or a rollback, a rollback is carried out as a rollout):

- `rollout.Rollout`: an approval recorded, then queued, superseded or started under the lock;
- `rejection.Rejection`: rollbacks and retirements of rejected versions;
- `promotion.Promotion`: promotion through stages and the versions' `ModelLifeCycle`;
- `tracking.Tracking`: closing deployments on endpoint events (`track`) and on schedule (`sweep`);
- `announcements.Announcer`: the notifications people get; `outcomes`: what an event did.

Facts designed against (../shared/AWS-FACTS.md):

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
  the tracker: stale locks are released (`Tracking.release_if_stale`), idle endpoints' queues started.

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
from typing import TYPE_CHECKING, Any

from registry_workflow.deadline import UNLIMITED, Deadline
from registry_workflow.deployment.announcements import Announcer
from registry_workflow.deployment.outcomes import Outcome, actions_of
from registry_workflow.deployment.promotion import Promotion
from registry_workflow.deployment.rejection import Rejection
from registry_workflow.deployment.rollout import EXECUTION_ROLE_ENV, Rollout
from registry_workflow.deployment.sagemaker import Endpoints
from registry_workflow.deployment.standing import Standing
from registry_workflow.deployment.tracking import SWEEP_MARGIN_SECONDS, SWEEP_MAX_ENDPOINTS, SweepReport, Tracking
from registry_workflow.ledger import DeploymentLedger

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from registry_workflow.config import Project, Stage

__all__ = [
    "EXECUTION_ROLE_ENV",
    "SWEEP_MARGIN_SECONDS",
    "SWEEP_MAX_ENDPOINTS",
    "DeploymentService",
    "Outcome",
    "SweepReport",
    "actions_of",
]


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
        self.announcer = Announcer(self, notifier)
        self.standing = Standing(ledger, self.sagemaker)
        self.rollout = Rollout(self)
        self.rejection = Rejection(self)
        self.promotion = Promotion(self)
        self.tracking = Tracking(self)

    @classmethod
    def from_env(cls, *, deadline: Deadline = UNLIMITED) -> DeploymentService:
        return cls(
            DeploymentLedger.from_env(), execution_role_arn=os.environ.get(EXECUTION_ROLE_ENV, ""), deadline=deadline
        )

    def describe_package(self, arn: str) -> dict[str, Any]:
        """The version now (DescribeModelPackage); a deleted one says `ModelPackageStatus: Deleted`."""
        return self.endpoints.describe_package(arn)

    def approve(self, project: Project, package: dict[str, Any], trigger: str, stage: Stage | None = None) -> Outcome:
        """An approval (or a promotion, for a later `stage`): deploy it, queue it, or record why not."""
        return self.rollout.approve(project, package, trigger, stage)

    def reject(self, project: Project, package: dict[str, Any], trigger: str, stage: Stage | None = None) -> Outcome:
        """A rejection: roll `stage`'s endpoint back if the rejected version is live or being deployed there."""
        return self.rejection.reject(project, package, trigger, stage)

    def reject_everywhere(
        self, project: Project, package: dict[str, Any], trigger: str, *, force: bool = False
    ) -> Outcome:
        """A rejection in every stage (the last first): each rolls back where the version is live."""
        return self.rejection.reject_everywhere(project, package, trigger, force=force)

    def undo_withdrawn(self, project: Project, package: dict[str, Any], withdrawn_at: str, trigger: str) -> Outcome:
        """An approval withdrawn at `withdrawn_at`: undo deployments of the version started since."""
        return self.rejection.undo_withdrawn(project, package, withdrawn_at, trigger)

    def promote(self, project: Project, package: dict[str, Any], trigger: str) -> Outcome:
        """A promotion asked by `ModelLifeCycle`: deployed to its stage, or refused and said why."""
        return self.promotion.promote(project, package, trigger)

    def track(self, project: Project, endpoint: str) -> Outcome:
        """An endpoint reached a terminal state: close the in-progress deployment, start the next."""
        return self.tracking.track(project, endpoint)

    def sweep(self, projects: Iterable[Project], *, max_endpoints: int | None = None) -> SweepReport:
        """The scheduled sweep: free stale locks and start stranded queues (`Tracking.sweep`).

        The bound defaults to this module's `SWEEP_MAX_ENDPOINTS`, read at each call (a test lowers it).
        """
        limit = SWEEP_MAX_ENDPOINTS if max_endpoints is None else max_endpoints
        return self.tracking.sweep(projects, limit)

"""Deploy approved versions, track them to a verified end, roll back rejected live versions.

Pure parts first (names, `DeploymentConfig`, alarms), then `DeploymentService`, the orchestration
the deployer and tracker Lambdas run. Facts designed against (../shared/AWS-FACTS.md):

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

import hashlib
import json
import os
import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from registry_workflow import aws
from registry_workflow.deadline import UNLIMITED, Deadline
from registry_workflow.errors import AwsOperationError, ConfigError, DeploymentConflictError, RegistryWorkflowError
from registry_workflow.gate import APPROVED, REJECTED
from registry_workflow.ledger import (
    Deployment,
    DeploymentLedger,
    DeploymentStatus,
    EndpointSnapshot,
    deployment_id_for,
    newest_first,
    succeeded_of,
)
from registry_workflow.observability import logger, metrics

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from registry_workflow.config import Project
    from registry_workflow.policy import DeployPolicy

EXECUTION_ROLE_ENV = "SAGEMAKER_EXECUTION_ROLE_ARN"
MAX_NAME = 63
MANAGED_BY = ("managed-by", "registry-workflow")
PACKAGE_ARN_TAG = "registry-workflow:model-package-arn"
VERSION_TAG = "registry-workflow:model-package-version"

#: the longest a Lambda invocation runs: a lock older than the rollout timeout plus this is stale
STALE_LOCK_MARGIN_SECONDS = 900
BUSY = {"Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting"}
TERMINAL = {"InService", "Failed", "UpdateRollbackFailed", "OutOfService"}
COMPLETED = "Completed"

#: endpoints holding a lock or a queue that one sweep acts on (the rest wait for the next run)
SWEEP_MAX_ENDPOINTS = 25
#: a sweep starts no more endpoints once the invocation has less left than this (seconds)
SWEEP_MARGIN_SECONDS = 15.0

#: alarms created per endpoint when `deploy.create_alarms` is on (AWS/SageMaker metrics)
ALARM_5XX_SUFFIX = "-5xx"
ALARM_LATENCY_SUFFIX = "-latency"
#: any 5XX in two consecutive minutes; p99 model latency above one second (ModelLatency is in µs)
LATENCY_P99_THRESHOLD_US = 1_000_000.0

_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
#: hex characters of the digest in model and endpoint-config names (32 bits: a collision needs
#: two different deployments of one version of one group, not a birthday among all names)
NAME_DIGEST_LENGTH = 8


# --- names ---------------------------------------------------------------------------------------


def model_name_for(group: str, version: int, package_arn: str, package_created: str, role_arn: str) -> str:
    """`<group>-v<N>-<digest>`: the digest of what the model is made of.

    The package ARN with its CreationTime (after a cleanup and a new provision, versions restart
    at 1 under the same ARNs: the creation time tells the new v1 from the old one) and the
    execution role the model runs as.
    """
    return distinct_name(group, version, package_arn, package_created, role_arn)


def endpoint_config_name_for(endpoint: str, version: int, variants: list[dict[str, Any]]) -> str:
    """`<endpoint>-v<N>-<digest>`: the digest of the config's `ProductionVariants` (model, variant, capacity)."""
    return distinct_name(endpoint, version, json.dumps(variants, sort_keys=True, separators=(",", ":")))


def distinct_name(prefix: str, version: int, *identity: str) -> str:
    """`{prefix}-v{version}-{digest}` within 63 characters; the digest covers prefix, version and identity.

    Deterministic: a retry of the same deployment meets "already exists" for the SAME resource and
    carries on; anything that makes a deployment distinct (package, role, capacity) makes a new
    name, so nothing stale is reused. A long prefix is cut, never its start: names begin with the
    group's (or endpoint's) leading characters, `<team>-` included for teams up to 46 characters.
    """
    suffix = f"-v{version}"
    digest = hashlib.sha256("\0".join((prefix, str(version), *identity)).encode()).hexdigest()[:NAME_DIGEST_LENGTH]
    keep = MAX_NAME - len(suffix) - len(digest) - 1
    return f"{prefix[:keep].rstrip('-')}{suffix}-{digest}"


def package_created_of(package: dict[str, Any]) -> str:
    """A version's `CreationTime` (DescribeModelPackage) as one stable string: part of its identity."""
    created = package.get("CreationTime")
    if isinstance(created, datetime):
        return (created if created.tzinfo else created.replace(tzinfo=UTC)).astimezone(UTC).isoformat()
    return str(created or "")


def production_variants(policy: DeployPolicy, model_name: str) -> list[dict[str, Any]]:
    """`ProductionVariants` of an endpoint config (one variant, the same name every version)."""
    return [
        {
            "VariantName": policy.variant_name,
            "ModelName": model_name,
            "InitialInstanceCount": policy.instance_count,
            "InstanceType": policy.instance_type,
            "InitialVariantWeight": 1.0,
        }
    ]


def is_valid_name(name: str) -> bool:
    return bool(_NAME.match(name))


def alarm_names(endpoint: str) -> list[str]:
    """Names of the alarms created for an endpoint (prefixed by the endpoint: IAM scopes them so)."""
    return [f"{endpoint}{ALARM_5XX_SUFFIX}", f"{endpoint}{ALARM_LATENCY_SUFFIX}"]


def alarm_definitions(endpoint: str, variant: str) -> list[dict[str, Any]]:
    """PutMetricAlarm arguments of the per-endpoint rollback alarms (PutMetricAlarm is idempotent)."""
    dimensions = [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": variant}]
    common = {
        "Namespace": "AWS/SageMaker",
        "Dimensions": dimensions,
        "Period": 60,
        "EvaluationPeriods": 2,
        "DatapointsToAlarm": 2,
        "TreatMissingData": "notBreaching",
        "Tags": [{"Key": MANAGED_BY[0], "Value": MANAGED_BY[1]}],
    }
    five_xx, latency = alarm_names(endpoint)
    return [
        {
            **common,
            "AlarmName": five_xx,
            "AlarmDescription": f"5XX errors on {endpoint}/{variant}: rolls a deployment back",
            "MetricName": "Invocation5XXErrors",
            "Statistic": "Sum",
            "Threshold": 0.0,
            "ComparisonOperator": "GreaterThanThreshold",
        },
        {
            **common,
            "AlarmName": latency,
            "AlarmDescription": f"p99 latency on {endpoint}/{variant} above 1 s: rolls a deployment back",
            "MetricName": "ModelLatency",
            "ExtendedStatistic": "p99",
            "Threshold": LATENCY_P99_THRESHOLD_US,
            "ComparisonOperator": "GreaterThanThreshold",
        },
    ]


def rollback_alarm_names(policy: DeployPolicy, endpoint: str) -> list[str]:
    """The named alarms plus the created ones, at most 10 (UpdateEndpoint's limit)."""
    names = list(policy.rollback_alarms)
    if policy.create_alarms:
        names += [n for n in alarm_names(endpoint) if n not in names]
    return names[:10]


def deployment_config(policy: DeployPolicy, alarms: list[str]) -> dict[str, Any]:
    """`DeploymentConfig` of UpdateEndpoint: blue/green with the policy's traffic shifting."""
    routing: dict[str, Any] = {"WaitIntervalInSeconds": policy.wait_seconds}
    if policy.strategy == "canary":
        routing |= {
            "Type": "CANARY",
            "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": policy.traffic_percent},
        }
    elif policy.strategy == "linear":
        routing |= {
            "Type": "LINEAR",
            "LinearStepSize": {"Type": "CAPACITY_PERCENT", "Value": policy.traffic_percent},
        }
    else:
        routing["Type"] = "ALL_AT_ONCE"
    config: dict[str, Any] = {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": routing,
            "MaximumExecutionTimeoutInSeconds": policy.max_execution_timeout_seconds,
        }
    }
    if alarms:
        config["AutoRollbackConfiguration"] = {"Alarms": [{"AlarmName": name} for name in alarms[:10]]}
    return config


def endpoint_tags(record: Deployment) -> list[dict[str, str]]:
    return [
        {"Key": MANAGED_BY[0], "Value": MANAGED_BY[1]},
        {"Key": PACKAGE_ARN_TAG, "Value": record.package_arn},
        {"Key": VERSION_TAG, "Value": str(record.version)},
    ]


def is_deployable(package: dict[str, Any]) -> bool:
    """Approved and Completed now (DescribeModelPackage), whatever the event said."""
    return package.get("ModelApprovalStatus") == APPROVED and package.get("ModelPackageStatus") == COMPLETED


# --- orchestration -------------------------------------------------------------------------------


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
        return [e for e, o in self.outcomes.items() if "started" in _actions(o)]

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


def _actions(outcome: Outcome | None) -> list[str]:
    """The actions of an outcome and the ones it led to (`next`), in order."""
    found: list[str] = []
    while outcome is not None:
        found.append(outcome.action)
        outcome = outcome.next
    return found


@dataclass(frozen=True)
class Outcome:
    """What one event did; returned by the handlers (and logged)."""

    action: str  # started | queued | superseded | stale | already_live | duplicate | succeeded | failed | ...
    deployment_id: str | None = None
    version: int | None = None
    detail: str = ""
    next: Outcome | None = None

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "action": self.action,
            "deployment_id": self.deployment_id,
            "version": self.version,
        }
        if self.detail:
            data["detail"] = self.detail
        if self.next is not None:
            data["next"] = self.next.as_dict()
        return data


class _Refusal(AwsOperationError):
    """SageMaker answered "no" to a call (ValidationException, a limit).

    Handled inside this module; an `AwsOperationError` (a typed error of the package) should one
    ever escape a handler. `str()` is "<operation>: <message>", the reason the ledger records.
    """

    def __init__(self, operation: str, code: str, message: str) -> None:
        super().__init__(operation, code, message)
        self.args = (f"{operation}: {message}",)


class _EndpointBusy(_Refusal):
    """SageMaker said "Cannot update in-progress endpoint": another update (or ours, accepted) is running."""


class _DeploymentRefused(_Refusal):
    """SageMaker refused the deployment for good (bad config, failed endpoint, limits)."""


class _AlreadyExists(_Refusal):
    """A create that already happened (a retry after a crash)."""


class _LockLost(Exception):
    """The deployment no longer holds the endpoint's lock: someone closed it; never call SageMaker."""


class DeploymentService:
    """Deploys, tracks and rolls back one project's endpoint, recording every step in the ledger."""

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
        self.sagemaker = sagemaker or aws.client("sagemaker")
        self._cloudwatch = cloudwatch
        self._notifier = notifier

    @classmethod
    def from_env(cls, *, deadline: Deadline = UNLIMITED) -> DeploymentService:
        return cls(
            DeploymentLedger.from_env(), execution_role_arn=os.environ.get(EXECUTION_ROLE_ENV, ""), deadline=deadline
        )

    # --- approvals -------------------------------------------------------------------------

    def on_approval_change(self, project: Project, package_arn: str, trigger: str) -> Outcome:
        """Re-read the version and act on what it is now: Approved → deploy, Rejected → roll back."""
        package = self._describe_package(package_arn)
        if package.get("ModelApprovalStatus") == REJECTED:
            return self.reject(project, package, trigger)
        return self.approve(project, package, trigger)

    def approve(self, project: Project, package: dict[str, Any], trigger: str) -> Outcome:
        """An approval: deploy it, queue it, or record why not (stale, superseded, already live)."""
        arn, version = package["ModelPackageArn"], int(package.get("ModelPackageVersion") or 0)
        log = {"group": project.group_name, "version": version, "package_arn": arn}
        if not is_deployable(package):
            logger.info(
                "stale approval ignored: version is not Approved and Completed now",
                extra={
                    **log,
                    "approval": package.get("ModelApprovalStatus"),
                    "status": package.get("ModelPackageStatus"),
                },
            )
            return Outcome("stale", version=version)
        endpoint = project.endpoint_name
        record = self._record(project, package, trigger)
        state = self.ledger.snapshot(endpoint)  # one read for the record, the lock and what is live
        existing = state.get(record.deployment_id)
        if existing is not None and existing.is_finished:
            return Outcome("duplicate", existing.deployment_id, version, f"already {existing.status}")
        record = existing or record

        inflight = state.in_progress
        if inflight is not None and inflight.deployment_id == record.deployment_id:
            # a retry after a crash: carry on where it stopped (every step is idempotent)
            return self._apply_started(project, inflight, self._describe_endpoint(endpoint))
        if inflight is not None and self._release_if_stale(project, inflight):
            state = self.ledger.snapshot(endpoint)  # the stale deployment was just closed
            inflight = state.in_progress
        live = state.live
        record = replace(record, previous_package_arn=live.package_arn if live else None)
        if inflight is not None and inflight.package_arn == arn:
            return Outcome("duplicate", inflight.deployment_id, version, "this version is being deployed")
        if live is not None and live.endpoint_config_name == record.endpoint_config_name and inflight is None:
            # the very deployment this approval would make (same package, role and capacity)
            logger.info("approval of the live version: nothing to deploy", extra=log)
            return Outcome("already_live", live.deployment_id, version)
        newer = next((d for d in (live, inflight) if d is not None and _is_newer(d, record)), None)
        if newer is not None:
            return self._supersede(project, record, f"v{newer.version} is newer ({newer.status} on {endpoint})")

        description = self._describe_endpoint(endpoint)
        if description is not None and live is None and inflight is None:
            # an endpoint made elsewhere: tagged now, even if the approval is queued, so the
            # tracker's rule (managed-by tag) sees the event that ends its busy state
            self._adopt(description)
        if inflight is not None or (description and description["EndpointStatus"] in BUSY):
            why = (
                f"deployment {inflight.deployment_id} (v{inflight.version}) is in progress"
                if inflight
                else f"endpoint is {description['EndpointStatus'] if description else 'busy'}"
            )
            return self._queue(project, record, why)
        return self._start(project, record, description)

    def reject(self, project: Project, package: dict[str, Any], trigger: str) -> Outcome:
        """A rejection: roll the endpoint back if the rejected version is live or being deployed.

        Being deployed: a rollback is queued behind it, with ``rollback_of`` naming the deployment;
        the tracker starts it once that deployment is live (`_start_next` picks a rollback of the
        live deployment), and supersedes it if the update failed (the rejected version never went
        live). Otherwise the endpoint is left alone.
        """
        arn, version = package["ModelPackageArn"], int(package["ModelPackageVersion"])
        log = {"group": project.group_name, "version": version, "package_arn": arn}
        if package.get("ModelApprovalStatus") != REJECTED:
            logger.info("stale rejection ignored: version is not Rejected now", extra=log)
            return Outcome("stale", version=version)
        endpoint = project.endpoint_name
        state = self.ledger.snapshot(endpoint)
        for queued in state.queued:
            if queued.package_arn == arn and self.ledger.transition(
                queued,
                DeploymentStatus.SUPERSEDED,
                expected=DeploymentStatus.QUEUED,
                failure_reason="rejected",
            ):
                logger.info(
                    "queued deployment of a rejected version dropped",
                    extra={**log, "id": queued.deployment_id},
                )
        live, inflight = state.live, state.in_progress
        if inflight is not None and inflight.package_arn == arn:
            rejected = inflight
        elif live is not None and live.package_arn == arn:
            rejected = live
        else:
            logger.info("rejected version is not live: endpoint left alone", extra={**log, "endpoint": endpoint})
            return Outcome("not_live", version=version)
        if inflight is not None and self._release_if_stale(project, inflight):
            return self.reject(project, package, trigger)  # the stale deployment was just closed: decide again

        planned = self._plan_rollback(project, state, rejected, package, f"rollback:{arn}:{trigger}")
        if isinstance(planned, Outcome):
            return planned
        if rejected is inflight:
            why = f"v{version} is being deployed ({inflight.deployment_id}): rollback queued until it ends"
            logger.info("rejected while being deployed: rollback queued", extra={**log, "endpoint": endpoint})
            return self._queue(project, planned, why, notify=False)
        description = self._describe_endpoint(endpoint)
        if inflight is not None or (description and description["EndpointStatus"] in BUSY):
            return self._queue(project, planned, "endpoint busy; rollback queued", notify=False)
        return self._start(project, planned, description)

    def _plan_rollback(
        self,
        project: Project,
        state: EndpointSnapshot,
        rejected: Deployment,
        package: dict[str, Any],
        trigger: str,
    ) -> Deployment | Outcome:
        """The queued rollback record undoing `rejected`, or why there is none (duplicate, no target)."""
        arn, endpoint = rejected.package_arn, rejected.endpoint
        active = {DeploymentStatus.QUEUED, DeploymentStatus.IN_PROGRESS, DeploymentStatus.SUCCEEDED}
        existing = next(
            (
                d
                for d in state.records
                if d.kind == "rollback" and d.rollback_of == rejected.deployment_id and d.status in active
            ),
            None,
        )
        if existing is not None:
            return Outcome("duplicate", existing.deployment_id, existing.version, f"rollback already {existing.status}")
        target = self._rollback_target(state, arn)
        if target is None and rejected.status != DeploymentStatus.SUCCEEDED:
            # still being deployed: it may never go live; the tracker decides (and tells) when it does
            reason = "rejected while being deployed: nothing to roll back to if it goes live"
            logger.info("rejected while being deployed, no rollback target", extra={"endpoint": endpoint})
            return Outcome("no_rollback_target", rejected.deployment_id, rejected.version, reason)
        if target is None:
            reason = "rejected version is live and no earlier succeeded, still approved version exists"
            logger.warning("cannot roll back", extra={"endpoint": endpoint, "package_arn": arn})
            self._notify(
                "deploy_failed",
                project,
                rejected,
                reason=reason,
                actor=self._actor(package),
                status="rejected but still live: nothing to roll back to",
            )
            return Outcome("no_rollback_target", rejected.deployment_id, rejected.version, reason)
        record = replace(
            target,
            deployment_id=deployment_id_for(endpoint, target.package_arn, trigger),
            status=DeploymentStatus.QUEUED,
            kind="rollback",
            rollback_of=rejected.deployment_id,
            previous_package_arn=arn,
            approver=self._actor(package),
            approval_description=package.get("ApprovalDescription"),
            strategy=project.policy.deploy.strategy,
            failure_reason=None,
            created_at="",
            updated_at="",
            started_at=None,
            finished_at=None,
        )
        duplicate = state.get(record.deployment_id)
        if duplicate is not None:
            return Outcome(
                "duplicate", duplicate.deployment_id, duplicate.version, f"rollback already {duplicate.status}"
            )
        return record

    # --- tracking --------------------------------------------------------------------------

    def track(self, project: Project, endpoint: str) -> Outcome:
        """An endpoint reached a terminal state: close the in-progress deployment, start the next.

        A state that is not the deployment's config concludes a failure only when the endpoint
        was modified after the deployment started: an older event (late, redelivered) says
        nothing about it, and the lock stays with the deployment.
        """
        description = self._describe_endpoint(endpoint)
        status = description["EndpointStatus"] if description else "Deleted"
        inflight = self.ledger.in_progress(endpoint)
        if description is not None and status not in TERMINAL:
            # the event is older than the endpoint's state: a newer event will follow
            return Outcome("not_terminal", inflight.deployment_id if inflight else None, detail=status)
        outcome = Outcome("nothing_in_progress", detail=status)
        if inflight is not None:
            if _rollout_of(description, inflight) != "done" and (
                description is None or not _modified_since_start(description, inflight)
            ):
                logger.info(
                    "endpoint state predates the deployment: lock kept",
                    extra={"endpoint": endpoint, "deployment_id": inflight.deployment_id, "status": status},
                )
                detail = (
                    f"endpoint {status}, last modified before {inflight.deployment_id} started"
                    if description is not None
                    else "endpoint not found: nothing to conclude about the deployment"
                )
                return Outcome("predates_deployment", inflight.deployment_id, inflight.version, detail)
            outcome = self._close(project, inflight, description)
            if outcome.action == "duplicate":
                return outcome
        if status == "InService":
            started = self._start_next(project, endpoint, description)
            if started is not None:
                outcome = replace(outcome, next=started)
        return outcome

    def sweep(self, projects: Iterable[Project], *, max_endpoints: int | None = None) -> SweepReport:
        """The scheduled sweep: free stale locks and start stranded queues, no event needed.

        Each project's endpoint costs one consistent Query (its records and lock); only an endpoint
        holding a lock or a queue costs more (DescribeEndpoint, then what starting or closing
        takes). At most `max_endpoints` (`SWEEP_MAX_ENDPOINTS`) such endpoints are acted on, and
        none once the invocation has less than `SWEEP_MARGIN_SECONDS` left: the rest wait for the
        next run. One endpoint's AWS error does not stop the others; the first is raised at the end
        (the run is retried, and the function's error alarm sees it).
        """
        limit = SWEEP_MAX_ENDPOINTS if max_endpoints is None else max_endpoints
        report = SweepReport()
        errors: list[RegistryWorkflowError] = []
        for project in projects:
            endpoint = project.endpoint_name
            if len(report.pending) >= limit or not self.deadline.allows(0, SWEEP_MARGIN_SECONDS):
                report.left_for_next_run.append(endpoint)
                continue
            try:
                state = self.ledger.snapshot(endpoint)
                report.checked += 1
                if state.lock_id is None and not state.queued:
                    continue
                report.pending.append(endpoint)
                outcome = self._sweep_endpoint(project, state)
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

    def _sweep_endpoint(self, project: Project, state: EndpointSnapshot) -> Outcome | None:
        """One endpoint holding a lock or a queue: release the lock if stale, then start the queue if idle."""
        inflight = state.in_progress
        released = None
        if inflight is not None:
            if not self._release_if_stale(project, inflight):
                return None  # a live deployment (or a busy endpoint): its own event will close it
            released = Outcome("lock_released", inflight.deployment_id, inflight.version)
        started = self._start_if_idle(project, inflight.endpoint if inflight else project.endpoint_name)
        if released is not None:
            return replace(released, next=started)
        return started

    def _release_if_stale(self, project: Project, inflight: Deployment) -> bool:
        """Close a lock that no run will close; True when the endpoint is free again.

        A run that crashed between taking the lock and SageMaker (and whose event was dead-lettered)
        leaves it held, and no endpoint event will come to close it. It is taken over when the
        endpoint already shows the deployment's config (done: closed as succeeded) or, endpoint idle,
        when the lock is older than the rollout's timeout plus the longest Lambda run (failed).
        A rollback that closing it queued (the version was rejected meanwhile) is started.
        """
        description = self._describe_endpoint(inflight.endpoint)
        status = description["EndpointStatus"] if description else "Deleted"
        if status in BUSY:
            return False
        done = status == "InService" and (description or {}).get("EndpointConfigName") == inflight.endpoint_config_name
        limit = project.policy.deploy.max_execution_timeout_seconds + STALE_LOCK_MARGIN_SECONDS
        if not done and _age_seconds(inflight.started_at or inflight.created_at) < limit:
            return False
        logger.warning(
            "stale endpoint lock taken over",
            extra={"endpoint": inflight.endpoint, "deployment_id": inflight.deployment_id, "status": status},
        )
        metrics.add_metric(name="StaleLocksRecovered", unit="Count", value=1)
        if self._close(project, inflight, description).next is not None:
            self._start_if_idle(project, inflight.endpoint)
        return True

    def _close(self, project: Project, record: Deployment, description: dict[str, Any] | None) -> Outcome:
        """Close the in-progress `record` against the endpoint's state (its config, not its status).

        On success the version is read again: rejected while it was being deployed, a rollback is
        queued (`next` of the outcome) for the caller to start. Tagging is best effort.
        """
        status = description["EndpointStatus"] if description else "Deleted"
        actual = description.get("EndpointConfigName") if description else None
        log = {"endpoint": record.endpoint, "deployment_id": record.deployment_id, "version": record.version}
        if status == "InService" and actual == record.endpoint_config_name:
            # read before the ledger write: if this read fails, the retried event still finds the lock
            package = self._describe_package(record.package_arn)
            if not self.ledger.finish(record, DeploymentStatus.SUCCEEDED):
                return Outcome("duplicate", record.deployment_id, record.version)
            metrics.add_metric(name="DeploymentsSucceeded", unit="Count", value=1)
            if began := _parse_ledger_time(record.started_at):  # start to in service (the dashboard's p50/p95)
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
            self._tag_endpoint(description or {}, record)
            follow_up = None
            if package.get("ModelApprovalStatus") == REJECTED:
                follow_up = self._roll_back_rejected(project, record, package)
            return Outcome("succeeded", record.deployment_id, record.version, next=follow_up)

        reason = (description or {}).get("FailureReason") or (
            f"endpoint is {status} on {actual}, not {record.endpoint_config_name}"
            if status == "InService"
            else f"endpoint is {status}"
        )
        if not self.ledger.finish(record, DeploymentStatus.FAILED, reason):
            return Outcome("duplicate", record.deployment_id, record.version)
        metrics.add_metric(name="DeploymentsFailed", unit="Count", value=1)
        logger.warning("deployment failed", extra={**log, "reason": reason, "status": status, "config": actual})
        self._notify("deploy_failed", project, replace(record, status=DeploymentStatus.FAILED), reason=reason)
        return Outcome("failed", record.deployment_id, record.version, reason)

    def _roll_back_rejected(self, project: Project, record: Deployment, package: dict[str, Any]) -> Outcome:
        """`record` just went live but its version was rejected meanwhile: queue its rollback."""
        state = self.ledger.snapshot(record.endpoint)
        rejected = state.get(record.deployment_id) or replace(record, status=DeploymentStatus.SUCCEEDED)
        planned = self._plan_rollback(
            project, state, rejected, package, f"rejected-while-deploying:{record.deployment_id}"
        )
        if isinstance(planned, Outcome):
            return planned  # queued already (by the rejection), or nothing to roll back to
        why = f"v{record.version} was rejected while it was being deployed"
        queued, _ = self.ledger.add(replace(planned, failure_reason=why))
        logger.warning(
            "rejected version went live: rollback queued",
            extra={"endpoint": record.endpoint, "deployment_id": queued.deployment_id, "version": queued.version},
        )
        return Outcome("queued", queued.deployment_id, queued.version, why)

    def _start_next(
        self, project: Project, endpoint: str, description: dict[str, Any] | None, *, recheck: bool = True
    ) -> Outcome | None:
        """Start the newest queued deployment; older ones (and any no newer than live) are superseded.

        A rollback is started only while the deployment it undoes is the live one.
        """
        queued = newest_first(self.ledger.queued(endpoint))
        if not queued:
            return None
        live = self.ledger.live(endpoint)
        chosen: Deployment | None = None
        for record in queued:
            if chosen is not None:
                self._supersede_queued(project, record, f"v{chosen.version} was approved later")
            elif record.kind == "rollback":
                if live is not None and live.deployment_id == record.rollback_of:
                    chosen = record
                else:
                    self._supersede_queued(project, record, "the rejected version is no longer live")
            elif live is not None and not _is_newer(record, live):
                self._supersede_queued(project, record, f"v{live.version} is live")
            elif not is_deployable(self._describe_package(record.package_arn)):
                self._supersede_queued(project, record, "no longer Approved")
            else:
                chosen = record
        if chosen is None:
            return None
        previous = live.package_arn if live and chosen.kind == "deploy" else chosen.previous_package_arn
        return self._start(project, replace(chosen, previous_package_arn=previous), description, recheck=recheck)

    def _start_if_idle(self, project: Project, endpoint: str) -> Outcome | None:
        """Start the next queued deployment when no one holds the endpoint and it is not busy.

        Run after writing a queued record: the deployment it waited for may have been closed (and the
        queue found empty) between our read and our write, and then no event would ever start it.
        """
        state = self.ledger.snapshot(endpoint)
        if state.lock_id is not None or not state.queued:
            return None
        description = self._describe_endpoint(endpoint)
        if description is not None and description["EndpointStatus"] != "InService":
            return None  # busy (its terminal event will start the queue) or Failed (nothing can start)
        logger.info("endpoint idle after queueing: starting the next queued deployment", extra={"endpoint": endpoint})
        return self._start_next(project, endpoint, description, recheck=False)

    # --- steps -----------------------------------------------------------------------------

    def _start(
        self, project: Project, record: Deployment, description: dict[str, Any] | None, *, recheck: bool = True
    ) -> Outcome:
        self._role(project)  # bad config fails before any write
        # names of what it deploys now: a queued record may wait across a policy change
        record = self._named(project, record)
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
        log = {"endpoint": record.endpoint, "deployment_id": record.deployment_id, "version": record.version}
        rollout = _rollout_of(description, record)
        if rollout == "accepted":
            # an earlier run's UpdateEndpoint/CreateEndpoint was accepted: keep the lock, call nothing
            logger.info("update already accepted: waiting for the endpoint", extra=log)
            return Outcome("started", record.deployment_id, record.version, "update already accepted")
        if rollout == "done":
            closed = self._close(project, record, description)
            if closed.next is not None:
                return replace(closed, next=self._start_if_idle(project, record.endpoint) or closed.next)
            return closed
        try:
            accepted = self._apply(project, record, description)
        except _EndpointBusy as exc:
            self.ledger.requeue(record, str(exc))
            logger.info("endpoint busy: deployment queued", extra={**log, "reason": str(exc)})
            self._notify("queued", project, replace(record, status=DeploymentStatus.QUEUED), reason=str(exc))
            outcome = Outcome("queued", record.deployment_id, record.version, str(exc))
            started = self._start_if_idle(project, record.endpoint) if recheck else None
            return replace(outcome, next=started) if started is not None else outcome
        except _DeploymentRefused as exc:
            self.ledger.finish(record, DeploymentStatus.FAILED, str(exc))
            metrics.add_metric(name="DeploymentsFailed", unit="Count", value=1)
            logger.warning("deployment refused", extra={**log, "reason": str(exc)})
            self._notify("deploy_failed", project, replace(record, status=DeploymentStatus.FAILED), reason=str(exc))
            return Outcome("failed", record.deployment_id, record.version, str(exc))
        except _LockLost as exc:
            # closed by someone else (the tracker, a stale-lock takeover): they told people already
            logger.warning("deployment lost the endpoint lock: SageMaker not called", extra={**log, "reason": str(exc)})
            return Outcome("lock_lost", record.deployment_id, record.version, str(exc))
        except Exception:
            # transient (after botocore's retries): free the endpoint, let the event be retried
            self.ledger.requeue(record, "interrupted by an AWS error; retried")
            raise
        if accepted:
            logger.info("update already accepted: waiting for the endpoint", extra=log)
            return Outcome("started", record.deployment_id, record.version, "update already accepted")
        metrics.add_metric(name="DeploymentsStarted", unit="Count", value=1)
        logger.info("deployment started", extra={**log, "config": record.endpoint_config_name})
        if record.kind == "rollback":
            reason = f"{record.previous_package_arn} was rejected while live: rolling back to v{record.version}"
            self._notify("rolled_back", project, record, reason=reason)
        else:
            self._notify("deploy_started", project, record)
        return Outcome("started", record.deployment_id, record.version)

    def _apply(self, project: Project, record: Deployment, description: dict[str, Any] | None) -> bool:
        """Model, config, then Create/UpdateEndpoint; True when SageMaker already had the update.

        The lock is read again just before Create/UpdateEndpoint. A busy refusal of our own update
        (a retry of an accepted call: botocore's after a read timeout, or Lambda's after a crash)
        is recognised from DescribeEndpoint and counts as accepted.
        """
        policy = project.policy.deploy
        tags = [{"Key": MANAGED_BY[0], "Value": MANAGED_BY[1]}]
        self._create(
            "CreateModel",
            self.sagemaker.create_model,
            ModelName=record.model_name,
            Containers=[{"ModelPackageName": record.package_arn}],
            ExecutionRoleArn=self._role(project),
            Tags=tags,
        )
        self._create(
            "CreateEndpointConfig",
            self.sagemaker.create_endpoint_config,
            EndpointConfigName=record.endpoint_config_name,
            ProductionVariants=production_variants(policy, record.model_name),
            Tags=tags,
        )
        if description is None:
            self._check_lock(record)
            self._create(
                "CreateEndpoint",
                self.sagemaker.create_endpoint,
                EndpointName=record.endpoint,
                EndpointConfigName=record.endpoint_config_name,
                Tags=endpoint_tags(record),
            )
            return False
        alarms = rollback_alarm_names(policy, record.endpoint)
        if policy.create_alarms:
            for alarm in alarm_definitions(record.endpoint, policy.variant_name):
                self._aws("cloudwatch:PutMetricAlarm", self.cloudwatch.put_metric_alarm, **alarm)
        self._check_lock(record)
        try:
            self._aws(
                "UpdateEndpoint",
                self.sagemaker.update_endpoint,
                EndpointName=record.endpoint,
                EndpointConfigName=record.endpoint_config_name,
                DeploymentConfig=deployment_config(policy, alarms),
            )
        except _EndpointBusy:
            if _rollout_of(self._describe_endpoint(record.endpoint), record) is None:
                raise
            return True
        return False

    def _adopt(self, description: dict[str, Any]) -> None:
        """Tag an endpoint none of our deployments went live on `managed-by` (AddTags is idempotent).

        Done where the deployer first sees it, before queueing or starting: the tracker's rule
        then sees the event that ends its busy state, and every later start (by the tracker, on
        that event, or by the sweep) finds it tagged. The version tags follow on success.
        """
        arn = description.get("EndpointArn")
        if not arn:
            return
        self._aws(
            "AddTags", self.sagemaker.add_tags, ResourceArn=arn, Tags=[{"Key": MANAGED_BY[0], "Value": MANAGED_BY[1]}]
        )
        logger.info("endpoint adopted", extra={"endpoint": description.get("EndpointName"), "endpoint_arn": arn})

    def _check_lock(self, record: Deployment) -> None:
        holder = self.ledger.lock_holder(record.endpoint)
        if holder != record.deployment_id:
            raise _LockLost(f"the endpoint lock is {f'held by {holder}' if holder else 'free'}")

    def _tag_endpoint(self, description: dict[str, Any], record: Deployment) -> None:
        """Name the live version in the endpoint's tags; best effort (the ledger is the record)."""
        arn = description.get("EndpointArn")
        if not arn:
            return
        try:
            self._aws("AddTags", self.sagemaker.add_tags, ResourceArn=arn, Tags=endpoint_tags(record))
        except AwsOperationError as exc:
            metrics.add_metric(name="EndpointTagFailures", unit="Count", value=1)
            logger.warning(
                "endpoint tags not updated",
                extra={"endpoint": record.endpoint, "deployment_id": record.deployment_id, "reason": str(exc)},
            )

    def _queue(
        self, project: Project, record: Deployment, why: str, *, notify: bool = True, recheck: bool = True
    ) -> Outcome:
        """Write `record` queued; then start the queue if the endpoint turned out idle meanwhile."""
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
        outcome = Outcome("queued", queued.deployment_id, queued.version, why)
        started = self._start_if_idle(project, record.endpoint) if recheck else None
        return replace(outcome, next=started) if started is not None else outcome

    def _supersede(self, project: Project, record: Deployment, why: str) -> Outcome:
        superseded, created = self.ledger.add(replace(record, status=DeploymentStatus.SUPERSEDED, failure_reason=why))
        logger.info(
            "approval superseded",
            extra={"endpoint": record.endpoint, "version": record.version, "reason": why},
        )
        if created:
            metrics.add_metric(name="DeploymentsSuperseded", unit="Count", value=1)
            self._notify("superseded", project, superseded, reason=why)
        return Outcome("superseded", superseded.deployment_id, superseded.version, why)

    def _supersede_queued(self, project: Project, record: Deployment, why: str) -> None:
        if self.ledger.transition(
            record, DeploymentStatus.SUPERSEDED, expected=DeploymentStatus.QUEUED, failure_reason=why
        ):
            logger.info("queued deployment superseded", extra={"deployment_id": record.deployment_id, "reason": why})
            self._notify("superseded", project, replace(record, status=DeploymentStatus.SUPERSEDED), reason=why)

    def _rollback_target(self, state: EndpointSnapshot, rejected_arn: str) -> Deployment | None:
        """The last succeeded deployment before the live one that is of another, still approved version."""
        seen: set[str] = {rejected_arn}
        for candidate in succeeded_of(state.records):
            if candidate.package_arn in seen:
                continue
            seen.add(candidate.package_arn)
            package = self._describe_package(candidate.package_arn)
            if candidate.package_created and package_created_of(package) != candidate.package_created:
                continue  # the group was recreated: that ARN is another version now
            if package.get("ModelApprovalStatus") == APPROVED:
                return candidate
        return None

    def _record(self, project: Project, package: dict[str, Any], trigger: str) -> Deployment:
        arn, version = package["ModelPackageArn"], int(package["ModelPackageVersion"])
        endpoint = project.endpoint_name
        record = Deployment(
            deployment_id=deployment_id_for(endpoint, arn, trigger),
            endpoint=endpoint,
            group=project.group_name,
            version=version,
            package_arn=arn,
            model_name="",
            endpoint_config_name="",
            strategy=project.policy.deploy.strategy,
            approver=self._actor(package),
            approval_description=package.get("ApprovalDescription"),
            package_created=package_created_of(package),
        )
        return self._named(project, record)

    def _named(self, project: Project, record: Deployment) -> Deployment:
        """`record` with the model and config names of what it deploys now (package, role, policy).

        Run when a record is made and again when it starts, so a queued approval deploys the policy
        in force when it starts under names that say so. A started record keeps its names: a retry
        meets the same resources.
        """
        role = project.policy.deploy.execution_role_arn or self.execution_role_arn
        model = model_name_for(
            project.group_name, record.version, record.package_arn, record.package_created or "", role
        )
        variants = production_variants(project.policy.deploy, model)
        config = endpoint_config_name_for(record.endpoint, record.version, variants)
        return replace(record, model_name=model, endpoint_config_name=config)

    def _role(self, project: Project) -> str:
        role = project.policy.deploy.execution_role_arn or self.execution_role_arn
        if not role:
            raise ConfigError(
                f"projects.{project.group_name}.deploy.execution_role_arn",
                "",
                f"no SageMaker execution role: set it in policy.toml or {EXECUTION_ROLE_ENV}",
            )
        return role

    @property
    def cloudwatch(self) -> Any:
        if self._cloudwatch is None:
            self._cloudwatch = aws.client("cloudwatch")
        return self._cloudwatch

    # --- AWS calls -------------------------------------------------------------------------

    def _describe_endpoint(self, endpoint: str) -> dict[str, Any] | None:
        try:
            return dict(self.sagemaker.describe_endpoint(EndpointName=endpoint))
        except ClientError as exc:
            if aws.is_not_found(exc):
                return None
            raise aws.as_operation_error("DescribeEndpoint", exc) from exc
        except BotoCoreError as exc:
            raise aws.as_operation_error("DescribeEndpoint", exc) from exc

    def describe_package(self, arn: str) -> dict[str, Any]:
        """The version now (DescribeModelPackage); a deleted one says `ModelPackageStatus: Deleted`."""
        return self._describe_package(arn)

    def _describe_package(self, arn: str) -> dict[str, Any]:
        """The version now; a deleted one (no approval, no status) is never deployable."""
        try:
            return dict(self._aws("DescribeModelPackage", self.sagemaker.describe_model_package, ModelPackageName=arn))
        except _DeploymentRefused as exc:
            # a ValidationException on a read: "does not exist" means deleted after the event;
            # anything else escapes typed (found by fuzzing: it used to escape as _DeploymentRefused)
            if any(phrase in str(exc).lower() for phrase in ("does not exist", "not found", "could not find")):
                return {"ModelPackageArn": arn, "ModelPackageStatus": "Deleted"}
            raise AwsOperationError("DescribeModelPackage", "ValidationException", str(exc)) from None

    def _create(self, operation: str, method: Any, **kwargs: Any) -> None:
        """A create that already happened (a retry after a crash) counts as done."""
        try:
            self._aws(operation, method, **kwargs)
        except _AlreadyExists:
            logger.info("already exists: reusing it", extra={"operation": operation})

    @staticmethod
    def _aws(operation: str, method: Any, **kwargs: Any) -> Any:
        try:
            return method(**kwargs)
        except ClientError as exc:
            code, message = aws.error_code(exc), aws.error_message(exc)
            lowered = message.lower()
            if code in {"ValidationException", "ValidationError"}:
                if "already exist" in lowered:
                    raise _AlreadyExists(operation, code, message) from None
                if "in-progress" in lowered or "in progress" in lowered:
                    raise _EndpointBusy(operation, code, message) from None
                raise _DeploymentRefused(operation, code, message) from None
            if code == "ResourceLimitExceeded":
                raise _DeploymentRefused(operation, code, message) from None
            raise aws.as_operation_error(operation, exc) from exc
        except BotoCoreError as exc:
            raise aws.as_operation_error(operation, exc) from exc

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
        from registry_workflow.notifications import Notification, notify

        notification = Notification(
            kind=kind,
            group=record.group,
            package_arn=record.package_arn,
            status=status or _STATUS_TEXT.get(kind, str(record.status)),
            version=record.version,
            actor=actor or record.approver,
            reason=reason or record.failure_reason,
            endpoint=record.endpoint,
            region=self.sagemaker.meta.region_name,
        )
        try:
            (self._notifier or notify)(notification, project, deadline=self.deadline)
            metrics.add_metric(name="NotificationsSent", unit="Count", value=1)
        except Exception:  # noqa: BLE001 - a lost message must not undo a deployment already under way
            metrics.add_metric(name="NotificationFailures", unit="Count", value=1)
            logger.exception("notification failed", extra={"kind": kind, "deployment_id": record.deployment_id})


def _is_newer(candidate: Deployment, than: Deployment) -> bool:
    """Whether `candidate`'s version came after `than`'s.

    By creation time when both are known: versions restart at 1 when a group is recreated
    (cleanup, then provision), and an old group's v3 is not newer than the new group's v1.
    """
    if candidate.package_created and than.package_created:
        return _parse_iso(candidate.package_created) > _parse_iso(than.package_created)
    return candidate.version > than.version


def _parse_iso(timestamp: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(timestamp)
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _parse_ledger_time(timestamp: str | None) -> datetime | None:
    """A ledger timestamp ("2025-01-01T00:00:00.000000Z") as an aware UTC datetime; None if absent."""
    try:
        return datetime.strptime(timestamp or "", "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    except ValueError:
        return None


def _age_seconds(timestamp: str | None) -> float:
    """Seconds since a ledger timestamp; 0 when there is none (never stale by age)."""
    then = _parse_ledger_time(timestamp)
    return 0.0 if then is None else (datetime.now(UTC) - then).total_seconds()


def _modified_since_start(description: dict[str, Any], record: Deployment) -> bool:
    """Whether the endpoint changed after `record` started (strictly), so its state can close it.

    An endpoint event that predates the deployment (late, redelivered, retried) describes an
    endpoint nobody has asked to change yet. Unknown times keep the old rule (conclude).
    """
    modified, started = description.get("LastModifiedTime"), _parse_ledger_time(record.started_at)
    if not isinstance(modified, datetime) or started is None:
        return True
    if modified.tzinfo is None:
        modified = modified.replace(tzinfo=UTC)
    return modified > started


def _rollout_of(description: dict[str, Any] | None, record: Deployment) -> str | None:
    """What SageMaker is doing with `record`'s config: "accepted" (rolling it out), "done" (runs it), or None.

    An update is accepted once `PendingDeploymentSummary` (or, while Creating, the endpoint)
    names the config; it is done when the endpoint is InService on it with nothing pending.
    """
    if not description:
        return None
    ours = record.endpoint_config_name
    pending = (description.get("PendingDeploymentSummary") or {}).get("EndpointConfigName")
    if pending == ours:
        return "accepted"
    if pending or description.get("EndpointConfigName") != ours:
        return None
    status = description.get("EndpointStatus")
    if status == "InService":
        return "done"
    return "accepted" if status in BUSY else None


#: the status line people read (the notification's title is "<group> v<n>: <status>")
_STATUS_TEXT = {
    "deploy_started": "deploying",
    "deploy_succeeded": "live",
    "deploy_failed": "deployment failed",
    "rolled_back": "rolling back",
    "superseded": "superseded",
    "queued": "queued",
}

"""The deployment core: (ledger state, endpoint state, facts about the version) → a decision.

Pure functions, no AWS: each returns a `Decision` that `service.DeploymentService` carries out
with `sagemaker.Endpoints` (SageMaker and CloudWatch calls) and the ledger's conditional writes.
Facts the caller must read from AWS come in as values (the endpoint's description, whether the
version is deployable now) or, where only some are needed, as a lookup the caller answers
(`next_in_queue`, `rollback_target`): the core asks, it never calls.

Every (state, event) pair is tested table-driven in tests/unit/test_deployment_decisions.py.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from registry_workflow.deployment.resources import package_created_of
from registry_workflow.gate import APPROVED
from registry_workflow.ledger import Deployment, DeploymentStatus, EndpointSnapshot, newest_first, succeeded_of

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

#: DescribeEndpoint states in which an update is refused ("Cannot update in-progress endpoint")
BUSY = frozenset({"Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting"})
#: states an endpoint event can close a deployment on
TERMINAL = frozenset({"InService", "Failed", "UpdateRollbackFailed", "OutOfService"})
COMPLETED = "Completed"
#: the longest a Lambda invocation runs: a lock older than the rollout timeout plus this is stale
STALE_LOCK_MARGIN_SECONDS = 900
#: ModelLifeCycle.StageStatus values: asked for by a person (promotion), written by the workflow
STAGE_APPROVED = "Approved"
STAGE_DEPLOYED = "Deployed"
#: written when a promotion of a version live in no stage is refused (it is nowhere to go back to)
STAGE_REFUSED = "Refused"
#: written when a version rejected while live in a stage was rolled back there
STAGE_ROLLED_BACK = "RolledBack"
#: written when a rejected version's endpoint was deleted (nothing to fall back to)
STAGE_RETIRED = "Retired"


@dataclass(frozen=True)
class Decision:
    """What to do. `action` names it; `record` is the deployment it is about (as it should be written)."""

    action: str
    record: Deployment | None = None
    why: str = ""
    #: tag the endpoint `managed-by` before acting (one none of our deployments went live on)
    adopt: bool = False
    #: queued deployments of the rejected version to drop (superseded) first
    drop: tuple[Deployment, ...] = ()
    #: tell people (a rollback with nothing to roll back to, when the rejected version is live)
    notify: bool = False


# --- facts read from SageMaker's answers ----------------------------------------------------------


def is_deployable(package: dict[str, Any], stage_name: str | None = None) -> bool:
    """Approved and Completed now (DescribeModelPackage), whatever the event said.

    For a stage after the first (`stage_name`), the version's `ModelLifeCycle.Stage` must name it
    too: a promotion there was asked for and not withdrawn or refused.
    """
    if package.get("ModelApprovalStatus") != APPROVED or package.get("ModelPackageStatus") != COMPLETED:
        return False
    return stage_name is None or (package.get("ModelLifeCycle") or {}).get("Stage") == stage_name


def status_of(description: dict[str, Any] | None) -> str:
    return description["EndpointStatus"] if description else "Deleted"


def is_busy(description: dict[str, Any] | None) -> bool:
    return bool(description) and status_of(description) in BUSY


def rollout_of(description: dict[str, Any] | None, record: Deployment) -> str | None:
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


def modified_since_start(description: dict[str, Any], record: Deployment) -> bool:
    """Whether the endpoint changed after `record` started (strictly), so its state can close it.

    An endpoint event that predates the deployment (late, redelivered, retried) describes an
    endpoint nobody has asked to change yet. Unknown times keep the old rule (conclude).
    """
    modified, started = description.get("LastModifiedTime"), parse_ledger_time(record.started_at)
    if not isinstance(modified, datetime) or started is None:
        return True
    if modified.tzinfo is None:
        modified = modified.replace(tzinfo=UTC)
    return modified > started


def is_newer(candidate: Deployment, than: Deployment) -> bool:
    """Whether `candidate`'s version came after `than`'s.

    By creation time when both are known: versions restart at 1 when a group is recreated
    (cleanup, then provision), and an old group's v3 is not newer than the new group's v1.
    """
    if candidate.package_created and than.package_created:
        return _parse_iso(candidate.package_created) > _parse_iso(than.package_created)
    return candidate.version > than.version


# --- approvals ------------------------------------------------------------------------------------


def on_approval(state: EndpointSnapshot, record: Deployment, *, deployable: bool, lock_checked: bool) -> Decision:
    """An approval, before the endpoint is read: stale, duplicate, resume, check_lock, already_live, supersede, place.

    `check_lock`: another deployment holds the endpoint; the caller frees it if stale and asks
    again with `lock_checked=True`. `place`: the endpoint decides (`place`).
    """
    if not deployable:
        return Decision("stale", record, "the version is not Approved and Completed now")
    existing = state.get(record.deployment_id)
    if existing is not None and existing.is_finished:
        return Decision("duplicate", existing, f"already {existing.status}")
    record = existing or record
    inflight, live = state.in_progress, state.live
    if inflight is not None and inflight.deployment_id == record.deployment_id:
        return Decision("resume", inflight)  # a retry after a crash: carry on where it stopped
    if inflight is not None and not lock_checked:
        return Decision("check_lock", inflight)
    record = replace(record, previous_package_arn=live.package_arn if live else None)
    if inflight is not None and inflight.package_arn == record.package_arn:
        return Decision("duplicate", inflight, "this version is being deployed")
    if live is not None and live.endpoint_config_name == record.endpoint_config_name and inflight is None:
        return Decision("already_live", live)  # the very deployment this approval would make
    newer = next((d for d in (live, inflight) if d is not None and is_newer(d, record)), None)
    if newer is not None:
        return Decision("supersede", record, f"v{newer.version} is newer ({newer.status} on {record.endpoint})")
    return Decision("place", record)


def place(state: EndpointSnapshot, record: Deployment, description: dict[str, Any] | None) -> Decision:
    """Start `record` now, or queue it behind what holds or busies the endpoint (adopting a foreign endpoint)."""
    inflight = state.in_progress
    adopt = description is not None and state.live is None and inflight is None
    if inflight is not None:
        why = f"deployment {inflight.deployment_id} (v{inflight.version}) is in progress"
        return Decision("queue", record, why, adopt=adopt)
    if is_busy(description):
        return Decision("queue", record, f"endpoint is {status_of(description)}", adopt=adopt)
    return Decision("start", record, adopt=adopt)


# --- rejections -----------------------------------------------------------------------------------


def on_rejection(state: EndpointSnapshot, package_arn: str, *, rejected_now: bool, lock_checked: bool) -> Decision:
    """A rejection: stale, not_live, check_lock, or roll_back (of the live or in-flight deployment of it).

    Queued deployments of the version are dropped whatever follows (`drop`).
    """
    if not rejected_now:
        return Decision("stale", why="the version is not Rejected now")
    drop = tuple(d for d in state.queued if d.package_arn == package_arn)
    live, inflight = state.live, state.in_progress
    if inflight is not None and inflight.package_arn == package_arn:
        rejected = inflight
    elif live is not None and live.package_arn == package_arn:
        rejected = live
    else:
        return Decision("not_live", drop=drop, why="the rejected version is not live here")
    if inflight is not None and not lock_checked:
        return Decision("check_lock", inflight, drop=drop)
    return Decision("roll_back", rejected, drop=drop)


def rollback_candidates(state: EndpointSnapshot, rejected_arn: str) -> list[Deployment]:
    """Succeeded deployments of other versions, the last live first, one per version."""
    seen: set[str] = {rejected_arn}
    found: list[Deployment] = []
    for candidate in succeeded_of(state.records):
        if candidate.package_arn not in seen:
            seen.add(candidate.package_arn)
            found.append(candidate)
    return found


def rollback_target(
    state: EndpointSnapshot, rejected_arn: str, still_approved: Callable[[Deployment], bool]
) -> Deployment | None:
    """The last succeeded deployment of another version that is still approved (the caller answers)."""
    return next((c for c in rollback_candidates(state, rejected_arn) if still_approved(c)), None)


def plan_rollback(
    state: EndpointSnapshot,
    rejected: Deployment,
    target: Deployment | None,
    rollback: Deployment | None,
    description: dict[str, Any] | None,
    *,
    without_fallback: str = "keep",
) -> Decision:
    """How to undo `rejected`: duplicate, no_rollback_target, retire, queue or start `rollback` (built from `target`).

    With nothing to roll back to, a live rejected version keeps serving (`without_fallback` "keep",
    people are told), or its endpoint is deleted ("delete": `retire`) when no other deployment
    holds the endpoint (one that does replaces the rejected version anyway).
    """
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
        return Decision("duplicate", existing, f"rollback already {existing.status}")
    if target is None or rollback is None:
        if rejected.status != DeploymentStatus.SUCCEEDED:
            # still being deployed: it may never go live; the tracker decides (and tells) when it does
            why = "rejected while being deployed: nothing to roll back to if it goes live"
            return Decision("no_rollback_target", rejected, why)
        why = "rejected version is live and no earlier succeeded, still approved version exists"
        queued = newest_first(d for d in state.queued if d.kind == "deploy")
        if queued:  # an approval waits for the endpoint: it replaces the rejected version next
            return Decision("no_rollback_target", rejected, f"{why}; v{queued[0].version}, queued, replaces it next")
        if without_fallback == "delete" and state.in_progress is None:
            return Decision("retire", rejected, f"{why}: endpoint deleted (on_reject_without_fallback = delete)")
        return Decision("no_rollback_target", rejected, why, notify=True)
    duplicate = state.get(rollback.deployment_id)
    if duplicate is not None:
        return Decision("duplicate", duplicate, f"rollback already {duplicate.status}")
    inflight = state.in_progress
    if inflight is not None and inflight.deployment_id == rejected.deployment_id:
        why = f"v{rejected.version} is being deployed ({rejected.deployment_id}): rollback queued until it ends"
        return Decision("queue", rollback, why)
    if inflight is not None or is_busy(description):
        return Decision("queue", rollback, "endpoint busy; rollback queued")
    return Decision("start", rollback)


# --- endpoint states ------------------------------------------------------------------------------


def on_endpoint_state(description: dict[str, Any] | None, inflight: Deployment | None) -> Decision:
    """An endpoint event: not_terminal, predates_deployment, close (the in-flight deployment), or nothing_in_progress.

    A state that is not the deployment's config concludes a failure only when the endpoint was
    modified after the deployment started: an older event says nothing about it.
    """
    status = status_of(description)
    if description is not None and status not in TERMINAL:
        return Decision("not_terminal", inflight, status)  # older than the endpoint's state: a newer event follows
    if inflight is None:
        return Decision("nothing_in_progress", why=status)
    if inflight.kind == "retire":  # closed once the endpoint is gone; an event of it still there is older
        if description is None:
            return Decision("close", inflight)
        return Decision("predates_deployment", inflight, f"endpoint {status}: its deletion is still to come")
    if rollout_of(description, inflight) != "done" and (
        description is None or not modified_since_start(description, inflight)
    ):
        why = (
            f"endpoint {status}, last modified before {inflight.deployment_id} started"
            if description is not None
            else "endpoint not found: nothing to conclude about the deployment"
        )
        return Decision("predates_deployment", inflight, why)
    return Decision("close", inflight)


def close_verdict(description: dict[str, Any] | None, record: Deployment) -> tuple[bool, str]:
    """(succeeded, why not): succeeded only when the endpoint is InService on the deployment's config."""
    status = status_of(description)
    actual = description.get("EndpointConfigName") if description else None
    if record.kind == "retire":  # done once the endpoint is gone (or going)
        return (status in {"Deleted", "Deleting"}), f"endpoint is {status}, not deleted"
    if status == "InService" and actual == record.endpoint_config_name:
        return True, ""
    reason = (description or {}).get("FailureReason") or (
        f"endpoint is {status} on {actual}, not {record.endpoint_config_name}"
        if status == "InService"
        else f"endpoint is {status}"
    )
    return False, reason


def stale_lock(
    description: dict[str, Any] | None, inflight: Deployment, timeout_seconds: int, now: datetime | None = None
) -> bool:
    """Whether no run will close `inflight`'s lock: the endpoint runs its config, or is idle past the timeout.

    A run that crashed between taking the lock and SageMaker (its event dead-lettered) leaves the
    lock held with no endpoint event to come. Busy endpoints are never stale (their event follows).
    """
    status = status_of(description)
    if status in BUSY:
        return False
    done = close_verdict(description, inflight)[0]
    limit = timeout_seconds + STALE_LOCK_MARGIN_SECONDS
    return done or age_seconds(inflight.started_at or inflight.created_at, now) >= limit


def next_in_queue(
    queued: Iterable[Deployment], live: Deployment | None, why_not: Callable[[Deployment], str | None]
) -> tuple[Deployment | None, list[tuple[Deployment, str]]]:
    """The queued deployment to start (the newest that may go), and the ones to supersede (with why).

    A rollback goes only while the deployment it undoes is live; a deployment only when newer than
    live and still deployable (`why_not` says why not, or None; asked lazily, in order, as needed).
    """
    chosen: Deployment | None = None
    dropped: list[tuple[Deployment, str]] = []
    for record in newest_first(queued):
        if chosen is not None:
            dropped.append((record, f"v{chosen.version} was approved later"))
        elif record.kind == "rollback":
            if live is not None and live.deployment_id == record.rollback_of:
                chosen = record
            else:
                dropped.append((record, "the rejected version is no longer live"))
        elif live is not None and not is_newer(record, live):
            dropped.append((record, f"v{live.version} is live"))
        elif (why := why_not(record)) is not None:
            dropped.append((record, why))
        else:
            chosen = record
    if chosen is not None:
        previous = live.package_arn if live and chosen.kind == "deploy" else chosen.previous_package_arn
        chosen = replace(chosen, previous_package_arn=previous)
    return chosen, dropped


# --- staged promotion -----------------------------------------------------------------------------


@dataclass(frozen=True)
class StageView:
    """What the promotion decision needs of one stage: its name, soak, and the deployment live there."""

    name: str
    soak_minutes: int
    live: Deployment | None
    #: alarms of the stage in ALARM now or at any time since `live` went live there (names)
    alarming: tuple[str, ...] = ()


def on_promotion(
    stages: list[StageView], package: dict[str, Any], now: datetime | None = None
) -> tuple[int | None, str]:
    """(index of the stage to deploy to, "") or (None, why the promotion is refused).

    Asked by `ModelLifeCycle = {Stage: <stage>, StageStatus: Approved}`. The version must be
    Approved, the stage known and not the first, the version live in the stage before it for
    that stage's `soak_minutes`, with none of that stage's alarms in ALARM since it went live there.
    """
    lifecycle = package.get("ModelLifeCycle") or {}
    wanted, arn = lifecycle.get("Stage"), package.get("ModelPackageArn")
    names = [s.name for s in stages]
    if wanted not in names:
        return None, f'unknown stage "{wanted}" (stages: {", ".join(names)})'
    index = names.index(wanted)
    if index == 0:
        return None, f'"{wanted}" is the first stage: a version goes there when it is approved'
    if package.get("ModelApprovalStatus") != APPROVED:
        return None, f"the version is {package.get('ModelApprovalStatus') or 'not approved'}, not Approved"
    previous = stages[index - 1]
    created = package_created_of(package)
    elsewhere = previous.live is not None and bool(
        created and previous.live.package_created and previous.live.package_created != created
    )  # the stage before serves another version under this ARN (a recreated group's): not this one
    if previous.live is None or previous.live.package_arn != arn or elsewhere:
        furthest = next((s.name for s in reversed(stages) if s.live is not None and s.live.package_arn == arn), None)
        where = f"it is live in {furthest}" if furthest else "it is live in no stage"
        return None, f"out of order: {wanted} takes a version live in {previous.name}; {where}"
    served = age_seconds(previous.live.finished_at, now)
    if served < previous.soak_minutes * 60:
        left = previous.soak_minutes * 60 - served
        return None, (
            f"soaking: {previous.name} needs {previous.soak_minutes} min of service before {wanted}; "
            f"{_minutes(left)} left"
        )
    if previous.alarming:
        return None, f"{previous.name} alarms in ALARM while it served there: {', '.join(previous.alarming)}"
    return index, ""


def lifecycle_stage(package: dict[str, Any]) -> tuple[str | None, str | None]:
    lifecycle = package.get("ModelLifeCycle") or {}
    return lifecycle.get("Stage"), lifecycle.get("StageStatus")


def should_mark_deployed(package: dict[str, Any], stage_names: list[str], stage: str) -> bool:
    """Whether going live in `stage` moves the version's ModelLifeCycle there (never backwards, never twice)."""
    current, status = lifecycle_stage(package)
    if current not in stage_names or status == STAGE_REFUSED:  # a refused request says where it is not
        return True
    if (current, status) == (stage, STAGE_DEPLOYED):
        return False
    return stage_names.index(current) <= stage_names.index(stage)


# --- time -----------------------------------------------------------------------------------------


def parse_ledger_time(timestamp: str | None) -> datetime | None:
    """A ledger timestamp ("2025-01-01T00:00:00.000000Z") as an aware UTC datetime; None if absent."""
    try:
        return datetime.strptime(timestamp or "", "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    except ValueError:
        return None


def age_seconds(timestamp: str | None, now: datetime | None = None) -> float:
    """Seconds since a ledger timestamp; 0 when there is none (never stale by age)."""
    then = parse_ledger_time(timestamp)
    return 0.0 if then is None else ((now or datetime.now(UTC)) - then).total_seconds()


def _parse_iso(timestamp: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(timestamp)
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _minutes(seconds: float) -> str:
    minutes, rest = divmod(max(0, int(seconds + 0.999)), 60)
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"

"""The deployment core, table-driven: every (ledger state, event) pair → the decision.

No AWS and no moto: `registry_workflow.deployment.decisions` is pure. The integration and e2e
suites test that `DeploymentService` carries each decision out against SageMaker (moto, twin).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from registry_workflow.deployment import decisions
from registry_workflow.deployment.decisions import StageView
from registry_workflow.ledger import Deployment, DeploymentStatus, EndpointSnapshot

ENDPOINT = "ml-churn-staging"
NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
S = DeploymentStatus


def _ledger_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def dep(
    version: int, status: S = S.SUCCEEDED, *, did: str | None = None, kind: str = "deploy", **kw: Any
) -> Deployment:
    created = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=version)
    return Deployment(
        deployment_id=did or f"d-v{version}-{status}",
        endpoint=ENDPOINT,
        group="ml-churn",
        version=version,
        package_arn=f"arn:aws:sagemaker:ap-northeast-1:111122223333:model-package/ml-churn/{version}",
        model_name=f"ml-churn-v{version}-m",
        endpoint_config_name=f"{ENDPOINT}-v{version}-c",
        strategy="all-at-once",
        status=status,
        kind=kind,
        package_created=created.isoformat(),
        created_at=_ledger_time(NOW - timedelta(hours=10 - version)),
        finished_at=_ledger_time(NOW - timedelta(hours=10 - version)) if status != S.QUEUED else None,
        started_at=_ledger_time(NOW - timedelta(minutes=5)) if status == S.IN_PROGRESS else None,
        **kw,
    )


def snap(*records: Deployment) -> EndpointSnapshot:
    lock = next((r.deployment_id for r in records if r.status == S.IN_PROGRESS), None)
    return EndpointSnapshot(tuple(records), lock)


#: the approval of v2 (the event's record)
V2 = dep(2, S.QUEUED, did="d-approval-v2")

# --- approvals: (ledger state, deployable, lock checked) → action ----------------------------------

APPROVAL_STATES = {
    "empty": snap(),
    "older live": snap(dep(1)),
    "same config live": snap(replace(dep(2), deployment_id="d-earlier-v2")),
    "newer live": snap(dep(3)),
    "older in flight": snap(dep(1, S.IN_PROGRESS)),
    "same version in flight": snap(dep(2, S.IN_PROGRESS)),
    "this very deployment in flight": snap(replace(V2, status=S.IN_PROGRESS, started_at=_ledger_time(NOW))),
    "newer in flight": snap(dep(1), dep(3, S.IN_PROGRESS)),
    "this deployment finished": snap(replace(V2, status=S.SUCCEEDED)),
    "this deployment failed": snap(replace(V2, status=S.FAILED)),
    "this approval queued": snap(dep(1), dep(9, S.IN_PROGRESS), V2),
}

APPROVAL_TABLE = [
    # state, deployable, lock_checked, expected
    *[(state, False, checked, "stale") for state in APPROVAL_STATES for checked in (False, True)],
    ("empty", True, False, "place"),
    ("older live", True, False, "place"),
    ("same config live", True, False, "already_live"),
    ("newer live", True, False, "supersede"),
    ("older in flight", True, False, "check_lock"),
    ("older in flight", True, True, "place"),
    ("same version in flight", True, False, "check_lock"),
    ("same version in flight", True, True, "duplicate"),
    ("this very deployment in flight", True, False, "resume"),
    ("this very deployment in flight", True, True, "resume"),
    ("newer in flight", True, False, "check_lock"),
    ("newer in flight", True, True, "supersede"),
    ("this deployment finished", True, False, "duplicate"),
    ("this deployment failed", True, False, "duplicate"),
    ("this approval queued", True, False, "check_lock"),
    ("this approval queued", True, True, "supersede"),  # v9 in flight is newer than v2
]


@pytest.mark.parametrize(("state", "deployable", "lock_checked", "expected"), APPROVAL_TABLE)
def test_an_approval_in_every_ledger_state(state: str, deployable: bool, lock_checked: bool, expected: str) -> None:
    decision = decisions.on_approval(APPROVAL_STATES[state], V2, deployable=deployable, lock_checked=lock_checked)
    assert decision.action == expected


def test_every_approval_state_is_in_the_table() -> None:
    covered = {(s, d) for s, d, _, _ in APPROVAL_TABLE}
    assert covered == {(s, d) for s in APPROVAL_STATES for d in (False, True)}


def test_an_approval_remembers_what_it_replaces_and_a_queued_one_keeps_its_record() -> None:
    placed = decisions.on_approval(APPROVAL_STATES["older live"], V2, deployable=True, lock_checked=False)
    assert placed.record is not None
    assert placed.record.previous_package_arn == dep(1).package_arn
    superseded = decisions.on_approval(APPROVAL_STATES["newer live"], V2, deployable=True, lock_checked=False)
    assert superseded.why.startswith("v3 is newer")


def test_newer_means_created_later_not_a_higher_number() -> None:
    # the group was recreated: the new group's v1 is newer than the old group's v3
    old_v3 = dep(3)
    new_v1 = replace(dep(1), package_created=(datetime(2026, 6, 1, tzinfo=UTC)).isoformat())
    assert decisions.is_newer(new_v1, old_v3)
    assert not decisions.is_newer(replace(new_v1, package_created=None), old_v3)


# --- placing: (ledger state, endpoint) → start | queue, adopt ---------------------------------------

ENDPOINTS: dict[str, dict[str, Any] | None] = {
    "no endpoint": None,
    "in service": {"EndpointStatus": "InService", "EndpointConfigName": "other", "EndpointArn": "arn:e"},
    "updating": {"EndpointStatus": "Updating", "EndpointConfigName": "other", "EndpointArn": "arn:e"},
    "failed": {"EndpointStatus": "Failed", "EndpointConfigName": "other", "EndpointArn": "arn:e"},
}

PLACE_TABLE = [
    # state, endpoint, expected action, adopt
    ("empty", "no endpoint", "start", False),
    ("empty", "in service", "start", True),  # made elsewhere: adopted
    ("empty", "updating", "queue", True),
    ("empty", "failed", "start", True),  # SageMaker refuses it; the refusal is recorded
    ("older live", "no endpoint", "start", False),
    ("older live", "in service", "start", False),
    ("older live", "updating", "queue", False),
    ("older live", "failed", "start", False),
    ("older in flight", "no endpoint", "queue", False),
    ("older in flight", "in service", "queue", False),
    ("older in flight", "updating", "queue", False),
    ("older in flight", "failed", "queue", False),
]


@pytest.mark.parametrize(("state", "endpoint", "expected", "adopt"), PLACE_TABLE)
def test_placing_an_approval_on_every_endpoint_state(state: str, endpoint: str, expected: str, adopt: bool) -> None:
    decision = decisions.place(APPROVAL_STATES[state], V2, ENDPOINTS[endpoint])
    assert (decision.action, decision.adopt) == (expected, adopt)


# --- rejections: (ledger state, rejected now, lock checked) → action ---------------------------------

REJECTED = dep(2).package_arn
REJECTION_STATES = {
    "empty": snap(),
    "rejected version live": snap(dep(1), dep(2)),
    "other version live": snap(dep(1)),
    "rejected version in flight": snap(dep(1), dep(2, S.IN_PROGRESS)),
    "other version in flight, rejected live": snap(dep(2), dep(3, S.IN_PROGRESS)),
    "rejected version queued": snap(dep(1), dep(3, S.IN_PROGRESS), dep(2, S.QUEUED)),
}

REJECTION_TABLE = [
    *[(state, False, checked, "stale") for state in REJECTION_STATES for checked in (False, True)],
    ("empty", True, False, "not_live"),
    ("rejected version live", True, False, "roll_back"),
    ("other version live", True, False, "not_live"),
    ("rejected version in flight", True, False, "check_lock"),
    ("rejected version in flight", True, True, "roll_back"),
    ("other version in flight, rejected live", True, False, "check_lock"),
    ("other version in flight, rejected live", True, True, "roll_back"),
    ("rejected version queued", True, False, "not_live"),
]


@pytest.mark.parametrize(("state", "rejected_now", "lock_checked", "expected"), REJECTION_TABLE)
def test_a_rejection_in_every_ledger_state(state: str, rejected_now: bool, lock_checked: bool, expected: str) -> None:
    decision = decisions.on_rejection(
        REJECTION_STATES[state], REJECTED, rejected_now=rejected_now, lock_checked=lock_checked
    )
    assert decision.action == expected


def test_every_rejection_state_is_in_the_table() -> None:
    assert {(s, r) for s, r, _, _ in REJECTION_TABLE} == {(s, r) for s in REJECTION_STATES for r in (False, True)}


def test_a_rejection_drops_the_queued_deployments_of_the_version() -> None:
    decision = decisions.on_rejection(
        REJECTION_STATES["rejected version queued"], REJECTED, rejected_now=True, lock_checked=True
    )
    assert [d.version for d in decision.drop] == [2]


ROLLBACK = replace(dep(1), deployment_id="d-rollback", status=S.QUEUED, kind="rollback")


@pytest.mark.parametrize(
    ("records", "target", "endpoint", "expected", "notify"),
    [
        ((dep(2),), None, "in service", "no_rollback_target", True),  # live, nothing earlier: people told
        ((dep(2, S.IN_PROGRESS),), None, "updating", "no_rollback_target", False),  # may never go live
        ((dep(1), dep(2)), dep(1), "in service", "start", False),
        ((dep(1), dep(2)), dep(1), "updating", "queue", False),
        ((dep(1), dep(2, S.IN_PROGRESS)), dep(1), "updating", "queue", False),  # behind the deployment it undoes
        ((dep(1), dep(2), replace(ROLLBACK, rollback_of="d-v2-succeeded")), dep(1), "in service", "duplicate", False),
        (
            (dep(1), dep(2), replace(ROLLBACK, deployment_id="d-rb", rollback_of="x")),
            dep(1),
            "in service",
            "start",
            False,
        ),
    ],
)
def test_planning_a_rollback(
    records: tuple[Deployment, ...], target: Deployment | None, endpoint: str, expected: str, notify: bool
) -> None:
    state = snap(*records)
    rejected = next(r for r in records if r.version == 2)
    rollback = replace(ROLLBACK, rollback_of=rejected.deployment_id) if target else None
    decision = decisions.plan_rollback(state, rejected, target, rollback, ENDPOINTS[endpoint])
    assert (decision.action, decision.notify) == (expected, notify)


def test_the_rollback_target_is_the_last_live_other_version_still_approved() -> None:
    state = snap(dep(1), dep(3), dep(2))  # v2 (rejected) finished last, v3 before it, v1 first
    asked: list[int] = []

    def approved(candidate: Deployment) -> bool:
        asked.append(candidate.version)
        return candidate.version == 1

    assert [c.version for c in decisions.rollback_candidates(state, REJECTED)] == [3, 1]
    target = decisions.rollback_target(state, REJECTED, approved)
    assert target is not None
    assert target.version == 1
    assert asked == [3, 1]  # asked in order, and no further than needed


# --- endpoint events: (endpoint state, in flight) → action -------------------------------------------

STARTED = NOW - timedelta(minutes=5)
INFLIGHT = replace(dep(2, S.IN_PROGRESS), started_at=_ledger_time(STARTED))


def _endpoint(status: str, config: str, modified: datetime, pending: str | None = None) -> dict[str, Any]:
    found: dict[str, Any] = {"EndpointStatus": status, "EndpointConfigName": config, "LastModifiedTime": modified}
    if pending:
        found["PendingDeploymentSummary"] = {"EndpointConfigName": pending}
    return found


OURS, OTHER = INFLIGHT.endpoint_config_name, "ml-churn-staging-v1-c"
TRACK_TABLE = [
    # description, in flight, expected
    (None, None, "nothing_in_progress"),
    (None, INFLIGHT, "predates_deployment"),
    (_endpoint("Updating", OURS, NOW), INFLIGHT, "not_terminal"),
    (_endpoint("Updating", OURS, NOW), None, "not_terminal"),
    (_endpoint("InService", OURS, NOW), INFLIGHT, "close"),
    (_endpoint("InService", OURS, STARTED - timedelta(minutes=1)), INFLIGHT, "close"),  # runs ours: done
    (_endpoint("InService", OTHER, NOW), INFLIGHT, "close"),  # rolled back by SageMaker: a failure
    (_endpoint("InService", OTHER, STARTED - timedelta(minutes=1)), INFLIGHT, "predates_deployment"),
    (_endpoint("Failed", OTHER, NOW), INFLIGHT, "close"),
    (_endpoint("Failed", OTHER, STARTED - timedelta(minutes=1)), INFLIGHT, "predates_deployment"),
    (_endpoint("InService", OTHER, NOW), None, "nothing_in_progress"),
]


@pytest.mark.parametrize(("description", "inflight", "expected"), TRACK_TABLE)
def test_an_endpoint_event_in_every_state(
    description: dict[str, Any] | None, inflight: Deployment | None, expected: str
) -> None:
    assert decisions.on_endpoint_state(description, inflight).action == expected


@pytest.mark.parametrize(
    ("description", "succeeded", "reason"),
    [
        (_endpoint("InService", OURS, NOW), True, ""),
        (_endpoint("InService", OTHER, NOW), False, f"endpoint is InService on {OTHER}, not {OURS}"),
        ({**_endpoint("Failed", OURS, NOW), "FailureReason": "bad image"}, False, "bad image"),
        (None, False, "endpoint is Deleted"),
    ],
)
def test_a_deployment_succeeds_only_on_its_own_config(
    description: dict[str, Any] | None, succeeded: bool, reason: str
) -> None:
    assert decisions.close_verdict(description, INFLIGHT) == (succeeded, reason)


@pytest.mark.parametrize(
    ("description", "age_minutes", "stale"),
    [
        (_endpoint("Updating", OTHER, NOW), 10_000, False),  # busy: its event will close it
        (_endpoint("InService", OURS, NOW), 1, True),  # done already
        (_endpoint("InService", OTHER, NOW), 1, False),  # idle but young
        (_endpoint("InService", OTHER, NOW), 60 + 15 + 1, True),  # idle past timeout + margin
        (None, 60 + 15 + 1, True),
    ],
)
def test_a_lock_is_stale_only_when_no_run_will_close_it(
    description: dict[str, Any] | None, age_minutes: int, stale: bool
) -> None:
    inflight = replace(INFLIGHT, started_at=_ledger_time(NOW - timedelta(minutes=age_minutes)))
    assert decisions.stale_lock(description, inflight, 3600, NOW) is stale


@pytest.mark.parametrize(
    ("description", "expected"),
    [
        (None, None),
        (_endpoint("Updating", OTHER, NOW, pending=OURS), "accepted"),
        (_endpoint("Creating", OURS, NOW), "accepted"),
        (_endpoint("InService", OURS, NOW), "done"),
        (_endpoint("InService", OURS, NOW, pending="newer"), None),
        (_endpoint("InService", OTHER, NOW), None),
    ],
)
def test_what_sagemaker_is_doing_with_a_deployment(description: dict[str, Any] | None, expected: str | None) -> None:
    assert decisions.rollout_of(description, INFLIGHT) == expected


# --- the queue -----------------------------------------------------------------------------------


def test_the_newest_deployable_queued_version_goes_and_the_rest_are_superseded() -> None:
    queued = [dep(2, S.QUEUED), dep(4, S.QUEUED), dep(3, S.QUEUED)]
    chosen, dropped = decisions.next_in_queue(
        queued, dep(1), lambda r: "no longer Approved" if r.version == 4 else None
    )
    assert chosen is not None
    assert chosen.version == 3
    assert chosen.previous_package_arn == dep(1).package_arn
    assert [(d.version, why) for d, why in dropped] == [(4, "no longer Approved"), (2, "v3 was approved later")]


def test_a_queued_version_no_newer_than_live_is_superseded() -> None:
    chosen, dropped = decisions.next_in_queue([dep(2, S.QUEUED)], dep(3), lambda r: None)
    assert chosen is None
    assert [why for _, why in dropped] == ["v3 is live"]


def test_a_queued_rollback_goes_only_while_what_it_undoes_is_live() -> None:
    live = dep(2)
    rollback = replace(ROLLBACK, rollback_of=live.deployment_id)
    assert decisions.next_in_queue([rollback], live, lambda r: None)[0] == rollback
    chosen, dropped = decisions.next_in_queue([rollback], dep(3), lambda r: None)
    assert chosen is None
    assert [why for _, why in dropped] == ["the rejected version is no longer live"]


# --- staged promotion ----------------------------------------------------------------------------


def _package(stage: str, approval: str = "Approved", version: int = 2) -> dict[str, Any]:
    return {
        "ModelPackageArn": dep(version).package_arn,
        "ModelPackageVersion": version,
        "ModelApprovalStatus": approval,
        "ModelLifeCycle": {"Stage": stage, "StageStatus": "Approved"},
    }


def _stages(staging_live: Deployment | None, *, soak: int = 30, alarming: tuple[str, ...] = ()) -> list[StageView]:
    return [
        StageView("staging", soak, staging_live, alarming),
        StageView("production", 0, dep(1)),
    ]


SOAKED = replace(dep(2), finished_at=_ledger_time(NOW - timedelta(minutes=45)))
FRESH = replace(dep(2), finished_at=_ledger_time(NOW - timedelta(minutes=10)))

PROMOTION_TABLE = [
    # stages, package, expected index, reason starts with
    (_stages(SOAKED), _package("production"), 1, ""),
    (_stages(SOAKED), _package("canary"), None, 'unknown stage "canary" (stages: staging, production)'),
    (_stages(SOAKED), _package("staging"), None, '"staging" is the first stage'),
    (_stages(SOAKED), _package("production", "Rejected"), None, "the version is Rejected, not Approved"),
    (_stages(dep(1)), _package("production"), None, "out of order: production takes a version live in staging"),
    (_stages(None), _package("production"), None, "out of order"),
    (
        _stages(FRESH),
        _package("production"),
        None,
        "soaking: staging needs 30 min of service before production; 20 min",
    ),
    (_stages(FRESH, soak=0), _package("production"), 1, ""),
    # a recreated group: staging serves the old v2 under this ARN, not this version (created later)
    (
        _stages(SOAKED),
        {**_package("production"), "CreationTime": datetime(2026, 2, 1, tzinfo=UTC)},
        None,
        "out of order: production takes a version live in staging",
    ),
    (_stages(SOAKED), {**_package("production"), "CreationTime": datetime(2026, 1, 3, tzinfo=UTC)}, 1, ""),
    (
        _stages(SOAKED, alarming=("ml-churn-staging-5xx",)),
        _package("production"),
        None,
        "staging alarms in ALARM while it served there",
    ),
]


@pytest.mark.parametrize(("stages", "package", "index", "reason"), PROMOTION_TABLE)
def test_a_promotion_in_every_state(
    stages: list[StageView], package: dict[str, Any], index: int | None, reason: str
) -> None:
    got, why = decisions.on_promotion(stages, package, NOW)
    assert got == index
    assert why.startswith(reason), why


def test_out_of_order_says_where_the_version_is() -> None:
    three = [StageView("dev", 0, dep(2)), StageView("staging", 0, None), StageView("production", 0, None)]
    _, why = decisions.on_promotion(three, _package("production"), NOW)
    assert why == "out of order: production takes a version live in staging; it is live in dev"


@pytest.mark.parametrize(
    ("lifecycle", "stage", "mark"),
    [
        (None, "staging", True),
        ({"Stage": "staging", "StageStatus": "Deployed"}, "staging", False),  # already says so
        ({"Stage": "production", "StageStatus": "Approved"}, "production", True),
        ({"Stage": "production", "StageStatus": "Deployed"}, "staging", False),  # never backwards
        ({"Stage": "elsewhere", "StageStatus": "Deployed"}, "staging", True),
    ],
)
def test_the_lifecycle_follows_the_version_forward_only(lifecycle: dict | None, stage: str, mark: bool) -> None:
    package = {"ModelLifeCycle": lifecycle} if lifecycle else {}
    assert decisions.should_mark_deployed(package, ["staging", "production"], stage) is mark


@pytest.mark.parametrize(
    ("package", "stage", "deployable"),
    [
        ({"ModelApprovalStatus": "Approved", "ModelPackageStatus": "Completed"}, None, True),
        ({"ModelApprovalStatus": "Approved", "ModelPackageStatus": "InProgress"}, None, False),
        ({"ModelApprovalStatus": "Rejected", "ModelPackageStatus": "Completed"}, None, False),
        ({"ModelApprovalStatus": "Approved", "ModelPackageStatus": "Completed"}, "production", False),
        (
            {
                "ModelApprovalStatus": "Approved",
                "ModelPackageStatus": "Completed",
                "ModelLifeCycle": {"Stage": "production", "StageStatus": "Approved"},
            },
            "production",
            True,
        ),
    ],
)
def test_deployable_now(package: dict[str, Any], stage: str | None, deployable: bool) -> None:
    assert decisions.is_deployable(package, stage) is deployable


# --- nothing to fall back to: keep serving, or retire the endpoint ---------------------------------


@pytest.mark.parametrize(
    ("records", "without_fallback", "expected", "notify"),
    [
        ((dep(2),), "keep", "no_rollback_target", True),
        ((dep(2),), "delete", "retire", False),
        ((dep(2), dep(3, S.IN_PROGRESS)), "delete", "no_rollback_target", True),  # v3 replaces it anyway
        ((dep(2, S.IN_PROGRESS),), "delete", "no_rollback_target", False),  # not live (yet): nothing to delete
        ((dep(2), dep(3, S.QUEUED)), "delete", "no_rollback_target", False),  # queued v3 replaces it next
        ((dep(2), dep(3, S.QUEUED)), "keep", "no_rollback_target", False),
    ],
)
def test_a_rejected_version_with_nothing_to_fall_back_to(
    records: tuple[Deployment, ...], without_fallback: str, expected: str, notify: bool
) -> None:
    rejected = next(r for r in records if r.version == 2)
    decision = decisions.plan_rollback(snap(*records), rejected, None, None, None, without_fallback=without_fallback)
    assert (decision.action, decision.notify) == (expected, notify)


RETIRE = replace(dep(2, S.IN_PROGRESS), deployment_id="d-retire", kind="retire")


@pytest.mark.parametrize(
    ("description", "expected"),
    [
        (None, "close"),  # the endpoint is gone: retired
        (_endpoint("InService", RETIRE.endpoint_config_name, NOW), "predates_deployment"),  # its deletion is to come
    ],
)
def test_a_retirement_closes_when_the_endpoint_is_gone(description: dict[str, Any] | None, expected: str) -> None:
    assert decisions.on_endpoint_state(description, RETIRE).action == expected
    assert decisions.close_verdict(None, RETIRE) == (True, "endpoint is Deleted, not deleted")
    assert decisions.stale_lock(None, RETIRE, 3600, NOW)


def test_after_a_retirement_nothing_is_live_and_the_retired_version_is_no_rollback_target() -> None:
    retired = replace(RETIRE, status=S.SUCCEEDED, finished_at=_ledger_time(NOW))
    state = snap(dep(1), retired)
    assert state.live is None
    assert [c.version for c in decisions.rollback_candidates(state, "other")] == [1]


@pytest.mark.parametrize(
    ("item", "state"),
    [
        ({"HistoryData": '{"newState": {"stateValue": "ALARM"}}', "HistorySummary": "x"}, "ALARM"),
        ({"HistoryData": '{"newState": {"stateValue": "OK"}}'}, "OK"),
        # HistoryData unreadable or without the state: the summary says where it went
        ({"HistoryData": "not json", "HistorySummary": "Alarm updated from OK to ALARM"}, "ALARM"),
        ({"HistoryData": '{"newState": {}}', "HistorySummary": "Alarm updated from ALARM to OK"}, "OK"),
        (
            {"HistoryData": '{"newState": {"stateValue": 3}}', "HistorySummary": "Alarm updated from OK to ALARM"},
            "ALARM",
        ),
        ({"HistorySummary": 'Alarm "x" created'}, None),
        ({}, None),
    ],
)
def test_the_state_an_alarm_history_item_moved_to(item: dict[str, Any], state: str | None) -> None:
    from registry_workflow.deployment.sagemaker import _new_state

    assert _new_state(item) == state

"""Work that deploys a version after its approval asks whether that approval still stands (decision 84).

A queued deployment started by the tracker, a promotion and a rollback target were taken on
DescribeModelPackage's `Approved` alone: a registrant who approved her own version after a
reviewer set it back to pending had it deployed, when that work ran before the gate saw the
self-approval. Found in an adversarial review; each test fails without the standing check.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from deploy_support import (
    ENDPOINT,
    GROUP,
    POLICY,
    DeployWorld,
    approval_event,
    endpoint_event,
    live_version,
    register_version,
    registrant_client,
    role_client,
    set_approval,
    set_endpoint_status,
)
from registry_workflow import aws
from registry_workflow.audit import AuditTrail

pytest_plugins = ["deploy_support"]


def status(world: DeployWorld, arn: str) -> str:
    return str(world.sagemaker.describe_model_package(ModelPackageName=arn)["ModelApprovalStatus"])


def queued_behind_an_update(world: DeployWorld, deployer: Any, tracker: Any) -> tuple[str, str]:
    """v1 live, v2 being deployed (the endpoint Updating), v3 approved by another person and queued."""
    live_version(world, deployer, tracker)
    v2 = register_version(world.sagemaker)
    assert deployer(set_approval(world.sagemaker, v2, "Approved"))["action"] == "started"
    set_endpoint_status(ENDPOINT, "Updating")
    v3 = register_version(world.sagemaker)
    assert deployer(set_approval(world.sagemaker, v3, "Approved"))["action"] == "queued"
    return v2, v3


def queued_then_policy_edited(world: DeployWorld, deployer: Any, tracker: Any, rules: str) -> tuple[str, str]:
    """`queued_behind_an_update`, then policy.toml's validation rules edited to `rules` (any edit
    changes the policy's digest: v3 has no verdict under the policy in force)."""
    v2, v3 = queued_behind_an_update(world, deployer, tracker)
    policy = Path(os.environ["REGISTRY_CONFIG_DIR"]) / "policy.toml"
    policy.write_text(POLICY + f"\n[defaults.validation]\n{rules}\n")
    return v2, v3


def test_a_queued_version_set_back_to_pending_and_self_approved_is_never_started(
    world: DeployWorld, deployer: Any, tracker: Any
) -> None:
    # GIVEN v3 queued on another person's approval, then set back to pending by a reviewer
    v2, v3 = queued_behind_an_update(world, deployer, tracker)
    assert deployer(set_approval(world.sagemaker, v3, "PendingManualApproval"))["action"] == "withdrawn"
    # AND its registrant approves it herself; the gate has not seen that event yet
    registrant_client().update_model_package(ModelPackageArn=v3, ModelApprovalStatus="Approved")
    self_approval = approval_event(world.sagemaker, v3)

    # WHEN v2 goes live and the tracker starts the queue
    set_endpoint_status(ENDPOINT, "InService")
    tracked = tracker(endpoint_event(world.sagemaker))

    # THEN v3 is not started: its admitted approval was withdrawn, and the new one is not admitted
    assert tracked["action"] == "succeeded"
    assert tracked.get("next") is None
    assert world.ledger.live(ENDPOINT).package_arn == v2
    [dropped] = [r for r in world.ledger.for_endpoint(ENDPOINT) if r.package_arn == v3]
    assert dropped.status == "superseded"
    assert dropped.failure_reason == "its approval was withdrawn or refused after the gate admitted it"
    # AND the gate then refuses the self-approval; the history says what happened, in order
    assert deployer(self_approval)["refusal"] == "self_approval"
    kinds = [e.kind for e in AuditTrail(world.ledger.table_name).entries(GROUP) if e.package_arn == v3]
    assert kinds == ["validated", "approved", "queued", "withdrawn", "superseded", "approved", "refused"]


def test_a_withdrawn_approval_approved_again_by_another_person_deploys(
    world: DeployWorld, deployer: Any, tracker: Any
) -> None:
    # no false refusal: a new approval by someone else after the withdrawal is admitted again
    _, v3 = queued_behind_an_update(world, deployer, tracker)
    deployer(set_approval(world.sagemaker, v3, "PendingManualApproval"))
    assert deployer(set_approval(world.sagemaker, v3, "Approved"))["action"] == "queued"

    set_endpoint_status(ENDPOINT, "InService")
    tracked = tracker(endpoint_event(world.sagemaker))

    assert tracked["next"]["action"] == "started"
    assert tracked["next"]["version"] == 3


def test_a_queued_version_without_a_passing_verdict_under_the_policy_in_force_is_dropped(
    world: DeployWorld, deployer: Any, tracker: Any
) -> None:
    # GIVEN v3 (auc 0.9) queued, then the policy tightened to auc >= 0.95
    v2, v3 = queued_then_policy_edited(world, deployer, tracker, "min = { auc = 0.95 }")

    # WHEN the tracker starts the queue
    set_endpoint_status(ENDPOINT, "InService")
    tracker(endpoint_event(world.sagemaker))

    # THEN v3 is validated under it now, fails, is rejected and dropped, saying why; v2 stays live
    assert world.ledger.live(ENDPOINT).package_arn == v2
    [dropped] = [r for r in world.ledger.for_endpoint(ENDPOINT) if r.package_arn == v3]
    assert dropped.status == "superseded"
    assert (dropped.failure_reason or "").startswith("not validated under the policy in force, and validation failed")
    assert status(world, v3) == "Rejected"


def test_a_policy_edit_that_still_passes_the_queued_version_lets_it_start(
    world: DeployWorld, deployer: Any, tracker: Any
) -> None:
    # any edit changes the policy's digest (here: a looser threshold); the queued version is
    # validated under the new policy when its turn comes, passes, and starts
    queued_then_policy_edited(world, deployer, tracker, "min = { auc = 0.5 }")

    set_endpoint_status(ENDPOINT, "InService")
    tracked = tracker(endpoint_event(world.sagemaker))

    assert (tracked["next"]["action"], tracked["next"]["version"]) == ("started", 3)


@pytest.mark.parametrize("ended_by", ["PendingManualApproval", "Rejected"], ids=["set-back", "rejected"])
def test_a_rollback_never_goes_to_a_version_whose_approval_was_withdrawn(
    world: DeployWorld, deployer: Any, tracker: Any, ended_by: str
) -> None:
    # GIVEN v1 then v2 live; v1 set back to pending (or rejected: the third review), then
    # approved by its own registrant
    v1 = live_version(world, deployer, tracker)
    v2 = live_version(world, deployer, tracker)
    deployer(set_approval(world.sagemaker, v1, ended_by))
    registrant_client().update_model_package(ModelPackageArn=v1, ModelApprovalStatus="Approved")

    # WHEN v2 is rejected before the gate has seen v1's self-approval
    outcome = deployer(set_approval(world.sagemaker, v2, "Rejected"))

    # THEN v1 is not the rollback target: v2 keeps serving, and people are told there is none
    assert outcome["action"] == "no_rollback_target"
    assert not [r for r in world.ledger.for_endpoint(ENDPOINT) if r.kind == "rollback"]
    assert world.ledger.live(ENDPOINT).package_arn == v2  # type: ignore[union-attr]
    assert status(world, v1) == "Approved"  # the gate's own run on that event sets it back later


def test_a_version_approved_before_standings_were_kept_still_deploys_from_the_queue(
    world: DeployWorld, deployer: Any, tracker: Any
) -> None:
    # GIVEN v3 queued, its standing unknown (approved before this version of the workflow)
    _, v3 = queued_behind_an_update(world, deployer, tracker)
    table = world.ledger.table_name
    items = aws.client("dynamodb").query(
        TableName=table,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :s)",
        ExpressionAttributeValues={":pk": {"S": f"PACKAGE#{v3}"}, ":s": {"S": "STANDING#"}},
    )["Items"]
    assert len(items) == 1
    aws.client("dynamodb").delete_item(TableName=table, Key={"pk": items[0]["pk"], "sk": items[0]["sk"]})

    set_endpoint_status(ENDPOINT, "InService")
    tracked = tracker(endpoint_event(world.sagemaker))

    assert tracked["next"]["action"] == "started"


def test_a_version_started_before_its_withdrawal_was_seen_is_undone_when_it_is(
    world: DeployWorld, deployer: Any, tracker: Any
) -> None:
    # GIVEN v3 queued on another person's approval; a reviewer sets it back to pending and its
    # registrant approves it herself, and neither event has reached the deployer yet
    v2, v3 = queued_behind_an_update(world, deployer, tracker)
    withdrawal = set_approval(world.sagemaker, v3, "PendingManualApproval")
    registrant_client().update_model_package(ModelPackageArn=v3, ModelApprovalStatus="Approved")
    self_approval = approval_event(world.sagemaker, v3)
    # AND the tracker, first, starts v3 on the approval the gate admitted earlier
    set_endpoint_status(ENDPOINT, "InService")
    assert tracker(endpoint_event(world.sagemaker))["next"]["version"] == 3

    # WHEN the deployer sees the withdrawal, then the self-approval (refused)
    undone = deployer(withdrawal)
    refused = deployer(self_approval)

    # THEN v3, started after its approval was withdrawn, is rolled back to v2 (moto's update is
    # instant: closing v3 on the way finds it withdrawn and starts the rollback, which the undo
    # then finds under way), and the later refusal undoes nothing twice
    assert undone["action"] in {"started", "duplicate"}, undone
    assert undone["version"] == 2, undone
    assert refused["refusal"] == "self_approval"
    assert "undone" not in refused or refused["undone"]["action"] in {"duplicate", "stale", "not_live"}
    tracker(endpoint_event(world.sagemaker))  # the rollback's own endpoint event (closed already or now)
    live = world.ledger.live(ENDPOINT)
    assert (live.kind, live.package_arn) == ("rollback", v2)
    assert [r.kind for r in world.ledger.for_endpoint(ENDPOINT)].count("rollback") == 1


def test_a_version_live_before_its_approval_was_withdrawn_stays(
    world: DeployWorld, deployer: Any, tracker: Any
) -> None:
    # a withdrawal says "not again", not "undo": what went live on the admitted approval stays
    v1 = live_version(world, deployer, tracker)

    outcome = deployer(set_approval(world.sagemaker, v1, "PendingManualApproval"))

    assert outcome["action"] == "withdrawn"
    assert world.ledger.live(ENDPOINT).package_arn == v1


def test_a_late_withdrawal_never_undoes_a_deployment_on_an_approval_admitted_after_it(
    world: DeployWorld, deployer: Any, tracker: Any
) -> None:
    # GIVEN v3 queued; set back to pending (its event held back), then approved again by another
    # person, admitted, and started
    _v2, v3 = queued_behind_an_update(world, deployer, tracker)
    late = set_approval(world.sagemaker, v3, "PendingManualApproval")
    assert deployer(set_approval(world.sagemaker, v3, "Approved"))["action"] == "queued"
    set_endpoint_status(ENDPOINT, "InService")
    assert tracker(endpoint_event(world.sagemaker))["next"]["version"] == 3

    # WHEN the withdrawal's event arrives last
    outcome = deployer(late)

    # THEN nothing is undone: the later approval stands
    assert outcome["action"] == "withdrawn"
    assert not [r for r in world.ledger.for_endpoint(ENDPOINT) if r.kind == "rollback"]


def test_a_withdrawal_between_the_queues_check_and_the_lock_stops_the_deployment(
    world: DeployWorld, deployer: Any, tracker: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from registry_workflow.deployment.standing import Standing
    from registry_workflow.gate import GateRecords

    # GIVEN v3 queued; the queue's check reads "admitted", and the withdrawal lands right after it
    # (a concurrent deployer run), before the tracker takes the endpoint's lock
    v2, v3 = queued_behind_an_update(world, deployer, tracker)
    created = world.sagemaker.describe_model_package(ModelPackageName=v3)["CreationTime"]
    checked = Standing.why_not

    def check_then_withdraw(self: Standing, project: Any, package: dict[str, Any], **kw: Any) -> str | None:
        answer = checked(self, project, package, **kw)
        GateRecords(world.ledger.table_name).revoke(v3, created, "2999-01-01T00:00:00.000Z")
        return answer

    monkeypatch.setattr(Standing, "why_not", check_then_withdraw)

    # WHEN v2 goes live and the tracker starts the queue
    set_endpoint_status(ENDPOINT, "InService")
    tracker(endpoint_event(world.sagemaker))

    # THEN v3 never reaches SageMaker: the lock's own read sees the withdrawal
    assert world.ledger.live(ENDPOINT).package_arn == v2
    [record] = [r for r in world.ledger.for_endpoint(ENDPOINT) if r.package_arn == v3]
    assert (record.status, record.failure_reason) == (
        "superseded",
        "its approval was withdrawn or refused after the gate admitted it",
    )
    assert ENDPOINT in world.sagemaker.describe_endpoint(EndpointName=ENDPOINT)["EndpointConfigName"]
    assert "-v3-" not in world.sagemaker.describe_endpoint(EndpointName=ENDPOINT)["EndpointConfigName"]


def test_auto_approve_never_approves_a_version_whose_approval_a_person_withdrew(
    world: DeployWorld, deployer: Any, tracker: Any
) -> None:
    from registry_workflow.config import load_config
    from registry_workflow.events import parse_model_package_event
    from registry_workflow.gate import GateRecords
    from registry_workflow.validation import validate_version

    # GIVEN v1 live, then set back to pending by a reviewer (the gate records the withdrawal)
    v1 = live_version(world, deployer, tracker)
    assert deployer(set_approval(world.sagemaker, v1, "PendingManualApproval"))["action"] == "withdrawn"
    # AND auto_approve on, under an edited policy (no verdict under it yet)
    policy = Path(os.environ["REGISTRY_CONFIG_DIR"]) / "policy.toml"
    policy.write_text(POLICY + "\n[defaults.validation]\nmin = { auc = 0.5 }\nauto_approve = true\n")

    # WHEN the validator gets a later, unrelated change of the pending version (its description)
    edit = approval_event(world.sagemaker, v1, "ModelPackageDescription")
    project = load_config().project_for_group(GROUP)
    assert project is not None
    table = world.ledger.table_name
    outcome = validate_version(
        parse_model_package_event(edit).detail, project, records=GateRecords(table), trail=AuditTrail(table)
    )

    # THEN it validates and stamps, and never approves it again
    assert outcome.action == "stamped"
    assert status(world, v1) == "PendingManualApproval"


def test_a_queued_rollback_whose_target_was_withdrawn_goes_to_the_next_target(
    world: DeployWorld, deployer: Any, tracker: Any
) -> None:
    # GIVEN v1 then v2 live, v3 being deployed, and v3 rejected: a rollback to v2 waits behind it
    v1 = live_version(world, deployer, tracker)
    v2 = live_version(world, deployer, tracker)
    v3 = register_version(world.sagemaker)
    assert deployer(set_approval(world.sagemaker, v3, "Approved"))["action"] == "started"
    set_endpoint_status(ENDPOINT, "Updating")
    assert deployer(set_approval(world.sagemaker, v3, "Rejected"))["action"] == "queued"
    # AND before it starts, v2's approval is withdrawn
    assert deployer(set_approval(world.sagemaker, v2, "PendingManualApproval"))["action"] == "withdrawn"

    # WHEN v3's update ends and the tracker starts the queue
    set_endpoint_status(ENDPOINT, "InService")
    tracker(endpoint_event(world.sagemaker))
    tracker(endpoint_event(world.sagemaker))

    # THEN the rollback to v2 is dropped and the rejection rolls back to v1 instead
    rollbacks = [r for r in world.ledger.for_endpoint(ENDPOINT) if r.kind == "rollback"]
    assert {(r.package_arn, r.status) for r in rollbacks} >= {(v2, "superseded")}
    live = world.ledger.live(ENDPOINT)
    assert (live.kind, live.package_arn) == ("rollback", v1)


def test_the_history_says_who_withdrew_and_adds_nothing_for_the_gates_own_revert(
    world: DeployWorld, deployer: Any, tracker: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WORKFLOW_ROLES", "ValidatorFunctionRole,DeployerFunctionRole")
    v1 = live_version(world, deployer, tracker)
    # the gate's own revert (the deployer's role sets a refused approval back): no second entry
    role_client("DeployerFunctionRole", "DeployerFunction").update_model_package(
        ModelPackageArn=v1, ModelApprovalStatus="PendingManualApproval"
    )
    deployer(approval_event(world.sagemaker, v1))
    # a late event of a withdrawal, after someone else changed the version: who withdrew is unknown
    late = set_approval(world.sagemaker, v1, "PendingManualApproval", "on hold")
    set_approval(world.sagemaker, v1, "Approved")
    deployer(late)

    withdrawn = [e for e in AuditTrail(world.ledger.table_name).entries(GROUP) if e.kind == "withdrawn"]
    assert [e.actor for e in withdrawn] == ["unknown"]


# --- third review: a rejection ends the standing; an undo planned in flight is carried out --------


def test_a_deployment_withdrawn_while_in_progress_is_undone_when_it_goes_live(
    world: DeployWorld, deployer: Any, tracker: Any
) -> None:
    # GIVEN v3 queued; v1 and v2 set back to pending (seen): no version to roll back to later
    v2, v3 = queued_behind_an_update(world, deployer, tracker)
    v1 = world.ledger.live(ENDPOINT).package_arn  # type: ignore[union-attr]
    deployer(set_approval(world.sagemaker, v1, "PendingManualApproval"))
    deployer(set_approval(world.sagemaker, v2, "PendingManualApproval"))
    # AND v3 set back to pending and self-approved, neither event seen before the tracker starts it
    withdrawal = set_approval(world.sagemaker, v3, "PendingManualApproval")
    registrant_client().update_model_package(ModelPackageArn=v3, ModelApprovalStatus="Approved")
    self_approval = approval_event(world.sagemaker, v3)
    set_endpoint_status(ENDPOINT, "InService")
    assert tracker(endpoint_event(world.sagemaker))["next"]["version"] == 3
    set_endpoint_status(ENDPOINT, "Updating")
    # AND both events are seen while v3's update runs: the undo can only be planned for later
    deployer(withdrawal)
    deployer(self_approval)

    # WHEN v3's update ends
    set_endpoint_status(ENDPOINT, "InService")
    closed = tracker(endpoint_event(world.sagemaker))

    # THEN going live, it is handled as a rejection would be (here: nothing to roll back to, so
    # it stays and people are told so), not announced live and left
    assert closed["action"] == "succeeded"
    assert closed["next"] is not None, closed
    titles = [n["content"]["title"] for n in world.notifications()]
    assert titles[-1] == "rc-fraud-detection v3: rejected but still live: nothing to roll back to", titles[-3:]


def test_a_rollback_whose_target_is_withdrawn_while_it_takes_the_lock_is_planned_again(
    world: DeployWorld, deployer: Any, tracker: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from registry_workflow.ledger import DeploymentLedger

    # GIVEN v1 then v2 live
    v1 = live_version(world, deployer, tracker)
    v2 = live_version(world, deployer, tracker)
    # AND v1 set back to pending by a concurrent run just before the rollback to it takes the lock
    begin = DeploymentLedger.begin
    withdrawn: list[Any] = []

    def withdraw_first(self: DeploymentLedger, record: Any) -> Any:
        if record.kind == "rollback" and not withdrawn:
            withdrawn.append(deployer(set_approval(world.sagemaker, v1, "PendingManualApproval")))
        return begin(self, record)

    monkeypatch.setattr(DeploymentLedger, "begin", withdraw_first)

    # WHEN v2 is rejected
    deployer(set_approval(world.sagemaker, v2, "Rejected"))

    # THEN the withdrawal's run saw nothing to undo, and the rollback to v1 was never started
    assert withdrawn[0]["action"] == "withdrawn"
    rollbacks = [r for r in world.ledger.for_endpoint(ENDPOINT) if r.kind == "rollback"]
    assert [r.status for r in rollbacks] == ["superseded"], rollbacks
    assert world.ledger.live(ENDPOINT).package_arn == v2  # type: ignore[union-attr]
    assert world.ledger.in_progress(ENDPOINT) is None


SLACK_POLICY = (
    '\n[projects."rc-fraud-detection".approval]\nslack = true\n\n[defaults.approval.slack_approvers]\n'
    'rc = [ { user = "U0REVIEWER", iam = ["arn:aws:iam::123456789012:user/reviewer"] } ]\n'
)


def decided_in_slack(world: DeployWorld, arn: str, decision: str) -> dict[str, Any]:
    """A reviewer's Slack decision, applied by the chat function's role; the event AWS sends for it."""
    from registry_workflow.gate import ChatDecision, GateRecords

    pending = world.sagemaker.describe_model_package(ModelPackageName=arn)["LastModifiedTime"].isoformat()
    GateRecords(world.ledger.table_name).claim_chat_decision(
        ChatDecision(arn, pending, decision, "U0REVIEWER", "rev", "rc", "ok", f"V1:{decision}")  # type: ignore[arg-type]
    )
    status = "Approved" if decision == "approve" else "Rejected"
    role_client("SlackRole", "SlackFn").update_model_package(ModelPackageArn=arn, ModelApprovalStatus=status)
    return approval_event(world.sagemaker, arn)


def test_a_slack_approval_names_the_slack_user_as_the_deployments_approver(
    world: DeployWorld, deployer: Any, config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN Slack approvals for the project, and a reviewer's Slack decision the chat function applied
    (config_dir / "policy.toml").write_text(POLICY + SLACK_POLICY)
    monkeypatch.setenv("CHAT_APPROVALS_ROLE", "SlackRole")
    arn = register_version(world.sagemaker)

    # WHEN the deployer takes the approval
    assert deployer(decided_in_slack(world, arn, "approve"))["action"] == "started"

    # THEN the deployment's record and the history name the Slack user, not the chat function's role
    record = world.ledger.in_progress(ENDPOINT)
    assert record is not None
    assert "U0REVIEWER" in (record.approver or ""), record.approver
    deploying = [e for e in AuditTrail(world.ledger.table_name).entries(GROUP) if e.kind == "deploying"]
    assert deploying, "no deploying entry"
    assert "U0REVIEWER" in str((deploying[-1].details or {}).get("approver")), deploying[-1]


def test_a_slack_rejection_names_the_slack_user_on_the_rollback_and_in_the_history(
    world: DeployWorld, deployer: Any, tracker: Any, config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN v1 then v2 live, and Slack approvals on
    live_version(world, deployer, tracker)
    v2 = live_version(world, deployer, tracker)
    (config_dir / "policy.toml").write_text(POLICY + SLACK_POLICY)
    monkeypatch.setenv("CHAT_APPROVALS_ROLE", "SlackRole")

    # WHEN a reviewer rejects v2 in Slack
    assert deployer(decided_in_slack(world, v2, "reject"))["action"] == "started"

    # THEN the rollback and the deployer's `rejected` entry name the Slack user, not the role
    [rollback] = [r for r in world.ledger.for_endpoint(ENDPOINT) if r.kind == "rollback"]
    assert "U0REVIEWER" in (rollback.approver or ""), rollback.approver
    rejected = [e for e in AuditTrail(world.ledger.table_name).entries(GROUP) if e.kind == "rejected"]
    assert rejected, "no rejected entry"
    assert all("U0REVIEWER" in e.actor for e in rejected), [e.actor for e in rejected]


def test_an_undo_whose_rollback_target_is_withdrawn_at_the_lock_goes_to_the_next_target(
    world: DeployWorld, deployer: Any, tracker: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from registry_workflow.deployment import DeploymentService
    from registry_workflow.handlers.intake import managed_project
    from registry_workflow.ledger import DeploymentLedger

    # GIVEN v1, v2, v3 live in turn; v3 set back to pending (a withdrawal's undo is forced: v3 is
    # not Rejected), and v2 withdrawn by a concurrent run just before the rollback to it takes the lock
    v1 = live_version(world, deployer, tracker)
    v2 = live_version(world, deployer, tracker)
    v3 = live_version(world, deployer, tracker)
    world.sagemaker.update_model_package(ModelPackageArn=v3, ModelApprovalStatus="PendingManualApproval")
    begin = DeploymentLedger.begin
    withdrawn: list[Any] = []

    def withdraw_first(self: DeploymentLedger, record: Any) -> Any:
        if record.kind == "rollback" and not withdrawn:
            withdrawn.append(deployer(set_approval(world.sagemaker, v2, "PendingManualApproval")))
        return begin(self, record)

    monkeypatch.setattr(DeploymentLedger, "begin", withdraw_first)
    package = world.sagemaker.describe_model_package(ModelPackageName=v3)

    # WHEN the undo runs
    DeploymentService.from_env().rejection.reject(managed_project(GROUP), package, "withdrawn:t", force=True)

    # THEN the rollback to v2 is dropped and the undo, planned again (still forced), goes to v1
    rollbacks = [(r.version, r.status) for r in world.ledger.for_endpoint(ENDPOINT) if r.kind == "rollback"]
    assert (2, "superseded") in rollbacks, rollbacks
    inflight = world.ledger.in_progress(ENDPOINT) or world.ledger.live(ENDPOINT)
    assert inflight is not None
    assert inflight.package_arn == v1, rollbacks


# --- fourth review: a rejection overtaken before its event came is still carried out --------------


@pytest.mark.parametrize(
    ("then", "order"),
    [("self-approved", "rejection-first"), ("self-approved", "rejection-last"), ("set-back", "rejection-first")],
)
def test_a_rejection_overtaken_before_its_event_came_still_rolls_back(
    world: DeployWorld, deployer: Any, tracker: Any, then: str, order: str
) -> None:
    # GIVEN v1 then v2 live; a reviewer rejects v2, and seconds later (before the deployer saw the
    # rejection) its registrant approves it herself, or someone sets it back to pending
    v1 = live_version(world, deployer, tracker)
    v2 = live_version(world, deployer, tracker)
    rejection = set_approval(world.sagemaker, v2, "Rejected")
    if then == "self-approved":
        registrant_client().update_model_package(ModelPackageArn=v2, ModelApprovalStatus="Approved")
    else:
        world.sagemaker.update_model_package(ModelPackageArn=v2, ModelApprovalStatus="PendingManualApproval")
    overtaking = approval_event(world.sagemaker, v2)

    # WHEN the deployer sees both events, in either order
    events = [rejection, overtaking] if order == "rejection-first" else [overtaking, rejection]
    for event in events:
        deployer(event)
    tracker(endpoint_event(world.sagemaker))

    # THEN the rejection is carried out: v2 no longer serves, v1 does again
    live = world.ledger.live(ENDPOINT)
    assert live is not None
    assert (live.kind, live.package_arn) == ("rollback", v1), [
        (r.kind, r.version, r.status) for r in world.ledger.for_endpoint(ENDPOINT)
    ]


def test_a_rejection_overtaken_by_a_second_persons_approval_leaves_the_version_live(
    world: DeployWorld, deployer: Any, tracker: Any
) -> None:
    # GIVEN v1 then v2 live; a reviewer rejects v2, then another reviewer approves it again
    v1 = live_version(world, deployer, tracker)
    v2 = live_version(world, deployer, tracker)
    rejection = set_approval(world.sagemaker, v2, "Rejected")
    role_client("Reviewer2", "bob").update_model_package(ModelPackageArn=v2, ModelApprovalStatus="Approved")
    approval = approval_event(world.sagemaker, v2)

    # WHEN the approval's event comes first (admitted), then the rejection's, late
    deployer(approval)
    late = deployer(rejection)

    # THEN the late rejection changes nothing: the approval after it stands
    assert late["action"] == "stale", late
    live = world.ledger.live(ENDPOINT)
    assert live is not None
    assert live.package_arn == v2
    assert v1 != v2

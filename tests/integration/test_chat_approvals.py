"""Slack decisions carried out against moto, and the deployer's gate on approvals made in Slack.

The Slack approvals function runs as its own role (`SlackApprovalsFunctionRole`, assumed through
moto's STS), so its UpdateModelPackage is recorded as that role, as on AWS; the deployer admits
such an approval only on behalf of the Slack user the function's record names (gate.py).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from conftest import ACCOUNT
from deploy_support import (
    ENDPOINT,
    GROUP,
    POLICY,
    REGISTRANT,
    DeployWorld,
    approval_event,
    register_version,
    set_approval,
)
from deploy_support import role_client as session_of
from registry_workflow import aws
from registry_workflow.audit import AuditTrail
from registry_workflow.chat_approvals import ChatApprovals, Click, Job
from registry_workflow.events import event_time
from registry_workflow.gate import ChatDecision, GateRecords
from slack_sdk import WebClient
from slack_stub import SlackStub

pytest_plugins = ["deploy_support", "slack_stub"]

REVIEWER, AUTHOR = "U0REVIEWER", "U0AUTHOR"
ROLE = "SlackApprovalsFunctionRole"
TOKEN = "xoxb-test-token"
SLACK_POLICY = f"""
[projects."{GROUP}".approval]
slack = true

[defaults.approval.slack_approvers]
rc = [
  {{ user = "{REVIEWER}", iam = ["arn:aws:iam::{ACCOUNT}:user/reviewer"] }},
  {{ user = "{AUTHOR}", iam = ["arn:aws:iam::{ACCOUNT}:user/{REGISTRANT}"] }},
]
"""


@pytest.fixture
def slack(
    world: DeployWorld, monkeypatch: pytest.MonkeyPatch, slack_stub: SlackStub
) -> tuple[ChatApprovals, SlackStub, list[Any]]:
    (Path(os.environ["REGISTRY_CONFIG_DIR"]) / "policy.toml").write_text(POLICY + SLACK_POLICY)
    monkeypatch.setenv("WORKFLOW_ROLES", f"ValidatorFunctionRole,DeployerFunctionRole,{ROLE}")
    monkeypatch.setenv("CHAT_APPROVALS_ROLE", ROLE)
    replies: list[Any] = []
    service = ChatApprovals(
        signing_secret=lambda: "secret",
        slack=lambda: WebClient(token=TOKEN, base_url=slack_stub.api_url),
        queue_url="",
        records=GateRecords(world.ledger.table_name),
        trail=AuditTrail(world.ledger.table_name),
        sagemaker=role_client(),
        post_response=lambda url, body: replies.append(body),
    )
    return service, slack_stub, replies


def role_client() -> Any:
    """SageMaker as the Slack approvals function: its own role, as Lambda gives it."""
    return session_of(ROLE, "SlackApprovalsFunction")


def job(arn: str, user: str = REVIEWER, decision: str = "approve", request: str = "V1:h1") -> Job:
    """A decision from the version's message: its buttons carry the version's CreationTime."""
    click = Click(
        arn, decision, user, user.lower(), "C1", "1.2", "https://hooks.slack.com/actions/x", "v1", created=created(arn)
    )  # type: ignore[arg-type]
    return Job("decide", click, reason="checked the metrics", request_id=request)


def created(arn: str) -> str:
    try:
        package = aws.client("sagemaker").describe_model_package(ModelPackageName=arn)
    except aws.client("sagemaker").exceptions.ClientError:
        return ""  # no such version: the click's time does not matter
    return event_time(package["CreationTime"].isoformat())


def described(world: DeployWorld, arn: str) -> dict[str, Any]:
    return dict(world.sagemaker.describe_model_package(ModelPackageName=arn))


def test_an_approval_in_slack_is_applied_once_and_deploys_on_behalf_of_the_slack_user(
    world: DeployWorld, slack: Any, deployer: Any
) -> None:
    service, stub, replies = slack
    arn = register_version(world.sagemaker)

    # WHEN the reviewer's decision is carried out
    assert service.carry_out(job(arn)) == "approved"

    # THEN the version is approved as the Slack user's decision, the message updated in place
    package = described(world, arn)
    assert package["ModelApprovalStatus"] == "Approved"
    assert package["ApprovalDescription"] == "approved in Slack by @u0reviewer (rc): checked the metrics"
    assert package["LastModifiedBy"]["IamIdentity"]["Arn"].split("/")[1] == ROLE
    [update] = stub.api_calls("chat.update")
    assert (update["channel"], update["ts"]) == ("C1", "1.2")
    assert "Approved* by <@U0REVIEWER>: checked the metrics" in json.dumps(update["blocks"])
    assert stub.requests[-1]["auth"] == f"Bearer {TOKEN}"
    # AND the deployer's gate admits it on behalf of the Slack user and deploys
    result = deployer(approval_event(world.sagemaker, arn))
    assert result["action"] == "started"
    verdicts = GateRecords(world.ledger.table_name)
    assert verdicts.chat_decision(arn) is not None

    # AND a second decision on the same version changes nothing and says who decided
    assert service.carry_out(job(arn, decision="reject", request="V2:h2")) == "already_decided"
    assert replies[-1]["text"] == "Already approved by @u0reviewer (U0REVIEWER) in Slack."
    assert described(world, arn)["ModelApprovalStatus"] == "Approved"
    kinds = [(e.kind, e.actor) for e in AuditTrail(world.ledger.table_name).entries(GROUP)]
    assert ("approved", "slack:U0REVIEWER (@u0reviewer)") in kinds
    assert ("refused", "slack:U0REVIEWER (@u0reviewer)") in kinds


def test_two_submits_for_the_same_pending_state_decide_once(world: DeployWorld, slack: Any) -> None:
    arn = register_version(world.sagemaker)
    records = GateRecords(world.ledger.table_name)
    pending = described(world, arn)["LastModifiedTime"].isoformat()
    first = ChatDecision(arn, pending, "reject", REVIEWER, "rev", "rc", "no", "V1:h1")
    second = ChatDecision(arn, pending, "approve", "U0OTHER", "other", "rc", "yes", "V2:h2")

    assert records.claim_chat_decision(first) == first
    assert records.claim_chat_decision(second) == first  # the first wins
    assert records.claim_chat_decision(first) == first  # a retry of the first still owns it


def test_a_slack_self_approval_is_refused_and_writes_nothing_to_the_version(world: DeployWorld, slack: Any) -> None:
    service, stub, replies = slack
    arn = register_version(world.sagemaker)
    before = described(world, arn)

    assert service.carry_out(job(arn, user=AUTHOR)) == "self_approval"

    after = described(world, arn)
    assert (after["ModelApprovalStatus"], after["LastModifiedTime"]) == (
        "PendingManualApproval",
        before["LastModifiedTime"],
    )
    assert replies[-1]["text"].startswith("You registered v")
    assert stub.requests == []
    # the registrant may still reject their own version in Slack
    assert service.carry_out(job(arn, user=AUTHOR, decision="reject", request="V9:h9")) == "rejected"


def test_a_slack_self_approval_never_deploys_even_if_the_function_was_bypassed(
    world: DeployWorld, slack: Any, deployer: Any
) -> None:
    # GIVEN a chat decision naming the registrant (written without the function's own check)
    # and the Slack role approving on its behalf
    arn = register_version(world.sagemaker)
    pending = described(world, arn)["LastModifiedTime"].isoformat()
    GateRecords(world.ledger.table_name).claim_chat_decision(
        ChatDecision(arn, pending, "approve", AUTHOR, "author", "rc", "mine", "V1:h1")
    )
    role_client().update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved")

    # WHEN the deployer gets the approval
    result = deployer(approval_event(world.sagemaker, arn))

    # THEN the gate refuses it as a self-approval and nothing is deployed
    assert (result["action"], result["refusal"]) == ("refused", "self_approval")
    assert described(world, arn)["ModelApprovalStatus"] == "PendingManualApproval"
    assert world.ledger.for_endpoint(ENDPOINT) == []


@pytest.mark.parametrize("who", [None, "U0NOTLISTED"])
def test_the_slack_role_approving_without_a_listed_slack_user_never_deploys(
    world: DeployWorld, slack: Any, deployer: Any, who: str | None
) -> None:
    arn = register_version(world.sagemaker)
    if who:
        pending = described(world, arn)["LastModifiedTime"].isoformat()
        GateRecords(world.ledger.table_name).claim_chat_decision(
            ChatDecision(arn, pending, "approve", who, "x", "rc", "why not", "V1:h1")
        )
    role_client().update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved")

    result = deployer(approval_event(world.sagemaker, arn))

    assert result["action"] == "refused"
    assert result["refusal"] == ("not_an_approver" if who else "unknown_approver")
    assert world.ledger.for_endpoint(ENDPOINT) == []


def test_the_queue_handler_reports_failed_records_for_a_retry(world: DeployWorld, slack: Any) -> None:
    service, _, _ = slack
    arn = register_version(world.sagemaker)
    good = {"messageId": "m1", "body": json.dumps(job(arn).as_dict())}
    unreadable = {"messageId": "m2", "body": "{not json"}

    result = service.handle_queue({"Records": [good, unreadable]})

    assert result == {"batchItemFailures": [{"itemIdentifier": "m2"}]}
    assert described(world, arn)["ModelApprovalStatus"] == "Approved"


def test_when_chat_update_is_refused_the_message_is_replaced_through_the_response_url(
    world: DeployWorld, slack: Any
) -> None:
    # GIVEN Slack refuses chat.update (e.g. a message it will not let the bot edit)
    service, stub, replies = slack
    stub.answer(500)
    arn = register_version(world.sagemaker)

    assert service.carry_out(job(arn, decision="reject")) == "rejected"

    # THEN the decision stands and the original message is replaced through the response_url
    assert described(world, arn)["ModelApprovalStatus"] == "Rejected"
    assert stub.api_calls("chat.update") == []
    assert replies[-1]["replace_original"] is True
    assert "Rejected* by <@U0REVIEWER>" in json.dumps(replies[-1]["blocks"])


def test_the_validated_message_has_buttons_only_for_projects_with_slack_approvals(
    world: DeployWorld, slack: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from registry_workflow.config import load_config
    from registry_workflow.notifications import Notification, notify

    _, stub, _ = slack
    secret = aws.client("secretsmanager").create_secret(Name="webhook", SecretString=json.dumps({"url": stub.url}))
    monkeypatch.setenv("SLACK_WEBHOOK_SECRET_ID", secret["ARN"])
    monkeypatch.delenv("NOTIFICATION_TOPIC_ARN")
    config = load_config()
    for group in (GROUP, "rc-anti-money-laundering"):
        arn = f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:model-package/{group}/1"
        project = config.project_for_group(group)
        assert project is not None
        notify(Notification("validated", group, arn, "Validation passed, awaiting review", 1), project)
        notify(Notification("registered", group, arn, "Registered", 1), project)
    buttons = [(m["text"].split(" ")[1], "registry-workflow-approve" in json.dumps(m)) for m in stub.messages]
    assert buttons == [
        (GROUP, True),
        (GROUP, False),
        ("rc-anti-money-laundering", False),
        ("rc-anti-money-laundering", False),
    ]


def test_two_deliveries_of_the_same_submit_apply_it_once(world: DeployWorld, slack: Any) -> None:
    # GIVEN one submit delivered twice (a replay, or SQS's at-least-once delivery)
    service, _, _ = slack
    arn = register_version(world.sagemaker)
    pending = described(world, arn)["LastModifiedTime"].isoformat()
    records = GateRecords(world.ledger.table_name)
    mine = ChatDecision(arn, pending, "approve", REVIEWER, "u0reviewer", "rc", "checked the metrics", "V1:h1")
    assert records.claim_chat_decision(mine) == mine
    # WHEN one delivery holds the lease while the other arrives
    assert records.lease_chat_decision(mine, now=service.clock(), seconds=60)
    assert service.carry_out(job(arn)) == "in_progress"
    # THEN the second one changed nothing; once the lease has run out (a crash), a retry applies it
    assert described(world, arn)["ModelApprovalStatus"] == "PendingManualApproval"
    later = service.clock() + 61
    service.clock = lambda: later
    assert service.carry_out(job(arn)) == "approved"


def test_a_decision_claimed_but_never_applied_does_not_lock_the_version(world: DeployWorld, slack: Any) -> None:
    # GIVEN a reviewer's rejection claimed and leased, whose run then failed for good (DLQ)
    service, _, _ = slack
    arn = register_version(world.sagemaker)
    pending = described(world, arn)["LastModifiedTime"].isoformat()
    records = GateRecords(world.ledger.table_name)
    lost = ChatDecision(arn, pending, "reject", AUTHOR, AUTHOR.lower(), "rc", "no", "V0:h0")
    assert records.claim_chat_decision(lost) == lost
    assert records.lease_chat_decision(lost, now=service.clock(), seconds=60)

    # WHEN someone decides while that run may still be applying it: refused, nothing changes
    assert service.carry_out(job(arn, request="V1:h1")) == "already_decided"
    assert described(world, arn)["ModelApprovalStatus"] == "PendingManualApproval"

    # THEN once its lease ran out and the version is still pending, a new decision takes over
    later = service.clock() + 61
    service.clock = lambda: later
    assert service.carry_out(job(arn, request="V2:h2")) == "approved"
    assert described(world, arn)["ModelApprovalStatus"] == "Approved"
    # and the lost run's retry stands down: the version is decided, by someone else
    assert service.carry_out(job(arn, AUTHOR, "reject", request="V0:h0")) == "already_decided"


def test_a_redelivery_after_the_version_was_updated_finishes_the_audit_entry_once(
    world: DeployWorld, slack: Any
) -> None:
    # GIVEN a submit whose run updated the version, then stopped before its audit entry (a timeout)
    service, _, _ = slack
    arn = register_version(world.sagemaker)
    pending = described(world, arn)["LastModifiedTime"].isoformat()
    records = GateRecords(world.ledger.table_name)
    mine = ChatDecision(arn, pending, "approve", REVIEWER, "u0reviewer", "rc", "checked the metrics", "V1:h1")
    assert records.claim_chat_decision(mine) == mine
    role_client().update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved")

    # WHEN SQS delivers the same submit again (twice)
    first, again = service.carry_out(job(arn)), service.carry_out(job(arn))

    # THEN it is recorded as the decision it was, once, not as a refusal
    assert (first, again) == ("approved", "approved")
    entries = [(e.kind, e.actor) for e in AuditTrail(world.ledger.table_name).entries(GROUP)]
    assert entries.count(("approved", "slack:U0REVIEWER (@u0reviewer)")) == 1
    assert not [e for e in entries if e[0] == "refused"]


def recreate_group_with_a_new_v1(world: DeployWorld, old: str) -> str:
    """The group deleted (its version first) and created again: its new v1 has the old v1's ARN."""
    world.sagemaker.delete_model_package(ModelPackageName=old)
    world.sagemaker.delete_model_package_group(ModelPackageGroupName=GROUP)
    new = register_version(world.sagemaker)
    assert new == old
    return new


def test_a_button_on_an_earlier_versions_message_never_decides_a_recreated_groups_v1(
    world: DeployWorld, slack: Any
) -> None:
    # GIVEN v1's message with its buttons (they carry v1's CreationTime), never clicked
    service, _, replies = slack
    old = register_version(world.sagemaker)
    from_old_message = job(old)
    # AND the group deleted and created again, with a new v1 under the same ARN
    new = recreate_group_with_a_new_v1(world, old)
    assert created(new) != from_old_message.click.created

    # WHEN a reviewer clicks Approve on the old message
    outcome = service.carry_out(from_old_message)

    # THEN nothing is decided: the new v1 stays pending, the reviewer is told why, and it is audited
    assert outcome == "version_replaced"
    assert described(world, new)["ModelApprovalStatus"] == "PendingManualApproval"
    assert GateRecords(world.ledger.table_name).chat_decision(new) is None
    assert replies[-1]["text"].startswith(
        "Not decided: this message is about an earlier version; v1 was registered again"
    )
    refused = [e for e in AuditTrail(world.ledger.table_name).entries(GROUP) if e.kind == "refused"]
    assert refused[-1].details["refusal"] == "version_replaced"
    # AND a click on the new v1's own message decides it
    assert service.carry_out(job(new, request="V2:h2")) == "approved"


def test_a_message_posted_before_buttons_carried_the_time_is_judged_by_when_it_was_posted(
    world: DeployWorld, slack: Any
) -> None:
    service, _, _ = slack
    arn = register_version(world.sagemaker)
    registered = described(world, arn)["CreationTime"].timestamp()

    def legacy(message_ts: str, request: str) -> Job:
        # the button's value was the package ARN alone: no CreationTime on the click
        click = Click(arn, "approve", REVIEWER, "u0reviewer", "C1", message_ts, "", "v1")
        return Job("decide", click, reason="checked the metrics", request_id=request)

    # a message posted before this version was created is about an earlier version: refused
    assert service.carry_out(legacy(f"{registered - 60:.6f}", "V1:h1")) == "version_replaced"
    # a message that does not say when it was posted cannot be matched: refused (fail closed)
    assert service.carry_out(legacy("", "V2:h2")) == "version_replaced"
    assert service.carry_out(legacy("inf", "V3:h3")) == "version_replaced"
    assert described(world, arn)["ModelApprovalStatus"] == "PendingManualApproval"
    # a message posted after the version was created is its own: decided
    assert service.carry_out(legacy(f"{registered + 5:.6f}", "V4:h4")) == "approved"


def test_the_validated_messages_buttons_carry_the_versions_creation_time(
    world: DeployWorld, slack: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from registry_workflow.chat_approvals import read_button_value
    from registry_workflow.config import load_config
    from registry_workflow.events import parse_model_package_event
    from registry_workflow.handlers.notifier import build_notification
    from registry_workflow.notifications import to_slack_blocks

    arn = register_version(world.sagemaker)
    project = load_config().project_for_group(GROUP)
    assert project is not None
    detail = parse_model_package_event(approval_event(world.sagemaker, arn)).detail
    message = to_slack_blocks(build_notification("validated", detail, described(world, arn), project), decide=True)
    values = {
        e["action_id"]: e["value"]
        for b in message["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if "value" in e
    }
    assert set(values) == {"registry-workflow-approve", "registry-workflow-reject"}
    assert {read_button_value(v) for v in values.values()} == {(arn, created(arn))}


def test_a_slack_decision_on_the_old_v1_never_admits_a_recreated_groups_v1(
    world: DeployWorld, slack: Any, deployer: Any
) -> None:
    # GIVEN the old v1 approved in Slack by a listed reviewer (its decision is kept)
    service, _, _ = slack
    old = register_version(world.sagemaker)
    assert service.carry_out(job(old)) == "approved"
    # AND the group deleted and created again; the Slack role approves the new v1 without any
    # decision of its own (the function bypassed)
    new = recreate_group_with_a_new_v1(world, old)
    role_client().update_model_package(ModelPackageArn=new, ModelApprovalStatus="Approved")

    # WHEN the deployer gets the approval
    result = deployer(approval_event(world.sagemaker, new))

    # THEN the old v1's decision does not speak for the new v1: refused, nothing deployed
    assert (result["action"], result["refusal"]) == ("refused", "unknown_approver")
    assert world.ledger.for_endpoint(ENDPOINT) == []


def test_an_old_decision_never_decides_the_version_once_it_is_pending_again(
    world: DeployWorld, slack: Any, deployer: Any
) -> None:
    import time
    from dataclasses import replace

    # GIVEN v1 approved in Slack, then set back to pending by a reviewer
    service, _, replies = slack
    arn = register_version(world.sagemaker)
    decided = job(arn)
    clicked = replace(decided.click, action_ts=f"{time.time():.6f}")
    assert service.carry_out(replace(decided, click=clicked)) == "approved"
    deployer(set_approval(world.sagemaker, arn, "PendingManualApproval", "not yet: a data issue"))

    # WHEN SQS redelivers the same submit, or another submit from a click made before the withdrawal
    again = service.carry_out(replace(decided, click=clicked))
    earlier_click = Job("decide", clicked, reason="clicked before", request_id="V9:h9")
    before = service.carry_out(earlier_click)

    # THEN neither decides the new pending state: the version stays pending
    assert (again, before) == ("stale_decision", "stale_decision")
    assert described(world, arn)["ModelApprovalStatus"] == "PendingManualApproval"
    assert replies[-1]["text"].startswith("Not decided: the version changed after you clicked")
    # AND a new click decides it
    fresh = replace(clicked, action_ts=f"{time.time() + 1:.6f}")
    assert service.carry_out(Job("decide", fresh, reason="data fixed", request_id="V10:h10")) == "approved"

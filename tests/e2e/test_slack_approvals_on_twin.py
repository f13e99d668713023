"""Approve and reject from Slack, end to end on the twin (README, "Approving in Slack").

A person clicks on the validated version's message: the twin's interactivity endpoint (the Slack
approvals function behind its function URL) opens the reason modal through the Slack stand-in;
the submit is queued and carried out; the ordinary events deploy. Every request is signed with the
twin's signing secret, as Slack signs it; bad ones are refused and change nothing.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO
from registry_workflow.chat_approvals import APPROVE_ACTION
from registry_workflow.local.slack_clicks import SlackUser, opened_views, replies, updates
from twin_process import RunningTwin, start_twin
from workflow_steps import GROUP, create_bucket, register, settled, wait_for

pytestmark = pytest.mark.e2e

REVIEWER, AUTHOR, STRANGER, ALGO_LEAD = "U0REVIEWER", "U0AUTHOR", "U0STRANGER", "U0ALGOLEAD"
#: the data scientist registers with the plain keys: the account's root (tests/e2e/test_gate_on_twin.py)
AUTHOR_IAM = "arn:aws:iam::123456789012:root"
REVIEWER_IAM = "arn:aws:iam::123456789012:user/reviewer"
SLACK_POLICY = f"""
[projects."{GROUP}".approval]
slack = true

[defaults.approval.slack_approvers]
rc = [{{ user = "{REVIEWER}", iam = ["{REVIEWER_IAM}"] }}, {{ user = "{AUTHOR}", iam = ["{AUTHOR_IAM}"] }}]
algo = [{{ user = "{ALGO_LEAD}", iam = ["arn:aws:iam::123456789012:user/algo-lead"] }}]
"""


@pytest.fixture(scope="module")
def twin(tmp_path_factory: pytest.TempPathFactory) -> Any:
    workdir = tmp_path_factory.mktemp("slack")
    config = workdir / "config"
    shutil.copytree(REPO / "config", config)
    (config / "policy.toml").write_text((REPO / "config" / "policy.toml").read_text() + SLACK_POLICY)
    running = start_twin(workdir, "--config-dir", str(config))
    running.env["REGISTRY_CONFIG_DIR"] = str(config)
    assert running.cli("provision").returncode == 0
    create_bucket(running)
    yield running
    assert "stopped" in running.stop()


def person(twin: RunningTwin, user: str, name: str) -> SlackUser:
    secret = twin.client("secretsmanager").get_secret_value(SecretId="SlackSigningSecret")["SecretString"]
    return SlackUser(twin.url, twin.control_url, json.loads(secret)["signing_secret"], user, name)


def described(twin: RunningTwin, arn: str) -> dict[str, Any]:
    return dict(twin.client("sagemaker").describe_model_package(ModelPackageName=arn))


def status_is(twin: RunningTwin, arn: str, status: str) -> dict[str, Any] | None:
    package = described(twin, arn)
    return package if package["ModelApprovalStatus"] == status else None


def validated_message(twin: RunningTwin, arn: str) -> dict[str, Any] | None:
    """The webhook message announcing the version's validation, once it was posted."""
    for message in twin.log()["slack"]:
        if arn in json.dumps(message) and _buttons(message):
            return message
    return None


def _buttons(message: dict[str, Any]) -> list[str]:
    return [
        element.get("action_id", "")
        for block in message.get("blocks", [])
        if block.get("type") == "actions"
        for element in block.get("elements", [])
        if element.get("value")
    ]


def decide(twin: RunningTwin, user: SlackUser, arn: str, decision: str, reason: str) -> tuple[dict[str, Any], Any]:
    """Click on the version's message, find the modal the click opened, submit it; the modal and the
    submit's answer."""
    message = wait_for(lambda: validated_message(twin, arn))
    before = len(opened_views(twin.log()))
    assert user.click(arn, decision, title=f"{GROUP}: validated", message=message).status == 200
    view = wait_for(lambda: opened_views(twin.log())[before:])[0]
    answer = user.submit(view, reason)
    assert answer.status == 200, answer.body
    return view, answer


def reply_containing(twin: RunningTwin, text: str) -> dict[str, Any] | None:
    return next((r for r in replies(twin.log()) if text in r.get("text", "")), None)


def audit_entries(twin: RunningTwin) -> list[dict[str, Any]]:
    result = twin.cli("audit", GROUP, "--verify", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    data = json.loads(result.stdout)
    return list(data["entries"] if isinstance(data, dict) else data)


def test_approve_in_slack_deploys_updates_the_message_and_is_single_use(twin: RunningTwin) -> None:
    reviewer = person(twin, REVIEWER, "reviewer")
    # GIVEN v1 validated, announced with Approve/Reject buttons
    arn = register(twin, 1, auc=0.95)
    message = wait_for(lambda: validated_message(twin, arn))
    assert APPROVE_ACTION in _buttons(message)

    # WHEN the reviewer approves it in Slack with a reason
    view, _ = decide(twin, reviewer, arn, "approve", "holdout auc 0.95, checked the drift report")

    # THEN it is approved in the reviewer's name, deployed, and the message says so without buttons
    approved = wait_for(lambda: status_is(twin, arn, "Approved"))
    assert approved["ApprovalDescription"] == (
        "approved in Slack by @reviewer (rc): holdout auc 0.95, checked the drift report"
    )
    records = wait_for(lambda: settled(twin), timeout=60)
    assert [r["status"] for r in records] == ["succeeded"]
    update = wait_for(lambda: updates(twin.log()))[-1]
    assert (update["channel"], update["ts"]) == (reviewer.channel, reviewer.message_ts)
    assert "Approved* by <@U0REVIEWER>: holdout auc 0.95" in json.dumps(update["blocks"])
    assert not [b for b in update["blocks"] if b["type"] == "actions"]
    entries = audit_entries(twin)
    assert any(e["kind"] == "approved" and e["actor"].startswith(f"slack:{REVIEWER}") for e in entries)

    # AND a second click on the same message answers who decided, and changes nothing
    changed = described(twin, arn)["LastModifiedTime"]
    decide(twin, reviewer, arn, "reject", "changed my mind")
    assert wait_for(lambda: reply_containing(twin, "Already approved by @reviewer (U0REVIEWER) in Slack"))
    # AND a replay of the signed submit (same body, new signature within 5 minutes) does too
    assert reviewer.submit(view, "holdout auc 0.95, checked the drift report").status == 200
    wait_for(lambda: len([r for r in replies(twin.log()) if "Already approved" in r.get("text", "")]) >= 2)
    twin.idle()
    assert described(twin, arn)["LastModifiedTime"] == changed
    assert described(twin, arn)["ModelApprovalStatus"] == "Approved"
    refused = [e for e in audit_entries(twin) if e["kind"] == "refused" and e["actor"].startswith("slack:")]
    assert len(refused) >= 2


def test_reject_in_slack_rejects_with_the_reason(twin: RunningTwin) -> None:
    reviewer = person(twin, REVIEWER, "reviewer")
    arn = register(twin, 2, auc=0.93)
    wait_for(lambda: validated_message(twin, arn))

    decide(twin, reviewer, arn, "reject", "trained on last quarter's labels")

    rejected = wait_for(lambda: status_is(twin, arn, "Rejected"))
    assert rejected["ApprovalDescription"] == "rejected in Slack by @reviewer (rc): trained on last quarter's labels"
    assert wait_for(lambda: [u for u in updates(twin.log()) if "Rejected* by <@U0REVIEWER>" in json.dumps(u)])


def test_not_an_approver_and_a_self_approval_change_nothing(twin: RunningTwin) -> None:
    arn = register(twin, 3, auc=0.94)
    wait_for(lambda: validated_message(twin, arn))
    twin.idle()
    before = described(twin, arn)

    # someone who is not an approver of rc: no modal, an ephemeral answer, an audit entry
    stranger = person(twin, STRANGER, "stranger")
    views = len(opened_views(twin.log()))
    assert stranger.click(arn, "approve").status == 200
    assert wait_for(lambda: reply_containing(twin, "You are not an approver for rc."))
    # an approver of another team is not an approver of rc either
    assert person(twin, ALGO_LEAD, "lead").click(arn, "approve").status == 200
    assert wait_for(lambda: len([r for r in replies(twin.log()) if "not an approver for rc" in r["text"]]) >= 2)
    assert len(opened_views(twin.log())) == views

    # the registrant, an approver of rc, approving their own version in Slack: refused
    author = person(twin, AUTHOR, "author")
    decide(twin, author, arn, "approve", "my model is great")
    version = before["ModelPackageVersion"]
    assert wait_for(lambda: reply_containing(twin, f"You registered v{version}: someone else must approve it."))
    twin.idle()
    after = described(twin, arn)
    assert after["ModelApprovalStatus"] == "PendingManualApproval"
    assert after["LastModifiedTime"] == before["LastModifiedTime"]
    refusals = {e["details"].get("refusal") for e in audit_entries(twin) if e["kind"] == "refused"}
    assert {"not_an_approver", "self_approval"} <= refusals


@pytest.mark.parametrize(
    ("problem", "expected"),
    [
        ("stale timestamp", 401),
        ("bad signature", 401),
        ("no signature", 401),
        ("malformed JSON", 400),
        ("unknown action id", 400),
        ("unmanaged group", 400),
        ("over 1 MB", 413),
    ],
)
def test_bad_requests_are_refused_and_write_nothing(twin: RunningTwin, problem: str, expected: int) -> None:
    reviewer = person(twin, REVIEWER, "reviewer")
    arn = f"arn:aws:sagemaker:{twin.region}:123456789012:model-package/{GROUP}/1"
    log = twin.log()
    calls, answered = len(log["slack_api"]), len(log["slack_responses"])
    click = reviewer.click_payload(arn, APPROVE_ACTION)
    if problem == "stale timestamp":
        answer = reviewer.post(click, timestamp=int(time.time()) - 301)
    elif problem == "bad signature":
        answer = reviewer.post(click, signature="v0=" + "0" * 64)
    elif problem == "no signature":
        answer = reviewer.post_raw(b"payload=%7B%7D", signed=False)
    elif problem == "malformed JSON":
        answer = reviewer.post_raw(b"payload=%7B%22type%22%3A")
    elif problem == "unknown action id":
        answer = reviewer.post(reviewer.click_payload(arn, "delete-everything"))
    elif problem == "unmanaged group":
        answer = reviewer.post(reviewer.click_payload(arn.replace(GROUP, "ml-someone-else"), APPROVE_ACTION))
    else:
        answer = reviewer.post_raw(b"payload=" + b"x" * (1024 * 1024 + 1))
    assert answer.status == expected, answer.body
    twin.idle()
    log = twin.log()
    assert (len(log["slack_api"]), len(log["slack_responses"])) == (calls, answered)
    queue = twin.client("sqs").get_queue_url(QueueName="ChatDecisionQueue")["QueueUrl"]
    attributes = twin.client("sqs").get_queue_attributes(QueueUrl=queue, AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "0"


def test_the_endpoint_is_served_on_the_twins_port(twin: RunningTwin) -> None:
    assert Path(REPO / "README.md").read_text().count("/slack/interactivity") >= 1
    assert person(twin, REVIEWER, "r").endpoint == f"{twin.url}/slack/interactivity"

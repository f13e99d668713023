"""The Slack interactivity endpoint at the door: signature, age, size, shape; buttons on messages.

No AWS here: the queue and Slack's Web API are fakes that record what they are asked, so "refused"
provably means "nothing written, nothing called".
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import fuzz_stats
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from registry_workflow.chat_approvals import (
    APPROVE_ACTION,
    MODAL_CALLBACK,
    REASON_BLOCK,
    REASON_INPUT,
    REJECT_ACTION,
    ChatApprovals,
    Click,
    group_of,
    reason_modal,
)
from registry_workflow.config import parse_config
from registry_workflow.local.twin import sign_slack
from registry_workflow.notifications import Notification, to_slack_blocks

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
NOW = 1_700_000_000
ARN = "arn:aws:sagemaker:us-east-1:123456789012:model-package/rc-fraud-detection/3"
SEED = 'ENABLE_MODEL_REGISTRY=true\nTEAMS="rc algo"\nRC_PROJECTS="fraud-detection"\nALGO_PROJECTS="rec"\n'
POLICY = """\
[defaults.validation]
min = {}
[projects."rc-fraud-detection".approval]
slack = true
[defaults.approval.slack_approvers]
rc = ["U0REVIEWER"]
"""


@dataclass
class Recorder:
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def views_open(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("views.open", kwargs))
        return {"ok": True}

    def send_message(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("sqs", kwargs))
        return {"MessageId": "1"}


@pytest.fixture
def world() -> tuple[ChatApprovals, Recorder]:
    recorder = Recorder()
    config = parse_config(SEED, POLICY)
    service = ChatApprovals(
        signing_secret=lambda: SECRET,
        slack=lambda: recorder,
        queue_url="https://sqs.example/queue",
        sqs=recorder,
        config=lambda: config,
        clock=lambda: float(NOW),
    )
    return service, recorder


def request(payload: Any, *, timestamp: int = NOW, signature: str | None = None, b64: bool = True) -> dict[str, Any]:
    body = urlencode({"payload": payload if isinstance(payload, str) else json.dumps(payload)}).encode()
    headers = {k.lower(): v for k, v in sign_slack(SECRET, body, timestamp).items()}
    if signature is not None:
        headers["x-slack-signature"] = signature
    return {
        "headers": headers,
        "body": base64.b64encode(body).decode() if b64 else body.decode(),
        "isBase64Encoded": b64,
    }


def click(user: str = "U0REVIEWER", action: str = APPROVE_ACTION, arn: str = ARN) -> dict[str, Any]:
    return {
        "type": "block_actions",
        "user": {"id": user, "username": "rev"},
        "trigger_id": "123.456",
        "response_url": "https://hooks.slack.com/actions/T/1/abc",
        "container": {"channel_id": "C1", "message_ts": "1.2"},
        "message": {"text": "rc-fraud-detection v3: validated"},
        "actions": [{"action_id": action, "value": arn, "action_ts": "1.3"}],
    }


def submit(reason: str, user: str = "U0REVIEWER") -> dict[str, Any]:
    view = reason_modal(Click(ARN, "approve", "U0REVIEWER", "rev", "C1", "1.2"))
    view |= {"id": "V1", "hash": "h1", "state": {"values": {REASON_BLOCK: {REASON_INPUT: {"value": reason}}}}}
    return {"type": "view_submission", "user": {"id": user}, "view": view}


def test_a_click_by_an_approver_opens_the_reason_modal_and_writes_nothing(world: Any) -> None:
    service, recorder = world
    answer = service.handle_request(request(click()))
    assert answer["statusCode"] == 200
    [(method, call)] = recorder.calls
    assert (method, call["trigger_id"]) == ("views.open", "123.456")
    view = call["view"]
    assert view["callback_id"] == MODAL_CALLBACK
    assert view["blocks"][1]["element"]["min_length"] == 1  # the reason is required
    assert json.loads(view["private_metadata"])["package_arn"] == ARN


def test_a_plain_text_body_is_accepted_too(world: Any) -> None:
    service, _ = world
    assert service.handle_request(request(click(), b64=False))["statusCode"] == 200


def test_a_click_by_someone_else_queues_the_refusal_without_a_modal(world: Any) -> None:
    service, recorder = world
    assert service.handle_request(request(click(user="U0STRANGER")))["statusCode"] == 200
    [(method, call)] = recorder.calls
    assert method == "sqs"
    assert json.loads(call["MessageBody"])["kind"] == "not_an_approver"


def test_a_submit_is_queued_with_its_reason_and_answered_at_once(world: Any) -> None:
    service, recorder = world
    assert service.handle_request(request(submit("  looks right  ")))["statusCode"] == 200
    [(method, call)] = recorder.calls
    job = json.loads(call["MessageBody"])
    assert (method, job["kind"], job["reason"], job["request_id"]) == ("sqs", "decide", "looks right", "V1:h1")


def test_a_blank_reason_keeps_the_modal_open_with_an_error(world: Any) -> None:
    service, recorder = world
    answer = service.handle_request(request(submit("   ")))
    assert json.loads(answer["body"]) == {
        "response_action": "errors",
        "errors": {REASON_BLOCK: "Say why: a reason is required"},
    }
    assert recorder.calls == []


def test_a_submit_by_someone_else_than_who_clicked_is_refused(world: Any) -> None:
    service, recorder = world
    assert service.handle_request(request(submit("ok", user="U0OTHER")))["statusCode"] == 400
    assert recorder.calls == []


@pytest.mark.parametrize(
    ("make", "status"),
    [
        (lambda: request(click(), timestamp=NOW - 301), 401),
        (lambda: request(click(), timestamp=NOW + 301), 401),
        (lambda: request(click(), signature="v0=" + "0" * 64), 401),
        (lambda: {**request(click()), "headers": {}}, 401),
        (lambda: {**request(click()), "headers": {"x-slack-signature": "v0=1", "x-slack-request-timestamp": "¹"}}, 401),
        (lambda: request("{not json"), 400),
        (lambda: request("[" * 5000 + "]" * 5000), 400),
        (lambda: request(["a list"]), 400),
        (lambda: request({"type": "shortcut"}), 400),
        (lambda: request(click(action="registry-workflow-delete")), 400),
        (lambda: request(click(arn="arn:aws:sagemaker:us-east-1:123456789012:model-package/ml-other/1")), 400),
        (lambda: request(click(arn="not an arn")), 400),
        (lambda: request(click(arn=ARN.replace("rc-fraud-detection", "algo-rec"))), 403),  # Slack off there
        (lambda: {"headers": {}, "body": "x" * (2 * 1024 * 1024), "isBase64Encoded": False}, 413),
        (lambda: {**request(click()), "body": "!!!not base64!!!"}, 400),
    ],
    ids=[
        "stale", "future", "bad-signature", "no-signature", "bad-timestamp", "malformed-json", "deep-json",
        "not-an-object", "unsupported-type", "unknown-action", "unmanaged-group", "not-an-arn", "slack-off",
        "over-1-mb", "bad-base64",
    ],
)  # fmt: skip
def test_bad_requests_are_refused_and_nothing_is_called(world: Any, make: Any, status: int) -> None:
    service, recorder = world
    assert service.handle_request(make())["statusCode"] == status
    assert recorder.calls == []


def test_a_body_over_1_mb_is_refused_before_its_signature_is_checked(world: Any) -> None:
    service, _ = world
    answer = service.handle_request(request("x" * (1024 * 1024)))
    assert answer["statusCode"] == 413


def test_group_of_reads_only_versioned_package_arns() -> None:
    assert group_of(ARN) == "rc-fraud-detection"
    assert group_of("arn:aws:sagemaker:us-east-1:1:model-package/rc-fraud-detection") is None
    assert group_of("arn:aws:s3:::bucket/model-package/rc/1") is None


def test_buttons_carry_the_version_arn_only_when_asked() -> None:
    note = Notification(kind="validated", group="rc-fraud-detection", package_arn=ARN, status="validated", version=3)
    plain = to_slack_blocks(note)
    with_buttons = to_slack_blocks(note, decide=True)
    [actions] = [b for b in with_buttons["blocks"] if b["type"] == "actions"]
    decisions = {e["action_id"]: e["value"] for e in actions["elements"] if "value" in e}
    assert decisions == {APPROVE_ACTION: ARN, REJECT_ACTION: ARN}
    assert "registry-workflow-approve" not in json.dumps(plain)


# --- fuzz: whatever arrives, a 4xx (or a 200 for a well-signed, well-formed click) and no write ------

json_value = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
payloads = st.one_of(
    json_value,
    st.builds(
        lambda kind, user, action, arn: {
            "type": kind,
            "user": {"id": user},
            "trigger_id": "1.2",
            "actions": [{"action_id": action, "value": arn}],
            "view": {"callback_id": MODAL_CALLBACK, "private_metadata": arn},
        },
        st.sampled_from(["block_actions", "view_submission", "shortcut", ""]),
        st.sampled_from(["U0REVIEWER", "U0STRANGER", "", "<script>"]),
        st.sampled_from([APPROVE_ACTION, REJECT_ACTION, "x"]),
        st.sampled_from([ARN, ARN + "/9", "arn:aws:sagemaker:::model-package/rc-fraud-detection/1", "", "{}"]),
    ),
)


@settings(max_examples=150, deadline=None)
@given(payload=payloads, signed=st.booleans(), skew=st.sampled_from([0, 200, 301, -301, 10**9]))
def test_fuzzed_requests_never_raise_and_refusals_call_nothing(payload: Any, signed: bool, skew: int) -> None:
    recorder = Recorder()
    config = parse_config(SEED, POLICY)
    service = ChatApprovals(
        signing_secret=lambda: SECRET,
        slack=lambda: recorder,
        queue_url="q",
        sqs=recorder,
        config=lambda: config,
        clock=lambda: float(NOW),
    )
    event = request(payload, timestamp=NOW + skew, signature=None if signed else "v0=" + "1" * 64)
    status = service.handle_request(event)["statusCode"]
    fuzz_stats.record("slack interactivity requests", str(status))
    if status != 200:
        assert recorder.calls == []
    else:
        assert signed
        assert abs(skew) <= 300

"""A person in Slack, for the twin: clicks Approve/Reject and submits the reason, as Slack would send it.

Builds Slack's interactivity payloads (`block_actions`, then `view_submission` of the modal the
function opened), signs them with the twin's signing secret (slack_sdk's signer) and posts them to
the twin's interactivity endpoint (`/slack/interactivity` on the twin's port). The demo, the e2e
tests and `bench/slack_ack.py` click through with it.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from registry_workflow.chat_approvals import APPROVE_ACTION, REASON_BLOCK, REASON_INPUT, REJECT_ACTION
from registry_workflow.local.twin import FUNCTION_URLS, sign_slack

INTERACTIVITY_PATH = next(iter(FUNCTION_URLS))


@dataclass(frozen=True)
class Answer:
    """What the endpoint answered one request."""

    status: int
    body: str
    seconds: float

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class SlackUser:
    """One Slack user of the twin's workspace, clicking on the twin's messages."""

    twin_url: str  # the twin's AWS endpoint (its port serves the interactivity path)
    control_url: str  # the twin's control endpoint (its Slack stand-in)
    signing_secret: str
    user_id: str
    user_name: str = ""
    channel: str = "C0REVIEWS"
    message_ts: str = field(default_factory=lambda: f"{time.time():.6f}")

    @property
    def endpoint(self) -> str:
        return f"{self.twin_url}{INTERACTIVITY_PATH}"

    def click(
        self,
        package_arn: str,
        decision: str = "approve",
        *,
        title: str = "",
        action_id: str | None = None,
        message: dict[str, Any] | None = None,
    ) -> Answer:
        """Press Approve or Reject on the message of `package_arn`.

        The button's value comes from `message` (as the webhook got it), as Slack sends it;
        without one, the value is the package ARN alone (a message posted before buttons carried
        the version's CreationTime).
        """
        action = action_id or (APPROVE_ACTION if decision == "approve" else REJECT_ACTION)
        value = button_value_of(message, action) if message is not None else package_arn
        return self.post(self.click_payload(value, action, title=title or package_arn))

    def submit(self, view: dict[str, Any], reason: str) -> Answer:
        """Submit the modal `view` (as views.open got it) with `reason`."""
        return self.post(self.submit_payload(view, reason))

    def click_payload(self, value: str, action_id: str, *, title: str = "") -> dict[str, Any]:
        """`block_actions` for a click on a button whose value is `value` (chat_approvals.button_value)."""
        return {
            "type": "block_actions",
            "user": {"id": self.user_id, "username": self.user_name, "name": self.user_name},
            "team": {"id": "T0TWIN", "domain": "twin"},
            "trigger_id": f"{uuid.uuid4().int % 10**12}.{uuid.uuid4().hex[:20]}",
            "response_url": f"{self.control_url}/slack-response/{uuid.uuid4().hex}",
            "container": {"type": "message", "channel_id": self.channel, "message_ts": self.message_ts},
            "channel": {"id": self.channel, "name": "model-reviews"},
            "message": {"ts": self.message_ts, "text": title or value},
            "actions": [
                {
                    "type": "button",
                    "action_id": action_id,
                    "block_id": "decide",
                    "value": value,
                    "action_ts": f"{time.time():.6f}",
                }
            ],
        }

    def submit_payload(self, view: dict[str, Any], reason: str) -> dict[str, Any]:
        submitted = {
            **view,
            "id": view.get("id") or f"V{uuid.uuid4().hex[:10].upper()}",
            "hash": view.get("hash") or uuid.uuid4().hex[:16],
            "state": {"values": {REASON_BLOCK: {REASON_INPUT: {"type": "plain_text_input", "value": reason}}}},
        }
        return {
            "type": "view_submission",
            "user": {"id": self.user_id, "username": self.user_name, "name": self.user_name},
            "team": {"id": "T0TWIN", "domain": "twin"},
            "view": submitted,
        }

    def post(self, payload: dict[str, Any], *, timestamp: int | None = None, signature: str | None = None) -> Answer:
        """Post `payload` form-encoded, signed (or with the given timestamp/signature), as Slack does."""
        body = urlencode({"payload": json.dumps(payload)}).encode()
        return self.post_raw(body, timestamp=timestamp, signature=signature)

    def post_raw(
        self, body: bytes, *, timestamp: int | None = None, signature: str | None = None, signed: bool = True
    ) -> Answer:
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if signed:
            headers |= sign_slack(self.signing_secret, body, timestamp)
            if signature is not None:
                headers["X-Slack-Signature"] = signature
        request = urllib.request.Request(self.endpoint, data=body, headers=headers, method="POST")  # noqa: S310 - the twin's own http URL
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - the twin's own URL
                return Answer(response.status, response.read().decode(), time.perf_counter() - started)
        except urllib.error.HTTPError as error:
            return Answer(error.code, error.read().decode(), time.perf_counter() - started)


def opened_views(log: dict[str, Any]) -> list[dict[str, Any]]:
    """The modals the functions opened (views.open calls the twin's Slack stand-in recorded), oldest first."""
    return [call["body"]["view"] for call in log.get("slack_api", []) if call["method"] == "views.open"]


def updates(log: dict[str, Any]) -> list[dict[str, Any]]:
    """The chat.update calls recorded by the twin's Slack stand-in."""
    return [call["body"] for call in log.get("slack_api", []) if call["method"] == "chat.update"]


def replies(log: dict[str, Any]) -> list[dict[str, Any]]:
    """What the functions posted to interactions' response_urls (ephemeral answers)."""
    return [r["body"] for r in log.get("slack_responses", [])]


def button_value_of(message: dict[str, Any], action_id: str) -> str:
    """The value of the button `action_id` on a posted message (its Block Kit `actions` blocks)."""
    for block in message.get("blocks", []):
        for element in block.get("elements", []) if block.get("type") == "actions" else []:
            if element.get("action_id") == action_id and element.get("value"):
                return str(element["value"])
    raise LookupError(f"no {action_id} button on the message")

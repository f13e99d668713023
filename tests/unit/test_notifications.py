"""The one message model and its two renderings (Amazon Q JSON, Slack Block Kit): no network."""

from __future__ import annotations

import json

import pytest
from registry_workflow.notifications import (
    MetricLine,
    Notification,
    actor_of,
    to_chatbot_json,
    to_slack_blocks,
)

ARN = "arn:aws:sagemaker:eu-west-1:123456789012:model-package/rc-fraud-detection/7"


def rejected() -> Notification:
    return Notification(
        kind="rejected",
        group="rc-fraud-detection",
        package_arn=ARN,
        status="Rejected",
        version=7,
        actor="arn:aws:sts::123456789012:assumed-role/validator/x",
        reason="failed validation (policy abc): auc 0.71 < min 0.8",
        metrics=(MetricLine("auc", 0.71, "≥ 0.8", ok=False), MetricLine("f1", 0.9)),
    )


def test_chatbot_json_is_amazon_q_custom_notification() -> None:
    n = rejected()
    message = to_chatbot_json(n)
    assert message["version"] == "1.0"
    assert message["source"] == "custom"
    assert message["content"]["textType"] == "client-markdown"
    assert message["content"]["title"] == n.title
    assert message["metadata"]["threadId"] == ARN
    description = message["content"]["description"]
    for part in (n.status, n.actor, n.reason, "auc = 0.71", "≥ 0.8", "❌", "✅", n.console_url):
        assert part in description, part
    json.dumps(message)  # SNS carries it as a JSON string


def test_slack_blocks_carry_every_part_and_escape_mrkdwn() -> None:
    n = rejected()
    payload = to_slack_blocks(n)
    assert n.title in payload["text"]
    text = json.dumps(payload["blocks"], ensure_ascii=False)
    assert "auc 0.71 &lt; min 0.8" in text  # Slack would read "<" as a link
    assert "< min" not in text
    assert n.actor in text
    buttons = [e for b in payload["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert buttons[0]["url"] == n.console_url
    assert payload["blocks"][0]["type"] == "header"
    assert len(payload["blocks"][0]["text"]["text"]) <= 150


def test_console_url_points_at_the_version_in_its_region() -> None:
    url = rejected().console_url
    assert url.startswith("https://eu-west-1.console.aws.amazon.com/sagemaker/")
    assert "rc-fraud-detection%2F7" in url


def test_title_names_group_version_and_status() -> None:
    assert rejected().title == "rc-fraud-detection v7: Rejected"
    n = Notification(kind="deploy_started", group="g", package_arn=ARN, status="Deploy started", endpoint="g-ep")
    assert n.title == "g: Deploy started"
    assert "g-ep" in to_chatbot_json(n)["content"]["description"]


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown notification kind"):
        Notification(kind="exploded", group="g", package_arn=ARN, status="?")


def test_long_reason_stays_within_slack_limits() -> None:
    n = Notification(kind="rejected", group="g", package_arn=ARN, status="Rejected", reason="x" * 5000)
    for block in to_slack_blocks(n)["blocks"]:
        if block["type"] == "section" and "text" in block:
            assert len(block["text"]["text"]) <= 3000


@pytest.mark.parametrize(
    ("described", "expected"),
    [
        ({"LastModifiedBy": {"UserProfileName": "alice", "IamIdentity": {"Arn": "arn:role"}}}, "alice"),
        (
            {"LastModifiedBy": {"IamIdentity": {"Arn": "arn:aws:sts::1:assumed-role/r/s"}}},
            "arn:aws:sts::1:assumed-role/r/s",
        ),
        ({"LastModifiedBy": {}, "CreatedBy": {"UserProfileName": "bob"}}, "bob"),
        ({}, None),
    ],
)
def test_actor_of(described: dict, expected: str | None) -> None:
    assert actor_of(described) == expected

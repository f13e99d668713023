"""`make demo` prints each line under the step that caused it: a step's header waits for the last step's work.

The twin prints from its own threads (handler outcomes when a worker process returns, SNS messages
read back from a queue), so without waiting a step's last lines printed under the next header.
"""

from __future__ import annotations

import threading
import time

import pytest
from registry_workflow import aws
from registry_workflow.demo import Story


class IdleTwin:
    """The twin as the story sees it: idle at once (what its queue of events and invocations says)."""

    def __init__(self) -> None:
        self.waits = 0

    def wait_idle(self, timeout: float = 30.0) -> bool:
        self.waits += 1
        return True


def test_a_step_header_waits_until_every_sns_message_published_is_printed(
    mocked_aws: None, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN the story following a topic, and two messages published to it during step 1
    topic = aws.client("sns").create_topic(Name="NotificationTopic")["TopicArn"]
    story, twin = Story(), IdleTwin()
    story.follow(twin)
    story.step("register v1")
    for title in ("v1: Registered", "v1: live"):
        aws.client("sns").publish(TopicArn=topic, Message=title)

    # WHEN the twin's SNS reader prints them late, from its own thread
    def read_back() -> None:
        time.sleep(0.2)  # later than the header would print if nothing waited
        for title in ("v1: Registered", "v1: live"):
            story.echo(f"  ✉ sns    {title}")

    reader = threading.Thread(target=read_back)
    reader.start()
    story.step("register v2")
    reader.join()

    # THEN both print under step 1, before step 2's header, and the twin was asked to be idle first
    lines = [line.split("] ", 1)[-1].strip() for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert lines == ["STEP 1: register v1", "✉ sns    v1: Registered", "✉ sns    v1: live", "STEP 2: register v2"]
    assert twin.waits == 2


def test_before_the_twin_is_followed_a_step_prints_at_once(capsys: pytest.CaptureFixture[str]) -> None:
    story = Story()

    story.step("provision")

    assert "STEP 1: provision" in capsys.readouterr().out

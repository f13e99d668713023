"""The invocation's time budget, and botocore's worst case inside the functions' timeout."""

from __future__ import annotations

import math
import re

from conftest import REPO, FakeLambdaContext
from registry_workflow import aws
from registry_workflow.deadline import DEFAULT_MARGIN_SECONDS, Deadline


def test_a_deadline_comes_from_the_lambda_context_on_the_given_clock() -> None:
    now = [100.0]
    deadline = Deadline.from_context(FakeLambdaContext(), clock=lambda: now[0])  # 60 s left

    assert deadline.remaining() == 60.0
    assert deadline.allows(60.0 - DEFAULT_MARGIN_SECONDS)
    assert not deadline.allows(60.0 - DEFAULT_MARGIN_SECONDS + 0.001)
    now[0] += 70
    assert deadline.remaining() == 0.0


def test_without_a_context_there_is_no_limit() -> None:
    deadline = Deadline.from_context(None)

    assert deadline.remaining() == math.inf
    assert deadline.allows(10**9)


def test_one_aws_calls_worst_case_fits_the_functions_timeout() -> None:
    # Globals.Function.Timeout of template.yaml: the deployer's and tracker's (the others' are longer)
    globals_block = (REPO / "template.yaml").read_text().split("\nGlobals:", 1)[1].split("\nResources:", 1)[0]
    timeout = int(re.search(r"^\s+Timeout: (\d+)$", globals_block, re.MULTILINE).group(1))  # type: ignore[union-attr]

    # 4 attempts x (2 s connect + 8 s read) + backoffs of at most 1 + 2 + 4 s = 47 s
    assert aws.WORST_CASE_CALL_SECONDS == 47
    assert timeout >= aws.WORST_CASE_CALL_SECONDS + DEFAULT_MARGIN_SECONDS
    config = aws.client("sagemaker").meta.config
    assert config.retries == {"mode": "adaptive", "total_max_attempts": aws.MAX_ATTEMPTS}
    assert (config.connect_timeout, config.read_timeout) == (aws.CONNECT_TIMEOUT_SECONDS, aws.READ_TIMEOUT_SECONDS)

"""Shared fixtures: fake credentials, moto with the project's fixes, config directories, a Lambda context."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings
from registry_workflow.local import botocore_models

# helper modules the test modules import by name (`from deploy_support import ...`) before any
# `pytest_plugins` line could register them: rewrite their asserts too (pytest warns otherwise)
pytest.register_assert_rewrite(
    "deploy_support",
    "handler_loader",
    "iam_policy",
    "registry_fixtures",
    "slack_stub",
    "twin_process",
    "workflow_steps",
)

# every Session of a test process (moto's clients, the twin's, a CLI run in-process) reads each
# botocore service model once, not once per Session (registry_workflow/local/botocore_models.py)
botocore_models.install()

REPO = Path(__file__).resolve().parent.parent
EVENTS = REPO / "events"
REGION = "us-east-1"
ACCOUNT = "123456789012"

SEED_ENV = """\
ENABLE_MODEL_REGISTRY=true
TEAMS="rc algo"
RC_PROJECTS="fraud-detection anti-money-laundering"
ALGO_PROJECTS="recommendation-engine"
"""
#: every default, no thresholds, said explicitly (a missing or empty policy.toml is refused)
BASE_POLICY = """\
[defaults.validation]
min = {}
"""


@pytest.fixture(autouse=True)
def _aws_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No test ever reaches real AWS: fake credentials, a fixed region, no endpoint override."""
    for key in list(os.environ):
        if key.startswith("AWS_") or key in {"REGISTRY_CONFIG_DIR"}:
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "RegistryWorkflowTest")
    from registry_workflow import aws
    from registry_workflow.validation import forget_champions

    aws.configure()  # no region/profile/CLI client config left by a CLI test; forgets cached clients
    forget_champions()  # moto is reset per test, so ARNs repeat with other metrics
    yield
    aws.configure()


@pytest.fixture
def mocked_aws() -> Iterator[None]:
    """moto in-process, with the project's fixes for moto's SageMaker gaps applied."""
    from moto import mock_aws
    from registry_workflow.local import moto_fixes

    moto_fixes.apply()
    with mock_aws():
        yield


@pytest.fixture
def sagemaker(mocked_aws: None) -> Any:
    from registry_workflow import aws

    return aws.client("sagemaker")


@pytest.fixture
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A config directory holding the seed's .env.shared; REGISTRY_CONFIG_DIR points at it."""
    directory = tmp_path / "config"
    directory.mkdir()
    (directory / ".env.shared").write_text(SEED_ENV)
    (directory / "policy.toml").write_text(BASE_POLICY)
    monkeypatch.setenv("REGISTRY_CONFIG_DIR", str(directory))
    return directory


def load_event(name: str) -> dict[str, Any]:
    """A sample from events/ (the same files the docs and `sam local` use)."""
    return json.loads((EVENTS / f"{name}.json").read_text())


@dataclass
class FakeLambdaContext:
    function_name: str = "registry-workflow-test"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:registry-workflow-test"
    aws_request_id: str = "52fdfc07-2182-154f-163f-5f0f9a621d72"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    return FakeLambdaContext()


@pytest.fixture
def running_twin(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Any]:
    """`registry-workflow local` in its own process, as a user runs it (see tests/twin_process.py).

    Parametrize it indirectly with `{"region": ..., "args": [...]}` for another region or options.
    """
    from twin_process import start_twin

    options = getattr(request, "param", None) or {}
    running = start_twin(tmp_path, *options.get("args", ()), region=options.get("region", REGION))
    yield running
    assert "stopped" in running.stop()  # SIGTERM (like Ctrl-C) stops it cleanly


# --- hypothesis profiles and the closing counts ------------------------------------------------------

# `make test` (and CI) is deterministic: the same examples every run (derandomize), so a green run
# stays green; `make fuzz` explores at random, longer, and prints how to reproduce any failure.
settings.register_profile(
    "fast", max_examples=int(os.environ.get("FUZZ_EXAMPLES", "500")), deadline=None, derandomize=True
)
settings.register_profile(
    "fuzz", max_examples=int(os.environ.get("FUZZ_EXAMPLES", "5000")), deadline=None, print_blob=True
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "fast"))


def pytest_sessionfinish(session: pytest.Session) -> None:
    """On a pytest-xdist worker: hand this process's counts to the controller."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        import fuzz_stats

        workeroutput["fuzz_stats"] = fuzz_stats.snapshot()


@pytest.hookimpl(optionalhook=True)  # a pytest-xdist hook: absent when xdist is not installed
def pytest_testnodedown(node: Any, error: Any) -> None:
    """On the xdist controller: add up each worker's counts as it finishes."""
    import fuzz_stats

    fuzz_stats.merge(getattr(node, "workeroutput", {}).get("fuzz_stats", {}))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    import fuzz_stats

    if not (fuzz_stats.fuzzed or fuzz_stats.faults):
        return
    write = terminalreporter.write_line
    terminalreporter.section("fuzzing and fault injection")
    write(f"examples fuzzed: {sum(fuzz_stats.fuzzed.values())}")
    for target, count in sorted(fuzz_stats.fuzzed.items()):
        write(f"  {target}: {count}")
    for outcome, count in sorted(fuzz_stats.outcomes.items()):
        write(f"    {outcome}: {count}")
    write(f"faults injected: {sum(fuzz_stats.faults.values())}")
    for outcome, count in sorted(fuzz_stats.faults.items()):
        write(f"  {outcome}: {count}")

"""The deployer's and tracker's EventBridge rules, read from template.yaml, against every sample event."""

from __future__ import annotations

import pytest
from conftest import EVENTS, REPO, load_event
from registry_workflow.local.template import RuleSpec, load_template, pattern_matches

#: sample → (deployer matches, tracker matches). Every file in events/ must be listed here.
EXPECTED = {
    "model-package-approved": (True, False),
    # a metadata stamp still says Approved: never a deployment
    "model-package-metadata-stamp": (False, False),
    # a version created already Approved carries no UpdatedModelPackageFields
    "model-package-no-updated-fields": (True, False),
    "model-package-registered": (False, False),
    "model-package-rejected": (True, False),
    "model-package-rejected-with-description": (True, False),
    # the validator's automatic rejection is a real approval-status change
    "validation-stamp-failed": (True, False),
    "validation-stamp-passed": (False, False),
    "endpoint-creating": (False, True),
    "endpoint-in-service": (False, True),
    "endpoint-in-service-describe-spelling": (False, True),
    "endpoint-updating": (False, True),
    "endpoint-failed": (False, True),
    # a manual invoke payload, not an EventBridge event
    "provision": (False, False),
}


def _rule(function: str) -> RuleSpec:
    (rule,) = load_template(REPO / "template.yaml").rules_for(function)
    return rule


def test_every_sample_has_an_expectation() -> None:
    assert {p.stem for p in EVENTS.glob("*.json")} <= set(EXPECTED)


@pytest.mark.parametrize(("sample", "expected"), sorted(EXPECTED.items()))
def test_samples_against_the_rules(sample: str, expected: tuple[bool, bool]) -> None:
    if not (EVENTS / f"{sample}.json").exists():
        pytest.skip(f"events/{sample}.json is not in this tree")
    event = load_event(sample)
    assert pattern_matches(_rule("DeployerFunction").pattern, event) is expected[0]
    assert pattern_matches(_rule("TrackerFunction").pattern, event) is expected[1]


def test_deployer_rule_is_scoped_to_managed_groups() -> None:
    event = load_event("model-package-approved")
    event["detail"]["ModelPackageGroupName"] = "someone-elses-group"

    assert not pattern_matches(_rule("DeployerFunction").pattern, event)


def test_tracker_rule_needs_the_managed_by_tag() -> None:
    event = load_event("endpoint-in-service")
    del event["detail"]["Tags"]["managed-by"]

    assert not pattern_matches(_rule("TrackerFunction").pattern, event)


@pytest.mark.parametrize("function", ["DeployerFunction", "TrackerFunction"])
def test_rules_retry_and_dead_letter(function: str) -> None:
    rule = _rule(function)
    assert (rule.retry_attempts or 0) > 0
    assert (rule.dead_letter or "").endswith(function.replace("Function", "DLQ"))


@pytest.mark.parametrize("function", ["DeployerFunction", "TrackerFunction"])
def test_functions_get_the_ledger_and_execution_role(function: str) -> None:
    env = load_template(REPO / "template.yaml").functions[function].environment
    assert env["LEDGER_TABLE"] == "LedgerTable"
    assert "SAGEMAKER_EXECUTION_ROLE_ARN" in env

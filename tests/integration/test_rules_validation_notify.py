"""The validator's and notifier's EventBridge rules, read from template.yaml, against every sample.

Matched with moto's EventBridge matcher (the code moto's `put_events` uses), on the patterns as
CloudFormation would deploy them (parameter defaults resolved).
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from conftest import EVENTS, REPO, load_event
from registry_workflow.events import MODEL_PACKAGE_STATE_CHANGE
from registry_workflow.local.template import RuleSpec, load_template, pattern_matches

#: sample → (matches the validator's rule, matches the notifier's rule), and why
EXPECTED: dict[str, tuple[bool, bool]] = {
    # a new version awaiting review: validate it and announce it
    "model-package-registered": (True, True),
    # a real approval change: announce, never validate
    "model-package-approved": (False, True),
    "model-package-rejected": (False, True),
    # set back to pending: back in review, so the validator's rule takes it (it skips a version
    # already validated under the policy in force); the deployer withdraws its standing; not announced
    "model-package-back-to-pending": (True, False),
    "model-package-rejected-with-description": (False, True),
    # no UpdatedModelPackageFields (a creation, here already Approved): announced, not validated
    "model-package-no-updated-fields": (False, True),
    # a promotion asked: the deployer's alone (it announces what it does with it)
    "model-package-promotion-requested": (False, False),
    # someone else's metadata stamp on an Approved version: nobody acts (no loop, no noise)
    "model-package-metadata-stamp": (False, False),
    # the validator's own stamp on a pending version: announced, never re-validated
    "validation-stamp-passed": (False, True),
    # the validator's rejection (stamp + status in one update): announced as a rejection
    "validation-stamp-failed": (False, True),
    # not an EventBridge event at all (manual provisioner invoke)
    "provision": (False, False),
}


@pytest.fixture(scope="module")
def rules() -> dict[str, RuleSpec]:
    template = load_template(REPO / "template.yaml")
    [validator] = template.rules_for("ValidatorFunction")
    [notifier] = template.rules_for("NotifierFunction")
    return {"validator": validator, "notifier": notifier}


SAMPLES = sorted(p.stem for p in EVENTS.glob("*.json"))


def test_every_model_package_sample_has_an_expectation() -> None:
    # other samples (endpoint events) belong to other rules and must match neither of these
    package_samples = {s for s in SAMPLES if load_event(s).get("detail-type") == MODEL_PACKAGE_STATE_CHANGE}
    assert package_samples <= set(EXPECTED)
    assert set(EXPECTED) <= set(SAMPLES)


@pytest.mark.parametrize("sample", SAMPLES)
def test_sample_against_rules(rules: dict[str, RuleSpec], sample: str) -> None:
    event = load_event(sample)
    validator_expected, notifier_expected = EXPECTED.get(sample, (False, False))
    assert pattern_matches(rules["validator"].pattern, event) is validator_expected
    assert pattern_matches(rules["notifier"].pattern, event) is notifier_expected


@pytest.mark.parametrize("function", ["validator", "notifier"])
def test_rules_are_scoped_to_managed_groups(rules: dict[str, RuleSpec], function: str) -> None:
    event = load_event("model-package-registered")
    assert pattern_matches(rules[function].pattern, event)
    event["detail"]["ModelPackageGroupName"] = "someone-elses-group"
    assert not pattern_matches(rules[function].pattern, event)


@pytest.mark.parametrize("function", ["validator", "notifier"])
def test_rules_have_retries_and_a_dead_letter_queue(rules: dict[str, RuleSpec], function: str) -> None:
    rule = rules[function]
    assert rule.retry_attempts is not None
    assert rule.retry_attempts > 0
    assert rule.dead_letter
    assert rule.dead_letter.endswith(f"{function.capitalize()}DLQ")


def with_detail(sample: str, **changes: Any) -> dict[str, Any]:
    event = copy.deepcopy(load_event(sample))
    for key, value in changes.items():
        if value is None:
            event["detail"].pop(key, None)
        else:
            event["detail"][key] = value
    return event


@pytest.mark.parametrize(
    ("case", "event", "validator_expected", "notifier_expected"),
    [
        (
            "pending version gets a new inference spec: validate again",
            with_detail("model-package-registered", UpdatedModelPackageFields=["InferenceSpecification"]),
            True,
            False,
        ),
        (
            "pending version, another stamp: the notifier gets it and ignores it (no validation.status)",
            with_detail(
                "model-package-registered",
                UpdatedModelPackageFields=["CustomerMetadataProperties"],
                CustomerMetadataProperties={"owner": "team-rc"},
            ),
            False,
            True,
        ),
        (
            "the validator's stamp, without CustomerMetadataProperties in the event: announced",
            with_detail(
                "validation-stamp-passed",
                UpdatedModelPackageFields=["CustomerMetadataProperties"],
                CustomerMetadataProperties=None,
            ),
            False,
            True,
        ),
        (
            "reset to pending by a person: not a registration",
            with_detail("model-package-registered", UpdatedModelPackageFields=["ModelApprovalStatus"]),
            True,
            False,
        ),
        (
            "description edited on an approved version: nobody",
            with_detail("model-package-approved", UpdatedModelPackageFields=["ApprovalDescription"]),
            False,
            False,
        ),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_edge_cases(
    rules: dict[str, RuleSpec],
    case: str,
    event: dict[str, Any],
    validator_expected: bool,
    notifier_expected: bool,
) -> None:
    assert pattern_matches(rules["validator"].pattern, event) is validator_expected, case
    assert pattern_matches(rules["notifier"].pattern, event) is notifier_expected, case


def test_patterns_are_lists_not_plain_values(rules: dict[str, RuleSpec]) -> None:
    # EventBridge needs every leaf to be a list; sam validate does not catch a plain value
    def leaves(node: Any) -> list[Any]:
        if isinstance(node, dict):
            return [leaf for key, value in node.items() if key != "$or" for leaf in leaves(value)] + [
                leaf for branch in node.get("$or", []) for leaf in leaves(branch)
            ]
        return [node]

    for rule in rules.values():
        assert all(isinstance(leaf, list) for leaf in leaves(rule.pattern)), json.dumps(rule.pattern)

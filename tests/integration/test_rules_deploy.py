"""The deployer's and tracker's EventBridge rules, read from template.yaml, against every sample event."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import EVENTS, REPO, load_event
from registry_workflow.local.template import RuleSpec, load_template, pattern_matches

#: sample → (deployer matches, tracker matches). Every file in events/ must be listed here.
EXPECTED = {
    "model-package-approved": (True, False),
    # a promotion asked (ModelLifeCycle -> a stage, StageStatus Approved): the deployer takes or refuses it
    "model-package-promotion-requested": (True, False),
    # a metadata stamp still says Approved: never a deployment
    "model-package-metadata-stamp": (False, False),
    # a version created already Approved carries no UpdatedModelPackageFields
    "model-package-no-updated-fields": (True, False),
    "model-package-registered": (False, False),
    "model-package-rejected": (True, False),
    # set back to pending: withdraws an approval the gate admitted (decision 84)
    "model-package-back-to-pending": (True, False),
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


@pytest.mark.parametrize(
    ("group", "matches"),
    [
        ("rc-fraud-detection", True),
        ("rc-a-project-added-later", True),  # a new project needs no deploy: the team prefix covers it
        ("algo-recommendation-engine", True),
        ("rc", False),  # the prefix is "<team>-"
        ("rcx-fraud-detection", False),
        ("ml-platform-experiment", False),
    ],
)
def test_deployer_rule_matches_by_team_prefix(group: str, matches: bool) -> None:
    event = load_event("model-package-approved")
    event["detail"]["ModelPackageGroupName"] = group

    assert pattern_matches(_rule("DeployerFunction").pattern, event) is matches


def test_rules_follow_the_deployed_teams() -> None:
    template = load_template(REPO / "template.yaml", {"ManagedTeams": "fx,risk"})
    (rule,) = template.rules_for("DeployerFunction")
    event = load_event("model-package-approved")

    event["detail"]["ModelPackageGroupName"] = "fx-pricing"
    assert pattern_matches(rule.pattern, event)
    event["detail"]["ModelPackageGroupName"] = "rc-fraud-detection"
    assert not pattern_matches(rule.pattern, event)


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


# --- the tracker's sweep schedule ----------------------------------------------------------------


def test_tracker_sweeps_every_five_minutes_with_the_standard_scheduled_event() -> None:
    template = load_template(REPO / "template.yaml")
    [sweep] = template.schedules

    assert sweep.target == "TrackerFunction"
    assert sweep.name == "registry-workflow-dev-sweep-deployments"
    assert sweep.expression == "rate(5 minutes)"
    assert (sweep.dead_letter or "").endswith("TrackerDLQ")
    event = sweep.event(region="ap-northeast-1", account="123456789012", time="2026-01-01T00:00:00Z", event_id="e-1")
    assert (event["source"], event["detail-type"], event["detail"]) == ("aws.events", "Scheduled Event", {})
    assert event["resources"] == [
        "arn:aws:events:ap-northeast-1:123456789012:rule/registry-workflow-dev-sweep-deployments"
    ]
    # a schedule is no event-pattern rule: the tracker's one rule stays the endpoint rule
    assert [r.name for r in template.rules_for("TrackerFunction")] == ["TrackerFunction.EndpointStateChange"]
    for rule in template.rules:
        assert not pattern_matches(rule.pattern, event), rule.name


def test_the_sweep_rule_may_dead_letter_to_the_tracker_queue() -> None:
    from registry_workflow.local.template import read_template

    raw = read_template(REPO / "template.yaml")
    [statement] = raw["Resources"]["TrackerDLQPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    sources = [s["Fn::Sub"] for s in statement["Condition"]["ArnEquals"]["aws:SourceArn"]]
    assert any(s.endswith("rule/registry-workflow-${Stage}-sweep-deployments") for s in sources)


# --- promotion requests (ModelLifeCycle) ---------------------------------------------------------


def _lifecycle_event(
    fields: list[str], life_cycle: dict[str, str] | None, approval: str = "Approved", group: str = "rc-fraud-detection"
) -> dict[str, Any]:
    event = load_event("model-package-approved")
    detail = event["detail"]
    detail.update(UpdatedModelPackageFields=fields, ModelApprovalStatus=approval, ModelPackageGroupName=group)
    if life_cycle is None:
        detail.pop("ModelLifeCycle", None)
    else:
        detail["ModelLifeCycle"] = life_cycle
    return event


PROMOTE = {"Stage": "production", "StageStatus": "Approved", "StageDescription": "served a week in staging"}
LIVE_IN_STAGING = {"Stage": "staging", "StageStatus": "Deployed"}


@pytest.mark.parametrize(
    ("event", "matches"),
    [
        pytest.param(_lifecycle_event(["ModelLifeCycle"], PROMOTE), True, id="promotion-request"),
        # the deployer refuses these with the reason: it must see them
        pytest.param(_lifecycle_event(["ModelLifeCycle"], PROMOTE, "Rejected"), True, id="promotion-of-rejected"),
        pytest.param(
            _lifecycle_event(["ModelLifeCycle"], PROMOTE, "PendingManualApproval"), True, id="promotion-of-unapproved"
        ),
        pytest.param(
            _lifecycle_event(["ModelApprovalStatus", "ModelLifeCycle"], PROMOTE), True, id="approval-and-promotion"
        ),
        # the workflow's own writes: never back to the deployer (no loop)
        pytest.param(_lifecycle_event(["ModelLifeCycle"], LIVE_IN_STAGING), False, id="deployed-stamp"),
        pytest.param(
            _lifecycle_event(
                ["ModelLifeCycle"], {**LIVE_IN_STAGING, "StageDescription": "refused: 2 h of soak left in staging"}
            ),
            False,
            id="refusal-set-back",
        ),
        # a metadata change while a request is pending still shows it: not a new request
        pytest.param(_lifecycle_event(["CustomerMetadataProperties"], PROMOTE), False, id="metadata-only"),
        pytest.param(_lifecycle_event(["ApprovalDescription"], PROMOTE), False, id="description-only"),
        # EventBridge matches case-sensitively: only "Approved" asks
        pytest.param(
            _lifecycle_event(["ModelLifeCycle"], {**PROMOTE, "StageStatus": "approved"}), False, id="lowercase"
        ),
        pytest.param(_lifecycle_event(["ModelLifeCycle"], PROMOTE, group="ml-platform-x"), False, id="unmanaged-group"),
        # approvals behave as before, with or without a stage on the version
        pytest.param(_lifecycle_event(["ModelApprovalStatus"], None), True, id="plain-approval"),
        pytest.param(_lifecycle_event(["ModelApprovalStatus"], LIVE_IN_STAGING), True, id="approval-of-staged"),
        pytest.param(_lifecycle_event(["ModelApprovalStatus"], None, "Rejected"), True, id="plain-rejection"),
        # set back to pending: withdraws an approval the gate admitted (decision 84)
        pytest.param(
            _lifecycle_event(["ModelApprovalStatus"], None, "PendingManualApproval"), True, id="back-to-pending"
        ),
    ],
)
def test_deployer_rule_takes_promotion_requests_and_never_the_workflows_own_stamps(
    event: dict[str, Any], matches: bool
) -> None:
    assert pattern_matches(_rule("DeployerFunction").pattern, event) is matches


def test_twin_events_of_a_promotion_and_of_the_stamp_that_follows(sagemaker: Any) -> None:
    """End to end on the twin: the events moto_fixes publishes, shaped by the twin, against the rule."""
    from registry_workflow.local import moto_fixes
    from registry_workflow.local.twin import model_package_event

    sagemaker.create_model_package_group(ModelPackageGroupName="rc-fraud-detection")
    arn = sagemaker.create_model_package(
        ModelPackageGroupName="rc-fraud-detection",
        InferenceSpecification={
            "Containers": [{"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/model:1"}],
            "SupportedContentTypes": ["application/json"],
            "SupportedResponseMIMETypes": ["application/json"],
        },
    )["ModelPackageArn"]
    events: list[dict[str, Any]] = []
    unsubscribe = moto_fixes.subscribe(lambda kind, payload: events.append(model_package_event(payload)))
    try:
        sagemaker.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved")
        sagemaker.update_model_package(ModelPackageArn=arn, ModelLifeCycle=LIVE_IN_STAGING)
        sagemaker.update_model_package(ModelPackageArn=arn, ModelLifeCycle=PROMOTE)
        sagemaker.update_model_package(ModelPackageArn=arn, CustomerMetadataProperties={"ticket": "ML-1"})
        sagemaker.update_model_package(
            ModelPackageArn=arn, ModelLifeCycle={"Stage": "production", "StageStatus": "Deployed"}
        )
    finally:
        unsubscribe()

    rule = _rule("DeployerFunction").pattern
    assert [pattern_matches(rule, event) for event in events] == [True, False, True, False, False]
    assert events[2]["detail"]["ModelLifeCycle"] == PROMOTE
